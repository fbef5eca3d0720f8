"""Event-driven conv2d layer: tap address generator, interlocked accumulator, update walk.

See docs/hardware.md, "The conv2d layer", and :class:`hwplan.Conv2dLayerPlan` (every
number used here comes from the plan).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out, connect

from hwplan import MAX_TIMESTEPS, Conv2dLayerPlan, conv_layer_plan, pack_conv_weight_words
from hwplan.conv import CONV_UPDATE_LATENCY
from pysim import Conv2dLayer

from ._logic import mux_tree
from ._params import check_bool, check_int, quiet_on_error
from .layer import _times_const, event_layout
from .pool import MapEvents

__all__ = ["CONV_FAULTS", "ConvLayer", "ConvPhase"]

CONV_FAULTS = ("tap_offset", "no_stall")
"""Test-only faults :class:`ConvLayer` can inject (``fault=``): ``"tap_offset"`` reads the
weight of the neighbouring kernel column for every tap but the first of a row,
``"no_stall"`` drops the accumulate pipeline's hazard interlock (a command then reads a
sum whose write-back is still in flight)."""


class ConvPhase(enum.Enum, shape=2):
    """State of the conv layer's accumulation (the update walk runs beside it)."""

    IDLE = 0     #: waiting for ``start`` (or every step handed to the walk)
    ACCUM = 1    #: taking input events, issuing their tap commands
    DRAIN = 2    #: the step's marker was taken; waiting for the accumulate pipeline to
    #: empty and the walk to be free, then handing the step to the walk


def _table(values: list[int]) -> Any:
    width = max(1, max(int(v) for v in values).bit_length())
    return Array(Const(int(v), unsigned(width)) for v in values)


class ConvLayer(wiring.Component):
    """One conv2d layer of an integer network as an event-driven pipeline stage.

    Per sample (after ``start`` while idle) the layer runs ``timesteps`` steps. One step:

    1. every input event (a flat index; decoded into ``(c, y, x)`` and, with a pool in
       front, expanded into pooled window events by :class:`~hdl.pool.MapEvents`) issues
       one accumulate command per in-bounds kernel tap ``(i, j)`` and output-channel group
       ``g``: weight ROM word ``((c*KH + i)*KW + j)*G + g`` is added lane-wise into
       accumulator word ``g*OH*OW + oy*OW + ox`` (read-modify-write in three cycles; a
       command whose word is still in flight in the two stages behind it waits, at most
       two cycles: the hazard interlock);
    2. the step's marker waits for the accumulate pipeline to drain, then the update walk
       visits every neuron ``n = o*OH*OW + p`` in ascending order, one per cycle:
       ``u[t] = clamp(leak(reset(u[t-1])) + b_o + acc)``, ``s[t] = u[t] >= θ`` (docs/semantics.md,
       *One step*), writes ``u[t]`` back, clears the accumulator word after its last lane is read
       (so the next step starts from zero sums without touching words no event reached)
       and sends the spikes as events in ascending order, then the marker.

    Parameters
    ----------
    layer : pysim.Conv2dLayer
    timesteps : int
        Steps per sample, 1..65535.
    plan : hwplan.Conv2dLayerPlan or None
        The layer's plan; without it ``lanes`` (and ``fires``) make one.
    lanes : int or None
        Output channels accumulated in parallel (not with ``plan``).
    fires : bool
        False for the last layer of a membrane readout (not with ``plan``).
    fault : str or None
        Test only: inject one of :data:`CONV_FAULTS`.
    """

    @quiet_on_error
    def __init__(self, *, layer: Conv2dLayer, timesteps: int,
                 plan: Conv2dLayerPlan | None = None, lanes: int | None = None,
                 fires: bool = True, fault: str | None = None) -> None:
        if not isinstance(layer, Conv2dLayer):
            raise TypeError(f"Layer must be a pysim.Conv2dLayer, not {layer!r}")
        self._layer = layer
        self._timesteps = check_int(timesteps, 1, MAX_TIMESTEPS, "Timestep count")
        if plan is not None:
            if not isinstance(plan, Conv2dLayerPlan):
                raise TypeError(f"Plan must be a hwplan.Conv2dLayerPlan, not {plan!r}")
            if lanes is not None:
                raise ValueError("Lanes come from the plan; do not also give them")
            own = conv_layer_plan(layer, lanes=plan.lanes, fires=plan.fires, pool=plan.pool,
                                  membrane_packing=plan.membrane_units,
                                  accumulator_copies=plan.accumulator.copies,
                                  input_fifo=plan.input_fifo)
            if own != plan:
                raise ValueError(f"Plan of layer {plan.name!r} does not match layer "
                                 f"{layer.name!r}")
        else:
            if lanes is None:
                raise TypeError("Conv layer needs either lanes or a plan")
            lanes = check_int(lanes, 1, layer.out_channels, "Lane count")
            plan = conv_layer_plan(layer, lanes=lanes, fires=check_bool(fires, "Firing flag"))
        if fault is not None and fault not in CONV_FAULTS:
            raise ValueError(f"Fault must be one of {', '.join(CONV_FAULTS)} or None, not "
                             f"{fault!r}")
        self._fault = fault
        self._plan = plan
        self._decoder = MapEvents(in_shape=plan.pool.in_shape if plan.pool else plan.in_shape,
                                  pool=plan.pool)
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "i_events": In(stream.Signature(event_layout(plan.in_index_bits))),
            "o_events": Out(stream.Signature(event_layout(plan.out_index_bits))),
            "readout": Out(wiring.Signature({
                "valid": Out(1), "final": Out(1), "row": Out(unsigned(plan.out_index_bits)),
                "u": Out(data.ArrayLayout(signed(layer.state_bits), 1)),
            })),
        })

    # ------------------------------------------------------------------ properties
    @property
    def layer(self) -> Conv2dLayer:
        """The integer layer this hardware realizes."""
        return self._layer

    @property
    def name(self) -> str:
        """The layer's name."""
        return self._layer.name

    @property
    def plan(self) -> Conv2dLayerPlan:
        """The layer's plan."""
        return self._plan

    @property
    def lanes(self) -> int:
        """Output channels accumulated per cycle."""
        return self._plan.lanes

    @property
    def groups(self) -> int:
        """Output-channel groups: cycles per kernel tap."""
        return self._plan.groups

    @property
    def update_units(self) -> int:
        """Neurons updated per cycle (1)."""
        return 1

    @property
    def rows(self) -> int:
        """Update cycles per step: the neurons."""
        return self._plan.rows

    @property
    def timesteps(self) -> int:
        """Steps per sample."""
        return self._timesteps

    @property
    def fires(self) -> bool:
        """False for a membrane-readout layer."""
        return self._plan.fires

    # ------------------------------------------------------------------ hardware
    def elaborate(self, platform: Any) -> Module:
        """Build the decoder, the tap generator, the accumulator and the update walk."""
        m = Module()
        lp, layer = self._plan, self._layer
        m.submodules.decoder = dec = self._decoder
        if lp.input_fifo:
            # the input FIFO (index + marker per word) in front of the decoder
            width = lp.in_index_bits + 1
            m.submodules.fifo = fifo = SyncFIFOBuffered(width=width, depth=lp.input_fifo + 1)
            m.d.comb += [fifo.w_data.eq(self.i_events.payload),
                         fifo.w_en.eq(self.i_events.valid),
                         self.i_events.ready.eq(fifo.w_rdy),
                         dec.i.payload.eq(fifo.r_data), dec.i.valid.eq(fifo.r_rdy),
                         fifo.r_en.eq(dec.i.ready)]
        else:
            connect(m, wiring.flipped(self.i_events), dec.i)
        L, G, T = lp.lanes, lp.groups, self._timesteps
        O, OH, OW = lp.out_shape
        P = OH * OW
        N = O * P
        KH, KW = lp.kernel
        SH, SW = lp.stride
        wb, sb, ab = lp.weight_bits, lp.state_bits, lp.acc_bits
        smin, smax = -(1 << (sb - 1)), (1 << (sb - 1)) - 1
        theta = layer.threshold

        # ---- memories
        wrom = Memory(shape=unsigned(lp.weights.width), depth=lp.weights.depth,
                      init=pack_conv_weight_words(layer.weight, wb, L),
                      attrs={"ram_style": lp.weights.ram_style or "block"})
        memm = Memory(shape=unsigned(lp.membrane.width), depth=lp.membrane.depth, init=[])
        m.submodules.weights = wrom
        m.submodules.membranes = memm
        w_rd = wrom.read_port()
        u_rd = memm.read_port()
        u_wr = memm.write_port()
        # The step sums of both buffers (word 2*a + parity) in two identical copies, one
        # per reader: the accumulation reads copy A, the walk copy B, both are written
        # with every sum (no multiplexer on the data paths). Per buffer a tag RAM, one bit
        # per word ("written this step"): a word whose tag is 0 reads as zero sums, so the
        # walk clears a word by writing its tag, and the sums' write data is always the
        # adder's output.
        # With one buffer (``copies = 1``) a single memory and tag RAM serve both, the
        # accumulation and the walk taking turns on the read port.
        # ``no_rw_check``: a read never meets a write to its word in the same cycle (the
        # interlock holds a command while C2 writes its word; the walk reads the other
        # buffer), so Yosys need not add read-during-write logic (a register and a
        # multiplexer per bit)
        C = lp.accumulator.copies
        nrw = {"no_rw_check": 1}
        acc_a = Memory(shape=unsigned(lp.accumulator.width), depth=lp.accumulator.depth,
                       init=[], attrs=nrw)
        m.submodules.accumulator_a = acc_a
        a_rd, a_wr = acc_a.read_port(), acc_a.write_port()
        if C == 2:
            acc_b = Memory(shape=unsigned(lp.accumulator.width), depth=lp.accumulator.depth,
                           init=[], attrs=nrw)
            m.submodules.accumulator_b = acc_b
            b_rd, b_wr = acc_b.read_port(), acc_b.write_port()
        else:
            b_rd = a_rd
        t_rd, t_wr = [], []
        for k in range(C):
            tagm = Memory(shape=unsigned(1), depth=lp.tags.depth, init=[])
            m.submodules[f"tags{k}"] = tagm
            t_rd.append(tagm.read_port())
            t_wr.append(tagm.write_port())

        phase = Signal(ConvPhase)
        handed = Signal(range(T + 1))      # steps handed to the walk
        first_step = Signal()
        ap = Signal(name="acc_buffer")      # buffer being accumulated (the step's parity)

        # ---------------------------------------------------------------- tap generator
        rt, ct = lp.row_taps(), lp.col_taps()
        KWG = KW * G
        i0rom_t = _table([i0 * KWG for i0, _, _ in rt])
        ni_t = _table([n for _, n, _ in rt])
        oyacc_t = _table([oy0 * OW for _, _, oy0 in rt])
        j0rom_t = _table([j0 * G for j0, _, _ in ct])
        nj_t = _table([n for _, n, _ in ct])
        ox0_t = _table([ox0 for _, _, ox0 in ct])
        ev = dec.o
        rom_w = max(1, lp.weights.addr_bits)
        acc_w = max(1, lp.accumulator.addr_bits)
        cmd_valid = Signal()
        rom_addr = Signal(unsigned(rom_w + 1))
        acc_addr = Signal(unsigned(acc_w + 1))
        rom_i = Signal.like(rom_addr, name="rom_row")     # tap (i, j0, g=0)
        acc_i = Signal.like(acc_addr, name="acc_row")
        rom_j = Signal.like(rom_addr, name="rom_col")     # tap (i, j, g=0)
        acc_j = Signal.like(acc_addr, name="acc_col")
        ta = Signal(range(KH + 1), name="tap_a")
        tb = Signal(range(KW + 1), name="tap_b")
        tg = Signal(range(max(G, 2)), name="tap_g")
        t_ni = Signal.like(ta, name="tap_ni")
        t_nj = Signal.like(tb, name="tap_nj")
        t_j0rom = Signal.like(rom_addr, name="tap_j0rom")
        # accumulate pipeline state (declared here: the interlock reads it)
        c1_valid = Signal()
        c2_valid = Signal()
        c1_addr = Signal.like(acc_addr, name="c1_addr")
        c2_addr = Signal.like(acc_addr, name="c2_addr")
        # hazard interlock: the command's word is being summed (C1) or written (C2); its
        # read would return the value before that write, so the command waits
        stall = Signal()
        go = Signal()
        if self._fault == "no_stall":
            m.d.comb += stall.eq(0)
        else:
            m.d.comb += stall.eq(cmd_valid & ((c1_valid & (c1_addr == acc_addr))
                                              | (c2_valid & (c2_addr == acc_addr))))
        m.d.comb += go.eq(cmd_valid & ~stall)
        last_cmd = Signal()
        m.d.comb += last_cmd.eq(go & (tg == G - 1) & (tb + 1 >= t_nj) & (ta + 1 >= t_ni))
        gen_free = ~cmd_valid | last_cmd

        # ---------------------------------------------------------------- update walk state
        walking = Signal()
        wbuf = Signal(name="walk_buffer")
        wn = Signal(range(max(N, 2)), name="walk_n")
        wo = Signal(range(max(O, 2)), name="walk_o")
        wp = Signal(range(max(P, 2)), name="walk_p")
        wk = Signal(range(max(L, 2)), name="walk_lane")
        wacc = Signal.like(acc_addr, name="walk_acc")
        wgbase = Signal.like(acc_addr, name="walk_gbase")
        w_final = Signal()
        w_first = Signal()
        MU = lp.membrane_units
        wml = Signal(range(max(MU, 2)), name="walk_mslot")      # slot in the membrane word
        wmw = Signal(range(max(lp.membrane.depth, 2)), name="walk_mword")
        # update pipeline valid bits: u1 (RAM outputs), u1b (their registers), u2 .. u4
        uv = [Signal(name=f"u{k}_valid") for k in ("1", "1b", "2", "3", "4")]
        ubuf = [Signal.like(wbuf, name=f"u{k}_buffer") for k in ("1", "1b")]
        f_valid = Signal(name="f_valid")
        adv = Signal()
        upd_busy = Signal()
        m.d.comb += upd_busy.eq(Cat(*uv).any())

        # ---- taking events from the decoder
        accum = phase == ConvPhase.ACCUM
        # the walk's last neuron of a buffer may still wait in u1 for its tag (a RAM
        # output): that buffer takes commands once it has moved on
        if C == 2:
            take_ok = accum & ~(uv[0] & (ubuf[0] == ap))
        else:   # one buffer: the walk and its last neuron's RAM output first
            take_ok = accum & ~walking & ~uv[0]
        ev_taps = Signal()
        yy, xx = ev.payload.y, ev.payload.x
        m.d.comb += ev_taps.eq((ni_t[yy] != 0) & (nj_t[xx] != 0))
        take_event = Signal()
        take_marker = Signal()
        m.d.comb += [
            take_event.eq(take_ok & ev.valid & ~ev.payload.last & gen_free),
            take_marker.eq(take_ok & ev.valid & ev.payload.last & ~cmd_valid),
            ev.ready.eq(take_event | take_marker),
        ]
        cbase = _times_const(ev.payload.c, KH * KWG) if KH * KWG > 1 else ev.payload.c
        first_rom = Signal.like(rom_addr, name="first_rom")
        first_acc = Signal.like(acc_addr, name="first_acc")
        m.d.comb += [first_rom.eq(cbase + i0rom_t[yy] + j0rom_t[xx]),
                     first_acc.eq(oyacc_t[yy] + ox0_t[xx])]
        with m.If(take_event):
            m.d.sync += [cmd_valid.eq(ev_taps), rom_addr.eq(first_rom), acc_addr.eq(first_acc),
                         rom_i.eq(cbase + i0rom_t[yy]), rom_j.eq(first_rom),
                         acc_i.eq(first_acc), acc_j.eq(first_acc),
                         t_j0rom.eq(j0rom_t[xx]),
                         ta.eq(0), tb.eq(0), tg.eq(0), t_ni.eq(ni_t[yy]), t_nj.eq(nj_t[xx])]
        with m.Elif(go):
            with m.If(last_cmd):
                m.d.sync += cmd_valid.eq(0)
            with m.Elif(tg != G - 1):
                m.d.sync += [tg.eq(tg + 1), rom_addr.eq(rom_addr + 1), acc_addr.eq(acc_addr + P)]
            with m.Elif(tb + 1 < t_nj):
                m.d.sync += [tg.eq(0), tb.eq(tb + 1),
                             rom_j.eq(rom_j + SW * G), acc_j.eq(acc_j - 1),
                             rom_addr.eq(rom_j + SW * G), acc_addr.eq(acc_j - 1)]
            with m.Else():
                nrom = rom_i + SH * KWG
                nacc = acc_i - OW
                m.d.sync += [tg.eq(0), tb.eq(0), ta.eq(ta + 1),
                             rom_i.eq(nrom), acc_i.eq(nacc),
                             rom_j.eq(nrom + t_j0rom), acc_j.eq(nacc),
                             rom_addr.eq(nrom + t_j0rom), acc_addr.eq(nacc)]

        # ---------------------------------------------------------------- accumulate pipe
        rom_read = rom_addr
        if self._fault == "tap_offset":
            # wrong tap: every tap but a row's first reads the previous column's weights
            rom_read = Mux(tb != 0, rom_addr - G, rom_addr)
        m.d.comb += [w_rd.addr.eq(rom_read), w_rd.en.eq(1)]
        m.d.sync += [c1_valid.eq(go), c2_valid.eq(c1_valid), c1_addr.eq(acc_addr),
                     c2_addr.eq(c1_addr)]
        w_q = Signal(unsigned(lp.weights.width), name="c2_weights")
        m.d.sync += w_q.eq(w_rd.data)
        issue = Signal()
        clear = Signal()
        m.d.comb += clear.eq(issue & ((wk == L - 1) | (wo == O - 1)))
        acc_sum = Signal(unsigned(lp.accumulator.width), name="acc_sum")
        if C == 2:
            m.d.comb += [a_rd.addr.eq(Cat(ap, acc_addr)), a_rd.en.eq(1),
                         a_wr.addr.eq(Cat(ap, c2_addr)), a_wr.data.eq(acc_sum),
                         a_wr.en.eq(c2_valid),
                         b_rd.addr.eq(Cat(wbuf, wacc)), b_rd.en.eq(adv),
                         b_wr.addr.eq(Cat(ap, c2_addr)), b_wr.data.eq(acc_sum),
                         b_wr.en.eq(c2_valid)]
        else:
            m.d.comb += [a_rd.addr.eq(Mux(walking, wacc, acc_addr)),
                         a_rd.en.eq(Mux(walking | uv[0], adv, 1)),
                         a_wr.addr.eq(c2_addr), a_wr.data.eq(acc_sum), a_wr.en.eq(c2_valid)]
        # tags: buffer ``ap`` set by the accumulation, buffer ``wbuf`` cleared by the walk
        for k in range(C):
            walk_k = walking & (wbuf == k) if C == 2 else walking
            held_k = walk_k | (uv[0] & (ubuf[0] == k)) if C == 2 else walking | uv[0]
            acc_k = (ap == k) if C == 2 else Const(1, 1)
            m.d.comb += [t_rd[k].addr.eq(Mux(walk_k, wacc, acc_addr)),
                         t_rd[k].en.eq(Mux(held_k, adv, 1)),
                         t_wr[k].addr.eq(Mux(walk_k, wacc, c2_addr)),
                         t_wr[k].data.eq(~walk_k),
                         t_wr[k].en.eq(Mux(walk_k, clear, c2_valid & acc_k))]
        # C2's operand: copy A's word, zero when its tag is 0 (a register with a
        # synchronous reset, no enable)
        a_q = Signal(unsigned(lp.accumulator.width), name="acc_word")
        c1_tag = Mux(ap, t_rd[1].data, t_rd[0].data) if C == 2 else t_rd[0].data
        with m.If(c1_tag):
            m.d.sync += a_q.eq(a_rd.data)
        with m.Else():
            m.d.sync += a_q.eq(0)
        cur_v = data.View(data.ArrayLayout(signed(ab), L), a_q)
        w_v = data.View(data.ArrayLayout(signed(wb), L), w_q)
        sum_v = data.View(data.ArrayLayout(signed(ab), L), acc_sum)
        for k in range(L):
            m.d.comb += sum_v[k].eq(cur_v[k] + w_v[k])
        acc_busy = Signal()
        m.d.comb += acc_busy.eq(cmd_valid | c1_valid | c2_valid)

        # ---------------------------------------------------------------- controller
        # The accumulation hands a step to the walk once its pipeline has drained and the
        # walk of the step before has issued its last neuron; with two buffers it goes on
        # with the next step at once (into the other buffer) while the walk runs. A walk
        # may start right behind the previous one unless the map is so small that its first
        # membrane words are still being written back (then the update pipeline empties).
        m.d.comb += issue.eq(walking & adv)
        last_n = wn == N - 1
        overlap = N >= MU + CONV_UPDATE_LATENCY + 2
        walk_done = ~walking | (issue & last_n)      # the walk's last neuron issues now
        walk_free = walk_done if overlap else (~walking & ~upd_busy & ~f_valid)
        handoff = Signal()
        m.d.comb += handoff.eq((phase == ConvPhase.DRAIN) & ~acc_busy & walk_free)
        with m.Switch(phase):
            with m.Case(ConvPhase.IDLE), m.If(self.start & ~self.busy):
                m.d.sync += [phase.eq(ConvPhase.ACCUM), handed.eq(0), first_step.eq(1),
                             ap.eq(0)]
            with m.Case(ConvPhase.ACCUM), m.If(take_marker):
                m.d.sync += phase.eq(ConvPhase.DRAIN)
            with m.Case(ConvPhase.DRAIN), m.If(handoff):
                m.d.sync += [handed.eq(handed + 1),
                             phase.eq(Mux(handed == T - 1, ConvPhase.IDLE, ConvPhase.ACCUM))]
                if C == 2:
                    m.d.sync += ap.eq(~ap)
        with m.If(handoff):
            m.d.sync += [walking.eq(1), wbuf.eq(ap), wn.eq(0),
                         wo.eq(0), wp.eq(0), wk.eq(0), wacc.eq(0), wgbase.eq(0),
                         wml.eq(lp.membrane_offset), wmw.eq(0),
                         w_first.eq(first_step), first_step.eq(0),
                         w_final.eq(handed == T - 1)]
        with m.Elif(issue):
            m.d.sync += wn.eq(wn + 1)
            if MU > 1:
                with m.If(wml == MU - 1):
                    m.d.sync += [wml.eq(0), wmw.eq(wmw + 1)]
                with m.Else():
                    m.d.sync += wml.eq(wml + 1)
            else:
                m.d.sync += wmw.eq(wmw + 1)
            with m.If(wp == P - 1):
                m.d.sync += [wp.eq(0), wo.eq(wo + 1)]
                with m.If((wk == L - 1) | (wo == O - 1)):
                    m.d.sync += [wk.eq(0), wgbase.eq(wgbase + P), wacc.eq(wgbase + P)]
                with m.Else():
                    m.d.sync += [wk.eq(wk + 1), wacc.eq(wgbase)]
            with m.Else():
                m.d.sync += [wp.eq(wp + 1), wacc.eq(wacc + 1)]
            with m.If(last_n):
                m.d.sync += walking.eq(0)

        # ---------------------------------------------------------------- update pipeline
        # the membrane word is read at its first neuron and held for the others
        # (with an offset first word, at every neuron: the walk starts inside a word)
        m.d.comb += [u_rd.addr.eq(wmw),
                     u_rd.en.eq(adv if MU > 1 and lp.membrane_offset else adv & (wml == 0))]
        bias = layer.bias
        stages = ("1", "1b", "2", "3", "4")
        n_r = [Signal(range(max(N, 2)), name=f"u{k}_n") for k in stages]
        fin_r = [Signal(name=f"u{k}_final") for k in stages]
        first_r = Signal(name="u1_first")
        lane_r = Signal.like(wk, name="u1_lane")
        o_r = Signal.like(wo, name="u1_o")
        ms_r = [Signal.like(wml, name=f"u{k}_mslot") for k in stages]
        mw_r = [Signal.like(wmw, name=f"u{k}_mword") for k in stages]
        with m.If(adv):
            m.d.sync += [uv[0].eq(issue), n_r[0].eq(wn), fin_r[0].eq(w_final),
                         first_r.eq(w_first), lane_r.eq(wk), o_r.eq(wo),
                         ms_r[0].eq(wml), mw_r[0].eq(wmw),
                         ubuf[0].eq(wbuf), ubuf[1].eq(ubuf[0])]
            for k in range(1, 5):
                m.d.sync += [uv[k].eq(uv[k - 1]), n_r[k].eq(n_r[k - 1]),
                             fin_r[k].eq(fin_r[k - 1]), ms_r[k].eq(ms_r[k - 1]),
                             mw_r[k].eq(mw_r[k - 1])]
        # stage 1b: the RAM outputs registered (a block RAM's clock-to-out is long: nothing
        # but a register follows it)
        # the walk's word: copy B's output registered (stage u1b), its tag beside it
        acc_word = Signal(unsigned(lp.accumulator.width), name="u1b_acc_word")
        tag_b = Signal(name="u1b_tag")
        with m.If(adv):
            m.d.sync += [acc_word.eq(b_rd.data),
                         tag_b.eq(Mux(ubuf[0], t_rd[1].data, t_rd[0].data) if C == 2
                                  else t_rd[0].data)]
        mem_word = Signal.like(u_rd.data, name="u1b_mem_word")
        first_b = Signal(name="u1b_first")
        lane_b = Signal.like(wk, name="u1b_lane")
        o_b = Signal.like(wo, name="u1b_o")
        with m.If(adv):
            m.d.sync += [mem_word.eq(u_rd.data), first_b.eq(first_r),
                         lane_b.eq(lane_r), o_b.eq(o_r)]
        acc_lanes = data.View(data.ArrayLayout(signed(ab), L), acc_word)
        syn_sel = acc_lanes[0] if L == 1 else mux_tree([acc_lanes[k] for k in range(L)], lane_b)
        # stage 2: operands
        syn2 = Signal(signed(ab), name="u2_syn")
        up2 = Signal(signed(sb), name="u2_uprev")
        bias2 = Signal(signed(sb), name="u2_bias")
        with m.If(adv):
            mem_slots = data.View(data.ArrayLayout(signed(sb), MU), mem_word)
            u_sel = mem_slots[0] if MU == 1 else mux_tree([mem_slots[j] for j in range(MU)],
                                                          ms_r[1])
            m.d.sync += [syn2.eq(Mux(tag_b, syn_sel, 0)), up2.eq(Mux(first_b, 0, u_sel))]
            if bias is not None:
                bt = Array(Const(int(v), signed(sb)) for v in np.asarray(bias))
                m.d.sync += bias2.eq(bt[o_b])
        # stage 3: reset and syn + bias
        if not lp.fires:
            r_val = up2
        elif layer.reset.value == "zero":
            r_val = Mux(up2 >= theta, 0, up2)
        else:
            r_val = Mux(up2 >= theta, up2 - theta, up2)
        r3 = Signal(signed(sb + 1), name="u3_reset")
        sb3 = Signal(signed(lp.syn_bias_bits), name="u3_syn_bias")
        with m.If(adv):
            m.d.sync += [r3.eq(r_val), sb3.eq(syn2 + bias2 if bias is not None else syn2)]
        # stage 4: leak and sum
        k_leak = layer.leak_shift
        d_val = r3 if k_leak is None else r3 - (r3 >> k_leak)
        a4 = Signal(signed(lp.sum_bits), name="u4_sum")
        with m.If(adv):
            m.d.sync += a4.eq(d_val + sb3)
        # clamp and fire into F
        aw = lp.sum_bits
        over, under = Signal(name="over"), Signal(name="under")
        if aw > sb:
            top = a4[sb - 1:]
            m.d.comb += [over.eq(~a4[aw - 1] & top.any()), under.eq(a4[aw - 1] & ~top.all())]
        u_new = Signal(signed(sb), name="u_new")
        m.d.comb += u_new.eq(Mux(over, smax, Mux(under, smin, a4[:sb])))
        fire = (a4 >= theta) if lp.fires else Const(0, 1)
        f_n = Signal.like(n_r[0], name="f_n")
        f_spike = Signal(name="f_spike")
        f_last = Signal(name="f_last")
        f_final = Signal(name="f_final")
        f_u = Signal(signed(sb), name="f_u")
        with m.If(adv):
            m.d.sync += [f_valid.eq(uv[4]), f_n.eq(n_r[4]), f_spike.eq(fire),
                         f_last.eq(n_r[4] == N - 1), f_final.eq(fin_r[4]), f_u.eq(u_new)]
        # write back: the slots enter a shift register at the top, so the word is the
        # register shifted once more as its last slot (U - 1: every word ends there, the
        # partial word is the first) arrives; no slot multiplexer on the write side
        if MU == 1:
            m.d.comb += [u_wr.addr.eq(mw_r[4]), u_wr.data.eq(u_new), u_wr.en.eq(adv & uv[4])]
        else:
            wb = Signal(MU * sb, name="membrane_word")
            w_word = Cat(wb[sb:], u_new)
            with m.If(adv & uv[4]):
                m.d.sync += wb.eq(w_word)
            m.d.comb += [
                u_wr.addr.eq(mw_r[4]),
                u_wr.data.eq(w_word),
                u_wr.en.eq(adv & uv[4] & (ms_r[4] == MU - 1)),
            ]

        # debug probes (benchmarks read them in simulation): waiting = accumulating with
        # no command and nothing from upstream while no walk runs (the layer idles on its
        # input)
        waiting = Signal(name="waiting_for_input")
        m.d.comb += waiting.eq(accum & ~cmd_valid & ~dec.busy & ~dec.i.valid & ~walking
                               & ~upd_busy & ~f_valid)
        self._probe = {"phase": phase, "waiting": waiting, "stall": stall, "go": go,
                       "issue": issue}

        # ---- emitter
        o = self.o_events
        marker_pending = Signal()
        beat = f_valid & (f_spike | f_last)
        f_take = Signal()
        m.d.comb += [
            o.valid.eq(marker_pending | beat),
            o.payload.index.eq(Mux(marker_pending | ~f_spike, 0, f_n)),
            o.payload.last.eq(marker_pending | ~f_spike),
            f_take.eq(f_valid & ~marker_pending & (~beat | o.ready)),
            adv.eq(~f_valid | f_take),
        ]
        with m.If(f_take & f_spike & f_last):
            m.d.sync += marker_pending.eq(1)
        with m.Elif(marker_pending & o.ready):
            m.d.sync += marker_pending.eq(0)
        m.d.comb += [
            self.readout.valid.eq(f_take),
            self.readout.final.eq(f_final),
            self.readout.row.eq(f_n),
            self.readout.u[0].eq(f_u),
            self.busy.eq((phase != ConvPhase.IDLE) | walking | upd_busy | f_valid
                         | marker_pending | acc_busy),
        ]
        return m
