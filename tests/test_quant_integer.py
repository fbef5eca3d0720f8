"""Torch integer mode (and the fake-quant float path) == pysim golden model, bit for bit."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import pysim
from quant.export import integer_mode_check, model_from_network

CASES = list(itertools.product(["zero", "subtract"], [3, None], [False, True],
                               ["spike_count", "membrane"]))


def _compare(net: pysim.IntNetwork, spikes: np.ndarray) -> None:
    gold = pysim.simulate(net, spikes, trace=True)
    model = model_from_network(net)
    mine = model.run_integer(spikes, trace=True, batch_size=17)
    for layer, s, u in zip(net.layers, mine.spikes, mine.membranes):
        np.testing.assert_array_equal(s, gold.spikes[layer.name], err_msg=layer.name)
        np.testing.assert_array_equal(u, gold.membranes[layer.name], err_msg=layer.name)
    np.testing.assert_array_equal(mine.predictions, gold.predictions)
    # the fake-quant float32 forward (the one QAT trains) computes the same integers
    with torch.no_grad():
        out = model.run(torch.from_numpy(spikes).float(), record=True)
    for layer, s, u in zip(net.layers, out.spikes, out.membranes):
        np.testing.assert_array_equal(s.numpy().astype(np.uint8), gold.spikes[layer.name])
        np.testing.assert_array_equal(u.numpy().astype(np.int64), gold.membranes[layer.name])
    np.testing.assert_array_equal(torch.argmax(out.scores, 1).numpy(), gold.predictions)


@pytest.mark.parametrize("reset,leak,bias,readout", CASES)
def test_integer_mode_matches_golden_random_networks(reset, leak, bias, readout):
    seed = hash((reset, leak, bias, readout)) % 1000
    rng = np.random.default_rng(seed)
    net = pysim.random_network(rng, [12, 9, 7, 4], timesteps=10, weight_bits=[4, 3, 5],
                               state_bits=[10, 9, 12], leak_shift=leak, reset=reset,
                               bias=bias, readout=readout)
    spikes = pysim.random_spikes(rng, 60, 10, 12, rate=0.3)
    _compare(net, spikes)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_integer_mode_matches_golden_narrow_state_saturates(reset):
    rng = np.random.default_rng(7)
    net = pysim.random_network(rng, [16, 8, 5], timesteps=12, weight_bits=6, state_bits=6,
                               leak_shift=2, reset=reset, bias=True, threshold_scale=3.0)
    spikes = pysim.random_spikes(rng, 50, 12, 16, rate=0.5)
    gold = pysim.simulate(net, spikes, trace=True)
    lo, hi = net.layers[0].state_precision.min, net.layers[0].state_precision.max
    m = gold.membranes["fc1"]
    assert (m == lo).any() or (m == hi).any(), "the case must actually saturate"
    _compare(net, spikes)


def test_integer_mode_matches_golden_wide_weights():
    rng = np.random.default_rng(3)
    net = pysim.random_network(rng, [40, 20, 10], timesteps=6, weight_bits=12,
                               state_bits=20, leak_shift=4)
    _compare(net, pysim.random_spikes(rng, 30, 6, 40, rate=0.4))


def test_integer_mode_check_counts_mismatches():
    rng = np.random.default_rng(11)
    net = pysim.random_network(rng, [10, 6, 3], timesteps=8)
    spikes = pysim.random_spikes(rng, 20, 8, 10, rate=0.4)
    assert integer_mode_check(None, net, spikes)["mismatches"] == 0
    # a model of a different network must be caught
    other = net.replace(layers=(net.layers[0].replace(threshold=net.layers[0].threshold + 3),
                                net.layers[1]))
    res = integer_mode_check(None, net, spikes, model=model_from_network(other))
    assert res["mismatches"] > 0
