"""The analytic model and the estimate library (no synthesis)."""
from __future__ import annotations

import numpy as np
import pytest

import pysim
from cost.estimate import cycle_bound, estimate, requantize
from cost.resources import estimate_network, load_model
from hwplan import plan_network
from pysim.errors import InputError


@pytest.fixture
def net():
    return pysim.random_network(np.random.default_rng(3), [64, 48, 10], weight_bits=[4, 6],
                                timesteps=4)


def test_model_has_every_family_and_feature():
    m = load_model()
    for fam in ("ice40", "ecp5", "xc7"):
        assert set(m["families"][fam]["luts"]) == set(m["features"])
        assert all(v >= 0 for v in m["families"][fam]["luts"].values())


def test_estimate_network_totals_are_layer_sums(net):
    est = estimate_network(net, target="ecp5-25k")
    assert est.bram_count == sum(lay.bram_count for lay in est.layers)
    assert est.weight_memory_bits == net.weight_memory_bits
    assert est.luts > 0 and est.ffs > 0 and est.fits()


def test_estimate_network_lanes_change_memory_shape(net):
    a = estimate_network(net, target="ice40-up5k", lanes=1).layers[0].synapse
    b = estimate_network(net, target="ice40-up5k", lanes=8).layers[0].synapse
    assert (a.depth, a.width) == (64 * 48, 4) and (b.depth, b.width) == (64 * 6, 32)


def test_requantize_keeps_range_and_shape(net):
    q = requantize(net, 2)
    assert [layer.weight_bits for layer in q.layers] == [2, 2]
    for layer in q.layers:
        assert layer.weight.min() >= -2 and layer.weight.max() <= 1
    assert requantize(net, [4, 6]).equals(net)
    with pytest.raises(InputError, match="2..16"):
        requantize(net, 17)


def test_cycle_bound_by_hand():
    w1 = np.array([[1, 1], [1, 1], [1, 1]])          # 3 neurons, fire on any input
    layer = pysim.IntLayer("fc1", w1, weight_bits=4, state_bits=8, threshold=1)
    net = pysim.IntNetwork((layer,), timesteps=2)
    spikes = np.array([[[1, 1], [0, 1]]], np.uint8)   # 2 events, then 1 event
    c = cycle_bound(net, plan_network(net, {"fc1": 2}), spikes)   # groups = 2
    assert c["per_sample"] == (2 * 2 + 2) + (1 * 2 + 2)


def test_estimate_model_only_report(net, tmp_path):
    rep = estimate(net, targets="ice40-up5k,xc7", model_only=True, sweep_bits=[2, 8],
                   progress=False, out_dir=tmp_path / "out")
    assert [t.target for t in rep.targets] == ["ice40-up5k", "xc7"]
    assert rep.latency_us("xc7") is None          # no Fmax without place and route
    d = rep.as_dict()
    assert d["targets"]["xc7"]["source"] == "model"
    assert (tmp_path / "out" / "report.md").read_text().startswith("# Resource estimate")
    assert d["design"] is None


def test_estimate_reads_the_plan_of_a_design(net, tmp_path):
    hdl = pytest.importorskip("hdl")
    from hwplan import load_design

    hdl.generate(net, tmp_path / "hw", lanes={"fc1": 6})
    design = load_design(tmp_path / "hw", net)
    rep = estimate(net, targets="ecp5-25k", design=design, model_only=True, progress=False)
    assert rep.lanes == {"fc1": 6, "fc2": design.lanes["fc2"]}
    assert rep.design["sha256"] == design.sha256
    syn = rep.targets[0].model.layers[0].synapse
    assert (syn.depth, syn.width) == (64 * 8, 6 * 4)
    with pytest.raises(InputError, match="^lanes: the design fixes its lanes"):
        estimate(net, targets="ecp5-25k", design=design, lanes=2, model_only=True,
                 progress=False)


def test_estimate_wrong_options(net):
    with pytest.raises(InputError, match="^pnr: place and route needs synthesis"):
        estimate(net, targets="ecp5-25k", pnr=True, model_only=True, progress=False)
    with pytest.raises(InputError, match="^design: synthesis needs the generated design"):
        estimate(net, targets="ecp5-25k", progress=False)
    with pytest.raises(InputError, match="unknown target"):
        estimate(net, targets="ecp6", model_only=True, progress=False)
