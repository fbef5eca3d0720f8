"""NeuronCore in Amaranth's simulator against the golden model's layer_step."""
from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

import pysim
from hdl import NeuronCore
from hwplan import accumulator_bits, accumulator_range, synaptic_bits, synaptic_range

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def _golden_layer(out: int, state_bits: int, threshold: int, leak_shift, reset, bias
                  ) -> pysim.IntLayer:
    return pysim.IntLayer(name="t", weight=np.zeros((out, 1), np.int64), weight_bits=2,
                          state_bits=state_bits, threshold=threshold, leak_shift=leak_shift,
                          reset=reset, bias=bias)


def run_core(core: NeuronCore, steps: list[list[tuple[int, list[int]]]], *,
             ready_rng: np.random.Generator | None = None, gap_rng=None
             ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Drive ``core``: start, then per step the accumulate words ``(group, lane weights)``
    and a step command. Returns u (steps, out), s (steps, out) and the update row order."""
    U, R, n = core.update_units, core.rows, core.out_features
    L = core.lanes
    us = np.zeros((len(steps), n), np.int64)
    ss = np.zeros((len(steps), n), np.int64)
    order: list[int] = []
    seen = {"step": 0, "rows": 0}

    async def monitor(ctx):
        upd = core.upd
        async for _clk, _rst, valid, ready, payload in ctx.tick().sample(
                upd.valid, upd.ready, upd.payload):
            if valid and ready:
                r = int(payload.row)
                order.append(r)
                t = seen["step"]
                assert bool(payload.final) == (t == len(steps) - 1)
                assert bool(payload.last) == (r == R - 1)
                for k in range(U):
                    i = r * U + k
                    if i < n:
                        us[t, i] = int(payload.u[k])
                        ss[t, i] = (int(payload.spikes) >> k) & 1
                    else:
                        assert not (int(payload.spikes) >> k) & 1, "padding lane fired"
                seen["rows"] += 1
                if seen["rows"] == R:
                    seen["rows"] = 0
                    seen["step"] += 1

    async def backpressure(ctx):
        while True:
            ctx.set(core.upd.ready, 1 if ready_rng is None else int(ready_rng.random() < 0.6))
            await ctx.tick()

    async def driver(ctx):
        ctx.set(core.start, 1)
        await ctx.tick()
        ctx.set(core.start, 0)
        prev = [0] * L
        last_g = None
        G = core.groups
        for t, words in enumerate(steps):
            # The core's preconditions (the Layer meets them): a word for group g is
            # issued as an event over every group (zeros elsewhere), in group order, the
            # step's first event with ``fresh``; with more than one group, two commands
            # to one group are at least two cycles apart.
            cmds = [(gi, w if gi == g else [0] * L, e == 0)
                    for e, (g, w) in enumerate(words) for gi in range(G)]
            for g, w, fresh in cmds:
                if g == last_g and G > 1:
                    ctx.set(core.weights, prev)
                    prev = [0] * L
                    await ctx.tick()
                last_g = g
                ctx.set(core.weights, prev)
                ctx.set(core.acc.valid, 1)
                ctx.set(core.acc.payload, {"group": g, "fresh": int(fresh)})
                assert ctx.get(core.acc.ready)
                await ctx.tick()
                ctx.set(core.acc.valid, 0)
                prev = w
                if gap_rng is not None and gap_rng.random() < 0.3:
                    ctx.set(core.weights, prev)
                    prev = [0] * L
                    last_g = None
                    await ctx.tick()
            ctx.set(core.weights, prev)
            prev = [0] * L
            last_g = None
            ctx.set(core.step.valid, 1)
            ctx.set(core.step.payload, {"final": int(t == len(steps) - 1)})
            while True:
                ready = ctx.get(core.step.ready)
                await ctx.tick()
                ctx.set(core.weights, prev)
                if ready:
                    break
            ctx.set(core.step.valid, 0)
        for _ in range(400):
            if seen["step"] == len(steps) and not ctx.get(core.busy):
                break
            await ctx.tick()

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(backpressure, background=True)
    sim.add_testbench(driver)
    sim.run()
    assert seen["step"] == len(steps), "not every update came out"
    return us, ss, order


def _golden(layer: pysim.IntLayer, currents: np.ndarray, fires: bool = True
            ) -> tuple[np.ndarray, np.ndarray]:
    u = np.zeros(layer.out_features, np.int64)
    s = np.zeros(layer.out_features, np.int64)
    us, ss = [], []
    for cur in currents:
        u, s = pysim.layer_step(layer, u, s, cur, fires)
        us.append(u)
        ss.append(s)
    return np.array(us), np.array(ss)


def _words_for(currents_words: list[list[tuple[int, list[int]]]], out: int, lanes: int
               ) -> np.ndarray:
    cur = np.zeros((len(currents_words), out), np.int64)
    for t, words in enumerate(currents_words):
        for g, w in words:
            for k, v in enumerate(w):
                if g * lanes + k < out:
                    cur[t, g * lanes + k] += v
    return cur


def _check(*, out: int, lanes: int, weight_bits: int, state_bits: int, threshold: int,
           leak_shift=None, reset: str = "zero", bias=None, fires: bool = True,
           steps: list[list[tuple[int, list[int]]]], update_units: int = 1,
           ready_rng: np.random.Generator | None = None, gap_rng=None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Run the core and the golden model on the same currents; return the golden u, s."""
    groups = -(-out // lanes)
    wlo, whi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    fake_w = np.zeros((out, max(1, sum(len(s) for s in steps))), np.int64)
    col = 0
    for words in steps:  # the accumulator bound must cover the currents driven
        for g, w in words:
            for k, v in enumerate(w):
                if g * lanes + k < out:
                    fake_w[g * lanes + k, col] = v
            col += 1
    assert fake_w.min() >= wlo and fake_w.max() <= whi
    acc_bits = synaptic_bits(fake_w)
    core = NeuronCore(out_features=out, lanes=lanes, weight_bits=weight_bits,
                      state_bits=state_bits, acc_bits=acc_bits, threshold=threshold,
                      leak_shift=leak_shift, reset=reset, bias=bias, fires=fires,
                      update_units=update_units)
    assert core.groups == groups
    layer = _golden_layer(out, state_bits, threshold, leak_shift, reset, bias)
    cur = _words_for(steps, out, lanes)
    gu, gs = _golden(layer, cur, fires)
    hu, hs, order = run_core(core, steps, ready_rng=ready_rng, gap_rng=gap_rng)
    np.testing.assert_array_equal(hu, gu)
    np.testing.assert_array_equal(hs, gs)
    assert order == list(range(core.rows)) * len(steps)
    return gu, gs


def _random_steps(rng, n_steps, groups, lanes, weight_bits, words_per_step, bias_lo=None):
    lo, hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    return [[(int(rng.integers(groups)), [int(v) for v in rng.integers(lo, hi + 1, lanes)])
             for _ in range(int(rng.integers(0, words_per_step + 1)))]
            for _ in range(n_steps)]


def test_neuron_core_saturates_at_both_ends() -> None:
    # 4-bit membrane [-8, 7]; lane 0 gets +7 per word, lane 1 -8 per word.
    steps = [[(0, [7, -8])] * 3, [(0, [7, -8])], [], [(0, [-8, 7])] * 4]
    gu, _ = _check(out=2, lanes=2, weight_bits=4, state_bits=4, threshold=7, leak_shift=None,
                   reset="subtract", steps=steps)
    assert gu[0, 0] == 7 and gu[0, 1] == -8  # both clamps were exercised


def test_neuron_core_leaks_negative_membranes_by_floor_shift() -> None:
    # u = -5, k = 1: r >> 1 = -3 (floor), d = -2 (truncation would give -3)
    steps = [[(0, [-5])], [], [], [(0, [-1])], []]
    gu, _ = _check(out=1, lanes=1, weight_bits=4, state_bits=8, threshold=100, leak_shift=1,
                   steps=steps)
    assert list(gu[:, 0]) == [-5, -2, -1, -1, 0]


def test_neuron_core_fires_at_threshold_equality() -> None:
    steps = [[(0, [5, 4, 6])]]
    _, gs = _check(out=3, lanes=3, weight_bits=4, state_bits=8, threshold=5, steps=steps)
    assert list(gs[0]) == [1, 0, 1]


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_neuron_core_resets_at_the_next_step(reset: str) -> None:
    steps = [[(0, [7, 7])], [(0, [0, 1])], [], []]
    gu, gs = _check(out=2, lanes=2, weight_bits=4, state_bits=8, threshold=5, reset=reset,
                    steps=steps)
    assert gs[0].all()
    expected_u1 = [0, 1] if reset == "zero" else [2, 3]
    assert list(gu[1]) == expected_u1


def test_neuron_core_adds_bias_every_step() -> None:
    bias = np.array([3, -4, 0, 2, -1])
    steps = [[], [(1, [1, 1])], [], [(0, [-2, 5])]]
    _check(out=5, lanes=2, weight_bits=4, state_bits=6, threshold=6, leak_shift=2,
           bias=bias, steps=steps)


def test_neuron_core_lanes_not_dividing_out_features() -> None:
    rng = np.random.default_rng(3)
    steps = _random_steps(rng, 5, 3, 3, 4, 6)
    _check(out=7, lanes=3, weight_bits=4, state_bits=6, threshold=5, leak_shift=1,
           reset="subtract", bias=rng.integers(-10, 10, 7), steps=steps)


@pytest.mark.parametrize("weight_bits", [2, 16])
def test_neuron_core_extreme_weight_widths(weight_bits: int) -> None:
    rng = np.random.default_rng(weight_bits)
    steps = _random_steps(rng, 4, 2, 3, weight_bits, 5)
    _check(out=5, lanes=3, weight_bits=weight_bits, state_bits=12 if weight_bits == 2 else 20,
           threshold=3 if weight_bits == 2 else 20000, leak_shift=2, steps=steps)


def test_neuron_core_membrane_readout_never_fires_nor_resets() -> None:
    steps = [[(0, [7, 3])]] * 4
    gu, gs = _check(out=2, lanes=2, weight_bits=4, state_bits=6, threshold=2, leak_shift=None,
                    fires=False, steps=steps)
    assert not gs.any() and gu[-1, 0] == 28  # far above threshold, still accumulating


def test_neuron_core_stalls_updates_under_backpressure() -> None:
    rng = np.random.default_rng(5)
    steps = _random_steps(rng, 4, 3, 2, 3, 6)
    _check(out=6, lanes=2, weight_bits=3, state_bits=5, threshold=2, leak_shift=1,
           reset="zero", steps=steps, ready_rng=rng)


@pytest.mark.parametrize("out, lanes, units", [(7, 6, 2), (13, 6, 3), (9, 4, 4), (20, 4, 1)])
def test_neuron_core_update_units_and_rows(out: int, lanes: int, units: int) -> None:
    # several neurons per update row, rows spanning a group, the deep pipeline (rows >= 7)
    # and the short one, with backpressure and idle cycles between commands
    rng = np.random.default_rng(out)
    groups = -(-out // lanes)
    steps = _random_steps(rng, 6, groups, lanes, 4, 8)
    _check(out=out, lanes=lanes, weight_bits=4, state_bits=7, threshold=6, leak_shift=2,
           reset="subtract" if out % 2 else "zero", bias=rng.integers(-20, 20, out),
           update_units=units, steps=steps, ready_rng=rng, gap_rng=rng)


def test_neuron_core_back_to_back_quiet_steps_single_row() -> None:
    # one row per step: each step's update must wait for the previous one's write-back
    steps = [[(0, [3, -2])], [], [], [(0, [1, 1])], [], [], []]
    _check(out=2, lanes=2, weight_bits=3, state_bits=5, threshold=4, leak_shift=1,
           update_units=2, bias=np.array([2, -1]), steps=steps)


def test_neuron_synaptic_range_is_exact_worst_case() -> None:
    w = np.array([[3, -2, 1], [-4, -4, 0]])
    assert synaptic_range(w) == (-8, 4)
    assert synaptic_bits(w) == 4
    assert synaptic_range(np.array([[1, 2]])) == (0, 3)


def test_neuron_accumulator_range_is_exact_worst_case() -> None:
    w = np.array([[3, -2, 1], [-4, -4, 0]])
    lo, hi = accumulator_range(w, 4, np.array([2, -3]))
    assert (lo, hi) == (-8 - 3 - 8, 7 + 2 + 4)
    assert accumulator_bits(w, 4, np.array([2, -3])) == 6


# ---------------------------------------------------------------- validation messages
_OK = {"out_features": 4, "lanes": 2, "weight_bits": 4, "state_bits": 8, "acc_bits": 10,
       "threshold": 5}


@pytest.mark.parametrize("param, value, exc, message", [
    ("out_features", 0, ValueError,
     "Neuron count must be an integer between 1 and 16777216, not 0"),
    ("lanes", 5, ValueError, "Lane count must be an integer between 1 and 4, not 5"),
    ("lanes", 1.5, TypeError, "Lane count must be an integer between 1 and 4, not 1.5"),
    ("weight_bits", 17, ValueError, "Weight width must be an integer between 2 and 16, not 17"),
    ("weight_bits", "4", TypeError, "Weight width must be an integer between 2 and 16, not '4'"),
    ("state_bits", 33, ValueError, "Membrane width must be an integer between 2 and 32, not 33"),
    ("acc_bits", 1, ValueError, "Accumulator width must be an integer between 2 and 64, not 1"),
    ("acc_bits", 65, ValueError, "Accumulator width must be an integer between 2 and 64, not 65"),
    ("update_units", 3, ValueError, "Update unit count must be an integer between 1 and 2, not 3"),
    ("update_units", 0, ValueError, "Update unit count must be an integer between 1 and 2, not 0"),
    ("threshold", 128, ValueError, "Threshold must be an integer between 1 and 127, not 128"),
    ("threshold", 0, ValueError, "Threshold must be an integer between 1 and 127, not 0"),
    ("leak_shift", 8, ValueError, "Leak shift must be an integer between 1 and 7, not 8"),
    ("reset", "hard", ValueError, "Reset mode must be one of 'zero', 'subtract', not 'hard'"),
    ("reset", 1, TypeError, "Reset mode must be one of 'zero', 'subtract', not 1"),
    ("bias", [1, 2, 3], ValueError, "Bias must have shape (4,), not (3,)"),
    ("bias", [1, 2, 3, 200], ValueError, "Bias must hold integers between -128 and 127, not 200"),
    ("bias", [0.5, 0, 0, 0], TypeError, "Bias must be an array of integers, not dtype float64"),
    ("fires", 1, TypeError, "Firing flag must be a bool, not 1"),
])
def test_neuron_core_wrong_param(param, value, exc, message) -> None:
    with pytest.raises(exc) as info:
        NeuronCore(**{**_OK, param: value})
    assert str(info.value) == message


def test_neuron_core_wrong_update_units_not_dividing_lanes() -> None:
    with pytest.raises(ValueError) as info:
        NeuronCore(**{**_OK, "out_features": 9, "lanes": 6, "update_units": 4})
    assert str(info.value) == "Update unit count must divide the lane count 6, not 4"


def test_neuron_core_properties_read_only() -> None:
    core = NeuronCore(**_OK, leak_shift=3, reset="subtract", bias=[1, 2, 3, 4],
                      update_units=2)
    assert (core.out_features, core.lanes, core.groups, core.acc_bits) == (4, 2, 2, 10)
    assert (core.update_units, core.rows, core.memory_depth, core.memory_width) == (2, 2, 2, 16)
    assert (core.acc_memory_depth, core.acc_memory_width) == (4, 20)
    assert core.reset == "subtract" and core.leak_shift == 3 and core.fires
    assert list(core.bias) == [1, 2, 3, 4]
    with pytest.raises(AttributeError):
        core.lanes = 3
