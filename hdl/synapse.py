"""Synapse memory: one layer's integer weights, packed ``lanes`` per word, in block RAM."""
from __future__ import annotations

from typing import Any

import numpy as np
from amaranth.hdl import MemoryData, Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._logic import mux_tree
from ._params import ceil_log2, check_int, check_int_array, quiet_on_error

__all__ = ["BANK_WORDS", "MAX_LANES", "MAX_WORD_BITS", "SynapseMemory", "bank_depths",
           "pack_weights"]

MAX_LANES = 64
"""Most parallel lanes (neurons updated per cycle) the generator builds."""
MAX_WORD_BITS = 1024
"""Widest synapse-memory word (``lanes * weight_bits``) the generator builds."""
BANK_WORDS = 2048
"""A synapse memory deeper than this is built as banks of this many words, each with a
registered output, and a multiplexer after those registers (one more cycle of read
latency): the block RAM's clock-to-out and the depth multiplexer are then in different
cycles."""


def bank_depths(depth: int) -> list[int]:
    """Depths of the banks of a synapse memory of ``depth`` words (one bank if shallow)."""
    if depth <= BANK_WORDS:
        return [depth]
    full, rest = divmod(depth, BANK_WORDS)
    return [BANK_WORDS] * full + ([rest] if rest else [])


def pack_weights(weights: np.ndarray, weight_bits: int, lanes: int) -> list[int]:
    """Pack a weight matrix into synapse-memory words.

    Word ``j * G + g`` (``G = ceil(out / lanes)``) holds the weights from input ``j`` to
    neurons ``g * lanes + k`` for ``k = 0 .. lanes-1``; lane ``k`` occupies bits
    ``[k * weight_bits, (k + 1) * weight_bits)`` in two's complement. Lanes past the last
    neuron hold 0.

    Parameters
    ----------
    weights : int array (out_features, in_features)
    weight_bits : int
    lanes : int

    Returns
    -------
    list of int
        ``in_features * G`` unsigned words of ``lanes * weight_bits`` bits.
    """
    w = np.asarray(weights, dtype=np.int64)
    out_features, in_features = w.shape
    groups = -(-out_features // lanes)
    padded = np.zeros((groups * lanes, in_features), np.int64)
    padded[:out_features] = w
    mask = (1 << weight_bits) - 1
    words = []
    for j in range(in_features):
        col = padded[:, j]
        for g in range(groups):
            word = 0
            for k in range(lanes):
                word |= (int(col[g * lanes + k]) & mask) << (k * weight_bits)
            words.append(word)
    return words


class SynapseMemory(wiring.Component):
    """A layer's weights as a synchronous-read ROM, ``lanes`` weights per word.

    The word at address ``j * groups + g`` holds ``W[g * lanes + k, j]`` in lane ``k``
    (see :func:`pack_weights`), so one input event ``j`` reads ``groups`` consecutive
    words. Data appears one cycle after the address (``en`` high); with ``en`` low the
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
        self._weight_bits = check_int(weight_bits, 2, 16, "Weight width")
        lo, hi = -(1 << (self._weight_bits - 1)), (1 << (self._weight_bits - 1)) - 1
        w = check_int_array(weights, (None, None), lo, hi, "Weights")
        self._weights = w
        out_features, in_features = w.shape
        self._lanes = check_int(lanes, 1, min(out_features, MAX_LANES), "Lane count")
        if self._lanes * self._weight_bits > MAX_WORD_BITS:
            raise ValueError(f"Word width (lanes * weight width) must be at most "
                             f"{MAX_WORD_BITS}, not {self._lanes * self._weight_bits}")
        self._groups = -(-out_features // self._lanes)
        self._depth = in_features * self._groups
        self._mem_data = MemoryData(
            shape=unsigned(self._lanes * self._weight_bits), depth=max(2, self._depth),
            init=pack_weights(w, self._weight_bits, self._lanes),
        )
        super().__init__({
            "addr": In(unsigned(ceil_log2(max(2, self._depth)))),
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
    def groups(self) -> int:
        """Words per input: ``ceil(out_features / lanes)``."""
        return self._groups

    @property
    def depth(self) -> int:
        """Number of words: ``in_features * groups``, at least 2 (no zero-width address)."""
        return max(2, self._depth)

    @property
    def width(self) -> int:
        """Bits per word: ``lanes * weight_bits``."""
        return self._lanes * self._weight_bits

    @property
    def bits(self) -> int:
        """Total memory bits: ``depth * width``."""
        return self._depth * self.width

    @property
    def mem_data(self) -> MemoryData:
        """The memory's geometry and initial contents (packed words)."""
        return self._mem_data

    @property
    def banks(self) -> list[int]:
        """Depths of the ROM's banks (see :data:`BANK_WORDS`)."""
        return bank_depths(self.depth)

    @property
    def latency(self) -> int:
        """Cycles from the address to the data: 1, or 2 when the ROM is banked."""
        return 1 if len(self.banks) == 1 else 2

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
            return m
        words = list(self._mem_data.init)
        lo_bits = ceil_log2(BANK_WORDS)
        sel1 = Signal(range(len(banks)), name="bank_sel")
        sel2 = Signal(range(len(banks)), name="bank_sel_q")
        outs = []
        for b, depth in enumerate(banks):
            data = MemoryData(shape=self._mem_data.shape, depth=max(2, depth),
                              init=words[b * BANK_WORDS:b * BANK_WORDS + depth])
            mem = Memory(data=data, attrs={"ram_style": "block"})
            m.submodules[f"rom_{b}"] = mem
            port = mem.read_port()
            q = Signal(self._mem_data.shape, name=f"bank_q_{b}")
            m.d.comb += [port.addr.eq(self.addr[:ceil_log2(max(2, depth))]),
                         port.en.eq(self.en)]
            with m.If(self.en):
                m.d.sync += q.eq(port.data)
            outs.append(q)
        with m.If(self.en):
            m.d.sync += [sel1.eq(self.addr[lo_bits:]), sel2.eq(sel1)]
        m.d.comb += self.data.as_value().eq(mux_tree(outs, sel2))
        return m
