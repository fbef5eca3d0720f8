"""Plan entries of convolutional networks: the conv2d layer and the sum-pool between layers.

A conv2d layer is a :class:`Conv2dLayerPlan` (kind ``"conv2d"``, registered in
:data:`hwplan.plan.LAYER_KINDS`). A sum-pool has no neurons and no memory: it is address
arithmetic on the events entering the layer after it, so it is a field of that
consumer's plan (:class:`PoolPlan`, ``pool`` of a :class:`Conv2dLayerPlan` or a
:class:`~hwplan.plan.DenseLayerPlan`). The plan's ``layers`` are therefore exactly the
layers with neurons (``IntNetwork.neuron_layers``), one tap each.

Everything the generator, the cost model and the testbenches need is here: the weight
ROM (``C_in * KH * KW * G`` words of ``lanes`` output channels), the accumulator RAM
(``G * OH * OW`` words of ``lanes`` step sums), the membrane RAM (``O * OH * OW`` words
at the state width), the exact widths, the per-row tap tables of the address generator,
the pool's window tables, the hazard distance of the accumulate pipeline and the cycle
formulas per event and per step (see docs/hardware.md, "The conv2d layer").
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pysim import Conv2dLayer, SumPool2dLayer
from pysim.util import ceil_div, index_bits, signed_bits_for

from .plan import (
    DEFAULT_MAX_LANES,
    DEFAULT_WORD_BITS,
    LAYER_KINDS,
    WATCHDOG_SLACK,
    MemoryPlan,
)

__all__ = [
    "CONV_HAZARD_DISTANCE",
    "CONV_STEP_OVERHEAD",
    "CONV_UPDATE_LATENCY",
    "Conv2dLayerPlan",
    "PoolPlan",
    "conv_accumulator_copies",
    "conv_default_lanes",
    "conv_input_fifo",
    "conv_layer_plan",
    "max_membrane_units",
    "membrane_units",
    "pack_conv_weight_words",
    "pool_plan",
]

CONV_HAZARD_DISTANCE = 2
"""An accumulate command reads its word in the cycle it issues and writes the sum two
cycles later; a command to a word one of the two commands issued just before it is
still summing would read the old value, so it waits (at most this many cycles)."""
CONV_UPDATE_LATENCY = 6
"""Cycles from issuing a neuron of the per-step update until its membrane is written."""
CONV_ACC_LATENCY = 3
"""Cycles from issuing an accumulate command until its sum is written."""
CONV_STEP_OVERHEAD = CONV_ACC_LATENCY + 1
"""Cycles per step a layer's critical path pays besides its work: the marker, and the
accumulate pipeline's drain before the step is handed to the walk."""


CONV_FIFO_WORDS = 512
"""Most words of a conv layer's input FIFO (one 18-Kbit block of index + marker bits)."""


ACC_BLOCK_WORDS = 512
"""Depth of an 18-Kbit block RAM in its widest (36-bit) mode."""


def conv_accumulator_copies(words: int) -> int:
    """Step buffers of a conv layer whose accumulator has ``words`` words per buffer: 2
    (the walk of step t overlaps the accumulation of step t+1) when both buffers fit the
    block depth of one (``ceil(2 words / 512) == ceil(words / 512)``: the second buffer
    and the second copy cost no block RAM beyond the copy and no depth multiplexer), else
    1 (a deep map: two buffers would add depth multiplexers in front of the adders and
    the walk, measured +588 LUT4 on the trained MNIST network, and block RAM)."""
    return 2 if ceil_div(2 * words, ACC_BLOCK_WORDS) == ceil_div(words, ACC_BLOCK_WORDS) else 1


def conv_input_fifo(upstream_neurons: int) -> int:
    """Words of the input FIFO of a conv layer fed by a layer of ``upstream_neurons``: the
    next power of two, at most :data:`CONV_FIFO_WORDS` (at least 4). The upstream walk
    emits its spikes in bursts (a channel at a time) while each event costs this layer
    ``taps * G`` cycles; the FIFO lets the walk run on and this layer work through the
    backlog in the quiet stretches instead of both waiting on each other."""
    return max(4, min(CONV_FIFO_WORDS, 1 << max(0, int(upstream_neurons) - 1).bit_length()))


_BLOCK_MODES = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))
"""Depth x width modes of an 18-Kbit block RAM (ECP5 DP16KD, Xilinx RAMB18)."""
MAX_MEMBRANE_UNITS = 8
"""Most neurons :func:`membrane_units` packs into one membrane word."""
MAX_MEMBRANE_WORD_BITS = 108
"""Widest membrane word :func:`membrane_units` packs: six 18-bit block columns (e.g.
seven 15-bit states, 105 bits). The word costs a slot multiplexer on the read side only
(the write side collects the slots in a shift register)."""


def max_membrane_units(state_bits: int) -> int:
    """Most neurons of ``state_bits`` a membrane word may hold (:data:`MAX_MEMBRANE_UNITS`,
    :data:`MAX_MEMBRANE_WORD_BITS`)."""
    return min(MAX_MEMBRANE_UNITS, max(1, MAX_MEMBRANE_WORD_BITS // int(state_bits)))


def _blocks_18k(depth: int, width: int) -> int:
    """18-Kbit blocks of a ``depth`` x ``width`` RAM in its cheapest mode."""
    return min(ceil_div(depth, d) * ceil_div(width, w) for d, w in _BLOCK_MODES)


def membrane_units(neurons: int, state_bits: int) -> int:
    """Neurons per membrane word: the packing ``U`` (1..8, words of at most
    :data:`MAX_MEMBRANE_WORD_BITS` bits) with the fewest 18-Kbit blocks for
    ``ceil(neurons / U)`` words of ``U * state_bits`` bits (fewest neurons per word on a
    tie). E.g. 12-bit states pack three to a 36-bit word, so a 4608-neuron map takes 3
    blocks instead of 5; 6,912 15-bit states pack seven to a 105-bit word, 6 blocks
    instead of 7."""
    best = None
    for u in range(1, max_membrane_units(state_bits) + 1):
        cost = _blocks_18k(ceil_div(neurons, u), u * state_bits)
        if best is None or cost < best[0]:
            best = (cost, u)
    return best[1] if best else 1


def _window_table(n_in: int, kernel: int, stride: int, n_out: int) -> list[tuple[int, int]]:
    """For every input coordinate ``y < n_in``: ``(first window, windows)`` containing it:
    ``{p : p * stride <= y < p * stride + kernel, 0 <= p < n_out}`` (a run, maybe empty)."""
    table = []
    for y in range(n_in):
        lo = max(0, ceil_div(y - kernel + 1, stride)) if y >= kernel else 0
        hi = min(n_out - 1, y // stride)
        table.append((lo, hi - lo + 1) if hi >= lo else (0, 0))
    return table


def _tap_table(n_in: int, kernel: int, stride: int, pad: int, n_out: int
               ) -> list[tuple[int, int, int]]:
    """For every input coordinate ``y``: ``(i0, taps, o0)``: the kernel rows ``i = i0,
    i0 + stride, ...`` (``taps`` of them) that reach an output row, ``o0`` the output row
    of ``i0`` (each further tap reaches the row above: ``o = o0 - a``).

    Output row ``o`` reads input row ``o * stride + i - pad``, so input ``y`` reaches
    ``o = (y + pad - i) / stride`` for every ``i`` that makes this an integer in
    ``[0, n_out)``."""
    table = []
    for y in range(n_in):
        taps = [(i, (y + pad - i) // stride) for i in range(kernel)
                if (y + pad - i) % stride == 0 and 0 <= (y + pad - i) // stride < n_out]
        table.append((taps[0][0], len(taps), taps[0][1]) if taps else (0, 0, 0))
    return table


@dataclass(frozen=True)
class PoolPlan:
    """A sum-pool applied to the events entering a layer (address arithmetic, no state).

    A spike at input ``(c, y, x)`` becomes one event at ``(c, py, px)`` for every window
    ``(py, px)`` containing it (:meth:`row_windows`, :meth:`col_windows`): one event when
    the windows tile the map, several with ``stride < kernel``, none for a position the
    floor of the output size leaves out. Several spikes in one window are several events:
    the consumer's synapses add the weight once per spike, which is the window's count.
    """

    name: str
    in_shape: tuple[int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """``(C, (H - KH) // SH + 1, (W - KW) // SW + 1)``."""
        c, h, w = self.in_shape
        return (c, (h - self.kernel[0]) // self.stride[0] + 1,
                (w - self.kernel[1]) // self.stride[1] + 1)

    @property
    def in_size(self) -> int:
        """Flat size of the pool's input map."""
        return int(np.prod(self.in_shape))

    @property
    def out_size(self) -> int:
        """Flat size of the pooled map."""
        return int(np.prod(self.out_shape))

    @property
    def max_count(self) -> int:
        """Largest value of a pooled count (a full window): ``KH * KW``."""
        return self.kernel[0] * self.kernel[1]

    @property
    def max_windows(self) -> int:
        """Most events one input spike becomes (windows containing one position)."""
        return (max(n for _, n in self.row_windows()) * max(n for _, n in self.col_windows()))

    @property
    def tiles(self) -> bool:
        """The windows tile the map (stride == kernel): at most one event per spike."""
        return self.kernel == self.stride

    def row_windows(self) -> list[tuple[int, int]]:
        """Per input row ``y``: ``(first pooled row, pooled rows)`` containing it."""
        return _window_table(self.in_shape[1], self.kernel[0], self.stride[0],
                             self.out_shape[1])

    def col_windows(self) -> list[tuple[int, int]]:
        """Per input column ``x``: ``(first pooled column, pooled columns)``."""
        return _window_table(self.in_shape[2], self.kernel[1], self.stride[1],
                             self.out_shape[2])

    def apply(self, x: Any) -> np.ndarray:
        """Pooled counts of spikes ``x`` (..., C*H*W) -> int64 (..., C*OH*OW): the
        floor semantics of docs/semantics.md (the events this plan's hardware sends)."""
        a = np.asarray(x, dtype=np.int64)
        c, h, w = self.in_shape
        _, oh, ow = self.out_shape
        (kh, kw), (sh, sw) = self.kernel, self.stride
        m = a.reshape(*a.shape[:-1], c, h, w)
        out = np.zeros((*a.shape[:-1], c, oh, ow), np.int64)
        for i in range(kh):
            for j in range(kw):
                out += m[..., i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw]
        return out.reshape(*a.shape[:-1], c * oh * ow)

    @property
    def in_index_bits(self) -> int:
        """Width of the index of the pool's input events."""
        return index_bits(self.in_size)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (the ``pool`` field of the consumer's plan entry)."""
        return {"name": self.name, "in_shape": list(self.in_shape),
                "kernel": list(self.kernel), "stride": list(self.stride),
                "out_shape": list(self.out_shape), "max_count": self.max_count,
                "max_windows": self.max_windows, "tiles": self.tiles}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PoolPlan:
        """Inverse of :meth:`as_dict`."""
        c, h, w = (int(v) for v in d["in_shape"])
        kh, kw = (int(v) for v in d["kernel"])
        sh, sw = (int(v) for v in d["stride"])
        return cls(name=str(d["name"]), in_shape=(c, h, w), kernel=(kh, kw), stride=(sh, sw))


def pool_plan(layer: SumPool2dLayer) -> PoolPlan:
    """The plan of a sum-pool layer (applied by the next layer)."""
    stride = layer.stride if layer.stride is not None else layer.kernel
    return PoolPlan(name=layer.name, in_shape=tuple(int(v) for v in layer.in_shape),
                    kernel=tuple(int(v) for v in layer.kernel),
                    stride=tuple(int(v) for v in stride))


def conv_default_lanes(layer: Conv2dLayer) -> int:
    """Default lanes of a conv layer: every output channel in parallel (one group) when
    ``O * weight_bits`` fits :data:`~hwplan.plan.DEFAULT_WORD_BITS` and ``O <=``
    :data:`~hwplan.plan.DEFAULT_MAX_LANES`, else the fewest groups that fit, balanced."""
    o = layer.out_channels
    cap = max(1, min(o, DEFAULT_MAX_LANES, DEFAULT_WORD_BITS // layer.weight_bits))
    groups = ceil_div(o, cap)
    return ceil_div(o, groups)


@dataclass(frozen=True)
class ConvWeightsView:
    """The weight ROM of a conv layer where a dense plan has its ``synapse``."""

    memory: MemoryPlan
    latency: int = 1


@dataclass(frozen=True)
class ConvCoreView:
    """The accumulator (with its tags) and membrane RAM of a conv layer where a dense plan
    has ``core``."""

    accumulator: MemoryPlan
    membrane: MemoryPlan
    tags: MemoryPlan | None = None
    bias: MemoryPlan | None = None
    last_row_neurons: int = 1
    update_latency: int = CONV_UPDATE_LATENCY


@dataclass(frozen=True)
class Conv2dLayerPlan:
    """Plan of one event-driven conv2d layer.

    Dataflow (docs/hardware.md, "The conv2d layer"): an input event ``(c, y, x)`` (a
    pooled address when :attr:`pool` is set) issues one accumulate command per in-bounds
    kernel tap and output-channel group, ``taps(y, x) * G`` commands back to back; the
    step's marker then starts the update walk over all ``O * OH * OW`` neurons in flat
    (channel-major) order, one per cycle, which emits the spikes in ascending order.

    Memories: weight ROM word ``((c * KH + i) * KW + j) * G + g`` holds ``W[g*L + k, c,
    i, j]`` in lane ``k``; accumulator RAM word ``2 * a + (t % 2)``, ``a = g * OH * OW + oy *
    OW + ox``, holds step t's synaptic sums of channels ``g*L .. g*L+L-1`` at ``(oy, ox)``
    (two buffers by step parity, stored twice: one copy per reader; a word is valid when
    its bit in the buffer's :attr:`tags` RAM is set, which the update walk clears after
    its last lane is read); membrane RAM word ``(n + F) // U`` holds ``u[t-1]`` of
    neurons ``n = o * OH * OW + oy * OW + ox`` with ``(n + F) % U`` its slot (``U`` =
    :attr:`membrane_units` neurons per word, ``F`` = :attr:`membrane_offset`: a partial
    word is the first, filled from its top slot down, so every word ends at slot
    ``U - 1``).

    Cycle formulas (``a_t = w_t * G``, ``w_t`` = step t's accumulate work ``Σ_events
    taps``; each command and each neuron costs one cycle):

    * :meth:`sample_cycles_bound`: with two accumulator buffers (the default) the walk of
      step t-1 runs while step t accumulates, ``a_0 + Σ_{t>=1} max(a_t, rows) + rows``;
      with one ``Σ_t (a_t + rows)``; :meth:`step_cycles_bound` is the per-step term;
    * :meth:`sample_cycles_model`: the bound plus the fixed costs of the controller
      (:data:`CONV_STEP_OVERHEAD` per step where the accumulation is the critical path,
      the last walk's pipeline);
    * :meth:`step_cycles_worst`: every input position fires (at the pool's maximum count)
      and every neuron emits one beat, plus slack (watchdogs).
    """

    kind: ClassVar[str] = "conv2d"

    name: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    weight_bits: int
    state_bits: int
    fires: bool
    has_bias: bool
    weight_memory_bits: int
    lanes: int
    groups: int
    acc_bits: int
    syn_bias_bits: int
    sum_bits: int
    weights: MemoryPlan
    accumulator: MemoryPlan
    membrane: MemoryPlan
    pool: PoolPlan | None = None
    membrane_units: int = 1
    """Neurons per membrane word (:func:`membrane_units`); the walk still updates one
    neuron per cycle, reading its word (a ``U``-way slot multiplexer) and writing the word
    as its last slot arrives (the slots collected in a shift register)."""
    input_fifo: int = 0
    """Words of the FIFO in front of the decoder (0: none; :func:`conv_input_fifo`)."""

    @property
    def membrane_offset(self) -> int:
        """``F = words * U - neurons``: the empty low slots of the first membrane word
        (neuron ``n`` is at word ``(n + F) // U``, slot ``(n + F) % U``)."""
        return self.membrane.words * self.membrane_units - self.out_features

    # ---- geometry
    @property
    def in_channels(self) -> int:
        """``C``."""
        return self.in_shape[0]

    @property
    def out_channels(self) -> int:
        """``O``."""
        return self.out_shape[0]

    @property
    def positions(self) -> int:
        """``P = OH * OW``: output positions per channel."""
        return self.out_shape[1] * self.out_shape[2]

    @property
    def in_features(self) -> int:
        """Flat size of the layer's input map (after the pool): ``C * H * W``."""
        return int(np.prod(self.in_shape))

    @property
    def out_features(self) -> int:
        """Neurons: ``O * OH * OW``."""
        return int(np.prod(self.out_shape))

    @property
    def stream_in_features(self) -> int:
        """Flat size of what arrives on the input stream (the pool's input, if any)."""
        return self.pool.in_size if self.pool is not None else self.in_features

    @property
    def update_units(self) -> int:
        """Neurons updated per cycle: 1 (the walk is in flat order)."""
        return 1

    @property
    def rows(self) -> int:
        """Update cycles per step: one per neuron."""
        return self.out_features

    @property
    def last_row_neurons(self) -> int:
        """Neurons in the last update row: 1."""
        return 1

    @property
    def update_latency(self) -> int:
        """See :data:`CONV_UPDATE_LATENCY`."""
        return CONV_UPDATE_LATENCY

    @property
    def hazard_distance(self) -> int:
        """See :data:`CONV_HAZARD_DISTANCE`."""
        return CONV_HAZARD_DISTANCE

    @property
    def in_index_bits(self) -> int:
        """Width of the index of the layer's input events (before the pool)."""
        return index_bits(self.stream_in_features)

    @property
    def out_index_bits(self) -> int:
        """Width of the index of the layer's output events."""
        return index_bits(self.out_features)

    @property
    def tags(self) -> MemoryPlan:
        """The accumulator's tag RAMs, one per step buffer: one bit per word ("written
        this step"), set by the accumulation, cleared by the walk; a word whose tag is 0
        reads as zero sums."""
        words = self.groups * self.positions
        return MemoryPlan(role="tags", depth=max(2, words), width=1, words=words,
                          copies=self.accumulator.copies)

    @property
    def memories(self) -> tuple[MemoryPlan, ...]:
        """Weight ROM, accumulator RAM, its tag RAM, membrane RAM."""
        return (self.weights, self.accumulator, self.tags, self.membrane)

    @property
    def membrane_efficiency(self) -> float:
        """Membrane RAM word bits / (neurons x state bits) (above 1.0 only by the unused
        neurons of the last packed word)."""
        return self.membrane.bits / (self.out_features * self.state_bits)

    # ---- views shaped like a dense plan's parts (tables and cost read them alike)
    @property
    def synapse(self) -> ConvWeightsView:
        """The weight ROM as a dense plan's ``synapse`` (``memory``, ``latency``)."""
        return ConvWeightsView(memory=self.weights)

    @property
    def core(self) -> ConvCoreView:
        """The read-write memories as a dense plan's ``core``."""
        return ConvCoreView(accumulator=self.accumulator, membrane=self.membrane,
                            tags=self.tags)

    # ---- the address generator's tables
    def row_taps(self) -> list[tuple[int, int, int]]:
        """Per input row ``y``: ``(i0, taps, oy0)`` (see the module's tap rule)."""
        return _tap_table(self.in_shape[1], self.kernel[0], self.stride[0],
                          self.padding[0], self.out_shape[1])

    def col_taps(self) -> list[tuple[int, int, int]]:
        """Per input column ``x``: ``(j0, taps, ox0)``."""
        return _tap_table(self.in_shape[2], self.kernel[1], self.stride[1],
                          self.padding[1], self.out_shape[2])

    def taps_map(self) -> np.ndarray:
        """In-bounds taps of an event at every input position, int64 (H * W,)."""
        r = np.array([n for _, n, _ in self.row_taps()], np.int64)
        c = np.array([n for _, n, _ in self.col_taps()], np.int64)
        return np.outer(r, c).reshape(-1)

    @property
    def max_taps(self) -> int:
        """Most in-bounds taps of one event."""
        return int(self.taps_map().max())

    def step_work(self, x: Any) -> np.ndarray:
        """Accumulate work ``Σ_events taps`` per step of the layer's input ``x`` (N, T,
        in_features) (counts after the pool are that many events), int64 (N, T)."""
        a = np.asarray(x, dtype=np.int64)
        c, h, w = self.in_shape
        per_pos = a.reshape(*a.shape[:-1], c, h * w).sum(axis=-2)
        return per_pos @ self.taps_map()

    def step_events(self, x: Any) -> np.ndarray:
        """Input events per step (after the pool), int64 (N, T)."""
        return np.asarray(x, dtype=np.int64).sum(axis=-1)

    # ---- cycles
    @property
    def accumulator_copies(self) -> int:
        """Step buffers: 2 (the walk of step t overlaps the accumulation of step t+1) or
        1 (they take turns)."""
        return self.accumulator.copies

    def step_cycles_bound(self, work: Any) -> Any:
        """Per-step term of :meth:`sample_cycles_bound` (array ok): ``max(work * G,
        rows)`` with two buffers (the walk of the step before runs beside this step's
        accumulation), ``work * G + rows`` with one."""
        if self.accumulator_copies == 1:
            return work * self.groups + self.rows
        return np.maximum(work * self.groups, self.rows)

    def step_cycles_model(self, work: Any) -> Any:
        """Per-step term of :meth:`sample_cycles_model` (array ok)."""
        if self.accumulator_copies == 1:
            return work * self.groups + CONV_STEP_OVERHEAD + self.rows + CONV_UPDATE_LATENCY
        return np.maximum(work * self.groups + CONV_STEP_OVERHEAD, self.rows)

    def sample_cycles_bound(self, work: Any) -> np.ndarray:
        """Lower bound of one sample's cycles from its accumulate work ``work`` (N, T),
        ``a_t = work_t * G``: two buffers ``a_0 + Σ_{t>=1} max(a_t, rows) + rows`` (step
        t accumulates while the walk of step t-1 runs), one ``Σ_t (a_t + rows)``."""
        a = np.asarray(work, dtype=np.int64) * self.groups
        if self.accumulator_copies == 1:
            return (a + self.rows).sum(axis=-1)
        return a[..., 0] + np.maximum(a[..., 1:], self.rows).sum(axis=-1) + self.rows

    def sample_cycles_model(self, work: Any) -> np.ndarray:
        """:meth:`sample_cycles_bound` plus the fixed costs the controller pays: per step
        the marker and the accumulate drain (:data:`CONV_STEP_OVERHEAD`) where the
        accumulation is the critical path, and the update pipeline after a walk (every
        step with one buffer, the last with two)."""
        if self.accumulator_copies == 1:
            return self.step_cycles_model(np.asarray(work, dtype=np.int64)).sum(axis=-1)
        a = np.asarray(work, dtype=np.int64) * self.groups + CONV_STEP_OVERHEAD
        return (a[..., 0] + np.maximum(a[..., 1:], self.rows).sum(axis=-1) + self.rows
                + CONV_UPDATE_LATENCY + 1)

    def step_cycles_worst(self) -> int:
        """Generous upper estimate of one step's cycles (for watchdogs)."""
        count = self.pool.max_count * self.pool.max_windows if self.pool else 1
        per_event = self.max_taps * self.groups + 2 * index_bits(self.in_shape[0]
                                                                 * self.in_shape[1])
        return (self.stream_in_features * count * per_event + self.in_shape[0]
                * self.in_shape[1] + 2 * self.rows + CONV_ACC_LATENCY
                + CONV_UPDATE_LATENCY + WATCHDOG_SLACK)

    # ---- serialization
    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (the layer's entry of ``portmap.json``'s plan)."""
        return {
            "name": self.name, "kind": self.kind,
            "in_shape": list(self.in_shape), "out_shape": list(self.out_shape),
            "kernel": list(self.kernel), "stride": list(self.stride),
            "padding": list(self.padding),
            "in_features": self.in_features, "out_features": self.out_features,
            "weight_bits": self.weight_bits, "state_bits": self.state_bits,
            "fires": self.fires, "has_bias": self.has_bias,
            "weight_memory_bits": self.weight_memory_bits,
            "lanes": self.lanes, "groups": self.groups, "update_units": 1,
            "rows": self.rows, "acc_bits": self.acc_bits,
            "syn_bias_bits": self.syn_bias_bits, "sum_bits": self.sum_bits,
            "update_latency": CONV_UPDATE_LATENCY, "accumulate_latency": CONV_ACC_LATENCY,
            "hazard_distance": CONV_HAZARD_DISTANCE, "max_taps": self.max_taps,
            "in_index_bits": self.in_index_bits, "out_index_bits": self.out_index_bits,
            "synapse_memory": self.weights.as_dict(),
            "accumulator_memory": self.accumulator.as_dict(),
            "tag_memory": self.tags.as_dict(),
            "membrane_memory": self.membrane.as_dict(),
            "membrane_units": self.membrane_units,
            "input_fifo": self.input_fifo,
            "bias_memory": None,
            "pool": None if self.pool is None else self.pool.as_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Conv2dLayerPlan:
        """Inverse of :meth:`as_dict` (reads every number)."""
        def trip(v: Any) -> tuple[int, int, int]:
            a, b, c = (int(x) for x in v)
            return (a, b, c)

        def pair(v: Any) -> tuple[int, int]:
            a, b = (int(x) for x in v)
            return (a, b)

        pool = d.get("pool")
        return cls(
            name=str(d["name"]), in_shape=trip(d["in_shape"]), out_shape=trip(d["out_shape"]),
            kernel=pair(d["kernel"]), stride=pair(d["stride"]), padding=pair(d["padding"]),
            weight_bits=int(d["weight_bits"]), state_bits=int(d["state_bits"]),
            fires=bool(d["fires"]), has_bias=bool(d["has_bias"]),
            weight_memory_bits=int(d["weight_memory_bits"]), lanes=int(d["lanes"]),
            groups=int(d["groups"]), acc_bits=int(d["acc_bits"]),
            syn_bias_bits=int(d["syn_bias_bits"]), sum_bits=int(d["sum_bits"]),
            weights=MemoryPlan.from_dict(d["synapse_memory"]),
            accumulator=MemoryPlan.from_dict(d["accumulator_memory"]),
            membrane=MemoryPlan.from_dict(d["membrane_memory"]),
            pool=None if pool is None else PoolPlan.from_dict(pool),
            membrane_units=int(d.get("membrane_units", 1)),
            input_fifo=int(d.get("input_fifo", 0)),
        )


def conv_synaptic_range(layer: Conv2dLayer, count: int = 1) -> tuple[int, int]:
    """Exact range of one step's synaptic sum of a conv neuron whose inputs are counts
    ``0..count`` (1: spikes; a pool's maximum count after a pool)."""
    w = np.asarray(layer.weight, dtype=np.int64).reshape(layer.out_channels, -1)
    neg = int(np.minimum(w, 0).sum(axis=1).min())
    pos = int(np.maximum(w, 0).sum(axis=1).max())
    return min(0, neg) * count, max(0, pos) * count


def conv_layer_plan(layer: Conv2dLayer, *, lanes: int, fires: bool = True,
                    pool: PoolPlan | None = None,
                    membrane_packing: int | None = None,
                    input_fifo: int = 0,
                    accumulator_copies: int | None = None) -> Conv2dLayerPlan:
    """Plan one conv2d layer with ``lanes`` output channels per group (validated by the
    caller); ``pool`` is the sum-pool in front of it; ``membrane_packing`` neurons per
    membrane word (default :func:`membrane_units`); ``input_fifo`` words of the input
    FIFO (0: none); ``accumulator_copies`` 2 (two step buffers) or 1 (default:
    :func:`conv_accumulator_copies`)."""
    o = layer.out_channels
    c, h, w = (int(v) for v in layer.in_shape)
    kh, kw = (int(v) for v in layer.kernel)
    out_shape = tuple(int(v) for v in layer.out_shape)
    groups = ceil_div(o, lanes)
    count = pool.max_count if pool is not None else 1
    lo, hi = conv_synaptic_range(layer, count)
    acc_bits = max(2, signed_bits_for(lo, hi))
    sb = layer.state_bits
    smin, smax = -(1 << (sb - 1)), (1 << (sb - 1)) - 1
    b = layer.bias
    bmin = 0 if b is None else min(0, int(np.min(b)))
    bmax = 0 if b is None else max(0, int(np.max(b)))
    positions = out_shape[1] * out_shape[2]
    copies = (conv_accumulator_copies(groups * positions) if accumulator_copies is None
              else int(accumulator_copies))
    if copies not in (1, 2):
        raise ValueError(f"Accumulator copies must be 1 or 2, not {copies!r}")
    words = c * kh * kw * groups
    neurons = o * positions
    mu = membrane_units(neurons, sb) if membrane_packing is None else int(membrane_packing)
    mwords = ceil_div(neurons, mu)
    return Conv2dLayerPlan(
        name=layer.name, in_shape=(c, h, w), out_shape=out_shape,
        kernel=(kh, kw), stride=tuple(int(v) for v in layer.stride),
        padding=tuple(int(v) for v in layer.padding),
        weight_bits=layer.weight_bits, state_bits=sb, fires=fires,
        has_bias=b is not None, weight_memory_bits=layer.weight_memory_bits,
        lanes=lanes, groups=groups, acc_bits=acc_bits,
        syn_bias_bits=signed_bits_for(lo + bmin, hi + bmax),
        sum_bits=signed_bits_for(smin + lo + bmin, smax + hi + bmax),
        weights=MemoryPlan(role="synapse", depth=max(2, words), width=lanes * layer.weight_bits,
                           words=words, kind="rom", banks=(max(2, words),),
                           ram_style="block"),
        accumulator=MemoryPlan(role="accumulator", depth=max(2, copies * groups * positions),
                               width=lanes * acc_bits, words=copies * groups * positions,
                               copies=copies),
        membrane=MemoryPlan(role="membrane", depth=max(2, mwords), width=mu * sb,
                            words=mwords),
        pool=pool, membrane_units=mu, input_fifo=int(input_fifo),
    )


def pack_conv_weight_words(weight: Any, weight_bits: int, lanes: int) -> list[int]:
    """Pack conv weights (O, C, KH, KW) into weight-ROM words: word ``((c * KH + i) * KW
    + j) * G + g`` holds ``W[g*L + k, c, i, j]`` in bits ``[k*wb, (k+1)*wb)`` (two's
    complement); lanes past the last channel hold 0."""
    w = np.asarray(weight, dtype=np.int64)
    o, c, kh, kw = w.shape
    groups = ceil_div(o, lanes)
    padded = np.zeros((groups * lanes, c, kh, kw), np.int64)
    padded[:o] = w
    mask = (1 << weight_bits) - 1
    words = []
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                for g in range(groups):
                    word = 0
                    for k in range(lanes):
                        word |= (int(padded[g * lanes + k, ci, i, j]) & mask) << (k * weight_bits)
                    words.append(word)
    return words


LAYER_KINDS["conv2d"] = Conv2dLayerPlan
