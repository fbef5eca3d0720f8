"""The golden model against the plain scalar reference (property tests) and hand cases."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import reference_simulate

from pysim import IntLayer, IntNetwork, simulate


@st.composite
def networks_and_spikes(draw, max_layers: int = 3, max_size: int = 12):
    n_layers = draw(st.integers(1, max_layers))
    sizes = [draw(st.integers(1, max_size)) for _ in range(n_layers + 1)]
    T = draw(st.integers(1, 6))
    readout = draw(st.sampled_from(["spike_count", "membrane"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    layers = []
    for i in range(n_layers):
        wb = draw(st.integers(2, 16))
        sb = draw(st.integers(2, 20))
        wlo, whi = -(1 << (wb - 1)), (1 << (wb - 1)) - 1
        w = rng.integers(wlo, whi + 1, size=(sizes[i + 1], sizes[i]))
        th = draw(st.integers(1, (1 << (sb - 1)) - 1))
        k = draw(st.one_of(st.none(), st.integers(1, sb - 1)))
        bias = None
        if draw(st.booleans()):
            bias = rng.integers(-(1 << (sb - 1)), (1 << (sb - 1)), size=sizes[i + 1])
        layers.append(IntLayer(
            name=f"l{i}", weight=w, weight_bits=wb, state_bits=sb, threshold=th,
            leak_shift=k, reset=draw(st.sampled_from(["zero", "subtract"])), bias=bias,
        ))
    net = IntNetwork(layers=tuple(layers), timesteps=T, readout=readout)
    n = draw(st.integers(1, 4))
    rate = draw(st.floats(0.0, 1.0))
    spikes = (rng.random((n, T, sizes[0])) < rate).astype(np.uint8)
    return net, spikes


def _assert_equal_to_reference(net, spikes):
    res = simulate(net, spikes, trace=True)
    preds, ref_s, ref_u = reference_simulate(net, spikes)
    for layer in net.layers:
        np.testing.assert_array_equal(res.spikes[layer.name], np.array(ref_s[layer.name]),
                                      err_msg=f"spikes of {layer.name}")
        np.testing.assert_array_equal(res.membranes[layer.name], np.array(ref_u[layer.name]),
                                      err_msg=f"membranes of {layer.name}")
    np.testing.assert_array_equal(res.predictions, np.array(preds))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          print_blob=True)
@given(networks_and_spikes())
def test_golden_equals_reference_on_random_networks(case):
    net, spikes = case
    _assert_equal_to_reference(net, spikes)


@settings(max_examples=60, deadline=None, print_blob=True)
@given(networks_and_spikes(max_layers=1, max_size=1))
def test_golden_equals_reference_single_neuron(case):
    net, spikes = case
    _assert_equal_to_reference(net, spikes)


def test_golden_equals_reference_saturation_heavy():
    """Narrow membranes and wide weights: most steps saturate, at both ends."""
    rng = np.random.default_rng(7)
    hit_lo = hit_hi = 0
    for trial in range(40):
        sb = int(rng.integers(2, 7))
        layers = []
        sizes = [int(rng.integers(3, 10)) for _ in range(3)]
        for i in range(2):
            w = rng.integers(-(1 << 7), 1 << 7, size=(sizes[i + 1], sizes[i]))
            layers.append(IntLayer(name=f"s{i}", weight=w, weight_bits=8, state_bits=sb,
                                   threshold=int(rng.integers(1, (1 << (sb - 1)))),
                                   leak_shift=[None, 1][trial % 2],
                                   reset=["zero", "subtract"][(trial // 2) % 2]))
        net = IntNetwork(layers=tuple(layers), timesteps=5,
                         readout=["spike_count", "membrane"][(trial // 4) % 2])
        spikes = (rng.random((3, 5, sizes[0])) < 0.6).astype(np.uint8)
        _assert_equal_to_reference(net, spikes)
        u = simulate(net, spikes, trace=True).membranes
        for layer in net.layers:
            hit_lo += int((u[layer.name] == layer.state_precision.min).sum())
            hit_hi += int((u[layer.name] == layer.state_precision.max).sum())
    assert hit_lo > 100 and hit_hi > 100  # the case really exercises both clamps


def _one(weight, **kw):
    defaults = {"name": "n", "weight": np.array([[weight]]), "weight_bits": 8, "state_bits": 8,
                    "threshold": 10, "leak_shift": None, "reset": "zero"}
    defaults.update(kw)
    return IntNetwork(layers=(IntLayer(**defaults),), timesteps=kw.pop("T", 4),
                      readout="spike_count")


def test_golden_leak_floors_negative_membranes():
    # u = -5 after step 0; leak k=1: d = -5 - floor(-5/2) = -5 - (-3) = -2.
    net = IntNetwork(layers=(IntLayer(name="n", weight=np.array([[-5]]), weight_bits=8,
                                      state_bits=8, threshold=10, leak_shift=1),),
                     timesteps=2)
    u = simulate(net, np.array([[[1], [0]]]), trace=True).membranes["n"]
    assert u[0, :, 0].tolist() == [-5, -2]


def test_golden_threshold_equal_fires_and_resets_next_step():
    net = IntNetwork(layers=(IntLayer(name="n", weight=np.array([[10]]), weight_bits=8,
                                      state_bits=8, threshold=10),), timesteps=3)
    res = simulate(net, np.array([[[1], [0], [1]]]), trace=True)
    assert res.spikes["n"][0, :, 0].tolist() == [1, 0, 1]
    assert res.membranes["n"][0, :, 0].tolist() == [10, 0, 10]  # u visible at t, reset at t+1


def test_golden_subtract_reset_keeps_excess():
    net = IntNetwork(layers=(IntLayer(name="n", weight=np.array([[25]]), weight_bits=8,
                                      state_bits=8, threshold=10, reset="subtract"),),
                     timesteps=3)
    res = simulate(net, np.array([[[1], [0], [0]]]), trace=True)
    assert res.membranes["n"][0, :, 0].tolist() == [25, 15, 5]
    assert res.spikes["n"][0, :, 0].tolist() == [1, 1, 0]


def test_golden_clamp_saturates_both_ends():
    net = IntNetwork(layers=(IntLayer(name="n", weight=np.array([[100, -100]]), weight_bits=8,
                                      state_bits=6, threshold=31),), timesteps=2)
    u = simulate(net, np.array([[[1, 0], [0, 1]]]), trace=True).membranes["n"]
    assert u[0, :, 0].tolist() == [31, -32]


def test_golden_membrane_readout_never_fires_and_ties_go_low():
    net = IntNetwork(layers=(IntLayer(name="o", weight=np.array([[3], [3], [1]]), weight_bits=4,
                                      state_bits=8, threshold=1),), timesteps=2,
                     readout="membrane")
    res = simulate(net, np.ones((1, 2, 1), np.uint8), trace=True)
    assert res.spikes["o"].sum() == 0
    assert res.membranes["o"][0, -1].tolist() == [6, 6, 2]
    assert res.predictions.tolist() == [0]


def test_golden_spike_count_tie_goes_to_lowest_index():
    net = IntNetwork(layers=(IntLayer(name="o", weight=np.array([[1], [5], [5]]), weight_bits=4,
                                      state_bits=8, threshold=5),), timesteps=2)
    res = simulate(net, np.ones((1, 2, 1), np.uint8))
    assert res.predictions.tolist() == [1]


def test_golden_float_paths_are_exact_at_extremes():
    """Large fan-in with 16-bit weights crosses the float32 bound and uses float64."""
    rng = np.random.default_rng(3)
    w = np.full((3, 1200), -(1 << 15))
    w[1] = (1 << 15) - 1
    w[2] = rng.integers(-(1 << 15), 1 << 15, size=1200)
    net = IntNetwork(layers=(IntLayer(name="big", weight=w, weight_bits=16, state_bits=32,
                                      threshold=(1 << 31) - 1),), timesteps=1,
                     readout="membrane")
    x = np.ones((1, 1, 1200), np.uint8)
    u = simulate(net, x, trace=True).membranes["big"][0, 0]
    assert u.tolist() == [int(row.sum()) for row in w.astype(object)]


@pytest.mark.parametrize("shape", [(2, 4, 5), (2, 3, 6)])
def test_golden_wrong_spike_shape(shape):
    net = _one(1)
    from pysim import ManifestError
    with pytest.raises(ManifestError, match="does not match"):
        simulate(net, np.zeros(shape, np.uint8))
