"""Synapse memory: one layer's integer weights, packed ``lanes`` per word, in block RAM."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from amaranth.hdl import MemoryData, Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hwplan import MAX_LANES, MAX_WORD_BITS, SynapsePlan, pack_synapse_words, synapse_plan
from pysim import WEIGHT_BITS_RANGE

from ._logic import mux_tree
from ._params import check_int, check_int_array, quiet_on_error

__all__ = ["SynapseMemory", "SynapseWritePort"]


@dataclass(frozen=True)
class SynapseWritePort:
    """The run-time write port of a :class:`SynapseMemory` (see ``add_write_port``)."""

    addr: Signal
    data: Signal
    en: Signal


class SynapseMemory(wiring.Component):
    """A layer's weights as a synchronous-read ROM, ``lanes`` weights per word.

    The word at address ``j * groups + g`` holds ``W[g * lanes + k, j]`` in lane ``k``
    (see :func:`hwplan.pack_synapse_words`), so one input event ``j`` reads ``groups``
    consecutive words. Data appears one cycle after the address (``en`` high); with ``en`` low the
    output holds. The memory carries ``ram_style = "block"`` so synthesis maps it to
    block RAM; its width is ``lanes * weight_bits``, so narrower weights give a smaller
    memory, not only narrower arithmetic.

    Parameters
    ----------
    weights : int array (out_features, in_features)
        Signed ``weight_bits``-bit integers.
    weight_bits : int
        2..16.
    lanes : int
        Weights per word, 1..min(out_features, 64), with ``lanes * weight_bits <= 1024``.

    Attributes
    ----------
    addr : In(unsigned(addr_bits))
    en : In(1)
    data : Out(ArrayLayout(signed(weight_bits), lanes))
    """

    @quiet_on_error
    def __init__(self, *, weights: Any, weight_bits: int, lanes: int) -> None:
        self._weight_bits = check_int(weight_bits, *WEIGHT_BITS_RANGE, "Weight width")
        lo, hi = -(1 << (self._weight_bits - 1)), (1 << (self._weight_bits - 1)) - 1
        w = check_int_array(weights, (None, None), lo, hi, "Weights")
        self._weights = w
        out_features, in_features = w.shape
        self._lanes = check_int(lanes, 1, min(out_features, MAX_LANES), "Lane count")
        if self._lanes * self._weight_bits > MAX_WORD_BITS:
            raise ValueError(f"Word width (lanes * weight width) must be at most "
                             f"{MAX_WORD_BITS}, not {self._lanes * self._weight_bits}")
        self._plan = synapse_plan(in_features, out_features, self._weight_bits, self._lanes)
        mem = self._plan.memory
        self._mem_data = MemoryData(
            shape=unsigned(mem.width), depth=mem.depth,
            init=pack_synapse_words(w, self._weight_bits, self._lanes),
        )
        self._write: SynapseWritePort | None = None
        super().__init__({
            "addr": In(unsigned(self._plan.memory.addr_bits)),
            "en": In(1, init=1),
            "data": Out(data.ArrayLayout(signed(self._weight_bits), self._lanes)),
        })

    # ------------------------------------------------------------------ properties
    @property
    def weights(self) -> np.ndarray:
        """The weight matrix (a copy), int64 (out_features, in_features)."""
        return self._weights.copy()

    @property
    def weight_bits(self) -> int:
        """Width of one weight."""
        return self._weight_bits

    @property
    def lanes(self) -> int:
        """Weights per memory word."""
        return self._lanes

    @property
    def in_features(self) -> int:
        """Number of layer inputs."""
        return int(self._weights.shape[1])

    @property
    def out_features(self) -> int:
        """Number of layer neurons."""
        return int(self._weights.shape[0])

    @property
    def plan(self) -> SynapsePlan:
        """The memory's plan (groups, depth, width, banks; see :mod:`hwplan`)."""
        return self._plan

    @property
    def groups(self) -> int:
        """Words per input: ``ceil(out_features / lanes)``."""
        return self._plan.groups

    @property
    def depth(self) -> int:
        """Number of words: ``in_features * groups``, at least 2 (no zero-width address)."""
        return self._plan.memory.depth

    @property
    def width(self) -> int:
        """Bits per word: ``lanes * weight_bits``."""
        return self._plan.memory.width

    @property
    def bits(self) -> int:
        """Total memory bits: ``in_features * groups * width``."""
        return self._plan.memory.bits

    @property
    def mem_data(self) -> MemoryData:
        """The memory's geometry and initial contents (packed words)."""
        return self._mem_data

    @property
    def banks(self) -> list[int]:
        """Depths of the ROM's banks (see :data:`hwplan.BANK_WORDS`)."""
        return list(self._plan.memory.banks)

    @property
    def latency(self) -> int:
        """Cycles from the address to the data: 1, or 2 when the ROM is banked."""
        return self._plan.latency

    def add_write_port(self) -> SynapseWritePort:
        """Make the memory writable at run time (a RAM with its initial contents) and
        return its write port: ``addr``, ``data`` (a packed word, as
        :func:`hwplan.pack_synapse_words` lays it out) and ``en`` (write this cycle).

        Without this call (the default) the memory stays a ROM and the Verilog is
        unchanged. The owner must not write while the layer runs (the wrapper refuses).
        """
        if self._write is None:
            mem = self._plan.memory
            self._write = SynapseWritePort(
                addr=Signal(unsigned(mem.addr_bits), name="wr_addr"),
                data=Signal(unsigned(mem.width), name="wr_data"),
                en=Signal(name="wr_en"))
        return self._write

    def _connect_write(self, m: Module, mem: Memory, lo: int, bits: int, bank: int | None
                       ) -> None:
        wr = self._write
        if wr is None:
            return
        port = mem.write_port()
        sel = 1 if bank is None else (wr.addr[lo:] == bank)
        m.d.comb += [port.addr.eq(wr.addr[:bits]), port.data.eq(wr.data),
                     port.en.eq(wr.en & sel)]

    def elaborate(self, platform: Any) -> Module:
        """Build the ROM (or its banks) and the synchronous read path."""
        m = Module()
        banks = self.banks
        if len(banks) == 1:
            m.submodules.rom = rom = Memory(data=self._mem_data, attrs={"ram_style": "block"})
            port = rom.read_port()
            m.d.comb += [
                port.addr.eq(self.addr),
                port.en.eq(self.en),
                self.data.as_value().eq(port.data),
            ]
            self._connect_write(m, rom, 0, len(port.addr), None)
            return m
        words = list(self._mem_data.init)
        lo_bits = self._plan.bank_select_lsb
        bank_words = 1 << lo_bits
        sel1 = Signal(range(len(banks)), name="bank_sel")
        sel2 = Signal(range(len(banks)), name="bank_sel_q")
        outs = []
        for b, depth in enumerate(banks):
            data = MemoryData(shape=self._mem_data.shape, depth=max(2, depth),
                              init=words[b * bank_words:b * bank_words + depth])
            mem = Memory(data=data, attrs={"ram_style": "block"})
            m.submodules[f"rom_{b}"] = mem
            port = mem.read_port()
            q = Signal(self._mem_data.shape, name=f"bank_q_{b}")
            m.d.comb += [port.addr.eq(self.addr[:len(port.addr)]),
                         port.en.eq(self.en)]
            self._connect_write(m, mem, lo_bits, len(port.addr), b)
            with m.If(self.en):
                m.d.sync += q.eq(port.data)
            outs.append(q)
        with m.If(self.en):
            m.d.sync += [sel1.eq(self.addr[lo_bits:]), sel2.eq(sel1)]
        m.d.comb += self.data.as_value().eq(mux_tree(outs, sel2))
        return m
