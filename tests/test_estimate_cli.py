"""``spikeforge estimate``: exit status 2 on bad input, model-only output files."""
from __future__ import annotations

import json

import numpy as np
import pytest

import pysim
from spikeforge.cli import main


@pytest.fixture
def net_dir(tmp_path):
    net = pysim.random_network(np.random.default_rng(0), [64, 32, 10], weight_bits=[4, 3])
    d = tmp_path / "net"
    pysim.save_network(net, d)
    return d


def test_estimate_cli_wrong_target(net_dir, tmp_path, capsys):
    out = tmp_path / "est"
    assert main(["estimate", str(net_dir), "--target", "ice41-up5k", "--model-only",
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown target 'ice41-up5k'" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_estimate_cli_missing_net(tmp_path, capsys):
    out = tmp_path / "est"
    assert main(["estimate", str(tmp_path / "nope"), "--model-only", "-o", str(out)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not out.exists()


def test_estimate_cli_wrong_sweep_bits(net_dir, tmp_path, capsys):
    assert main(["estimate", str(net_dir), "--model-only", "--sweep-bits", "1,4"]) == 2
    assert "--sweep-bits" in capsys.readouterr().err


@pytest.mark.parametrize("freq", ["-5", "0", "nan", "inf", "5000"])
def test_estimate_cli_freq_out_of_range(net_dir, tmp_path, capsys, freq):
    out = tmp_path / "est"
    assert main(["estimate", str(net_dir), "--model-only", "--freq", freq,
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spikeforge: error: --freq: clock constraint must be") and \
        err.count("\n") == 1, err
    assert not out.exists()


def test_synthesize_freq_refused_before_any_tool():
    from cost.synth import synthesize

    with pytest.raises(pysim.InputError, match="between 1 and 1000, not -1") as e:
        synthesize("module top; endmodule", top="top", target="ecp5-25k", freq_mhz=-1)
    assert e.value.param == "freq_mhz"


def test_estimate_cli_pnr_needs_place_and_route_target(net_dir, capsys):
    assert main(["estimate", str(net_dir), "--target", "xc7", "--pnr"]) == 2
    assert "no open place and route for xc7" in capsys.readouterr().err


def test_estimate_cli_model_only_writes_outputs(net_dir, tmp_path, capsys):
    out = tmp_path / "est"
    assert main(["estimate", str(net_dir), "--target", "ice40-up5k,ecp5-25k,xc7",
                 "--model-only", "--sweep-bits", "2,4,8", "-o", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data["targets"]) == ["ice40-up5k", "ecp5-25k", "xc7"]
    assert all(t["synth"] is None and t["source"] == "model"
               for t in data["targets"].values())
    assert [p["bits"] for p in data["sweep"]["xc7"]] == [2, 4, 8]
    for f in ("estimate.json", "report.md", "memory_bits.png", "resources_vs_bits.png"):
        assert (out / f).stat().st_size > 0
    on_disk = json.loads((out / "estimate.json").read_text())
    assert on_disk["targets"]["xc7"]["bram_count"] == data["targets"]["xc7"]["bram_count"]
    # fewer bits never need more synapse (weight) block RAM in the sweep. (The total may
    # rise at narrow weights: more lanes fit a word, so the default gives more update
    # units and a wider membrane memory, which iCE40 puts in block RAM.)
    est = data["sweep"]
    for t in ("ice40-up5k", "ecp5-25k", "xc7"):
        syn_bits = [sum(lay["synapse_bram_units"] for lay in p["layers"].values())
                    for p in est[t]]
        assert syn_bits == sorted(syn_bits)
