"""The ``axis`` wrapper: its plan, its Verilog and its behaviour through AXI (cocotbext-axi).

Default tier: the plan and the emitted ports (no simulator); one spike-count design
with the weight window built once and driven through every phase (stream under random
gaps and backpressure with merged duplicates, every malformed input, registers/irq/soft
reset/reset/start while busy, a second network's weights loaded at run time), and a
wrong reference that must be caught. Slow tier: a membrane-readout design through the
CLI (checked on its membranes), 20 random networks (half of them membrane readouts) and
the digits network.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from toolcheck import need_verilator

import pysim
from pysim import random_network, random_spikes

FIXTURES = Path(__file__).parent / "fixtures" / "golden_verilog"


def _need_verilator() -> None:
    need_verilator()
    pytest.importorskip("cocotbext.axi")


def _small_net(seed: int = 11, readout: str = "spike_count") -> pysim.IntNetwork:
    rng = np.random.default_rng(seed)
    return random_network(rng, [23, 13, 5], timesteps=6, weight_bits=[3, 6],
                          state_bits=[9, 10], reset=["subtract", "zero"], bias=True,
                          readout=readout)


# ---------------------------------------------------------------- plan and Verilog
def test_wrapper_plan_fields_and_tables() -> None:
    from hwplan import plan_network
    from hwplan.wrapper import WRAPPER_ID, axis_wrapper_plan, register_table, stream_tables

    net = pysim.load_network(FIXTURES / "mnist_784_256_10_w3_6")
    wp = axis_wrapper_plan(plan_network(net))
    assert (wp.in_data_bits, wp.index_field_bits, wp.nospike_bit, wp.eos_bit) == (16, 14, 14, 15)
    assert wp.packet_beats == 11 and wp.dedup_clear_period == 255
    assert (wp.dedup_clear_bits, wp.dedup_depth, wp.dedup_clear_cycles) == (9, 1022, 511)
    assert wp.register("ID").reset == WRAPPER_ID
    assert wp.register("GEOMETRY0").reset == (10 << 16) | net.timesteps
    offsets = [r.offset for r in wp.registers]
    assert offsets == sorted(set(offsets)) and all(o % 4 == 0 for o in offsets)
    assert wp.encode_beat(None, last=True, eos=True) == 0xC000
    assert wp.decode_header(0x05_11_0003) == {"PREDICTION": 3, "RANGE": 1, "DUPLICATE": 0,
                                               "SHORT": 0, "LONG": 0, "ABORTED": 1,
                                               "SEQUENCE": 5}
    table = register_table(wp)
    assert "| 0x0C | ERROR | RW1C |" in table and "DUPLICATE" in table
    assert "| 15 | EOS |" in stream_tables(wp)


def test_wrapper_plan_roundtrip_refuses_other_core() -> None:
    from hwplan import plan_network
    from hwplan.wrapper import AxisWrapperPlan, axis_wrapper_plan

    a, b = plan_network(_small_net(1)), plan_network(_small_net(2, "membrane"))
    d = axis_wrapper_plan(a).as_dict()
    assert AxisWrapperPlan.from_dict(json.loads(json.dumps(d)), a) == axis_wrapper_plan(a)
    with pytest.raises(pysim.InputError, match="does not match"):
        AxisWrapperPlan.from_dict(d, b)


def test_generate_wrap_axis_ports_follow_the_plan(tmp_path) -> None:
    hdl = pytest.importorskip("hdl")
    from hwplan import load_design
    from hwplan.design import verilog_ports

    net = _small_net()
    bare = hdl.emit_verilog(net)
    design = hdl.generate(net, tmp_path / "rtl", wrap="axis")
    wp = design.portmap["wrapper"]
    ports = verilog_ports(design.verilog, design.top)
    assert ports["s_axis_tdata"] == ("input", wp["in_data_bits"])
    assert ports["m_axis_tdata"] == ("output", 32)
    assert ports["s_axil_awaddr"] == ("input", wp["axil_addr_bits"])
    assert ports["aclk"] == ("input", 1) and ports["aresetn"] == ("input", 1)
    assert {"irq", "s_axil_rdata", "m_axis_tlast", "s_axis_tready"} <= set(ports)
    assert "clk" not in ports and "rst" not in ports
    # the core inside is the bare core plus its scores port; the default is unchanged
    assert hdl.emit_verilog(net).verilog == bare.verilog
    again = load_design(tmp_path / "rtl", net)
    assert again.sha256 == design.sha256 and again.portmap["wrapper"] == wp
    with pytest.raises(pysim.InputError, match="unknown wrapper"):
        hdl.emit_verilog(net, wrap="apb")


def test_generate_cli_wrapper_options(tmp_path, capsys) -> None:
    pytest.importorskip("hdl")
    from spikeforge.cli import main

    pysim.save_network(_small_net(), tmp_path / "net")
    assert main(["generate", str(tmp_path / "net"), "-o", str(tmp_path / "rtl"), "--wrap",
                 "axis", "--taps", "--no-counters", "--no-dedup", "--json"]) == 0
    wp = json.loads((tmp_path / "rtl" / "portmap.json").read_text())["wrapper"]
    assert wp["taps"] and not wp["counters"] and not wp["check_duplicates"]
    assert wp["packet_beats"] == 1 + 5 + 2
    assert "SAMPLES" not in {r["name"] for r in wp["registers"]}
    assert not wp["result_registers"] and "RESULT" not in {r["name"] for r in wp["registers"]}
    assert main(["generate", str(tmp_path / "net"), "-o", str(tmp_path / "r3"), "--wrap",
                 "axis", "--result-registers"]) == 0
    wp = json.loads((tmp_path / "r3" / "portmap.json").read_text())["wrapper"]
    assert {"RESULT", "ABORTED", "SAMPLES"} <= {r["name"] for r in wp["registers"]}
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "net"), "-o", str(tmp_path / "r2"),
                 "--taps"]) == 2
    assert "--taps" in capsys.readouterr().err


def test_network_scores_option_adds_only_a_port() -> None:
    pytest.importorskip("hdl")
    from hdl import Network

    net = _small_net()
    plain, scored = Network(network=net), Network(network=net, scores=True)
    assert "scores" not in plain.signature.members
    # spike counts: also the shared counter select (score_index in, score out)
    assert set(scored.signature.members) - set(plain.signature.members) == {
        "scores", "score_index", "score_load", "score"}
    mem = Network(network=_small_net(3, "membrane"), scores=True)
    assert mem.signature.members["scores"].shape.elem_shape.signed
    mem_plain = Network(network=_small_net(3, "membrane"))
    assert set(mem.signature.members) - set(mem_plain.signature.members) == {"scores"}
    from amaranth.hdl import Fragment

    for design in (plain, scored, mem, mem_plain):
        Fragment.get(design, None)


def test_axis_checker_beat_rate() -> None:
    """The input checker holds one beat at a time: with s_axis always valid, a spike is
    taken every max(4, groups) cycles (4 when the core's first layer keeps up)."""
    pytest.importorskip("hdl")
    from amaranth.sim import Simulator

    from hdl.axis import AxisWrapper
    from hwplan import plan_network

    net = random_network(np.random.default_rng(3), [40, 8, 4], timesteps=2)
    for lanes in (8, 1):
        plan = plan_network(net, lanes)
        groups = plan.layers[0].synapse.groups
        dut = AxisWrapper(network=net, plan=plan, clock_ports=False)
        taken: list[int] = []

        async def drive(ctx, dut=dut, taken=taken) -> None:
            await ctx.tick().repeat(2 * net.input_size)  # the tag clear after reset
            ctx.set(dut.s_axis_tvalid, 1)
            cycle = 0
            while len(taken) < 12 and cycle < 1000:
                ctx.set(dut.s_axis_tdata, len(taken))  # distinct spikes of one step
                _, _, ready = await ctx.tick().sample(dut.s_axis_tready)
                if ready:
                    taken.append(cycle)
                cycle += 1

        sim = Simulator(dut)
        sim.add_clock(1e-6)
        sim.add_testbench(drive)
        sim.run()
        assert len(taken) == 12
        # (the first spike waits for nothing: the core is idle)
        assert set(np.diff(taken[1:])) == {max(4, groups)}, (groups, taken)


@pytest.mark.parametrize("widths", [pytest.param(range(1, 21), id="1-20"),
                                    pytest.param(range(21, 25), id="21-24",
                                                 marks=pytest.mark.slow)])
def test_axis_lfsr_taps_are_maximal(widths) -> None:
    """Each LFSR of the duplicate check runs through all its states but one (XOR: but 0;
    XNOR: but all-ones; the 1-bit one stays at 0) before it repeats, and lfsr_prev
    inverts lfsr_next."""
    from hwplan.wrapper import lfsr_next, lfsr_prev

    for bits in widths:
        for xnor in (False, True) if bits > 1 else (True,):  # (1 bit: the clear's, at 0)
            start = 0 if xnor else 1
            seen, state = set(), start
            while True:
                seen.add(state)
                nxt = lfsr_next(state, bits, xnor=xnor)
                assert lfsr_prev(nxt, bits, xnor=xnor) == state
                state = nxt
                if state == start:
                    break
                assert state not in seen, (bits, xnor, state)
            excluded = (1 << bits) - 1 if xnor else 0
            assert len(seen) == max(1, (1 << bits) - 1), (bits, xnor)
            assert bits == 1 or excluded not in seen


def test_axis_lfsr_rtl_step_equals_plan() -> None:
    """The RTL's LFSR step is the plan's lfsr_next, state by state."""
    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator

    from hdl.axis import _lfsr_step
    from hwplan.wrapper import lfsr_next

    m = Module()
    cases = []
    for bits in (1, 2, 3, 8, 9):
        for xnor in (False, True):
            x, y = Signal(bits), Signal(bits)
            m.d.comb += y.eq(_lfsr_step(x, xnor=xnor))
            cases.append((bits, xnor, x, y))
    bad: list = []

    async def check(ctx) -> None:
        for bits, xnor, x, y in cases:
            for state in range(1 << bits):
                ctx.set(x, state)
                if ctx.get(y) != lfsr_next(state, bits, xnor=xnor):
                    bad.append((bits, xnor, state))

    sim = Simulator(m)
    sim.add_testbench(check)
    sim.run()
    assert not bad


def test_axis_tag_clear_wipes_every_address() -> None:
    """The tag memory's clear (after reset, and after the step with the last tag) sets
    every address to 0, however it was filled; the input waits while it runs."""
    from amaranth.sim import Simulator

    from hdl.axis import AxisWrapper
    from hwplan import plan_network

    net = random_network(np.random.default_rng(4), [23, 6, 3], timesteps=4)
    dut = AxisWrapper(network=net, plan=plan_network(net), clock_ports=False,
                      dedup_tag_bits=2)
    sim = Simulator(dut)  # (elaborates the design)
    wp, tags = dut._wp, dut._tag_memory
    assert (wp.dedup_depth, wp.dedup_clear_cycles, wp.dedup_clear_period) == (30, 15, 3)
    found: dict[str, object] = {}

    def words(ctx) -> list[int]:
        return [ctx.get(tags.data[i]) for i in range(wp.dedup_depth)]

    async def drive(ctx) -> None:
        for i in range(wp.dedup_depth):  # anything, as after power-up
            ctx.set(tags.data[i], 1 + i % 3)
        waited = 0
        while not ctx.get(dut.s_axis_tready):
            await ctx.tick()
            waited += 1
        found["reset_wait"], found["after_reset"] = waited, words(ctx)
        for i in range(wp.dedup_depth):
            ctx.set(tags.data[i], 1 + i % 3)
        # three empty steps: the third has the last tag, and its end clears the memory
        ctx.set(dut.s_axis_tvalid, 1)
        ctx.set(dut.s_axis_tdata, wp.encode_beat(None, last=True))
        ctx.set(dut.s_axis_tlast, 1)
        steps = 0
        while steps < 3:
            _, _, ready = await ctx.tick().sample(dut.s_axis_tready)
            steps += ready
        ctx.set(dut.s_axis_tvalid, 0)
        found["before_clear"] = words(ctx)
        waited = 0
        await ctx.tick()
        while not ctx.get(dut._need_clear):
            await ctx.tick()
        while ctx.get(dut._need_clear):
            await ctx.tick()
            waited += 1
        found["clear_cycles"], found["after_clear"] = waited, words(ctx)

    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.run()
    assert found["reset_wait"] >= wp.dedup_clear_cycles
    assert found["after_reset"] == [0] * wp.dedup_depth
    assert any(found["before_clear"])
    assert found["clear_cycles"] == wp.dedup_clear_cycles
    assert found["after_clear"] == [0] * wp.dedup_depth


# ---------------------------------------------------------------- RTL through AXI
def _permuted(net: pysim.IntNetwork, seed: int, params: bool = False) -> pysim.IntNetwork:
    """``net`` with each neuron's weights permuted: another network whose synaptic sums
    keep their ranges (so it fits the same accumulators); ``params``: its biases permuted
    too (same range) and every threshold changed."""
    rng = np.random.default_rng(seed)
    layers = []
    for la in net.layers:
        w = la.weight.copy()
        for i in range(w.shape[0]):
            w[i] = w[i, rng.permutation(w.shape[1])]
        new = {"weight": w}
        if params:
            smax = (1 << (la.state_bits - 1)) - 1
            new["threshold"] = int(la.threshold // 2 + 1 if la.threshold > 2
                                   else min(smax, la.threshold + 3))
            if la.bias is not None:
                new["bias"] = la.bias[rng.permutation(len(la.bias))]
        layers.append(dataclasses.replace(la, **new))
    return dataclasses.replace(net, layers=tuple(layers))


@pytest.fixture(scope="module")
def axis_build(tmp_path_factory):
    """The small network inside the wrapper with the weight window and the per-layer
    taps, built once; 3-bit duplicate-check tags, so the tag memory is cleared every 7
    steps (many times in a run, also behind a waiting beat)."""
    _need_verilator()
    import hdl
    from sim.axis_runner import build_axis

    net = _small_net()
    design = hdl.emit_verilog(net, wrap="axis", writable_weights=True,
                              wrap_options={"dedup_tag_bits": 3, "taps": True,
                                            "result_registers": True})
    return net, build_axis(design, tmp_path_factory.mktemp("axis") / "build")


@pytest.mark.rtl
def test_axis_stream_malformed_control_and_reload_match(axis_build, tmp_path) -> None:
    """Every packet equals the golden model under gaps/backpressure (duplicates merged),
    every malformed input is flagged as specified, the control paths work, and after
    loading another network's weights every packet equals that network's golden model."""
    from sim.axis_runner import run_axis

    net, build = axis_build
    other = _permuted(net, 5, params=True)
    assert all(a.threshold != b.threshold for a, b in zip(net.layers, other.layers))
    assert not np.array_equal(net.layers[0].bias, other.layers[0].bias)
    x = random_spikes(np.random.default_rng(1), 10, net.timesteps, net.input_size, 0.25)
    assert (pysim.simulate(net, x).predictions != pysim.simulate(other, x).predictions).any()
    res = run_axis(build, net, x, tmp_path / "run",
                   phases=("stream", "malformed", "control", "reload"),
                   gap=0.4, backpressure=0.5, seed=3, dup_every=3, reload=other)
    assert res.mismatches == 0, res.first_mismatch
    assert res.passed and res.stream_matched == 10 and res.reload_matched == 10
    assert set(res.cases) >= {"stream", "range", "duplicate", "short", "eos_without_tlast",
                              "long", "registers", "enable", "soft_reset_mid_sample",
                              "start_while_busy", "reset_mid_sample",
                              "write_refused_while_busy", "reload"}
    assert res.coverage["output_backpressure_cycles"] > 0
    assert res.coverage["duplicates_merged"] >= 3
    # every packet's per-layer taps were compared with the golden model's spikes
    assert res.coverage["tap_beats_checked"] >= 2 * 2 * 10


def test_weight_writes_refuse_what_does_not_fit() -> None:
    from hwplan import plan_network
    from hwplan.wrapper import axis_wrapper_plan, weight_writes

    net = _small_net()
    plan = plan_network(net)
    wp = axis_wrapper_plan(plan, writable=True)
    writes = weight_writes(plan, wp, _permuted(net, 1))
    commits = [v for off, v in writes if off == wp.register("MEM_COMMIT").offset]
    # every synapse word, every bias row (layers with a bias) and one threshold per layer
    assert len(commits) == sum(lp.synapse.memory.depth + 1 + (lp.core.rows if lp.core.bias
                                                              else 0) for lp in plan.layers)
    assert len(weight_writes(plan, wp, _permuted(net, 1, params=True), design_net=net)) \
        == len(writes)
    big = net.layers[0]
    hi = (1 << (big.weight_bits - 1)) - 1
    wide = dataclasses.replace(net, layers=(dataclasses.replace(
        big, weight=np.full_like(big.weight, hi)), *net.layers[1:]))
    with pytest.raises(pysim.InputError, match="accumulator"):
        weight_writes(plan, wp, wide)
    with pytest.raises(pysim.InputError, match="weight window"):
        weight_writes(plan, axis_wrapper_plan(plan), net)
    # biases that would overflow the design's sum widths are refused
    la = net.layers[0]
    smax = (1 << (la.state_bits - 1)) - 1
    big_bias = dataclasses.replace(net, layers=(dataclasses.replace(
        la, bias=np.full_like(la.bias, smax)), *net.layers[1:]))
    with pytest.raises(pysim.InputError, match="biases"):
        weight_writes(plan, wp, big_bias)
    # so are networks of another architecture (leak, bias presence)
    leaky = dataclasses.replace(net, layers=(dataclasses.replace(
        la, leak_shift=2 if la.leak_shift != 2 else 3), *net.layers[1:]))
    with pytest.raises(pysim.InputError, match="more than weights"):
        weight_writes(plan, wp, leaky, design_net=net)
    no_bias = dataclasses.replace(net, layers=(dataclasses.replace(la, bias=None),
                                               *net.layers[1:]))
    with pytest.raises(pysim.InputError, match="bias presence"):
        weight_writes(plan, wp, no_bias)


@pytest.mark.rtl
def test_axis_wrong_reference_is_caught(axis_build, tmp_path) -> None:
    """The same design checked against another network's golden model fails."""
    from sim.axis_runner import run_axis

    net, build = axis_build
    other = _small_net(12)
    x = random_spikes(np.random.default_rng(4), 6, net.timesteps, net.input_size, 0.3)
    res = run_axis(build, other, x, tmp_path / "run", gap=0.0, backpressure=0.0)
    assert res.mismatches > 0 and not res.passed


@pytest.mark.slow
@pytest.mark.rtl
def test_axis_membrane_readout_checked_on_membranes(tmp_path) -> None:
    """A membrane-readout design: every class's last-step membrane through the CLI."""
    _need_verilator()
    from spikeforge.cli import main

    net = random_network(np.random.default_rng(5), [20, 12, 4], timesteps=5,
                         readout="membrane", bias=True)
    pysim.save_network(net, tmp_path / "net")
    np.savez(tmp_path / "x.npz",
             spikes=random_spikes(np.random.default_rng(2), 8, 5, 20, 0.3))
    assert main(["generate", str(tmp_path / "net"), "-o", str(tmp_path / "rtl"),
                 "--wrap", "axis", "--json"]) == 0
    rc = main(["verify", str(tmp_path / "net"), "-i", str(tmp_path / "x.npz"),
               "--design", str(tmp_path / "rtl"), "--build-dir", str(tmp_path / "b"),
               "--json"])
    assert rc == 0
    res = json.loads((tmp_path / "b" / "axis-run" / "result.json").read_text())
    assert res["mismatches"] == 0 and res["stream_matched"] == 8


@pytest.mark.slow
@pytest.mark.rtl
def test_axis_minimal_options_with_taps_match(tmp_path) -> None:
    """Without counters and duplicate check (the cheapest wrapper), with taps, membrane
    readout: every packet (membranes and per-layer spike counts) equals the golden model,
    every remaining malformed input is flagged, the control paths work."""
    _need_verilator()
    import hdl
    from sim.axis_runner import verify_axis_design

    net = _small_net(4, "membrane")
    design = hdl.emit_verilog(net, wrap="axis", wrap_options={
        "counters": False, "check_duplicates": False, "taps": True})
    wp = design.portmap["wrapper"]
    assert not {"SAMPLES", "ABORTED", "CYCLES"} & {r["name"] for r in wp["registers"]}
    x = random_spikes(np.random.default_rng(8), 10, net.timesteps, net.input_size, 0.3)
    res = verify_axis_design(net, design, x, build_dir=tmp_path,
                             phases=("stream", "malformed", "control"), gap=0.3,
                             backpressure=0.4, seed=2, dup_every=3)
    assert res.mismatches == 0 and res.passed, res.first_mismatch
    assert "duplicate" not in res.cases and res.coverage["tap_beats_checked"] > 0


# ---------------------------------------------------------------- slow sweep
def _sweep_net(seed: int) -> pysim.IntNetwork:
    rng = np.random.default_rng(1000 + seed)
    depth = int(rng.integers(1, 4))
    sizes = [int(rng.integers(4, 70))] + [int(rng.integers(2, 40)) for _ in range(depth)]
    return random_network(
        rng, sizes, timesteps=int(rng.integers(1, 9)),
        weight_bits=[int(rng.integers(2, 9)) for _ in range(depth)],
        state_bits=[int(rng.integers(6, 16)) for _ in range(depth)],
        leak_shift=[None if rng.random() < 0.3 else int(rng.integers(1, 5))
                    for _ in range(depth)],
        reset=[str(rng.choice(["zero", "subtract"])) for _ in range(depth)],
        bias=bool(rng.random() < 0.5),
        readout=str(rng.choice(["spike_count", "membrane"])))


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("seed", range(20))
def test_axis_sweep_random_networks(seed: int, tmp_path) -> None:
    _need_verilator()
    import hdl
    from sim.axis_runner import verify_axis_design

    net = _sweep_net(seed)
    rng = np.random.default_rng(seed)
    lanes = None if seed % 2 else int(rng.integers(1, 5))
    # every third network with the per-layer taps (checked against the golden spikes)
    design = hdl.emit_verilog(net, lanes=lanes, wrap="axis",
                              wrap_options={"taps": True} if seed % 3 == 0 else None)
    x = random_spikes(rng, 12, net.timesteps, net.input_size, float(rng.uniform(0.05, 0.5)))
    phases = ("stream", "malformed") if seed % 4 == 0 else ("stream",)
    res = verify_axis_design(net, design, x, build_dir=tmp_path, phases=phases,
                             gap=float(rng.uniform(0, 0.6)),
                             backpressure=float(rng.uniform(0, 0.8)), seed=seed,
                             dup_every=4)
    assert res.mismatches == 0 and res.passed, res.first_mismatch


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("n_in", [63, 64])
def test_axis_tag_memory_wider_than_index_matches(n_in: int, tmp_path) -> None:
    """63 and 64 inputs: the tag memory (126 tags) has more address bits than the
    6-bit index field, and the duplicate check is still exact."""
    _need_verilator()
    import hdl
    from hwplan import plan_network
    from hwplan.wrapper import axis_wrapper_plan
    from sim.axis_runner import verify_axis_design

    net = random_network(np.random.default_rng(n_in), [n_in, 9, 4], timesteps=4)
    wp = axis_wrapper_plan(plan_network(net))
    assert wp.dedup_depth == 126 and wp.index_field_bits == 6
    design = hdl.emit_verilog(net, wrap="axis", wrap_options={"dedup_tag_bits": 2})
    x = random_spikes(np.random.default_rng(1), 10, net.timesteps, net.input_size, 0.3)
    res = verify_axis_design(net, design, x, build_dir=tmp_path,
                             phases=("stream", "malformed"), gap=0.3, backpressure=0.3,
                             seed=n_in, dup_every=2)
    assert res.mismatches == 0 and res.passed, res.first_mismatch


@pytest.mark.slow
@pytest.mark.rtl
def test_axis_digits_network(tmp_path) -> None:
    _need_verilator()
    import hdl
    from sim.axis_runner import verify_axis_design

    net = pysim.load_network(FIXTURES / "digits_flow")
    design = hdl.emit_verilog(net, wrap="axis")
    x = random_spikes(np.random.default_rng(9), 24, net.timesteps, net.input_size, 0.2)
    res = verify_axis_design(net, design, x, build_dir=tmp_path,
                             phases=("stream", "malformed", "control"), dup_every=5)
    assert res.mismatches == 0 and res.passed, res.first_mismatch


def test_integration_doc_tables_are_generated_from_the_plan() -> None:
    """docs/integration.md carries the tables of the plan (digits network) verbatim."""
    from hwplan import plan_network
    from hwplan.wrapper import axis_wrapper_plan, register_table, stream_tables

    doc = (Path(__file__).parent.parent / "docs" / "integration.md").read_text()
    wp = axis_wrapper_plan(plan_network(pysim.load_network(FIXTURES / "digits_flow")),
                           writable=True, result_registers=True)
    assert register_table(wp) in doc
    assert stream_tables(wp) in doc
    assert not re.search(r"\.\./shared|contract\.md", doc)
