"""Cost of conv2d / sum-pool designs: block RAM of the weight ROM, the membrane RAM and the
accumulator apart, membrane BRAM efficiency, the estimate CLI and report on a version 2
manifest, the flow report's raster with a conv layer (no Amaranth, no tools)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import pysim
from cost.resources import CONV_FEATURES, estimate_network, layer_features, layer_memories
from hwplan import plan_network

MNIST_ARCH = "1x28x28-8c5-sp2-16c5-sp2-10"


def _mnist_plan():
    net = pysim.random_conv_network(np.random.default_rng(0), MNIST_ARCH)
    return net, plan_network(net)


@pytest.mark.parametrize("target", ["ice40-up5k", "ecp5-25k", "xc7"])
def test_estimate_conv_memories_apart_and_membrane_ratio(target):
    _, plan = _mnist_plan()
    est = estimate_network(plan, target=target)
    conv1 = est.layers[0]
    assert conv1.kind == "conv2d"
    # the whole-map membrane RAM is in block RAM, 8 x 24 x 24 neurons x 12 bits
    assert conv1.membrane_bits_total == 8 * 24 * 24 * 12
    assert conv1.membrane_bram_units > 0 and conv1.membrane_ratio <= 1.25
    assert conv1.bram_units == (conv1.weight_bram_units + conv1.membrane_bram_units
                                + conv1.accumulator_bram_units + conv1.fifo_bram_units)
    d = est.as_dict()
    assert d["weight_bram_units"] + d["membrane_bram_units"] + d["accumulator_bram_units"] \
        + d["fifo_bram_units"] == d["bram_units"]
    # over the conv layers the membrane RAM stays within 1.25 of the data
    convs = [lay for lay in est.layers if lay.kind == "conv2d"]
    alloc = sum(lay.membrane.allocated_bits for lay in convs)
    assert alloc / sum(lay.membrane_bits_total for lay in convs) <= 1.25


def test_estimate_conv_features_only_for_conv_and_pool():
    _, plan = _mnist_plan()
    for lp in plan.layers:
        f = layer_features(lp, layer_memories(lp, "ecp5-25k"))
        if lp.kind == "conv2d":
            assert f["conv_layer"] == 1.0 and f["conv_lanes_acc"] == lp.lanes * lp.acc_bits
        else:
            assert f["pool_bits"] > 0   # the dense layer after the pool
            assert not any(f.get(k) for k in CONV_FEATURES if k != "pool_bits")
    dense = pysim.random_network(np.random.default_rng(1), [20, 10, 4])
    for lp in plan_network(dense).layers:
        assert not set(layer_features(lp, layer_memories(lp, "xc7"))) & set(CONV_FEATURES)


def test_estimate_cli_model_only_on_v2_manifest(tmp_path, capsys):
    from spikeforge.cli import main
    net = pysim.random_conv_network(np.random.default_rng(2), "2x8x8-4c3p1-sp2-3c3-5",
                                    timesteps=4)
    pysim.save_network(net, tmp_path / "net")
    assert main(["estimate", str(tmp_path / "net"), "--model-only", "-o",
                 str(tmp_path / "est")]) == 0
    out = capsys.readouterr().out
    assert "membrane BRAM" in out and "conv2d" in out
    report = (tmp_path / "est" / "report.md").read_text()
    assert "Block RAM by memory" in report
    data = json.loads((tmp_path / "est" / "estimate.json").read_text())
    assert [lay["name"] for lay in data["network"]["layers"]] == ["conv1", "conv3", "fc4"]
    assert data["cycles"]["layers"]["conv1"]["kind"] == "conv2d"


def test_report_raster_with_conv_layer(tmp_path):
    pytest.importorskip("matplotlib")
    from spikeforge.report import plot_raster
    net = pysim.random_conv_network(np.random.default_rng(3), "1x8x8-2c3-sp2-4",
                                    timesteps=4)
    x = (np.random.default_rng(0).random((2, 4, 64)) < 0.3).astype(np.uint8)
    g = pysim.simulate(net, x).spikes
    path = plot_raster(net, g, g, 0, tmp_path / "raster.png")
    assert (tmp_path / "raster.png").is_file() and path


def test_conv_cycle_bound_counts_taps_and_pool_events():
    net = pysim.random_conv_network(np.random.default_rng(4), "1x6x6-2c3-sp2-3",
                                    timesteps=2)
    plan = plan_network(net)
    x = np.zeros((1, 2, 36), np.uint8)
    x[0, 0, 0] = 1            # corner: one tap
    x[0, 0, 14] = 1           # (2, 2): all nine taps
    g = pysim.simulate(net, x)
    work = plan.layer_work(x, g.spikes)
    conv = plan.layers[0]
    assert work["conv1"][0].tolist() == [10, 0]
    # two buffers: a_0 + max(a_1, rows) + rows (the walk of step 0 overlaps step 1)
    assert conv.sample_cycles_bound(work["conv1"])[0] == 10 + 32 + 32
    assert conv.step_cycles_bound(work["conv1"])[0].tolist() == [32, 32]
    spikes = g.spikes["conv1"]
    assert work["fc3"][0].tolist() == spikes[0].sum(axis=1).tolist()  # tiling: 1 each
