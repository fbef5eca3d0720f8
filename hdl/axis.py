"""The core inside an AXI4-Stream / AXI-Lite wrapper: IP a hardware engineer can drop in.

:class:`AxisWrapper` puts a :class:`~hdl.network.Network` (built with ``scores=True``)
behind standard interfaces. Every width, bit field and register comes from the
wrapper's plan (:func:`hwplan.wrapper.axis_wrapper_plan`); ``docs/integration.md``
describes the protocol and shows the tables of the same plan.

* ``s_axis`` (input): spike events, one beat per spike; TLAST ends a step; the EOS flag on
  the T-th TLAST beat ends the sample (see :mod:`hwplan.wrapper`). The first beat of a
  sample starts the core.
* the **input checker**: an index ``>= input_size`` (RANGE) aborts the sample; a second
  beat with the same index in one step (DUPLICATE) is dropped, so the sum is exact; a
  sample that ends before its T-th step (SHORT) is padded with empty steps and aborted; a
  T-th TLAST without EOS (LONG) aborts the sample and the input is discarded up to the
  next EOS. The core always sees exactly T step markers, so it never hangs; an aborted
  sample's packet says so (header flag ABORTED, prediction and scores 0).
* ``m_axis`` (output): one packet per sample, the header (prediction, flags, sequence)
  then one 32-bit score per class.
* ``s_axil`` (AXI-Lite slave, 32-bit): control, status, sticky errors, interrupt enable and
  status, sample/abort/cycle counters, the last result, the geometry.
* ``irq``: ``|(IRQ_STATUS & IRQ_ENABLE)``, level.

The clock is ``aclk``; ``aresetn`` is the synchronous, active-low AXI reset.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from amaranth.hdl import (
    Cat,
    ClockDomain,
    ClockSignal,
    Const,
    Module,
    Mux,
    ResetInserter,
    ResetSignal,
    Shape,
    Signal,
)
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hwplan import HardwarePlan, plan_network
from hwplan.wrapper import (
    DEDUP_TAG_BITS,
    FLAGS,
    LFSR_TAPS,
    AxisWrapperPlan,
    axis_wrapper_plan,
    lfsr_prev,
)
from pysim import IntNetwork

from ._params import quiet_on_error
from .network import Network

__all__ = ["LUT_PARTS", "AxisWrapper"]


def _lt_const(x: Any, c: int) -> Any:
    """``x < c`` for a constant ``c`` as AND/OR logic from the top bit down (Yosys maps a
    ``<`` to a carry chain, two LUTs per two bits; this is about one LUT per three)."""
    n = len(x)
    if c >= 1 << n:
        return Const(1, 1)
    if c <= 0:
        return Const(0, 1)
    if n == 1:
        return ~x[0]  # c == 1
    top = 1 << (n - 1)
    if c & top:
        return ~x[n - 1] | _lt_const(x[:n - 1], c - top)
    return ~x[n - 1] & _lt_const(x[:n - 1], c)


def _lfsr_step(x: Signal, *, xnor: bool) -> Any:
    """The next state of ``x`` as the LFSR of :func:`hwplan.wrapper.lfsr_next`."""
    n = len(x)
    if n == 1:
        return Const(0, 1)
    fb = x[LFSR_TAPS[n][0] - 1]
    for t in LFSR_TAPS[n][1:]:
        fb = fb ^ x[t - 1]
    return Cat(~fb if xnor else fb, x[:n - 1])


#: The wrapper's parts by the names of their registers and output ports in the flattened
#: netlist (for :func:`cost.attribution.attribute_luts`: where the wrapper's LUTs go).
LUT_PARTS: dict[str, tuple[str, ...]] = {
    "AXI-Lite read path": ("s_axil_rdata", "s_axil_rvalid", "port:s_axil_rdata",
                           "port:s_axil_rvalid", "port:s_axil_arready"),
    "CYCLES counter": ("datapath.cyc", "datapath.last_cycles", "last_cycles"),
    "SAMPLES counter (SEQUENCE)": ("datapath.n_samples", "n_samples"),
    "duplicate check": ("datapath.clr_addr", "datapath.tags", "datapath.need_clear",
                        "datapath.pre_wrap", "datapath.cur_tag", "datapath.wr__",
                        "datapath.tag_q"),
    "input checks, framing": ("datapath.step", "datapath.flags", "datapath.abort",
                              "datapath.s2_", "datapath.b_", "datapath.in_sample",
                              "in_sample", "datapath.padding", "datapath.core_started",
                              "datapath.start_q", "port:s_axis_tready"),
    "output packet": ("port:m_axis", "m_axis", "datapath.beat", "datapath.hdr_hi",
                      "datapath.res_pending", "datapath.res_flags"),
    "control, errors, interrupt": ("err_sticky", "irq_", "enable", "soft_rst",
                                   "s_axil_bvalid", "port:s_axil_awready",
                                   "port:s_axil_wready", "port:s_axil_bvalid",
                                   "port:irq"),
    "RESULT, ABORTED": ("last_result", "datapath.last_result", "n_aborted",
                        "datapath.n_aborted"),
    "weight window": ("mem_", "datapath.mem_"),
}


def _members(wp: AxisWrapperPlan, clock_ports: bool = True) -> dict[str, Any]:
    a = wp.axil_addr_bits
    clock = {"aclk": In(1), "aresetn": In(1)} if clock_ports else {}
    return {
        **clock,
        "s_axis_tdata": In(wp.in_data_bits), "s_axis_tvalid": In(1),
        "s_axis_tready": Out(1), "s_axis_tlast": In(1),
        "m_axis_tdata": Out(wp.out_data_bits), "m_axis_tvalid": Out(1),
        "m_axis_tready": In(1), "m_axis_tlast": Out(1),
        "s_axil_awaddr": In(a), "s_axil_awprot": In(3), "s_axil_awvalid": In(1),
        "s_axil_awready": Out(1),
        "s_axil_wdata": In(32), "s_axil_wstrb": In(4), "s_axil_wvalid": In(1),
        "s_axil_wready": Out(1),
        "s_axil_bresp": Out(2), "s_axil_bvalid": Out(1), "s_axil_bready": In(1),
        "s_axil_araddr": In(a), "s_axil_arprot": In(3), "s_axil_arvalid": In(1),
        "s_axil_arready": Out(1),
        "s_axil_rdata": Out(32), "s_axil_rresp": Out(2), "s_axil_rvalid": Out(1),
        "s_axil_rready": In(1),
        "irq": Out(1),
    }


class AxisWrapper(wiring.Component):
    """A network core behind AXI4-Stream in/out and AXI-Lite control (module docstring).

    Parameters
    ----------
    network : pysim.IntNetwork
    lanes : int, dict or None
        See :func:`hwplan.resolve_lanes` (not with ``plan``).
    plan : hwplan.HardwarePlan or None
        The core's plan (default: :func:`hwplan.plan_network`).
    writable : bool
        Run-time writable weights (default False): every synapse memory gets a write
        port, driven by the AXI-Lite weight window (registers ``MEM_*``). The loaded
        weights must keep each neuron's synaptic sum inside the generated accumulator
        width (``hwplan`` plan ``acc_bits``); :func:`hwplan.wrapper.weight_writes`
        checks that on the host.
    counters : bool
        The SAMPLES and CYCLES registers (default True; ABORTED too with
        ``result_registers``).
    check_duplicates : bool
        The duplicate check (default True): a repeated index within a step is merged and
        flagged. Without it (cheaper) the input must not repeat an index within a step.
    result_registers : bool
        The RESULT register (the last packet's header) and, with ``counters``, ABORTED
        (default False: the packet header and the sticky ERROR flags carry the same facts).
    taps : bool
        Per-layer spike-count taps (default False): every result packet carries, after
        the class scores, one beat per neuron layer with that layer's spikes over the
        sample (counted from the core's ``tap_<layer>`` event ports).
    dedup_tag_bits : int
        Width of the duplicate check's step tags (default 8; see
        :func:`hwplan.wrapper.axis_wrapper_plan`).
    clock_ports : bool
        True (default): the ports ``aclk`` and ``aresetn`` clock and reset the wrapper.
        False: no such ports; the wrapper runs in the enclosing ``sync`` domain (a board
        top, a simulation).
    """

    @quiet_on_error
    def __init__(self, *, network: IntNetwork, lanes: int | Mapping[str, int] | None = None,
                 plan: HardwarePlan | None = None, writable: bool = False,
                 clock_ports: bool = True, dedup_tag_bits: int = DEDUP_TAG_BITS,
                 taps: bool = False, counters: bool = True, check_duplicates: bool = True,
                 result_registers: bool = False, _omit: frozenset[str] = frozenset()) -> None:
        if not isinstance(network, IntNetwork):
            raise TypeError(f"Network must be a pysim.IntNetwork, not {network!r}")
        if plan is None:
            plan = plan_network(network, lanes)
        elif lanes is not None:
            raise ValueError("Lanes come from the plan; do not also give them")
        self._core = Network(network=network, plan=plan, scores=True)
        self._plan = plan
        self._wp = axis_wrapper_plan(plan, writable=writable, dedup_tag_bits=dedup_tag_bits,
                                     taps=taps, counters=counters,
                                     check_duplicates=check_duplicates,
                                     result_registers=result_registers)
        if writable and any(lp.kind != "dense" for lp in plan.layers):
            from pysim import InputError

            raise InputError("run-time writable weights: dense layers only (the network "
                             "has conv layers)", param="writable_weights")
        self._write_ports = ([layer.synapses.add_write_port() for layer in self._core.layers]
                             if writable else [])
        self._param_ports = ([layer.neurons.add_param_port() for layer in self._core.layers]
                             if writable else [])
        self._clock_ports = bool(clock_ports)
        self._omit = frozenset(_omit)  # measurement only: parts left out (overhead study)
        super().__init__(_members(self._wp, self._clock_ports))

    @property
    def plan(self) -> HardwarePlan:
        """The core's plan."""
        return self._plan

    @property
    def wrapper_plan(self) -> AxisWrapperPlan:
        """The wrapper's interface plan."""
        return self._wp

    @property
    def core(self) -> Network:
        """The wrapped core."""
        return self._core

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        wp = self._wp
        T, n_in, n_cls = wp.timesteps, wp.input_size, wp.n_classes
        if self._clock_ports:
            m.domains.sync = ClockDomain("sync")
            m.d.comb += [ClockSignal("sync").eq(self.aclk),
                         ResetSignal("sync").eq(~self.aresetn)]

        soft_rst = Signal()
        core = self._core
        m.submodules.core = core if "softreset" in self._omit else ResetInserter(soft_rst)(core)
        dp = Module()  # the stream datapath (also reset by SOFT_RESET)
        m.submodules.datapath = dp if "softreset" in self._omit else ResetInserter(soft_rst)(dp)
        bit = {name: b for name, (b, _) in FLAGS.items()}

        # ---------------------------------------------------------------- registers
        enable = Signal(init=1)
        irq_en = Signal(2)
        irq_st = Signal(2)
        err_sticky = Signal(5 if wp.writable else 4)
        from hwplan.wrapper import COUNTER_BITS, cycle_bits

        CB = cycle_bits(self._plan)
        # SAMPLES; its low 8 bits are the packets' SEQUENCE (without counters: 8 bits only)
        n_samples = Signal(COUNTER_BITS if wp.counters else 8)
        n_aborted = Signal(COUNTER_BITS)
        last_cycles = Signal(CB)
        last_result = Signal(32)

        # ---------------------------------------------------------------- input stage
        # One beat in flight: a beat is taken (its input's step tag read from the tag
        # memory and, in the same cycle and port, the current step's tag written in its
        # place: the block RAM reads before it writes), the old tag registered as it
        # leaves the block RAM, the beat checked (range, duplicate, framing), then handed
        # to the core from the same registers; the next beat is taken only once it has
        # gone. A beat for the core takes 4 cycles, a dropped beat 3 (the core's first
        # layer takes ``groups`` cycles per spike; see docs/integration.md).
        IDX = wp.index_field_bits
        TB = wp.dedup_tag_bits
        CLB = wp.dedup_clear_bits
        depth = wp.dedup_depth
        abits = max(1, (depth - 1).bit_length())
        tdata = self.s_axis_tdata
        dedup_on = wp.check_duplicates and "dedup" not in self._omit

        in_sample = Signal()            # first beat taken, EOS not yet
        step = Signal(range(T + 2))     # step markers decided in this sample
        abort = Signal()                # the sample is aborted
        flags = Signal(5)               # flags of the sample in flight
        padding = Signal()              # EOS came: empty steps are emitted while step < T
        pad = Signal()                  # padding a SHORT sample (step < T)
        res_pending = Signal()          # result packet being sent
        core_started = Signal()         # core started for the sample in flight

        b_index = Signal(IDX)           # the beat in flight, from taken to handed over
        b_nospike = Signal()
        b_last = Signal()
        b_eos = Signal()
        b_inrange = Signal()
        b_read = Signal()               # the cycle after the beat was taken: tag read
        b_check = Signal()              # the cycle the beat is checked
        s2_valid = Signal()             # the beat is offered to the core
        s2_ev = Signal()                # ... with a spike
        s2_mk = Signal()                # ... with a step marker

        ev = core.events
        s2_done = Signal()
        accept = Signal()
        can_start = Signal()
        ready = Signal()
        in_range = Signal()             # the offered beat's index is an input
        need_clear = Signal(init=int(dedup_on))  # the tag memory is being cleared
        dp.d.comb += [
            pad.eq(padding & _lt_const(step, T)),
            can_start.eq(enable & ~core.busy & ~res_pending & ~pad & ~core_started),
            ready.eq(~b_read & ~b_check & ~s2_valid & (in_sample | can_start) & ~need_clear),
            accept.eq(self.s_axis_tvalid & ready),
            self.s_axis_tready.eq(ready),
            in_range.eq(_lt_const(tdata[:IDX], n_in)),
        ]
        with dp.If(ready):  # (a beat counts only when taken: b_read)
            dp.d.sync += [b_index.eq(tdata[:IDX]), b_nospike.eq(tdata[wp.nospike_bit]),
                          b_last.eq(self.s_axis_tlast), b_eos.eq(tdata[wp.eos_bit]),
                          b_inrange.eq(in_range)]
        dp.d.sync += [b_read.eq(accept), b_check.eq(b_read)]

        # The duplicate check: per input, the tag of the step it last spiked in (0 = never;
        # the tags are the states of an XOR LFSR, so never 0). A beat is a duplicate when
        # its input's old tag is the current step's. After reset and at the end of the step
        # with the last tag the memory is cleared to 0, two tags a cycle through its second
        # port (at 2a and 2a + 1 for every state a of an XNOR LFSR), with the input stream
        # held: so a tag never aliases.
        seen = Signal()
        step_end = Signal()
        dp.d.comb += step_end.eq(b_check & (b_last | b_eos))
        if dedup_on:
            cur_tag = Signal(TB, init=wp.dedup_tag_start)
            clr_addr = Signal(CLB)  # starts at 0, and a full period brings it back there
            pre_wrap = Signal(init=int(wp.dedup_tag_start == wp.dedup_tag_last))
            tag_q = Signal(TB)  # the tag memory's read data, registered as is
            tags = Memory(shape=TB, depth=depth, init=[])
            dp.submodules.tags = tags
            self._tag_memory, self._need_clear = tags, need_clear  # (for the tests)
            wr = tags.write_port()
            rd = tags.read_port(transparent_for=())
            # the clear: two write ports with one enable, which Yosys joins into one
            # port twice as wide (so the beat's port needs no address multiplexer)
            clr_ports = [tags.write_port() for _ in range(2)]
            clr_last = Signal()
            live_at_take = Signal()  # the sample of the offered beat still feeds the core
            # (an input's index fits IDX bits: the tags past 2**IDX are never used)
            tag_addr = tdata[:min(abits, IDX)]
            dp.d.comb += [
                # at a sample's first beat, ``step`` still holds the last sample's value
                live_at_take.eq(~in_sample | _lt_const(step, T)),
                rd.addr.eq(tag_addr),
                rd.en.eq(ready),
                wr.addr.eq(tag_addr),
                wr.data.eq(cur_tag),
                wr.en.eq(accept & ~tdata[wp.nospike_bit] & in_range & live_at_take),
                seen.eq(tag_q == cur_tag),
                clr_last.eq(need_clear & (clr_addr == lfsr_prev(0, CLB, xnor=True))),
            ]
            for low, port in enumerate(clr_ports):
                dp.d.comb += [port.addr.eq(Cat(Const(low, 1), clr_addr)),
                              port.data.eq(0), port.en.eq(need_clear)]
            # Timing: the block RAM's slow clock-to-out reaches a flip-flop and nothing else
            dp.d.sync += tag_q.eq(rd.data)
            with dp.If(step_end):  # (never during a clear: a clear holds the input)
                # pre_wrap: cur_tag is the last tag (a register, for timing)
                before_last = lfsr_prev(wp.dedup_tag_last, TB, xnor=False)
                dp.d.sync += [cur_tag.eq(_lfsr_step(cur_tag, xnor=False)),
                              pre_wrap.eq(cur_tag == before_last)]
                with dp.If(pre_wrap):
                    dp.d.sync += need_clear.eq(1)
            with dp.If(need_clear):
                dp.d.sync += clr_addr.eq(_lfsr_step(clr_addr, xnor=True))
            with dp.If(clr_last):
                dp.d.sync += need_clear.eq(0)
        else:
            dp.d.comb += seen.eq(0)

        # the checks of the beat (in its b_check cycle)
        live = Signal()       # the sample still feeds the core
        is_event = Signal()
        e_range = Signal()
        e_dup = Signal()
        e_long = Signal()
        e_short = Signal()
        fwd_ev = Signal()
        fwd_mk = Signal()
        dp.d.comb += [
            live.eq(_lt_const(step, T)),
            is_event.eq(~b_nospike & live),
            e_range.eq(is_event & ~b_inrange),
            e_dup.eq(is_event & b_inrange & seen),
            e_long.eq(b_last & ~b_eos & (step == T - 1)),
            e_short.eq(b_eos & live & ~(b_last & (step == T - 1))),
            fwd_ev.eq(is_event & b_inrange & ~seen & ~abort),
            fwd_mk.eq(b_last & live),
        ]
        with dp.If(b_check):
            dp.d.sync += [s2_valid.eq(fwd_ev | fwd_mk), s2_ev.eq(fwd_ev), s2_mk.eq(fwd_mk)]
        with dp.Elif(s2_done):
            dp.d.sync += s2_valid.eq(0)

        # stage 2: the core's beats, a spike then a marker when the beat has both; the
        # missing steps of a SHORT sample once stage 2 is empty
        xfer = Signal()
        s2_ev_now = Signal()
        pad_now = Signal()
        dp.d.comb += [
            s2_ev_now.eq(s2_valid & s2_ev),
            pad_now.eq(~s2_valid & pad),
            ev.valid.eq(s2_valid | pad_now),
            ev.payload.index.eq(b_index),
            ev.payload.last.eq(~s2_ev_now),
            xfer.eq(ev.valid & ev.ready),
            s2_done.eq(s2_valid & xfer & ~(s2_ev & s2_mk)),
        ]
        with dp.If(s2_valid & xfer & s2_ev & s2_mk):
            dp.d.sync += s2_ev.eq(0)  # the spike went; the marker follows

        # sample framing
        beat_flags = Signal(5)
        dp.d.comb += [
            beat_flags[bit["RANGE"]].eq(e_range), beat_flags[bit["DUPLICATE"]].eq(e_dup),
            beat_flags[bit["SHORT"]].eq(e_short), beat_flags[bit["LONG"]].eq(e_long),
            beat_flags[bit["ABORTED"]].eq(e_range | e_short | e_long),
        ]
        start = Signal()
        # Timing: the core (whose start fans out to every layer) and the sample's state
        # start from a register, one cycle after the first beat is taken; that beat is
        # checked one cycle later
        start_q = Signal()
        dp.d.comb += start.eq(accept & ~in_sample)
        dp.d.sync += start_q.eq(start)
        m.d.comb += core.start.eq(start_q)
        with dp.If(start):
            dp.d.sync += [in_sample.eq(1), core_started.eq(1)]
        with dp.If(start_q):
            dp.d.sync += [step.eq(0), abort.eq(0), flags.eq(0), padding.eq(0)]
        with dp.Elif(b_check):
            dp.d.sync += flags.eq(flags | beat_flags)
            with dp.If(e_range | e_short | e_long):
                dp.d.sync += abort.eq(1)
            with dp.If(fwd_mk):
                dp.d.sync += step.eq(step + 1)
            with dp.If(b_eos):
                # the steps the core still needs come as empty steps (``pad``), counted on
                dp.d.sync += [in_sample.eq(0), padding.eq(1)]
        with dp.Elif(pad_now & xfer):
            dp.d.sync += step.eq(step + 1)

        # ---------------------------------------------------------------- cycles
        cyc = Signal(CB)  # saturating; cycles the core has been busy
        cyc_next = Signal(CB + 1)  # the carry out is the saturation test
        dp.d.comb += cyc_next.eq(cyc + 1)
        with dp.If(start_q):
            dp.d.sync += cyc.eq(0)
        with dp.Elif(core.busy & ~cyc_next[CB]):
            dp.d.sync += cyc.eq(cyc_next[:CB])

        # ---------------------------------------------------------------- output
        beat = Signal(range(wp.packet_beats + 1))
        res_flags = Signal(5)
        seq = n_samples[:8]
        header = Signal(32)
        pred_bits = min(16, len(core.prediction))
        dp.d.comb += [
            header[0:pred_bits].eq(Mux(res_flags[bit["ABORTED"]], 0,
                                       core.prediction[:pred_bits])),
            header[16:21].eq(res_flags),
            header[24:32].eq(seq),
        ]
        # the header's upper half (flags, sequence) as a register that is zero once the
        # header beat has gone (a synchronous reset, so no gating on every score beat)
        hdr_hi = Signal(16)
        out_xfer = Signal()
        with dp.If(core.done):
            dp.d.sync += [res_pending.eq(1), res_flags.eq(flags),
                          last_cycles.eq(cyc), core_started.eq(0),
                          hdr_hi.eq(Cat(flags, Const(0, 3), seq))]
        with dp.If(out_xfer & (beat == 0)):  # (never with done: no packet is pending then)
            dp.d.sync += hdr_hi.eq(0)
        score = Signal(32)
        sb = wp.score_bits
        tap_counts = []
        for name, bits in wp.taps:
            tap = core.tap(name)
            cnt = Signal(bits, name=f"tap_count_{name}")
            with dp.If(start_q):
                dp.d.sync += cnt.eq(0)
            with dp.Elif(tap.valid & ~tap.last):
                dp.d.sync += cnt.eq(cnt + 1)
            tap_counts.append(cnt)
        shared = wp.score == "count" and "scores" not in self._omit
        with dp.Switch(beat):
            for i, cnt in enumerate(tap_counts):
                with dp.Case(n_cls + 1 + i):
                    dp.d.comb += score.eq(cnt)
            if shared:
                # spike counts: read through the core's own counter select
                with dp.Default():
                    dp.d.comb += score.eq(core.score)
            for k in range(0 if shared or "scores" in self._omit else n_cls):
                with dp.Case(k + 1):
                    dp.d.comb += score.eq(core.scores[k].as_signed())
        if shared:
            # beat b carries class b - 1: each beat taken selects the next beat's class
            dp.d.comb += [core.score_index.eq(beat), core.score_load.eq(out_xfer)]
        assert sb <= 32
        dp.d.comb += [
            self.m_axis_tvalid.eq(res_pending),
            self.m_axis_tdata[:16].eq(Mux(beat == 0, header[:16],
                                          Mux(res_flags[bit["ABORTED"]], 0, score[:16]))),
            self.m_axis_tdata[16:].eq(hdr_hi | Mux((beat == 0) | res_flags[bit["ABORTED"]],
                                                   0, score[16:])),
            self.m_axis_tlast.eq(beat == wp.packet_beats - 1),
            out_xfer.eq(res_pending & self.m_axis_tready),
        ]
        sent = Signal()
        dp.d.comb += sent.eq(out_xfer & (beat == wp.packet_beats - 1))
        with dp.If(out_xfer):
            dp.d.sync += beat.eq(beat + 1)
        with dp.If(core.done):  # (never with out_xfer)
            dp.d.sync += beat.eq(0)
        with dp.If(sent):
            dp.d.sync += res_pending.eq(0)

        # ---------------------------------------------------------------- AXI-Lite
        regs = {r.name: r for r in wp.registers}
        aw_ok = Signal()
        m.d.comb += [
            aw_ok.eq(self.s_axil_awvalid & self.s_axil_wvalid & ~self.s_axil_bvalid),
            self.s_axil_awready.eq(aw_ok), self.s_axil_wready.eq(aw_ok),
            self.s_axil_bresp.eq(0), self.s_axil_rresp.eq(0),
        ]
        with m.If(aw_ok):
            m.d.sync += self.s_axil_bvalid.eq(1)
        with m.Elif(self.s_axil_bready):
            m.d.sync += self.s_axil_bvalid.eq(0)
        waddr = self.s_axil_awaddr[2:2 + wp.decode_bits]
        wdata = self.s_axil_wdata

        def wsel(name: str) -> Any:
            return aw_ok & (waddr == regs[name].offset >> 2)

        # registered: the soft reset reaches the datapath's flip-flops from one register
        m.d.sync += soft_rst.eq(wsel("CTRL") & wdata[1])
        with m.If(wsel("CTRL")):
            m.d.sync += enable.eq(wdata[0])
        with m.If(wsel("IRQ_ENABLE")):
            m.d.sync += irq_en.eq(wdata[:2])
        # sticky bits: set by events, cleared by writing 1
        err_set = Signal(4)
        m.d.comb += err_set.eq(Mux(b_check, beat_flags[:4], 0))
        clr_err = Mux(wsel("ERROR"), wdata[:4], 0)
        m.d.sync += err_sticky[:4].eq((err_sticky[:4] & ~clr_err) | err_set)
        irq_set = Signal(2)
        m.d.comb += [irq_set[0].eq(sent), irq_set[1].eq(sent & (res_flags[:4] != 0))]
        clr_irq = Mux(wsel("IRQ_STATUS"), wdata[:2], 0)
        m.d.sync += irq_st.eq((irq_st & ~clr_irq) | irq_set)
        m.d.comb += self.irq.eq((irq_st & irq_en).any())
        with m.If(sent):
            m.d.sync += [n_samples.eq(n_samples + 1), last_result.eq(header)]
            with m.If(res_flags[bit["ABORTED"]]):
                m.d.sync += n_aborted.eq(n_aborted + 1)

        status = Signal(32)
        m.d.comb += [status[0].eq(core.busy), status[1].eq(in_sample),
                     status[2].eq(res_pending), status[3].eq(self.irq)]
        values = {
            "ID": Const(regs["ID"].reset, 32), "CTRL": enable,
            "STATUS": status, "ERROR": err_sticky, "IRQ_ENABLE": irq_en,
            "IRQ_STATUS": irq_st,
            "GEOMETRY0": Const(regs["GEOMETRY0"].reset, 32),
            "GEOMETRY1": Const(regs["GEOMETRY1"].reset, 32),
        }
        if wp.counters:
            values.update({"SAMPLES": n_samples, "CYCLES": last_cycles})
        if wp.result_registers:
            values["RESULT"] = last_result
            if wp.counters:
                values["ABORTED"] = n_aborted
        if wp.writable:
            self._weight_window(m, regs, values, wsel, wdata, err_sticky, ~core.busy
                                & ~in_sample & ~res_pending & ~pad & ~b_read
                                & ~b_check & ~s2_valid)
        assert set(values) == set(regs), "register map and RTL disagree"
        ar_ok = Signal()
        m.d.comb += [ar_ok.eq(self.s_axil_arvalid & ~self.s_axil_rvalid),
                     self.s_axil_arready.eq(~self.s_axil_rvalid)]
        with m.If(ar_ok):
            m.d.sync += [self.s_axil_rvalid.eq(1), self.s_axil_rdata.eq(0)]
            with m.Switch(self.s_axil_araddr[2:2 + wp.decode_bits]):
                for name, value in values.items():
                    if "readmux" in self._omit:
                        break
                    with m.Case(regs[name].offset >> 2):
                        m.d.sync += self.s_axil_rdata.eq(value)
        with m.Elif(self.s_axil_rready):
            m.d.sync += self.s_axil_rvalid.eq(0)
        return m

    def _weight_window(self, m: Module, regs: dict[str, Any], values: dict[str, Any],
                       wsel: Any, wdata: Any, err: Any, idle: Any) -> None:
        """MEM_SELECT/MEM_ADDR/MEM_DATA registers and MEM_COMMIT into the synapse RAMs,
        the bias RAMs and the threshold registers."""
        from hwplan.wrapper import MEM_KINDS, WRITE_REFUSED_BIT, mem_data_words

        n = mem_data_words(self._plan)
        sel = Signal(8, name="mem_select")
        kind = Signal(2, name="mem_kind")
        addr = Signal(24, name="mem_addr")
        data = [Signal(32, name=f"mem_data{i}") for i in range(n)]
        commit = Signal()
        m.d.comb += commit.eq(wsel("MEM_COMMIT") & wdata[0])
        with m.If(wsel("MEM_SELECT")):
            m.d.sync += [sel.eq(wdata[:8]), kind.eq(wdata[8:10])]
        with m.If(wsel("MEM_ADDR")):
            m.d.sync += addr.eq(wdata[:24])
        with m.Elif(commit & idle):
            m.d.sync += addr.eq(addr + 1)
        for i, d in enumerate(data):
            with m.If(wsel(f"MEM_DATA{i}")):
                m.d.sync += d.eq(wdata)
        word = Cat(*data)
        for i, port in enumerate(self._write_ports):
            m.d.comb += [port.addr.eq(addr[:len(port.addr)]),
                         port.data.eq(word[:len(port.data)]),
                         port.en.eq(commit & idle & (sel == i)
                                    & (kind == MEM_KINDS["weights"]))]
        for i, pp in enumerate(self._param_ports):
            is_bias = kind == MEM_KINDS["biases"]
            m.d.comb += [pp.addr.eq(addr[:len(pp.addr)]), pp.data.eq(word[:len(pp.data)]),
                         pp.bias.eq(is_bias),
                         pp.en.eq(commit & idle & (sel == i) & (
                             (is_bias if pp.has_bias else 0)
                             | (kind == MEM_KINDS["threshold"])))]
        clr = Mux(wsel("ERROR"), wdata[WRITE_REFUSED_BIT], 0)
        m.d.sync += err[WRITE_REFUSED_BIT].eq((err[WRITE_REFUSED_BIT] & ~clr)
                                              | (commit & ~idle))
        values.update({"MEM_SELECT": Cat(sel, kind), "MEM_ADDR": addr, "MEM_COMMIT": Const(0, 32),
                       "MEM_INFO": Const(regs["MEM_INFO"].reset, 32)})
        values.update({f"MEM_DATA{i}": d for i, d in enumerate(data)})


def axis_portmap(design: AxisWrapper, top: str) -> dict[str, Any]:
    """The ``portmap.json`` of a wrapped design: every port (names as in the Verilog),
    no taps, the core's plan under ``plan`` and the wrapper's under ``wrapper``."""
    from hwplan.design import PORTMAP_FORMAT, PORTMAP_VERSION

    ports = {}
    for name, member in design.signature.members.items():
        if name in ("aclk", "aresetn"):
            continue
        ports[name] = {"name": name, "width": Shape.cast(member.shape).width,
                       "dir": "in" if member.flow == In else "out"}
    return {
        "format": PORTMAP_FORMAT, "version": PORTMAP_VERSION, "top": top,
        "clock": "aclk", "reset": "aresetn", "reset_active": "low",
        "ports": ports, "taps": [], "plan": design.plan.as_dict(),
        "wrapper": design.wrapper_plan.as_dict(),
    }
