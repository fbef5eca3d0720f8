"""The whole generated Network in Amaranth's simulator against the golden model."""
from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Fragment

import pysim
from hdl import Network
from hwplan import default_lanes
from sim.amsim import run_network

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def _check(net: pysim.IntNetwork, x: np.ndarray, **kw) -> None:
    run = run_network(net, x, **kw)
    gold = pysim.simulate(net, x)
    for name, spikes in gold.spikes.items():
        diff = np.argwhere(run.spikes[name] != spikes)
        assert diff.size == 0, f"layer {name}: first mismatch (sample, t, neuron) {diff[0]}"
        assert (run.markers[name] == net.timesteps).all(), f"layer {name}: markers"
    assert run.order_ok
    np.testing.assert_array_equal(run.predictions, gold.predictions)


def _random_case(seed: int) -> tuple[pysim.IntNetwork, np.ndarray, dict[str, int]]:
    rng = np.random.default_rng(seed)
    n_layers = int(rng.integers(1, 4))
    sizes = [int(rng.integers(1, 12)) for _ in range(n_layers + 1)]
    net = pysim.random_network(
        rng, sizes, timesteps=int(rng.integers(1, 6)),
        weight_bits=[int(rng.choice([2, 3, 4, 8, 16])) for _ in range(n_layers)],
        state_bits=[int(rng.choice([3, 4, 6, 12, 20])) for _ in range(n_layers)],
        leak_shift=[None if rng.random() < 0.3 else int(rng.integers(1, 4))
                    for _ in range(n_layers)],
        reset=[str(rng.choice(["zero", "subtract"])) for _ in range(n_layers)],
        bias=bool(rng.random() < 0.5),
        readout=str(rng.choice(["spike_count", "membrane"])),
        threshold_scale=float(rng.uniform(0.2, 1.5)),
    )
    lanes = {layer.name: int(rng.integers(1, layer.out_features + 1)) for layer in net.layers}
    x = pysim.random_spikes(rng, 2, net.timesteps, sizes[0], float(rng.uniform(0.1, 0.8)))
    return net, x, lanes


@pytest.mark.parametrize("seed", range(6))
def test_network_matches_golden_random(seed: int) -> None:
    net, x, lanes = _random_case(seed)
    _check(net, x, lanes=lanes)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6, 60))
def test_network_matches_golden_random_many(seed: int) -> None:
    net, x, lanes = _random_case(seed)
    _check(net, x, lanes=lanes, gap_rng=np.random.default_rng(seed), gap_rate=0.3)


def test_network_matches_golden_with_input_gaps() -> None:
    rng = np.random.default_rng(11)
    net = pysim.random_network(rng, [7, 9, 4], timesteps=4, bias=True, reset="subtract")
    x = pysim.random_spikes(rng, 3, 4, 7, 0.5)
    _check(net, x, lanes={"fc1": 4}, gap_rng=rng, gap_rate=0.4)


def test_network_default_lanes() -> None:
    net = pysim.random_network(np.random.default_rng(0), [64, 128, 10])
    dut = Network(network=net)
    Fragment.get(dut, None)
    assert dut.lanes == {"fc1": 8, "fc2": 1}
    assert [hw.groups for hw in dut.layers] == [16, 10]


@pytest.mark.parametrize("sizes, lanes", [([12, 20, 10], None), ([12, 20, 10], 4),
                                          ([16, 10], None)])
def test_network_cycles_within_bound(sizes: list[int], lanes) -> None:
    rng = np.random.default_rng(3)
    net = pysim.random_network(rng, sizes, timesteps=6, bias=True)
    x = pysim.random_spikes(rng, 2, 6, sizes[0], 0.3)
    run = run_network(net, x, lanes=lanes)
    gold = pysim.simulate(net, x)
    for name, spikes in gold.spikes.items():
        np.testing.assert_array_equal(run.spikes[name], spikes)
    n_layers = len(sizes) - 1
    # within 10% of the event-driven bound plus a small constant per layer and step
    assert (run.cycles <= 1.1 * run.bounds + 2 * n_layers * net.timesteps + 8).all(), (
        run.cycles, run.bounds)


def test_network_accepts_back_to_back_samples_without_rebuild() -> None:
    rng = np.random.default_rng(4)
    net = pysim.random_network(rng, [5, 6, 3], timesteps=3, readout="membrane", bias=True)
    x = pysim.random_spikes(rng, 5, 3, 5, 0.5)
    _check(net, x)


@pytest.mark.parametrize("out, weight_bits, lanes", [
    (10, 4, 1), (128, 4, 8), (256, 4, 16), (100, 2, 7), (64, 16, 4), (1, 8, 1),
    (256, 8, 9), (256, 3, 16), (300, 2, 19),
])
def test_network_default_lanes_examples(out: int, weight_bits: int, lanes: int) -> None:
    layer = pysim.IntLayer(name="fc1", weight=np.zeros((out, 3), np.int64),
                           weight_bits=weight_bits, state_bits=8, threshold=3)
    assert default_lanes(layer) == lanes


def test_network_wrong_network() -> None:
    with pytest.raises(TypeError) as info:
        Network(network="net")
    assert str(info.value) == "Network must be a pysim.IntNetwork, not 'net'"


@pytest.mark.parametrize("seed", range(3))
def test_network_matches_golden_with_banked_synapse_rom(monkeypatch, seed: int) -> None:
    # Tiny banks so that small networks take the banked ROM path (two cycles from the
    # address to the word; the layer delays its commands to the core by one cycle).
    import hwplan.plan
    monkeypatch.setattr(hwplan.plan, "BANK_WORDS", 4)
    net, x, lanes = _random_case(seed + 20)
    _check(net, x, lanes=lanes, gap_rng=np.random.default_rng(seed), gap_rate=0.2)
    _check(net, x)
