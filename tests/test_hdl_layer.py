"""Layer: the event-driven controller against the golden model, with backpressure."""
from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

import pysim
from hdl import Layer

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def run_layer(hw: Layer, x: np.ndarray, *, ready_rng: np.random.Generator | None = None,
              ready_rate: float = 0.5) -> tuple[np.ndarray, list[int]]:
    """Feed one sample ``x`` (T, in) through ``hw``; return spikes (T, out) and the number
    of cycles from the start pulse to each output marker."""
    T, n = x.shape[0], hw.layer.out_features
    spikes = np.zeros((T, n), np.uint8)
    marks: list[int] = []
    state = {"cycle": 0, "t": 0, "last": -1}

    async def monitor(ctx):
        o = hw.o_events
        async for _clk, _rst, valid, ready, payload in ctx.tick().sample(
                o.valid, o.ready, o.payload):
            state["cycle"] += 1
            if valid and ready:
                if payload.last:
                    marks.append(state["cycle"])
                    state["t"] += 1
                    state["last"] = -1
                else:
                    i = int(payload.index)
                    assert i > state["last"], "spikes not in ascending order"
                    state["last"] = i
                    spikes[state["t"], i] = 1

    async def sink(ctx):
        while True:
            ready = 1 if ready_rng is None else int(ready_rng.random() < ready_rate)
            ctx.set(hw.o_events.ready, ready)
            await ctx.tick()

    async def driver(ctx):
        ctx.set(hw.start, 1)
        await ctx.tick()
        ctx.set(hw.start, 0)
        state["cycle"] = 0
        for t in range(T):
            beats = [(int(j), 0) for j in np.flatnonzero(x[t])] + [(0, 1)]
            for index, last in beats:
                ctx.set(hw.i_events.valid, 1)
                ctx.set(hw.i_events.payload, {"index": index, "last": last})
                while True:
                    ready = ctx.get(hw.i_events.ready)
                    await ctx.tick()
                    if ready:
                        break
            ctx.set(hw.i_events.valid, 0)
        for _ in range(10000):
            if state["t"] == T and not ctx.get(hw.busy):
                break
            await ctx.tick()

    sim = Simulator(hw)
    sim.add_clock(1e-8)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(sink, background=True)
    sim.add_testbench(driver)
    sim.run()
    assert state["t"] == T
    return spikes, marks


@pytest.mark.parametrize("seed, lanes, backpressure", [
    (0, 3, False), (1, 3, True), (2, 1, True), (3, 7, False), (4, 4, True),
])
def test_layer_matches_golden(seed: int, lanes: int, backpressure: bool) -> None:
    rng = np.random.default_rng(seed)
    net = pysim.random_network(rng, [6, 7], timesteps=5, weight_bits=3, state_bits=5,
                               leak_shift=1, reset="subtract" if seed % 2 else "zero",
                               bias=True, threshold_scale=0.4)
    x = pysim.random_spikes(rng, 1, 5, 6, 0.5)
    hw = Layer(layer=net.layers[0], lanes=lanes, timesteps=5)
    spikes, _ = run_layer(hw, x[0], ready_rng=rng if backpressure else None)
    gold = pysim.simulate(net, x).spikes["fc1"][0]
    assert gold.sum() > 0
    np.testing.assert_array_equal(spikes, gold)


@pytest.mark.parametrize("units", [1, 2, 4])
def test_layer_cycles_per_step_meet_the_bound(units: int) -> None:
    # A quiet layer (no spikes, no backpressure): after the first step (which also pays
    # the update of step 0 and the pipeline's latency) every step costs exactly
    # max(events*G + 1, rows + 3): the update of a step runs while the next one
    # accumulates. With enough update units
    # that is at most the event-driven bound events*G + G.
    rng = np.random.default_rng(7)
    net = pysim.random_network(rng, [9, 13], timesteps=6, threshold_scale=50.0)
    x = pysim.random_spikes(rng, 1, 6, 9, 0.4)
    hw = Layer(layer=net.layers[0], lanes=4, timesteps=6, update_units=units)
    spikes, marks = run_layer(hw, x[0])
    assert spikes.sum() == 0
    G, rows = 4, -(-13 // units)
    assert (hw.groups, hw.rows) == (G, rows)
    events = x[0].sum(axis=1).astype(int)
    per_step = np.diff([0, *marks])
    assert list(per_step[1:]) == list(np.maximum(events * G + 1, rows + 3)[1:])
    if units > 1:
        assert (per_step[1:] <= (events * G + G)[1:]).all()
    # the first marker leaves after step 0's whole update: rows + pipeline latency
    assert per_step[0] == events[0] * G + 1 + rows + hw.neurons.update_latency


def test_layer_default_update_units() -> None:
    from hwplan import default_update_units
    assert default_update_units(784, 256, 24) == 1     # MNIST-size: one unit
    assert default_update_units(64, 128, 22) == 2      # 8 nominal events: ceil(22/8)=3 -> 2
    assert default_update_units(64, 128, 24) == 3
    assert default_update_units(9, 13, 4) == 4         # tiny: as many units as lanes
    assert default_update_units(128, 10, 10) == 1


def test_layer_spikes_cost_at_most_a_cycle_each() -> None:
    rng = np.random.default_rng(7)
    net = pysim.random_network(rng, [9, 13], timesteps=6, threshold_scale=0.5)
    x = pysim.random_spikes(rng, 1, 6, 9, 0.4)
    hw = Layer(layer=net.layers[0], lanes=4, timesteps=6)
    spikes, marks = run_layer(hw, x[0])
    assert spikes.sum() > 5
    bound = x[0].sum() * 4 + 4 * 6
    assert marks[-1] <= bound + 4 + 1 + spikes.sum()


def test_layer_wrong_timesteps() -> None:
    net = pysim.random_network(np.random.default_rng(0), [3, 2])
    with pytest.raises(ValueError) as info:
        Layer(layer=net.layers[0], lanes=1, timesteps=0)
    assert str(info.value) == "Timestep count must be an integer between 1 and 65535, not 0"


def test_layer_wrong_layer() -> None:
    with pytest.raises(TypeError) as info:
        Layer(layer="fc1", lanes=1, timesteps=4)
    assert str(info.value) == "Layer must be a pysim.IntLayer, not 'fc1'"


def test_layer_wrong_lanes() -> None:
    net = pysim.random_network(np.random.default_rng(0), [3, 2])
    with pytest.raises(ValueError) as info:
        Layer(layer=net.layers[0], lanes=3, timesteps=4)
    assert str(info.value) == "Lane count must be an integer between 1 and 2, not 3"
