"""RTL verification of conv2d / sum-pool designs (Verilator) against the golden model.

Default tier: two random conv networks, one through ``spikeforge generate`` / ``verify``
/ ``estimate`` on a version 2 manifest (a non-tiling pool in front of a conv layer,
padding, bias), one with a strided conv last layer and the membrane readout (the hdl
tier covers the rest and the injected faults), and packed membrane words (several neurons
per word, a partial first word). Slow tier (``-m slow``): a corrupted
design (a wrong tap offset) caught through Verilator, and a sweep over 100 random conv
networks, every other one with a random membrane packing.
"""
from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from toolcheck import need_verilator

import pysim
from pysim.arch import LayerSpec
from pysim.errors import ToolMissing
from pysim.network import LayerKind

pytestmark = pytest.mark.rtl


def _spikes(net, n, rate, seed):
    rng = np.random.default_rng(seed)
    return (rng.random((n, net.timesteps, net.input_size)) < rate).astype(np.uint8)


def _verify(net, x, tmp_path, **kw):
    """RTL vs golden of ``hdl.emit_verilog(net, **kw)`` (e.g. ``membrane_packing``)."""
    import hdl
    from sim import verify_design
    design = hdl.emit_verilog(net, **kw)
    return verify_design(net, design, x, build_dir=tmp_path / "build", progress=False)


@pytest.mark.parametrize("packing", [5, 7])
def test_rtl_conv_packed_membrane_words_match_golden(tmp_path, packing):
    """Membrane words of several neurons with a partial first word (the offset layout),
    through Verilator: every spike, the membrane readout of the last layer."""
    need_verilator()
    net = pysim.random_conv_network(np.random.default_rng(11), "1x10x10-3c3-sp2-2c2",
                                    timesteps=5, bias=True, readout="membrane",
                                    reset="subtract", leak_shift=2, state_bits=12)
    packing = {"conv1": packing, "conv3": 4}
    import hdl
    design = hdl.emit_verilog(net, membrane_packing=packing)
    c1, c3 = design.plan.layers[0], design.plan.layers[1]
    assert c1.membrane_units == packing["conv1"] and c1.membrane_offset > 0  # 192 neurons
    assert c3.membrane_units == 4 and c3.membrane_offset == 2                # 18 neurons
    x = _spikes(net, 12, 0.35, 7)
    res = _verify(net, x, tmp_path, membrane_packing=packing)
    assert res.mismatches == 0 and res.prediction_mismatches == 0, res.first_mismatch
    assert set(res.rtl_spikes) == {la.name for la in net.neuron_layers}


def test_rtl_conv_last_layer_membrane_readout_matches_golden(tmp_path):
    need_verilator()
    rng = np.random.default_rng(5)
    cases = [("1x8x8-3c3s2p1-4c2-3", {"readout": "membrane", "reset": "subtract"})]
    for i, (arch, kw) in enumerate(cases):
        net = pysim.random_conv_network(rng, arch, timesteps=5, **kw)
        x = _spikes(net, 16, 0.3, i)
        res = _verify(net, x, tmp_path / str(i))
        assert res.mismatches == 0, res.first_mismatch
        assert res.prediction_mismatches == 0
        assert set(res.rtl_spikes) == {la.name for la in net.neuron_layers}
        assert res.samples == 16


def test_rtl_conv_cli_verify_v2_manifest_non_tiling_pool(tmp_path, capsys):
    need_verilator()
    from spikeforge.cli import main
    arch = ((2, 9, 9), [LayerSpec(kind=LayerKind.CONV2D, size=4, kernel=3, padding=1),
                        LayerSpec(kind=LayerKind.SUMPOOL2D, kernel=3, stride=2),
                        LayerSpec(kind=LayerKind.CONV2D, size=3, kernel=2),
                        LayerSpec(kind=LayerKind.DENSE, size=5)])
    net = pysim.random_conv_network(np.random.default_rng(2), arch, timesteps=4, bias=True)
    assert net.format_version == 2
    pysim.save_network(net, tmp_path / "net")
    x = _spikes(net, 16, 0.3, 7)
    pysim.save_spikes(tmp_path / "spikes.npz", pysim.SpikeData(x))
    assert main(["generate", str(tmp_path / "net"), "-o", str(tmp_path / "hw")]) == 0
    capsys.readouterr()
    status = main(["verify", str(tmp_path / "net"), "-i", str(tmp_path / "spikes.npz"),
                   "--design", str(tmp_path / "hw"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0 and out["mismatches"] == 0
    assert set(out["mismatches_by_layer"]) == {"conv1", "conv3", "fc4"}
    assert out["samples"] == 16
    assert main(["estimate", str(tmp_path / "net"), "--design", str(tmp_path / "hw"),
                 "--model-only", "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    lay = est["targets"]["ecp5-25k"]["model"]["layers"][0]
    assert lay["kind"] == "conv2d" and "membrane_bram_units" in lay


@pytest.mark.slow
def test_rtl_conv_wrong_tap_offset_is_caught(tmp_path, monkeypatch):
    need_verilator()
    import sys

    import hdl  # noqa: F401  (hdl.generate the module, shadowed by the function)
    from hdl.network import Network
    monkeypatch.setattr(sys.modules["hdl.generate"], "Network",
                        functools.partial(Network, _faults={"conv1": "tap_offset"}))
    net = pysim.random_conv_network(np.random.default_rng(3), "1x6x6-2c3-4", timesteps=4)
    x = _spikes(net, 8, 0.4, 1)
    res = _verify(net, x, tmp_path)
    assert res.mismatches > 0
    assert "conv1" in (res.first_mismatch or "")


def random_conv_cases(rng: np.random.Generator):
    """Endless random conv networks with their input spikes: ``(attempt, net, x)``,
    skipping architectures whose output map would be empty."""
    shapes = [(1, 8, 8), (2, 7, 7), (1, 10, 9), (3, 6, 6), (2, 9, 11)]
    i = 0
    while True:
        shape = shapes[i % len(shapes)]
        k = int(rng.integers(1, 4))
        pad = int(rng.integers(0, k))
        stride = int(rng.integers(1, 3))
        layers = [LayerSpec(kind=LayerKind.CONV2D, size=int(rng.integers(1, 5)), kernel=k,
                            padding=pad, stride=stride)]
        oh = (shape[1] + 2 * pad - k) // stride + 1
        if oh >= 4 and rng.random() < 0.6:
            pk = int(rng.integers(2, 4))
            layers.append(LayerSpec(kind=LayerKind.SUMPOOL2D, kernel=pk,
                                    stride=int(rng.integers(1, pk + 1))))
        if rng.random() < 0.5:
            layers.append(LayerSpec(kind=LayerKind.CONV2D, size=int(rng.integers(1, 4)),
                                    kernel=1 + int(rng.integers(0, 2))))
        readout = "membrane" if rng.random() < 0.3 else "spike_count"
        if rng.random() < 0.7 or readout == "spike_count":
            layers.append(LayerSpec(kind=LayerKind.DENSE, size=int(rng.integers(2, 6))))
        try:
            net = pysim.random_conv_network(
                rng, (shape, layers), timesteps=int(rng.integers(2, 6)),
                weight_bits=int(rng.integers(2, 7)), state_bits=int(rng.integers(8, 14)),
                bias=bool(rng.random() < 0.4), readout=readout,
                reset=str(rng.choice(["zero", "subtract"])),
                leak_shift=None if rng.random() < 0.3 else int(rng.integers(1, 4)))
        except pysim.InputError:
            i += 1
            continue  # an output map of size < 1
        x = _spikes(net, 6, float(rng.uniform(0.1, 0.5)), i)
        yield i, net, x
        i += 1


@pytest.mark.slow
def test_rtl_conv_sweep_100_random_networks(tmp_path):
    """100 random conv networks: every spike of every neuron layer and every prediction."""
    need_verilator()
    failures = []
    cases = random_conv_cases(np.random.default_rng(2026))
    pick = np.random.default_rng(7)
    from hwplan.conv import max_membrane_units
    for _ in range(100):
        i, net, x = next(cases)
        # every other network with a random membrane packing in each conv layer (these
        # maps are small, so the plan's own choice is one neuron per word)
        packing = ({la.name: int(pick.integers(2, max_membrane_units(la.state_bits) + 1))
                    for la in net.neuron_layers if la.kind == LayerKind.CONV2D}
                   if i % 2 else None)
        res = _verify(net, x, tmp_path / f"n{i}", membrane_packing=packing)
        if res.mismatches:
            failures.append((i, res.first_mismatch))
    assert not failures, failures[:3]


def test_rtl_conv_icarus_when_installed(tmp_path):
    from sim.tools import find_icarus
    try:
        find_icarus()
    except ToolMissing as exc:
        pytest.skip(str(exc))
    import hdl
    from sim import verify_design
    net = pysim.random_conv_network(np.random.default_rng(4), "1x6x6-2c3-sp2-3", timesteps=3)
    x = _spikes(net, 4, 0.4, 2)
    res = verify_design(net, hdl.emit_verilog(net), x, simulator="icarus",
                        build_dir=tmp_path / "build", progress=False)
    assert res.mismatches == 0, res.first_mismatch
