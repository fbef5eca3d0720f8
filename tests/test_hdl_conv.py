"""Conv2d and sum-pool hardware: the plan's geometry (unit tier) and the generated
design in Amaranth's simulator against the golden model, spike for spike (hdl tier),
including accumulate hazards, non-tiling pools and injected faults."""
from __future__ import annotations

import functools

import numpy as np
import pytest

import pysim
from hwplan import Conv2dLayerPlan, HardwarePlan, plan_network
from pysim.arch import LayerSpec
from pysim.network import LayerKind


def _net(arch, seed=0, **kw):
    kw.setdefault("timesteps", 4)
    return pysim.random_conv_network(np.random.default_rng(seed), arch, **kw)


def _spikes(net, n=3, rate=0.3, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.random((n, net.timesteps, net.input_size)) < rate).astype(np.uint8)


def _pool_arch(shape, conv_out, k, pool_k, pool_s, dense=4, padding=0, stride=1):
    return (shape, [LayerSpec(kind=LayerKind.CONV2D, size=conv_out, kernel=k,
                              padding=padding, stride=stride),
                    LayerSpec(kind=LayerKind.SUMPOOL2D, kernel=pool_k, stride=pool_s),
                    LayerSpec(kind=LayerKind.DENSE, size=dense)])


# ------------------------------------------------------------------------- unit tier

def test_conv_plan_memories_and_roundtrip():
    net = _net("1x28x28-8c5-sp2-16c5-sp2-10")
    plan = plan_network(net)
    c1, c2, fc = plan.layers
    assert isinstance(c1, Conv2dLayerPlan) and c1.lanes == 8 and c1.groups == 1
    assert (c1.weights.depth, c1.weights.width) == (25, 8 * 4)
    # 12-bit states pack three to a 36-bit word: 3 blocks of 18 Kbit instead of 5
    assert c1.membrane_units == 3
    assert (c1.membrane.depth, c1.membrane.width) == (8 * 24 * 24 // 3, 36)
    # a deep map keeps one step buffer (two would not fit the block depth of one); the
    # pooled 8x8 map gets two, interleaved (word 2a + parity), one copy per reader
    assert c1.accumulator.depth == 24 * 24 and c1.accumulator.copies == 1
    assert c1.accumulator.width == 8 * c1.acc_bits
    assert (c1.tags.depth, c1.tags.width, c1.tags.copies) == (24 * 24, 1, 1)
    assert c2.accumulator.depth == 2 * 8 * 8 and c2.accumulator.copies == 2
    assert c2.tags.copies == 2
    # the first layer reads the network input directly; the next gets a FIFO
    assert c1.input_fifo == 0 and c2.input_fifo == 512
    assert c2.pool is not None and c2.pool.in_shape == (8, 24, 24)
    assert c2.weights.depth == 8 * 25 and fc.pool is not None and fc.in_features == 256
    assert c1.membrane_efficiency == 1.0
    assert HardwarePlan.from_dict(plan.as_dict()) == plan
    assert [lp.name for lp in plan.layers] == [la.name for la in net.neuron_layers]


@pytest.mark.parametrize("arch", ["1x7x6-2c3-4", "2x9x8-3c3s2p1-4", "1x6x6-2c4p3-3",
                                  "1x5x9-1c2s3p1-3"])
def test_conv_plan_tap_tables_match_brute_force(arch):
    net = _net(arch)
    lp = plan_network(net).layers[0]
    (kh, kw), (sh, sw), (ph, pw) = lp.kernel, lp.stride, lp.padding
    _, oh, ow = lp.out_shape
    _, h, w = lp.in_shape
    for (i0, n, o0), y in zip(lp.row_taps(), range(h), strict=True):
        want = [(i, o) for o in range(oh) for i in range(kh) if o * sh + i - ph == y]
        want.sort()
        assert n == len(want)
        if n:
            assert (i0, o0) == want[0]
            assert all((i0 + a * sh, o0 - a) == want[a] for a in range(n))
    taps = lp.taps_map().reshape(h, w)
    for y in range(h):
        for x in range(w):
            brute = sum(1 for oy in range(oh) for ox in range(ow) for i in range(kh)
                        for j in range(kw) if oy * sh + i - ph == y and ox * sw + j - pw == x)
            assert taps[y, x] == brute
    assert pw >= 0


@pytest.mark.parametrize("pool", [(2, 2), (3, 2), (2, 3), (3, 1)])
def test_pool_plan_windows_follow_floor_semantics(pool):
    k, s = pool
    net = _net(_pool_arch((1, 7, 7), 2, 1, k, s))
    lp = plan_network(net).layers[1]
    x = _spikes(net, n=2, rate=0.4)
    golden = pysim.simulate(net, x, trace=True)
    spikes = golden.spikes[net.layers[0].name]
    from pysim.golden import pool_counts
    assert np.array_equal(lp.pool.apply(spikes), pool_counts(net.layers[1], spikes)
                          .reshape(lp.pool.apply(spikes).shape))
    # the windows of every input position, from the tables
    _, h, w = lp.pool.in_shape
    rows, cols = lp.pool.row_windows(), lp.pool.col_windows()
    oh = lp.pool.out_shape[1]
    for y in range(h):
        want = [py for py in range(oh) if py * s <= y < py * s + k]
        assert (rows[y][1] == len(want)) and (not want or rows[y][0] == want[0])
    assert lp.pool.max_count == k * k
    assert len(cols) == w


def test_conv_plan_packs_wide_states_past_72_bits():
    """6,912 15-bit states (the trained MNIST conv1) pack seven to a 105-bit word: 988
    words, 6 blocks of 18 Kbit instead of 7; the partial word is the first."""
    from hwplan.conv import MAX_MEMBRANE_WORD_BITS, max_membrane_units, membrane_units
    assert membrane_units(12 * 24 * 24, 15) == 7
    assert max_membrane_units(15) == 7 and max_membrane_units(12) == 8
    assert max_membrane_units(MAX_MEMBRANE_WORD_BITS) == 1
    assert membrane_units(2048, 12) == 1   # two blocks whatever the packing: the fewest
    net = pysim.random_conv_network(np.random.default_rng(0), "1x28x28-12c5-sp2-10",
                                    state_bits=15)
    c1 = plan_network(net).layers[0]
    assert (c1.membrane_units, c1.membrane.depth, c1.membrane.width) == (7, 988, 105)
    assert c1.membrane_offset == 988 * 7 - 6912 == 4


def test_conv_plan_membrane_packing_option():
    net = _net("1x7x7-3c3-sp2-4")
    plan = plan_network(net, membrane_packing={"conv1": 4})
    c1 = plan.layers[0]
    assert c1.membrane_units == 4 and c1.membrane.words == 19 and c1.membrane_offset == 1
    plan.check_network(net)             # a design's own packing is accepted
    assert HardwarePlan.from_dict(plan.as_dict()) == plan
    with pytest.raises(pysim.InputError, match="'fc3' is not a conv2d layer"):
        plan_network(net, membrane_packing={"fc3": 2})
    top = plan_network(net).layers[0].state_bits
    with pytest.raises(pysim.InputError, match="must be an integer between 1 and"):
        plan_network(net, membrane_packing={"conv1": 200 // top + 9})
    with pytest.raises(pysim.InputError, match="not 0"):
        plan_network(net, membrane_packing={"conv1": 0})


def test_conv_plan_refuses_bad_lanes():
    net = _net("1x6x6-3c3-4")
    with pytest.raises(pysim.InputError, match="out_channels = 3"):
        plan_network(net, {"conv1": 4})


# ------------------------------------------------------------------------- hdl tier

def _run(net, x, lanes=None, faults=None, **kw):
    pytest.importorskip("amaranth")
    from hdl.network import Network
    from sim import amsim
    if faults:
        orig = amsim.Network
        amsim.Network = functools.partial(Network, _faults=faults)
        try:
            return amsim.run_network(net, x, lanes=lanes, **kw)
        finally:
            amsim.Network = orig
    return amsim.run_network(net, x, lanes=lanes, **kw)


def _mismatches(net, x, hw):
    g = pysim.simulate(net, x)
    bad = sum(int((hw.spikes[la.name] != g.spikes[la.name]).sum())
              for la in net.neuron_layers)
    return bad + int((hw.predictions != g.predictions).sum())


CASES = [
    ("1x6x6-2c3-4", {}),
    ("2x5x5-3c3p1-sp2-5", {"bias": True, "reset": "subtract"}),
    ("1x7x7-2c3s2p1-3c1-4", {}),
    ("1x6x6-2c3-3c2", {"readout": "membrane"}),
    ("1x8x8-3c3-sp2-2c2-3", {"leak_shift": None}),
]


@pytest.mark.parametrize(("arch", "kw"), CASES)
def test_conv_amsim_matches_golden(arch, kw):
    net = _net(arch, **kw)
    x = _spikes(net)
    hw = _run(net, x)
    assert hw.order_ok
    assert _mismatches(net, x, hw) == 0
    assert (hw.cycles > 0).all()


@pytest.mark.parametrize("pool", [(3, 2), (2, 3), (3, 1)])
def test_conv_amsim_non_tiling_pool(pool):
    net = _net(_pool_arch((1, 7, 7), 2, 2, *pool))
    x = _spikes(net, rate=0.4)
    assert _mismatches(net, x, _run(net, x)) == 0


def test_conv_amsim_pool_before_conv_non_tiling():
    arch = ((1, 9, 9), [LayerSpec(kind=LayerKind.CONV2D, size=2, kernel=2),
                        LayerSpec(kind=LayerKind.SUMPOOL2D, kernel=3, stride=2),
                        LayerSpec(kind=LayerKind.CONV2D, size=3, kernel=2),
                        LayerSpec(kind=LayerKind.DENSE, size=3)])
    net = _net(arch, timesteps=3)
    x = _spikes(net, rate=0.5)
    assert _mismatches(net, x, _run(net, x)) == 0


# A 3x3 kernel over a 3x3 map: one output position, every event one tap, so back-to-back
# events read-modify-write the same accumulator word (distance 1 with one group,
# distance 2 with two): the hazard interlock acts on every event.
HAZARD = "4x3x3-2c3-3"


def _hazard_case():
    net = _net(HAZARD, seed=2, threshold_scale=0.3, timesteps=8)
    x = _spikes(net, n=4, rate=0.7)
    assert pysim.simulate(net, x).spikes["conv1"].sum() > 5  # the test sees the sums
    return net, x


@pytest.mark.parametrize("lanes", [1, 2])
def test_conv_amsim_back_to_back_hazards_interlocked(lanes):
    net, x = _hazard_case()
    hw = _run(net, x, lanes={"conv1": lanes})
    assert _mismatches(net, x, hw) == 0


@pytest.mark.parametrize("lanes", [1, 2])
def test_conv_amsim_dropped_hazard_interlock_is_caught(lanes):
    net, x = _hazard_case()
    hw = _run(net, x, lanes={"conv1": lanes}, faults={"conv1": "no_stall"})
    assert _mismatches(net, x, hw) > 0


def test_conv_amsim_wrong_tap_offset_is_caught():
    net = _net("1x6x6-2c3-4")
    x = _spikes(net, rate=0.4)
    hw = _run(net, x, faults={"conv1": "tap_offset"})
    assert _mismatches(net, x, hw) > 0


@pytest.mark.parametrize("packing", [2, 3, 7])
def test_conv_amsim_packed_membrane_words(packing):
    import dataclasses

    from hdl.network import Network
    net = _net("1x7x7-3c3-sp2-4", bias=True, readout="membrane")
    plan = plan_network(net)
    conv = net.layers[0]
    lp = plan.layers[0]
    from hwplan import conv_layer_plan
    packed = conv_layer_plan(conv, lanes=lp.lanes, fires=lp.fires, membrane_packing=packing)
    assert packed.membrane.width == packing * conv.state_bits
    plan = dataclasses.replace(plan, layers=(packed, *plan.layers[1:]))
    from sim import amsim
    orig = amsim.Network
    amsim.Network = lambda network, lanes=None: Network(network=network, plan=plan)
    try:
        x = _spikes(net, rate=0.4)
        hw = amsim.run_network(net, x)
    finally:
        amsim.Network = orig
    assert _mismatches(net, x, hw) == 0
    net2 = _net("1x7x7-3c3-sp2-4")   # spike-count readout: conv spikes compared too
    plan2 = plan_network(net2)
    packed2 = conv_layer_plan(net2.layers[0], lanes=plan2.layers[0].lanes,
                              membrane_packing=packing)
    plan2 = dataclasses.replace(plan2, layers=(packed2, *plan2.layers[1:]))
    amsim.Network = lambda network, lanes=None: Network(network=network, plan=plan2)
    try:
        x = _spikes(net2, rate=0.4)
        hw = amsim.run_network(net2, x)
    finally:
        amsim.Network = orig
    assert _mismatches(net2, x, hw) == 0


def test_conv_amsim_handshake_gaps_and_lanes():
    net = _net("2x5x5-3c3p1-sp2-5")
    x = _spikes(net)
    hw = _run(net, x, lanes={"conv1": 2}, gap_rng=np.random.default_rng(3), gap_rate=0.3)
    assert hw.order_ok and _mismatches(net, x, hw) == 0


def test_conv_layer_parameters_validated():
    pytest.importorskip("amaranth")
    from hdl.conv import ConvLayer
    net = _net("1x6x6-2c3-4")
    with pytest.raises(TypeError, match="pysim.Conv2dLayer"):
        ConvLayer(layer=net.layers[1], timesteps=4, lanes=1)
    with pytest.raises(ValueError, match="Lane count must be an integer between 1 and 2"):
        ConvLayer(layer=net.layers[0], timesteps=4, lanes=3)
    with pytest.raises(ValueError, match="Fault must be one of"):
        ConvLayer(layer=net.layers[0], timesteps=4, lanes=1, fault="x")


# ------------------------------------------------------------------ step buffers, FIFO

def _with_copies(net, copies, lanes=None):
    """The default plan of ``net`` with every conv layer at ``copies`` step buffers."""
    import dataclasses

    from hwplan import conv_layer_plan
    plan = plan_network(net, lanes)
    layers = []
    for la, lp in zip(net.neuron_layers, plan.layers, strict=True):
        if lp.kind == "conv2d":
            lp = conv_layer_plan(la, lanes=lp.lanes, fires=lp.fires, pool=lp.pool,
                                 membrane_packing=lp.membrane_units,
                                 input_fifo=lp.input_fifo, accumulator_copies=copies)
        layers.append(lp)
    return dataclasses.replace(plan, layers=tuple(layers))


def _run_plan(net, x, plan):
    pytest.importorskip("amaranth")
    from hdl.network import Network
    from sim import amsim
    orig = amsim.Network
    amsim.Network = lambda network, lanes=None: Network(network=network, plan=plan)
    try:
        return amsim.run_network(net, x)
    finally:
        amsim.Network = orig


def test_conv_plan_step_buffers_and_fifo_rule():
    from hwplan import conv_accumulator_copies, conv_input_fifo
    assert conv_accumulator_copies(128) == 2 and conv_accumulator_copies(256) == 2
    assert conv_accumulator_copies(257) == 1 and conv_accumulator_copies(1152) == 1
    assert conv_input_fifo(54) == 64 and conv_input_fifo(6912) == 512
    assert conv_input_fifo(1) == 4
    net = _net("1x28x28-8c5-sp2-16c5-sp2-10")
    c1, c2, _ = plan_network(net).layers
    assert c1.accumulator_copies == 1 and c1.accumulator.depth == 576
    assert c2.accumulator_copies == 2 and c2.accumulator.depth == 2 * 64
    two = _with_copies(net, 2).layers[0]
    assert two.accumulator.depth == 2 * 576 and two.tags.copies == 2
    # the bound: one buffer adds walk and accumulation, two overlap them
    w = np.array([[10, 700, 0, 5]])
    one = _with_copies(net, 1).layers[0]
    r = one.rows
    assert r == 8 * 576 and one.groups == 1
    assert one.sample_cycles_bound(w)[0] == 715 + 4 * r
    assert two.sample_cycles_bound(w)[0] == 10 + 3 * r + r


@pytest.mark.parametrize("copies", [1, 2])
def test_conv_amsim_one_and_two_step_buffers_match_golden(copies):
    net = _net("2x5x5-3c3p1-sp2-4c2-5", bias=True, timesteps=5)
    x = _spikes(net, n=3, rate=0.5)
    plan = _with_copies(net, copies)
    assert [lp.accumulator.copies for lp in plan.layers[:2]] == [copies, copies]
    assert plan.layers[1].input_fifo > 0
    hw = _run_plan(net, x, plan)
    assert hw.order_ok and _mismatches(net, x, hw) == 0


def test_conv_amsim_two_buffers_overlap_walk_and_accumulation():
    # a busy map: the second buffer takes the next step's events during the walk, so a
    # sample is shorter than with one, and within 10 % of the plan's pipeline bound (the
    # dense layer after it in one group, so it keeps up with the walk)
    net = _net("1x10x10-4c3-sp2-6", timesteps=6)
    x = _spikes(net, n=2, rate=0.5)
    g = pysim.simulate(net, x)
    cyc = {}
    for copies in (1, 2):
        plan = _with_copies(net, copies, lanes={"fc3": 6})
        hw = _run_plan(net, x, plan)
        assert _mismatches(net, x, hw) == 0
        bound = plan.pipeline_cycles(x, g.spikes)
        assert (hw.cycles >= bound).all()
        assert (hw.cycles <= 1.10 * bound + 40).all()
        cyc[copies] = hw.cycles.sum()
    assert cyc[2] < cyc[1]
