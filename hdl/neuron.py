"""Neuron core: ``lanes`` parallel integer LIF neurons with an accumulator memory."""
from __future__ import annotations

from typing import Any

import numpy as np
from amaranth.hdl import Cat, Const, MemoryData, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._params import (
    check_bool,
    check_int,
    check_int_array,
    index_bits,
    quiet_on_error,
    signed_bits_for,
)

__all__ = ["MAX_ACC_BITS", "NeuronCore", "Op", "accumulator_bits", "accumulator_range"]

MAX_ACC_BITS = 64
"""Widest accumulator the generator builds."""

_RESETS = ("zero", "subtract")


class Op(enum.Enum, shape=2):
    """Command of the neuron core, applied to one group of ``lanes`` neurons."""

    INIT = 0
    """``acc := b``: the state at the start of a sample (``u[-1] = 0, s[-1] = 0``)."""
    ACC = 1
    """``acc := acc + w``: add one weight word (one input event)."""
    UPDATE = 2
    """Clamp, fire, and prepare the next step: ``acc := leak(reset(u, s)) + b``."""


def accumulator_range(weights: Any, state_bits: int, bias: Any = None) -> tuple[int, int]:
    """Return the exact range ``[lo, hi]`` an accumulator of this layer can hold.

    The accumulator holds ``d + b_i + Σ_{j in S} W[i, j]`` for a subset ``S`` of the
    inputs, with ``d`` a leaked membrane (inside the ``state_bits`` range), so per
    neuron it lies between ``min_state + b_i + Σ_j min(W_ij, 0)`` and
    ``max_state + b_i + Σ_j max(W_ij, 0)``; the range is the union over neurons.
    """
    w = np.asarray(weights, dtype=np.int64)
    b = np.zeros(w.shape[0], np.int64) if bias is None else np.asarray(bias, np.int64)
    neg = np.minimum(w, 0).sum(axis=1) + b
    pos = np.maximum(w, 0).sum(axis=1) + b
    smin, smax = -(1 << (state_bits - 1)), (1 << (state_bits - 1)) - 1
    return smin + min(0, int(neg.min())), smax + max(0, int(pos.max()))


def accumulator_bits(weights: Any, state_bits: int, bias: Any = None) -> int:
    """Two's complement width of :func:`accumulator_range` (exact arithmetic, no rounding)."""
    return signed_bits_for(*accumulator_range(weights, state_bits, bias))


def _lanes_layout(shape: Any, lanes: int) -> data.ArrayLayout:
    return data.ArrayLayout(shape, lanes)


class NeuronCore(wiring.Component):
    """``lanes`` integer LIF neurons updated in parallel, one group of lanes per command.

    Neuron ``n = g * lanes + k`` lives in lane ``k`` of group ``g``
    (``groups = ceil(out_features / lanes)``). Each neuron has one accumulator word in
    the accumulator memory (``acc_bits`` per neuron, one row of ``lanes`` accumulators
    per group). Between input events the accumulator holds

        acc = d[t] + b + Σ_{inputs j fired so far at step t} W[n, j]

    where ``d[t]`` is the reset and leaked membrane of step ``t-1``. Commands
    (:class:`Op`), one group per cycle:

    * ``INIT``:   ``acc := b`` (all state zero at the start of a sample);
    * ``ACC``:    ``acc := acc + w`` with ``w`` the weight word on :attr:`weights`,
      presented one cycle after the command (the synapse ROM's read latency);
    * ``UPDATE``: ``u[t] = clamp(acc)`` to the ``state_bits`` range, ``s[t] = u[t] >= θ``
      (never, when ``fires`` is False), result out on :attr:`upd`; then the reset of
      step ``t+1`` is applied at once using this step's spike,
      ``r = u·(1-s)`` (zero) or ``r = u - θ·s`` (subtract) or ``r = u`` (non-firing),
      ``d[t+1] = r - (r >>> k)`` (arithmetic shift; ``d = r`` without leak) and
      ``acc := d[t+1] + b``. So each step's reset uses the previous step's spike and
      membrane exactly as contract §1 says, without storing the spike.

    The core is a two-stage pipeline: the command reads the accumulator (and bias) row;
    the next cycle computes and writes it back. The accumulator read port is transparent
    to the write port, so back-to-back commands to one group see each other's result. An
    ``UPDATE`` stalls in the second stage while :attr:`upd` is not ready; ``INIT`` and
    ``ACC`` never stall.

    Parameters
    ----------
    out_features : int
        Number of neurons, >= 1.
    lanes : int
        Neurons per group, 1..min(out_features, 64).
    weight_bits : int
        2..16.
    state_bits : int
        Membrane width ``B``, 2..32.
    acc_bits : int
        Accumulator width, state_bits..64 (see :func:`accumulator_bits`).
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

    Attributes
    ----------
    cmd : In(stream.Signature(StructLayout({"op": Op, "group": unsigned})))
    weights : In(ArrayLayout(signed(weight_bits), lanes))
    upd : Out(stream.Signature(StructLayout({"group", "spikes", "u"})))
    """

    @quiet_on_error
    def __init__(self, *, out_features: int, lanes: int, weight_bits: int, state_bits: int,
                 acc_bits: int, threshold: int, leak_shift: int | None = None,
                 reset: str = "zero", bias: Any = None, fires: bool = True) -> None:
        self._out_features = check_int(out_features, 1, 1 << 24, "Neuron count")
        from .synapse import MAX_LANES
        self._lanes = check_int(lanes, 1, min(self._out_features, MAX_LANES), "Lane count")
        self._weight_bits = check_int(weight_bits, 2, 16, "Weight width")
        self._state_bits = sb = check_int(state_bits, 2, 32, "Membrane width")
        self._acc_bits = check_int(acc_bits, sb, MAX_ACC_BITS, "Accumulator width")
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
        if self._bias is not None:
            lo, hi = int(self._bias.min()), int(self._bias.max())
            need = signed_bits_for(min(lo, 0) + smin, max(hi, 0) + smax)
            if self._acc_bits < need:
                raise ValueError(f"Accumulator width must be at least {need} for this bias "
                                 f"and membrane width, not {self._acc_bits}")
        self._fires = check_bool(fires, "Firing flag")
        self._groups = -(-self._out_features // self._lanes)
        self._bias_data = None
        if self._bias is not None:
            self._bias_data = MemoryData(shape=unsigned(self._lanes * sb),
                                         depth=max(2, self._groups),
                                         init=self._packed_bias())
        gshape = unsigned(index_bits(self._groups))
        self._cmd_layout = data.StructLayout({"op": Op, "group": gshape})
        self._upd_layout = data.StructLayout({
            "group": gshape,
            "spikes": unsigned(self._lanes),
            "u": _lanes_layout(signed(sb), self._lanes),
        })
        super().__init__({
            "cmd": In(stream.Signature(self._cmd_layout)),
            "weights": In(_lanes_layout(signed(self._weight_bits), self._lanes)),
            "upd": Out(stream.Signature(self._upd_layout)),
            "busy": Out(1),
        })

    def _packed_bias(self) -> list[int]:
        words = []
        mask = (1 << self._state_bits) - 1
        for g in range(self._groups):
            word = 0
            for k in range(self._lanes):
                n = g * self._lanes + k
                if n < self._out_features:
                    word |= (int(self._bias[n]) & mask) << (k * self._state_bits)
            words.append(word)
        return words

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
        """``ceil(out_features / lanes)``."""
        return self._groups

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
        """Accumulator width."""
        return self._acc_bits

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
        """Initial contents of the bias ROM (packed rows), or None without bias."""
        return self._bias_data

    @property
    def memory_depth(self) -> int:
        """Rows of the accumulator memory: ``groups``, at least 2 (no zero-width address)."""
        return max(2, self._groups)

    @property
    def memory_width(self) -> int:
        """Bits per accumulator row (``lanes * acc_bits``)."""
        return self._lanes * self._acc_bits

    # ------------------------------------------------------------------ hardware
    def elaborate(self, platform: Any) -> Module:
        """Build the accumulator memory, bias ROM and the two-stage datapath."""
        m = Module()
        L, G, sb, ab = self._lanes, self._groups, self._state_bits, self._acc_bits
        smin, smax = -(1 << (sb - 1)), (1 << (sb - 1)) - 1
        theta = self._threshold

        m.submodules.acc_mem = acc_mem = Memory(shape=unsigned(L * ab), depth=self.memory_depth,
                                                 init=[])
        wr = acc_mem.write_port()
        rd = acc_mem.read_port(transparent_for=(wr,))

        b_valid = Signal()
        b_op = Signal(Op)
        b_group = Signal.like(self.cmd.payload.group, name="b_group")
        b_fire = Signal()
        # Stage 3: the registered update result (u, spikes) offered on ``upd``. An UPDATE
        # leaves stage 2 (and is written back) when that register is free or being taken.
        c_valid = Signal()
        c_group = Signal.like(self.cmd.payload.group, name="c_group")
        c_spikes = Signal(L, name="c_spikes")
        c_u = Signal(_lanes_layout(signed(sb), L), name="c_u")
        m.d.comb += [
            b_fire.eq(b_valid & ((b_op != Op.UPDATE) | ~c_valid | self.upd.ready)),
            self.busy.eq(b_valid | c_valid),
            self.cmd.ready.eq(~b_valid | b_fire),
            rd.addr.eq(self.cmd.payload.group),
            rd.en.eq(self.cmd.ready),
        ]
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [b_valid.eq(1), b_op.eq(self.cmd.payload.op),
                         b_group.eq(self.cmd.payload.group)]
        with m.Elif(b_fire):
            m.d.sync += b_valid.eq(0)

        acc_rd = data.View(_lanes_layout(signed(ab), L), rd.data)
        if self._bias_data is not None:
            m.submodules.bias_rom = bias_rom = Memory(data=self._bias_data)
            bport = bias_rom.read_port()
            m.d.comb += [bport.addr.eq(self.cmd.payload.group), bport.en.eq(self.cmd.ready)]
            bias_rd = data.View(_lanes_layout(signed(sb), L), bport.data)
            bias_of = [bias_rd[k] for k in range(L)]
        else:
            bias_of = [Const(0, signed(2)) for _ in range(L)]

        wr_data = data.View(_lanes_layout(signed(ab), L), wr.data)
        m.d.comb += [wr.addr.eq(b_group), wr.en.eq(b_fire)]
        last_full = self._out_features - (G - 1) * L  # valid lanes of the last group
        spikes = []
        u_of = []
        for k in range(L):
            acc_k = acc_rd[k]
            # Timing: the clamp detects overflow from the sign-extension bits (no carry
            # chain), and the threshold compare and ``acc - θ`` run on the unclamped
            # accumulator in parallel with it. Exact: 1 <= θ <= smax, so
            # clamp(acc) >= θ iff acc >= θ, and a firing in-range acc has u - θ = acc - θ.
            acc_lo = Signal(signed(sb), name=f"acc_lo_{k}")
            m.d.comb += acc_lo.eq(acc_k[:sb])
            over = Signal(name=f"over_{k}")
            under = Signal(name=f"under_{k}")
            if ab > sb:
                top = acc_k[sb - 1:]
                m.d.comb += [over.eq(~acc_k[ab - 1] & top.any()),
                             under.eq(acc_k[ab - 1] & ~top.all())]
            u = Signal(signed(sb), name=f"u_{k}")
            m.d.comb += u.eq(Mux(over, smax, Mux(under, smin, acc_lo)))
            u_of.append(u)
            do_fire = Signal(name=f"do_fire_{k}")
            if self._fires:
                lane_ok = 1 if k < last_full else (b_group != G - 1)
                m.d.comb += do_fire.eq((acc_k >= theta) & lane_ok)
            r = Signal(signed(sb + 1), name=f"reset_{k}")
            if not self._fires:
                m.d.comb += r.eq(u)
            elif self._reset == "zero":
                m.d.comb += r.eq(Mux(do_fire, 0, u))
            else:
                m.d.comb += r.eq(Mux(do_fire, Mux(over, smax - theta, acc_lo - theta), u))
            d = Signal(signed(sb + 1), name=f"leak_{k}")
            if self._leak_shift is None:
                m.d.comb += d.eq(r)
            else:
                m.d.comb += d.eq(r - (r >> self._leak_shift))
            acc_next = Signal(signed(ab), name=f"acc_next_{k}")
            m.d.comb += acc_next.eq(d + bias_of[k])
            with m.Switch(b_op):
                with m.Case(Op.INIT):
                    m.d.comb += wr_data[k].eq(bias_of[k])
                with m.Case(Op.ACC):
                    m.d.comb += wr_data[k].eq(acc_k + self.weights[k])
                with m.Default():
                    m.d.comb += wr_data[k].eq(acc_next)
            spikes.append(do_fire)
        b_upd = b_fire & (b_op == Op.UPDATE)
        with m.If(b_upd):
            m.d.sync += [c_valid.eq(1), c_group.eq(b_group), c_spikes.eq(Cat(*spikes))]
            m.d.sync += [c_u[k].eq(u_of[k]) for k in range(L)]
        with m.Elif(self.upd.ready):
            m.d.sync += c_valid.eq(0)
        m.d.comb += [
            self.upd.valid.eq(c_valid),
            self.upd.payload.group.eq(c_group),
            self.upd.payload.spikes.eq(c_spikes),
            self.upd.payload.u.eq(c_u),
        ]
        return m
