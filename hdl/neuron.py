"""Neuron core: a lane-parallel synaptic accumulator and a serial, pipelined update unit."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from amaranth.hdl import Cat, Const, MemoryData, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hwplan import MAX_ACC_BITS, MAX_LANES, CorePlan, core_plan, pack_bias_words
from pysim import STATE_BITS_RANGE, WEIGHT_BITS_RANGE

from ._logic import mux_tree
from ._params import check_bool, check_int, check_int_array, quiet_on_error

__all__ = ["NeuronCore", "NeuronParamPort"]

_RESETS = ("zero", "subtract")


def _lanes_layout(shape: Any, lanes: int) -> data.ArrayLayout:
    return data.ArrayLayout(shape, lanes)


@dataclass(frozen=True)
class NeuronParamPort:
    """The run-time write port of a :class:`NeuronCore`'s parameters (see
    ``add_param_port``): ``en`` writes ``data`` into the bias word ``addr`` (``bias``
    true; one word per update row, as :func:`hwplan.pack_bias_words`) or, with ``bias``
    false, ``data[:state_bits]`` into the threshold. ``has_bias``: the core has a bias
    memory (without one, bias writes are ignored)."""

    addr: Signal
    data: Signal
    bias: Signal
    en: Signal
    has_bias: bool


class NeuronCore(wiring.Component):
    """Integer LIF neurons: ``lanes`` parallel synaptic accumulators, one serial update unit.

    Neuron ``n = g * lanes + k`` accumulates in lane ``k`` of group ``g``
    (``groups = ceil(out_features / lanes)``). Two parts run concurrently:

    * **Accumulation** (:attr:`acc`, one group per cycle, never stalls): the
      accumulator memory holds only the synaptic sum of one step,
      ``acc[p][g] = Σ_{inputs j fired so far at step t} W[n, j]``, double-buffered by
      the step's parity ``p``. An ``acc`` command for group ``g`` adds the weight word
      on :attr:`weights` (presented one cycle after the command, the synapse ROM's
      latency): ``acc := (fresh ? 0 : acc) + w``, where ``fresh`` (in the command)
      marks the step's first word for that group; this replaces clearing the memory,
      so the write data is always the adder's output.
    * **Update** (:attr:`step`: "step ``t`` is accumulated"): the parity flips (the next
      step accumulates into the other buffer) and the update unit walks the neurons of
      step ``t`` in ``rows = ceil(out_features / update_units)`` rows of
      ``update_units`` neurons, one row per cycle, through a pipeline:
      with ``u = u[t-1]`` from the membrane memory (0 at a sample's first step) and
      ``s = u >= θ`` (that is ``s[t-1]``; never for a non-firing layer),
      ``r = u·(1-s)`` (zero) or ``u - θ·s`` (subtract) or ``u`` (non-firing),
      ``d = r - (r >>> k)`` (arithmetic shift; ``d = r`` without leak),
      ``a = d + b + acc``, ``u[t] = clamp(a)`` to the ``state_bits`` range,
      ``s[t] = u[t] >= θ``; ``u[t]`` is written back to the membrane memory and the
      row's membranes and spikes leave on :attr:`upd`. A buffer that received no
      word in the step reads as 0 (one ``written`` flag per buffer, cleared when the
      update has read it). This is docs/semantics.md's *One step*, step for step: the
      reset of step ``t`` uses step ``t-1``'s membrane and spike (recomputed from the
      stored membrane, so no spike is stored).

    Preconditions (the :class:`~hdl.layer.Layer` meets them: an input event issues
    groups ``0..G-1`` in order, ``fresh`` for the step's first event): in a step with
    any ``acc`` command every group gets one, its first with ``fresh`` set; with more
    than one group, two commands to the same group are at least two cycles apart (with
    one group the step buffers are registers, read in the cycle they are used).

    A ``step`` is accepted only when the update unit has issued every row of the previous
    step and its first pipeline stage is empty, so the buffer the next step accumulates
    into has been consumed. The update pipeline stalls as a whole while :attr:`upd` is
    not ready.

    Parameters
    ----------
    out_features : int
        Number of neurons, >= 1.
    lanes : int
        Accumulator lanes (neurons per group), 1..min(out_features, 64).
    weight_bits : int
        2..16.
    state_bits : int
        Membrane width ``B``, 2..32.
    acc_bits : int
        Accumulator (synaptic sum) width, 2..64 (see :func:`synaptic_bits`).
    threshold : int
        ``θ``, 1 .. 2^(B-1)-1.
    leak_shift : int or None
        ``k``, 1..B-1, or None for no leak.
    reset : str
        ``"zero"`` or ``"subtract"``.
    bias : int array (out_features,) or None
        Signed ``state_bits``-bit integers.
    fires : bool
        False for the last layer of a membrane readout: never fires, never resets.
    update_units : int
        Neurons updated per cycle, a divisor of ``lanes`` (default 1).

    Attributes
    ----------
    start : In(1): a new sample (all membranes and spikes zero)
    acc : In(stream.Signature(StructLayout({"group": unsigned, "fresh": 1})))
    weights : In(ArrayLayout(signed(weight_bits), lanes))
    step : In(stream.Signature(StructLayout({"final": 1})))
    upd : Out(stream.Signature(StructLayout({"row", "spikes", "u", "last", "final"})))
    busy : Out(1)
    """

    @quiet_on_error
    def __init__(self, *, out_features: int, lanes: int, weight_bits: int, state_bits: int,
                 acc_bits: int, threshold: int, leak_shift: int | None = None,
                 reset: str = "zero", bias: Any = None, fires: bool = True,
                 update_units: int = 1) -> None:
        self._out_features = check_int(out_features, 1, 1 << 24, "Neuron count")
        self._lanes = check_int(lanes, 1, min(self._out_features, MAX_LANES), "Lane count")
        self._weight_bits = check_int(weight_bits, *WEIGHT_BITS_RANGE, "Weight width")
        self._state_bits = sb = check_int(state_bits, *STATE_BITS_RANGE, "Membrane width")
        self._acc_bits = check_int(acc_bits, 2, MAX_ACC_BITS, "Accumulator width")
        self._threshold = check_int(threshold, 1, (1 << (sb - 1)) - 1, "Threshold")
        if leak_shift is not None:
            leak_shift = check_int(leak_shift, 1, sb - 1, "Leak shift")
        self._leak_shift = leak_shift
        reset = getattr(reset, "value", reset)
        if not isinstance(reset, str):
            raise TypeError(f"Reset mode must be one of 'zero', 'subtract', not {reset!r}")
        if reset not in _RESETS:
            raise ValueError(f"Reset mode must be one of 'zero', 'subtract', not {reset!r}")
        self._reset = reset
        smin, smax = -(1 << (sb - 1)), (1 << (sb - 1)) - 1
        self._bias = None if bias is None else check_int_array(
            bias, (self._out_features,), smin, smax, "Bias")
        self._fires = check_bool(fires, "Firing flag")
        self._units = check_int(update_units, 1, self._lanes, "Update unit count")
        if self._lanes % self._units:
            raise ValueError(f"Update unit count must divide the lane count "
                             f"{self._lanes}, not {self._units}")
        bias_range = None if self._bias is None else (int(self._bias.min()),
                                                      int(self._bias.max()))
        self._plan = plan = core_plan(
            out_features=self._out_features, lanes=self._lanes, state_bits=sb,
            acc_bits=self._acc_bits, bias_range=bias_range, fires=self._fires,
            update_units=self._units)
        self._bias_data = None
        if self._bias is not None:
            self._bias_data = MemoryData(
                shape=unsigned(plan.bias.width), depth=plan.bias.depth,
                init=pack_bias_words(self._bias, sb, self._units))
        self._param: NeuronParamPort | None = None
        gshape = unsigned(plan.group_bits)
        self._upd_layout = data.StructLayout({
            "row": unsigned(plan.row_bits),
            "spikes": unsigned(self._units),
            "u": _lanes_layout(signed(sb), self._units),
            "last": unsigned(1),
            "final": unsigned(1),
        })
        super().__init__({
            "start": In(1),
            "acc": In(stream.Signature(data.StructLayout({"group": gshape,
                                                          "fresh": unsigned(1)}))),
            "weights": In(_lanes_layout(signed(self._weight_bits), self._lanes)),
            "step": In(stream.Signature(data.StructLayout({"final": unsigned(1)}))),
            "upd": Out(stream.Signature(self._upd_layout)),
            "busy": Out(1),
        })

    # ------------------------------------------------------------------ properties
    @property
    def out_features(self) -> int:
        """Number of neurons."""
        return self._out_features

    @property
    def lanes(self) -> int:
        """Neurons per group (parallel accumulators)."""
        return self._lanes

    @property
    def groups(self) -> int:
        """``ceil(out_features / lanes)``: accumulator rows per step buffer."""
        return self._plan.groups

    @property
    def update_units(self) -> int:
        """Neurons the update unit handles per cycle."""
        return self._units

    @property
    def rows(self) -> int:
        """``ceil(out_features / update_units)``: update cycles per step."""
        return self._plan.rows

    @property
    def update_latency(self) -> int:
        """Cycles from issuing an update row until a new row may read its written membrane
        (see :attr:`hwplan.CorePlan.update_latency`)."""
        return self._plan.update_latency

    @property
    def weight_bits(self) -> int:
        """Width of one weight."""
        return self._weight_bits

    @property
    def state_bits(self) -> int:
        """Membrane width ``B``."""
        return self._state_bits

    @property
    def acc_bits(self) -> int:
        """Accumulator (synaptic sum) width."""
        return self._acc_bits

    @property
    def sum_bits(self) -> int:
        """Width of the update's sum ``d + b + acc`` before the clamp."""
        return self._plan.sum_bits

    @property
    def threshold(self) -> int:
        """Firing threshold ``θ``."""
        return self._threshold

    @property
    def leak_shift(self) -> int | None:
        """Leak shift ``k`` or None."""
        return self._leak_shift

    @property
    def reset(self) -> str:
        """``"zero"`` or ``"subtract"``."""
        return self._reset

    @property
    def bias(self) -> np.ndarray | None:
        """The bias vector (a copy) or None."""
        return None if self._bias is None else self._bias.copy()

    @property
    def fires(self) -> bool:
        """False for a membrane-readout layer."""
        return self._fires

    @property
    def bias_data(self) -> MemoryData | None:
        """Initial contents of the bias ROM (``update_units`` biases per row), or None."""
        return self._bias_data

    @property
    def acc_memory_depth(self) -> int:
        """Rows of the accumulator memory: two step buffers of ``groups`` rows (one
        group: two registers)."""
        return self._plan.accumulator.depth * self._plan.accumulator.copies

    @property
    def acc_memory_width(self) -> int:
        """Bits per accumulator row (``lanes * acc_bits``)."""
        return self._plan.accumulator.width

    @property
    def memory_depth(self) -> int:
        """Rows of the membrane memory: ``rows``, at least 2 (no zero-width address)."""
        return self._plan.membrane.depth

    @property
    def memory_width(self) -> int:
        """Bits per membrane row (``update_units * state_bits``)."""
        return self._plan.membrane.width

    @property
    def plan(self) -> CorePlan:
        """The core's plan (groups, rows, widths, memories; see :mod:`hwplan`)."""
        return self._plan

    # ------------------------------------------------------------------ hardware
    def add_param_port(self) -> NeuronParamPort:
        """Make the biases (when the core has them) and the threshold writable at run time
        and return their write port (:class:`NeuronParamPort`); the threshold becomes a
        register reset to its generated value, the bias ROM a RAM with its initial
        contents.

        Without this call (the default) both stay constants and the Verilog is unchanged.
        A loaded bias must keep the sums inside the generated widths (``syn_bias_bits``,
        ``sum_bits`` of the plan; :func:`hwplan.wrapper.param_writes` checks that). The
        owner must not write while the core runs (the wrapper refuses).
        """
        if self._param is None:
            width = max(self._state_bits, self._plan.bias.width if self._bias is not None
                        else 0)
            depth = self._plan.bias.depth if self._bias is not None else 2
            self._param = NeuronParamPort(
                addr=Signal(range(depth), name="param_addr"),
                data=Signal(unsigned(width), name="param_data"),
                bias=Signal(name="param_bias"), en=Signal(name="param_en"),
                has_bias=self._bias is not None)
        return self._param

    def elaborate(self, platform: Any) -> Module:
        """Build the accumulator, the membrane and bias memories and the update pipeline."""
        m = Module()
        plan = self._plan
        L, U, G, R = self._lanes, self._units, plan.groups, plan.rows
        S = plan.rows_per_group
        sb, ab = self._state_bits, self._acc_bits
        smin, smax = -(1 << (sb - 1)), (1 << (sb - 1)) - 1
        theta: Any = self._threshold
        pp = self._param
        if pp is not None:
            theta = Signal(signed(sb), init=self._threshold, name="threshold")
            with m.If(pp.en & ~pp.bias):
                m.d.sync += theta.eq(pp.data[:sb])

        # ---------------------------------------------------------------- accumulation
        acc_par = Signal(name="acc_parity")           # buffer the current step adds into
        first = Signal(name="first_step")             # next update is the sample's first
        written = [Signal(name=f"written_{p}") for p in range(2)]  # buffer p holds a sum
        if G > 1:
            mems, wrs, rds = [], [], []
            for p in range(2):
                mem = Memory(shape=unsigned(plan.accumulator.width),
                             depth=plan.accumulator.depth, init=[])
                m.submodules[f"acc_mem_{p}"] = mem
                mems.append(mem)
                wrs.append(mem.write_port())
                rds.append(mem.read_port())
            acc_rows = [rds[p].data for p in range(2)]
        else:
            # one group: each step buffer is a plain register (read in the cycle it is
            # used, so back-to-back events see each other's sums without forwarding)
            acc_rows = [Signal(unsigned(plan.accumulator.width), name=f"acc_row_{p}") for p in range(2)]

        # stage a (the cycle after the command): the synapse ROM word appears and the
        # accumulator row is read; stage b: the ROM word is registered (the block RAM's
        # clock-to-out does not reach the adder), added and written back.
        a_valid = Signal()
        a_group = Signal.like(self.acc.payload.group, name="a_group")
        a_par = Signal(name="a_parity")
        b_valid = Signal()
        b_group = Signal.like(self.acc.payload.group, name="b_group")
        b_par = Signal(name="b_parity")
        a_fresh = Signal(name="a_fresh")
        b_fresh = Signal(name="b_fresh")
        w_q = Signal.like(self.weights, name="weights_q")
        m.d.comb += self.acc.ready.eq(1)
        m.d.sync += [a_valid.eq(self.acc.valid), b_valid.eq(a_valid), w_q.eq(self.weights)]
        with m.If(self.acc.valid):
            m.d.sync += [a_group.eq(self.acc.payload.group), a_par.eq(acc_par),
                         a_fresh.eq(self.acc.payload.fresh)]
        with m.If(a_valid):
            m.d.sync += [b_group.eq(a_group), b_par.eq(a_par), b_fresh.eq(a_fresh)]
        acc_rd = [data.View(_lanes_layout(signed(ab), L), acc_rows[p]) for p in range(2)]
        acc_wdata = Signal(unsigned(plan.accumulator.width), name="acc_wdata")
        wr_data = data.View(_lanes_layout(signed(ab), L), acc_wdata)
        for k in range(L):
            cur = Signal(signed(ab), name=f"acc_cur_{k}")
            m.d.comb += cur.eq(Mux(b_fresh, 0, Mux(b_par, acc_rd[1][k], acc_rd[0][k])))
            m.d.comb += wr_data[k].eq(cur + w_q[k])
        for p in range(2):
            if G > 1:
                m.d.comb += [wrs[p].addr.eq(b_group), wrs[p].en.eq(b_valid & (b_par == p)),
                             wrs[p].data.eq(acc_wdata)]
            else:
                with m.If(b_valid & (b_par == p)):
                    m.d.sync += acc_rows[p].eq(acc_wdata)

        # ---------------------------------------------------------------- update walker
        m.submodules.membranes = mmem = Memory(shape=unsigned(plan.membrane.width),
                                               depth=plan.membrane.depth, init=[])
        m_wr = mmem.write_port()
        m_rd = mmem.read_port()
        rshape = unsigned(plan.row_bits)
        walking = Signal()
        w_row = Signal(rshape, name="w_row")
        w_group = Signal.like(self.acc.payload.group, name="w_group")
        w_sub = Signal(range(max(S, 2)), name="w_sub")
        w_par = Signal(name="w_parity")
        w_first = Signal(name="w_first")
        w_final = Signal(name="w_final")

        # Pipeline: stage 1 is the memories' read data; stages 2..5 (operands, reset and
        # syn+bias, leak, sum) are registers in the deep pipeline and wires in the short
        # one; stage 6 (clamp and fire) is the registered result offered on ``upd`` and
        # written back. The deep pipeline is used when a step has enough rows to hide it.
        deep = plan.deep_pipeline
        regs = [1, *([2, 3, 4, 5] if deep else []), 6]
        v = {i: Signal(name=f"s{i}_valid") for i in regs}
        row = {i: Signal(rshape, name=f"s{i}_row") for i in regs}
        fin = {i: Signal(name=f"s{i}_final") for i in regs}
        out_valid = v[6]
        adv = Signal()
        m.d.comb += adv.eq(~out_valid | self.upd.ready)
        latency = self.update_latency

        # A new row may not read a membrane its previous step has not yet written back
        # (only possible with fewer rows than pipeline stages).
        issue_ok = Signal()
        old_inflight = Signal()
        if R < latency:
            wr_cnt = Signal(rshape, name="written_rows")
            with m.If(m_wr.en):
                m.d.sync += wr_cnt.eq(Mux(wr_cnt == R - 1, 0, wr_cnt + 1))
            with m.If(self.start):
                m.d.sync += wr_cnt.eq(0)
            m.d.comb += issue_ok.eq(~old_inflight | (w_row < wr_cnt))
        else:
            m.d.comb += issue_ok.eq(1)
        # the walk starts one cycle after the step is taken, so the accumulation's last
        # write (two cycles after its command) has landed before the first row is read
        w_hold = Signal(name="w_hold")
        m.d.sync += w_hold.eq(self.step.valid & self.step.ready)
        issue = Signal()
        m.d.comb += issue.eq(walking & ~w_hold & adv & issue_ok)

        m.d.comb += [
            self.step.ready.eq(~walking & ~v[1]),
            self.busy.eq(a_valid | b_valid | walking | Cat(*v.values()).any()),
        ]
        with m.If(self.start):
            m.d.sync += [acc_par.eq(0), first.eq(1), written[0].eq(0), written[1].eq(0)]
        with m.Elif(self.step.valid & self.step.ready):
            m.d.sync += [walking.eq(1), w_row.eq(0), w_group.eq(0), w_sub.eq(0),
                         w_par.eq(acc_par), acc_par.eq(~acc_par), w_first.eq(first),
                         first.eq(0), w_final.eq(self.step.payload.final)]
        last_row = w_row == R - 1
        with m.If(issue):
            m.d.sync += w_row.eq(w_row + 1)
            if S > 1:
                with m.If(w_sub == S - 1):
                    m.d.sync += [w_sub.eq(0), w_group.eq(w_group + 1)]
                with m.Else():
                    m.d.sync += w_sub.eq(w_sub + 1)
            else:
                m.d.sync += w_group.eq(w_group + 1)
            with m.If(last_row):
                m.d.sync += walking.eq(0)
        # ``written[p]``: buffer p received a word this step (set by the accumulation,
        # cleared when the update has read the buffer's last row; the two never address
        # the same parity at once)
        for p in range(2):
            with m.If(~self.start):
                with m.If(b_valid & (b_par == p)):
                    m.d.sync += written[p].eq(1)
                with m.Elif(issue & last_row & (w_par == p)):
                    m.d.sync += written[p].eq(0)
        with m.If(issue & last_row):
            m.d.sync += old_inflight.eq(1)
        with m.Elif(m_wr.en & (row[6] == R - 1)):
            m.d.sync += old_inflight.eq(0)

        # memory read ports: the accumulation's buffer reads for ``acc``, the other one
        # for the update walker
        for p in range(2 if G > 1 else 0):
            mine = a_valid & (a_par == p)
            m.d.comb += [rds[p].addr.eq(Mux(mine, a_group, w_group)),
                         rds[p].en.eq(mine | adv)]
        m.d.comb += [m_rd.addr.eq(w_row), m_rd.en.eq(adv)]
        if self._bias_data is not None:
            m.submodules.bias_rom = bias_rom = Memory(data=self._bias_data)
            b_rd = bias_rom.read_port()
            if pp is not None:
                b_wr = bias_rom.write_port()
                m.d.comb += [b_wr.addr.eq(pp.addr), b_wr.data.eq(pp.data[:plan.bias.width]),
                             b_wr.en.eq(pp.en & pp.bias)]
            m.d.comb += [b_rd.addr.eq(w_row), b_rd.en.eq(adv)]

        # ---- stage 1: the memories' outputs
        s1_sub = Signal.like(w_sub, name="s1_sub")
        s1_par = Signal(name="s1_parity")
        s1_written = Signal(name="s1_written")
        s1_first = Signal(name="s1_first")
        with m.If(adv):
            m.d.sync += [v[1].eq(issue), row[1].eq(w_row), fin[1].eq(w_final),
                         s1_sub.eq(w_sub), s1_par.eq(w_par), s1_first.eq(w_first),
                         s1_written.eq(Mux(w_par, written[1], written[0]))]
            for prev, i in itertools.pairwise(regs):
                m.d.sync += [v[i].eq(v[prev]), row[i].eq(row[prev]), fin[i].eq(fin[prev])]

        def stage(name: str, shape: Any, value: Any, reg: bool) -> Signal:
            sig = Signal(shape, name=name)
            if reg:
                with m.If(adv):
                    m.d.sync += sig.eq(value)
            else:
                m.d.comb += sig.eq(value)
            return sig

        # ---- stage 2: select this row's lanes; previous membranes (0 at the first step)
        mem_u = data.View(_lanes_layout(signed(sb), U), m_rd.data)
        if self._bias_data is not None:
            bias_u = data.View(_lanes_layout(signed(sb), U), b_rd.data)
        last_full = plan.last_row_neurons  # valid neurons of the last row
        pre_out_row = row[regs[-2]]
        s6_u = Signal(_lanes_layout(signed(sb), U), name="s6_u")
        s6_spikes = Signal(U, name="s6_spikes")
        spikes = []
        aw = plan.sum_bits
        for k in range(U):
            sel = []
            for p in range(2):
                choices = [acc_rd[p][s * U + k] for s in range(S)]
                sel.append(choices[0] if S == 1 else mux_tree(choices, s1_sub))
            syn = stage(f"s2_syn_{k}", signed(ab),
                        Mux(s1_written, Mux(s1_par, sel[1], sel[0]), 0), deep)
            up = stage(f"s2_uprev_{k}", signed(sb), Mux(s1_first, 0, mem_u[k]), deep)
            bias = (stage(f"s2_bias_{k}", signed(sb), bias_u[k], deep)
                    if self._bias_data is not None else Const(0, signed(2)))
            # ---- stage 3: reset (s[t-1] = u[t-1] >= θ) and syn + bias
            if not self._fires:
                r_val = up
            elif self._reset == "zero":
                r_val = Mux(up >= theta, 0, up)
            else:
                r_val = Mux(up >= theta, up - theta, up)
            r = stage(f"s3_reset_{k}", signed(sb + 1), r_val, deep)
            syn_b = stage(f"s3_syn_bias_{k}", signed(plan.syn_bias_bits), syn + bias, deep)
            # ---- stage 4: leak
            d_val = r if self._leak_shift is None else r - (r >> self._leak_shift)
            d = stage(f"s4_leak_{k}", signed(sb + 1), d_val, deep)
            syn_b4 = stage(f"s4_syn_bias_{k}", signed(plan.syn_bias_bits), syn_b, deep)
            # ---- stage 5: the sum a = d + b + acc
            a = stage(f"s5_sum_{k}", signed(aw), d + syn_b4, deep)
            # ---- stage 6: clamp from the sign-extension bits (no comparator); fire on the
            # raw sum, exact since 1 <= θ <= smax
            over = Signal(name=f"over_{k}")
            under = Signal(name=f"under_{k}")
            if aw > sb:
                top = a[sb - 1:]
                m.d.comb += [over.eq(~a[aw - 1] & top.any()), under.eq(a[aw - 1] & ~top.all())]
            u = Signal(signed(sb), name=f"u_{k}")
            m.d.comb += u.eq(Mux(over, smax, Mux(under, smin, a[:sb])))
            do_fire = Signal(name=f"do_fire_{k}")
            if self._fires:
                lane_ok = 1 if k < last_full else (pre_out_row != R - 1)
                m.d.comb += do_fire.eq((a >= theta) & lane_ok)
            spikes.append(do_fire)
            with m.If(adv):
                m.d.sync += s6_u[k].eq(u)
        with m.If(adv):
            m.d.sync += s6_spikes.eq(Cat(*spikes))

        # ---- write back and offer the row
        m.d.comb += [
            m_wr.addr.eq(row[6]), m_wr.data.eq(s6_u.as_value()),
            m_wr.en.eq(out_valid & self.upd.ready),
            self.upd.valid.eq(out_valid),
            self.upd.payload.row.eq(row[6]),
            self.upd.payload.spikes.eq(s6_spikes),
            self.upd.payload.u.eq(s6_u),
            self.upd.payload.last.eq(row[6] == R - 1),
            self.upd.payload.final.eq(fin[6]),
        ]
        return m
