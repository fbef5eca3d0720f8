"""The hardware plan: every geometric and timing fact of a generated design, computed once.

A :class:`HardwarePlan` is derived from an :class:`pysim.IntNetwork` and the generator's
options (lanes per layer) by :func:`plan_network`. It is pure Python (NumPy for the
exact ranges), so the generator (``hdl``), the cost model (``cost``), the testbenches
(``sim``) and the reports all read the same numbers and none works them out again:

* per dense layer (:class:`DenseLayerPlan`): lanes, neuron groups ``G = ceil(out /
  lanes)``, update units and update rows ``R = ceil(out / units)``, the exact
  accumulator and update-sum widths, the index widths of its event streams, the update
  pipeline depth, and every memory (:class:`MemoryPlan`: synapse ROM with its banks, the
  two accumulator step buffers, the membrane RAM, the bias ROM) with its depth x width;
* the cycle formulas: the event-driven lower bound per step ``events * G + G``, the
  cycle model ``max(events * G + 1, R)`` and a generous upper estimate per step for
  watchdogs (:meth:`DenseLayerPlan.step_cycles_bound` and friends), and per sample over
  a whole network (:meth:`HardwarePlan.cycle_bounds`).

The plan is written into the generated ``portmap.json`` (key ``plan``;
:meth:`HardwarePlan.as_dict`) and read back with :meth:`HardwarePlan.from_dict`, so a
user sees the geometry of what was generated and a later stage reads the plan of the
files it is given instead of recomputing it.

Layer plans are a tagged union on ``kind``; a new layer kind (a convolution) or a
wrapper around the core is a new plan entry class registered in :data:`LAYER_KINDS`.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pysim import InputError, IntLayer, IntNetwork, Readout
from pysim.util import ceil_div, ceil_log2, index_bits, is_int, json_default, signed_bits_for

__all__ = [
    "BANK_WORDS",
    "DEEP_ROWS",
    "DEFAULT_GROUPS",
    "DEFAULT_WORD_BITS",
    "LAYER_KINDS",
    "MAX_ACC_BITS",
    "MAX_LANES",
    "MAX_NEURONS",
    "MAX_TIMESTEPS",
    "MAX_WORD_BITS",
    "NOMINAL_INPUT_RATE",
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "SPRAM_BLOCKS",
    "SPRAM_DEPTH",
    "SPRAM_WIDTH",
    "WEIGHT_STORES",
    "CorePlan",
    "DenseLayerPlan",
    "HardwarePlan",
    "MemoryPlan",
    "SynapsePlan",
    "accumulator_bits",
    "accumulator_range",
    "bank_depths",
    "check_realizable",
    "core_plan",
    "default_lanes",
    "default_update_units",
    "dense_layer_plan",
    "network_digest",
    "pack_bias_words",
    "pack_synapse_words",
    "plan_network",
    "prediction_bits",
    "resolve_lanes",
    "resolve_weights_in",
    "synapse_plan",
    "synaptic_bits",
    "synaptic_range",
]

PLAN_FORMAT = "spikeforge.hwplan"
PLAN_VERSION = 1

MAX_LANES = 64
"""Most parallel lanes (neurons accumulated per cycle) the generator builds."""
MAX_WORD_BITS = 1024
"""Widest synapse-memory word (``lanes * weight_bits``) the generator builds."""
MAX_ACC_BITS = 64
"""Widest accumulator (and update sum) the generator builds."""
MAX_TIMESTEPS = 65535
"""Most timesteps per sample the generator's step counters hold."""
MAX_NEURONS = 1 << 24
"""Most inputs or neurons of one layer the generator builds."""
BANK_WORDS = 2048
"""A synapse memory deeper than this is built as banks of this many words, each with a
registered output, and a multiplexer after those registers (one more cycle of read
latency): the block RAM's clock-to-out and the depth multiplexer are then in different
cycles."""
DEEP_ROWS = 7
"""Update rows per step from which the update unit uses its deep (6-stage) pipeline."""
DEFAULT_WORD_BITS = 72
"""Widest synapse word :func:`default_lanes` picks (two 36-bit block-RAM columns)."""
DEFAULT_GROUPS = 16
"""Most groups :func:`default_lanes` aims for: a step buffer of the accumulator is then
at most 16 rows, one LUT-RAM cell deep on ECP5 (``TRELLIS_DPR16X4``), so it needs no
read multiplexer."""
DEFAULT_MAX_LANES = 32
"""Most lanes :func:`default_lanes` picks."""
NOMINAL_INPUT_RATE = 8
""":func:`default_update_units` assumes one input in ``NOMINAL_INPUT_RATE`` fires per step."""
WATCHDOG_SLACK = 64
"""Cycles per layer and step added to :meth:`DenseLayerPlan.step_cycles_worst`."""
SPRAM_DEPTH = 16384
"""Words of one iCE40 UP5K single-port RAM (``SB_SPRAM256KA``)."""
SPRAM_WIDTH = 16
"""Bits per word of one ``SB_SPRAM256KA``."""
SPRAM_BLOCKS = 4
"""``SB_SPRAM256KA`` blocks of an iCE40 UP5K (1 Mbit in all)."""
WEIGHT_STORES = ("bram", "spram")
"""Where a dense layer's synapse memory lives: ``"bram"`` (an initialised ROM in block
RAM, the default) or ``"spram"`` (``SB_SPRAM256KA`` blocks of the iCE40 UP5K, filled at
run time through the load port; see :mod:`hdl.spram`)."""


# --------------------------------------------------------------------------------------
# Exact widths

def synaptic_range(weights: Any) -> tuple[int, int]:
    """Return the exact range ``[lo, hi]`` of one step's synaptic sum ``Σ_{j in S} W[i, j]``.

    ``S`` is any subset of the inputs (those that fired), so per neuron the sum lies
    between ``Σ_j min(W_ij, 0)`` and ``Σ_j max(W_ij, 0)``; the range is the union over
    neurons (and always holds 0, the empty sum).
    """
    w = np.asarray(weights, dtype=np.int64)
    neg = np.minimum(w, 0).sum(axis=1)
    pos = np.maximum(w, 0).sum(axis=1)
    return min(0, int(neg.min())), max(0, int(pos.max()))


def synaptic_bits(weights: Any) -> int:
    """Two's complement width of :func:`synaptic_range`: the accumulator memory's word."""
    return signed_bits_for(*synaptic_range(weights))


def accumulator_range(weights: Any, state_bits: int, bias: Any = None) -> tuple[int, int]:
    """Return the exact range ``[lo, hi]`` of the update's sum ``a = d + b_i + Σ W·x``.

    ``d`` is a reset and leaked membrane (inside the ``state_bits`` range), so per neuron
    ``a`` lies between ``min_state + b_i + Σ_j min(W_ij, 0)`` and
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


def prediction_bits(n_classes: int) -> int:
    """Width of the prediction port: ``max(1, ceil(log2(n_classes)))``."""
    return index_bits(n_classes)


def bank_depths(depth: int, bank_words: int | None = None) -> tuple[int, ...]:
    """Depths of the banks of a synapse memory of ``depth`` words (one bank if shallow);
    ``bank_words`` is the deepest bank (default :data:`BANK_WORDS`; :data:`SPRAM_DEPTH`
    for an SPRAM memory)."""
    if bank_words is None:
        bank_words = BANK_WORDS
    if depth <= bank_words:
        return (depth,)
    full, rest = divmod(depth, bank_words)
    return (bank_words,) * full + ((rest,) if rest else ())


# --------------------------------------------------------------------------------------
# Plan entries

@dataclass(frozen=True)
class MemoryPlan:
    """One logical memory of a layer as the generator builds it.

    Attributes
    ----------
    role : "synapse", "accumulator", "membrane" or "bias"
    depth : words per copy as built (at least 2: no zero-width address)
    width : bits per word
    words : words holding data (``depth`` without the padding to 2)
    copies : identical memories of this shape (2 for the accumulator's step buffers)
    kind : "rom" (initialised, never written), "ram", "registers" (a one-word buffer
        built from flip-flops) or "spram" (iCE40 ``SB_SPRAM256KA`` blocks, no initial
        contents: filled through the load port; ``banks`` then has one entry per
        :data:`SPRAM_DEPTH` words and every bank is :attr:`spram_columns` blocks wide)
    banks : depths of the banks a deep ROM is split into (one entry when not banked)
    ram_style : the synthesis hint the generator attaches ("block" or None)
    """

    role: str
    depth: int
    width: int
    words: int
    copies: int = 1
    kind: str = "ram"
    banks: tuple[int, ...] = ()
    ram_style: str | None = None

    @property
    def bits(self) -> int:
        """Data bits of one copy: ``words * width``."""
        return self.words * self.width

    @property
    def total_bits(self) -> int:
        """Data bits of all copies."""
        return self.bits * self.copies

    @property
    def addr_bits(self) -> int:
        """Address width of one copy: ``ceil(log2(depth))``."""
        return ceil_log2(self.depth)

    @property
    def spram_columns(self) -> int:
        """``SB_SPRAM256KA`` blocks side by side in one bank: ``ceil(width / 16)`` (0
        unless ``kind == "spram"``)."""
        return ceil_div(self.width, SPRAM_WIDTH) if self.kind == "spram" else 0

    @property
    def spram_blocks(self) -> int:
        """``SB_SPRAM256KA`` blocks of the memory: columns x banks (0 unless SPRAM)."""
        return self.spram_columns * len(self.banks)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (``depth`` of an accumulator counts both buffers)."""
        d: dict[str, Any] = {"role": self.role, "kind": self.kind,
                             "depth": self.depth * self.copies, "width": self.width,
                             "bits": self.total_bits, "copies": self.copies}
        if self.ram_style is not None:
            d["ram_style"] = self.ram_style
        if self.banks:
            d["banks"] = list(self.banks)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MemoryPlan:
        """Inverse of :meth:`as_dict`."""
        copies = int(d.get("copies", 1))
        depth = int(d["depth"]) // copies
        width = int(d["width"])
        words = int(d["bits"]) // copies // width if width else 0
        return cls(role=str(d["role"]), depth=depth, width=width, words=words,
                   copies=copies, kind=str(d.get("kind", "ram")),
                   banks=tuple(int(b) for b in d.get("banks", ())),
                   ram_style=d.get("ram_style"))


@dataclass(frozen=True)
class SynapsePlan:
    """The synapse memory of a dense layer: ``lanes`` weights per word.

    Word ``j * groups + g`` holds ``W[g * lanes + k, j]`` in lane ``k`` (see
    :func:`pack_synapse_words`); one input event ``j`` reads ``groups`` consecutive words.
    """

    in_features: int
    out_features: int
    weight_bits: int
    lanes: int
    groups: int
    memory: MemoryPlan

    @property
    def latency(self) -> int:
        """Cycles from the address to the data: 1, or 2 when the ROM is banked."""
        return 1 if len(self.memory.banks) == 1 else 2

    @property
    def bank_select_lsb(self) -> int:
        """Lowest address bit that selects a bank: ``log2(BANK_WORDS)`` (``log2(
        SPRAM_DEPTH)`` for an SPRAM memory)."""
        return ceil_log2(SPRAM_DEPTH if self.memory.kind == "spram" else BANK_WORDS)

    @property
    def store(self) -> str:
        """Where the weights live: ``"spram"`` or ``"bram"`` (see :data:`WEIGHT_STORES`)."""
        return "spram" if self.memory.kind == "spram" else "bram"


def synapse_plan(in_features: int, out_features: int, weight_bits: int,
                 lanes: int, store: str = "bram") -> SynapsePlan:
    """The synapse memory of a layer (arguments already validated by the caller);
    ``store`` is one of :data:`WEIGHT_STORES`."""
    groups = ceil_div(out_features, lanes)
    words = in_features * groups
    depth = max(2, words)
    if store == "spram":
        return SynapsePlan(
            in_features=in_features, out_features=out_features, weight_bits=weight_bits,
            lanes=lanes, groups=groups,
            memory=MemoryPlan(role="synapse", depth=depth, width=lanes * weight_bits,
                              words=words, kind="spram",
                              banks=bank_depths(depth, SPRAM_DEPTH)),
        )
    return SynapsePlan(
        in_features=in_features, out_features=out_features, weight_bits=weight_bits,
        lanes=lanes, groups=groups,
        memory=MemoryPlan(role="synapse", depth=depth, width=lanes * weight_bits,
                          words=words, kind="rom", banks=bank_depths(depth),
                          ram_style="block"),
    )


@dataclass(frozen=True)
class CorePlan:
    """The neuron core of a dense layer: lane-parallel accumulator, serial update unit.

    Neuron ``n = g * lanes + k`` accumulates in lane ``k`` of group ``g``; the update unit
    walks ``rows`` rows of ``update_units`` neurons (``rows_per_group`` rows per group).
    """

    out_features: int
    lanes: int
    groups: int
    update_units: int
    rows: int
    state_bits: int
    acc_bits: int
    syn_bias_bits: int
    sum_bits: int
    deep_pipeline: bool
    fires: bool
    has_bias: bool
    accumulator: MemoryPlan
    membrane: MemoryPlan
    bias: MemoryPlan | None

    @property
    def rows_per_group(self) -> int:
        """Update rows per accumulator group: ``lanes / update_units``."""
        return self.lanes // self.update_units

    @property
    def update_latency(self) -> int:
        """Cycles from issuing an update row until a new row may read its written membrane.

        7 with the deep pipeline (``rows >= DEEP_ROWS``: registers between the reset,
        leak, sum and clamp), 3 with the short one (a small layer, whose steps would
        otherwise wait for its own pipeline).
        """
        return 7 if self.deep_pipeline else 3

    @property
    def last_row_neurons(self) -> int:
        """Neurons in the last update row (the others hold ``update_units``)."""
        return self.out_features - (self.rows - 1) * self.update_units

    @property
    def group_bits(self) -> int:
        """Width of a group index."""
        return index_bits(self.groups)

    @property
    def row_bits(self) -> int:
        """Width of an update-row index."""
        return index_bits(self.rows)


def core_plan(*, out_features: int, lanes: int, state_bits: int, acc_bits: int,
              bias_range: tuple[int, int] | None, fires: bool, update_units: int) -> CorePlan:
    """The neuron core of a layer (arguments already validated by the caller).

    ``bias_range`` is ``(min, max)`` of the biases, or None without a bias.
    """
    groups = ceil_div(out_features, lanes)
    rows = ceil_div(out_features, update_units)
    amin, amax = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    smin, smax = -(1 << (state_bits - 1)), (1 << (state_bits - 1)) - 1
    bmin = 0 if bias_range is None else min(0, bias_range[0])
    bmax = 0 if bias_range is None else max(0, bias_range[1])
    acc_kind = "ram" if groups > 1 else "registers"
    return CorePlan(
        out_features=out_features, lanes=lanes, groups=groups, update_units=update_units,
        rows=rows, state_bits=state_bits, acc_bits=acc_bits,
        syn_bias_bits=signed_bits_for(amin + bmin, amax + bmax),
        sum_bits=signed_bits_for(smin + amin + bmin, smax + amax + bmax),
        deep_pipeline=rows >= DEEP_ROWS, fires=fires, has_bias=bias_range is not None,
        accumulator=MemoryPlan(role="accumulator", depth=groups, width=lanes * acc_bits,
                               words=groups, copies=2, kind=acc_kind),
        membrane=MemoryPlan(role="membrane", depth=max(2, rows),
                            width=update_units * state_bits, words=max(2, rows)),
        bias=None if bias_range is None else MemoryPlan(
            role="bias", depth=max(2, rows), width=update_units * state_bits,
            words=max(2, rows), kind="rom"),
    )


def default_update_units(in_features: int, out_features: int, lanes: int) -> int:
    """Return the default number of update units (neurons updated per cycle) of a layer.

    A step costs about ``max(events * G + 1, rows + 3)`` cycles (``G = ceil(out /
    lanes)``, ``rows = ceil(out / units)``): the update of step ``t`` runs while step
    ``t+1`` accumulates. With ``e = max(1, in_features // NOMINAL_INPUT_RATE)`` nominal
    events per step the update is hidden when ``rows <= e * G``, i.e. when
    ``units >= lanes / e``. The default is ``ceil(lanes / e)`` rounded down to a divisor
    of ``lanes`` (an update row never spans two accumulator groups), so area is not spent
    on units a typical step does not need. A layer with many inputs (MNIST's 784) gets
    one unit; a tiny layer as many units as lanes.
    """
    e = max(1, in_features // NOMINAL_INPUT_RATE)
    need = ceil_div(lanes, e)
    return max(u for u in range(1, need + 1) if lanes % u == 0)


def default_lanes(layer: IntLayer) -> int:
    """Return the default number of parallel accumulator lanes for ``layer``.

    The fewest lanes that give at most :data:`DEFAULT_GROUPS` groups
    ``G = ceil(out / lanes)`` (an input event costs ``G`` cycles), but no more lanes
    than fit a :data:`DEFAULT_WORD_BITS`-bit synapse word (and at most
    :data:`DEFAULT_MAX_LANES`); then the fewest lanes that give the same number of
    groups. Since the serial update unit a lane is only an adder and a buffer select per
    accumulator bit, so lanes are spent on cycles per event only where a layer has many
    neurons. Examples with 4-bit weights: 10 outputs -> 1 lane (G=10); 128 -> 8 (G=16);
    256 -> 16 (G=16); with 8-bit weights 256 -> 9 (the 72-bit word, G=29).
    """
    if not isinstance(layer, IntLayer):
        raise TypeError(f"Layer must be a pysim.IntLayer, not {layer!r}")
    cap = max(1, min(layer.out_features, DEFAULT_MAX_LANES,
                     DEFAULT_WORD_BITS // layer.weight_bits))
    need = ceil_div(layer.out_features, DEFAULT_GROUPS)
    groups = ceil_div(layer.out_features, min(need, cap))
    return ceil_div(layer.out_features, groups)


@dataclass(frozen=True)
class DenseLayerPlan:
    """Plan of one dense layer: its synapse memory, its neuron core and its streams.

    Cycle formulas (per timestep, ``e`` = the layer's input events in that step):

    * :meth:`step_cycles_bound` ``= e * G + G``: the event-driven lower bound (each event
      costs ``G`` accumulate cycles, each step's marker and update at least ``G``);
    * :meth:`step_cycles_model` ``= max(e * G + 1, R)``: what a step costs when the next
      layer keeps up (the update of step ``t`` overlaps step ``t+1``'s accumulation);
    * :meth:`step_cycles_worst` ``= (in + 1) * G + R + out + latency + 64``: a generous
      upper estimate (every input fires, every neuron emits one beat) for watchdogs.
    """

    kind: ClassVar[str] = "dense"

    name: str
    in_features: int
    out_features: int
    weight_bits: int
    state_bits: int
    fires: bool
    weight_memory_bits: int
    synapse: SynapsePlan
    core: CorePlan
    pool: Any = None
    """A :class:`hwplan.conv.PoolPlan` when a sum-pool feeds this layer (its input
    events are then the pooled addresses, counts as repeated events), else None."""

    # ---- convenience views of the parts
    @property
    def lanes(self) -> int:
        """Accumulator lanes (weights added per cycle)."""
        return self.synapse.lanes

    @property
    def groups(self) -> int:
        """``G = ceil(out / lanes)``: cycles per input event."""
        return self.synapse.groups

    @property
    def update_units(self) -> int:
        """Neurons updated per cycle."""
        return self.core.update_units

    @property
    def rows(self) -> int:
        """``R = ceil(out / update_units)``: update cycles per step."""
        return self.core.rows

    @property
    def acc_bits(self) -> int:
        """Accumulator (one step's synaptic sum) width."""
        return self.core.acc_bits

    @property
    def stream_in_features(self) -> int:
        """Flat size of what arrives on the input stream (the pool's input, if any)."""
        return self.pool.in_size if self.pool is not None else self.in_features

    @property
    def last_row_neurons(self) -> int:
        """Neurons in the last update row."""
        return self.core.last_row_neurons

    @property
    def in_index_bits(self) -> int:
        """Width of the index of the layer's input events (after the pool: the pooled
        index the dense core receives)."""
        return index_bits(self.in_features)

    def step_work(self, x: Any) -> np.ndarray:
        """Input events per step of the layer's input ``x`` (N, T, in_features), int64."""
        return np.asarray(x, dtype=np.int64).sum(axis=-1)

    step_events = step_work

    @property
    def out_index_bits(self) -> int:
        """Width of the index of the layer's output events."""
        return index_bits(self.out_features)

    @property
    def memories(self) -> tuple[MemoryPlan, ...]:
        """Every memory of the layer: synapse, accumulator, membrane (and bias)."""
        c = self.core
        return (self.synapse.memory, c.accumulator, c.membrane) + ((c.bias,) if c.bias else ())

    @property
    def pipeline_latency(self) -> int:
        """Cycles a sample pays once per layer for the synapse read and update pipeline."""
        return self.synapse.latency + self.core.update_latency

    # ---- cycles
    def step_cycles_bound(self, events: Any) -> Any:
        """Event-driven lower bound of one step with ``events`` input events (array ok)."""
        return events * self.groups + self.groups

    def step_cycles_model(self, events: Any) -> Any:
        """Cycles of one step when the next layer keeps up (array ok)."""
        return np.maximum(events * self.groups + 1, self.rows)

    def step_cycles_worst(self) -> int:
        """Generous upper estimate of one step's cycles (for watchdogs)."""
        return ((self.in_features + 1) * self.groups + self.rows + self.out_features
                + self.core.update_latency + WATCHDOG_SLACK)

    # ---- serialization
    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (the layer's entry of ``portmap.json``'s plan)."""
        c = self.core
        return {
            "name": self.name, "kind": self.kind,
            "in_features": self.in_features, "out_features": self.out_features,
            "weight_bits": self.weight_bits, "state_bits": self.state_bits,
            "fires": self.fires, "weight_memory_bits": self.weight_memory_bits,
            "lanes": self.lanes, "groups": self.groups,
            "update_units": c.update_units, "rows": c.rows, "acc_bits": c.acc_bits,
            "syn_bias_bits": c.syn_bias_bits, "sum_bits": c.sum_bits,
            "deep_pipeline": c.deep_pipeline, "update_latency": c.update_latency,
            "synapse_latency": self.synapse.latency,
            "in_index_bits": self.in_index_bits, "out_index_bits": self.out_index_bits,
            "synapse_memory": self.synapse.memory.as_dict(),
            "accumulator_memory": c.accumulator.as_dict(),
            "membrane_memory": c.membrane.as_dict(),
            "bias_memory": None if c.bias is None else c.bias.as_dict(),
        } | ({} if self.pool is None else {"pool": self.pool.as_dict()})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DenseLayerPlan:
        """Inverse of :meth:`as_dict` (re-derives nothing: every number is read)."""
        syn_mem = MemoryPlan.from_dict(d["synapse_memory"])
        bias = d.get("bias_memory")
        pool = d.get("pool")
        if pool is not None:
            from .conv import PoolPlan
            pool = PoolPlan.from_dict(pool)
        core = CorePlan(
            out_features=int(d["out_features"]), lanes=int(d["lanes"]),
            groups=int(d["groups"]), update_units=int(d["update_units"]),
            rows=int(d["rows"]), state_bits=int(d["state_bits"]),
            acc_bits=int(d["acc_bits"]), syn_bias_bits=int(d["syn_bias_bits"]),
            sum_bits=int(d["sum_bits"]), deep_pipeline=bool(d["deep_pipeline"]),
            fires=bool(d["fires"]), has_bias=bias is not None,
            accumulator=MemoryPlan.from_dict(d["accumulator_memory"]),
            membrane=MemoryPlan.from_dict(d["membrane_memory"]),
            bias=None if bias is None else MemoryPlan.from_dict(bias),
        )
        syn = SynapsePlan(in_features=int(d["in_features"]),
                          out_features=int(d["out_features"]),
                          weight_bits=int(d["weight_bits"]), lanes=int(d["lanes"]),
                          groups=int(d["groups"]), memory=syn_mem)
        return cls(name=str(d["name"]), in_features=int(d["in_features"]),
                   out_features=int(d["out_features"]), weight_bits=int(d["weight_bits"]),
                   state_bits=int(d["state_bits"]), fires=bool(d["fires"]),
                   weight_memory_bits=int(d["weight_memory_bits"]), synapse=syn, core=core,
                   pool=pool)


def dense_layer_plan(layer: IntLayer, *, lanes: int, fires: bool = True,
                     update_units: int | None = None, pool: Any = None,
                     store: str = "bram") -> DenseLayerPlan:
    """Plan one dense layer with ``lanes`` lanes (validated by the caller).

    ``update_units`` None takes :func:`default_update_units`. ``pool`` (a
    :class:`hwplan.conv.PoolPlan`) is the sum-pool feeding the layer: inputs are then
    counts up to its ``max_count``, which widens the exact accumulator. ``store``: where
    the synapse memory lives (:data:`WEIGHT_STORES`).
    """
    if update_units is None:
        update_units = default_update_units(layer.in_features, layer.out_features, lanes)
    bias = layer.bias
    bias_range = None if bias is None else (int(np.min(bias)), int(np.max(bias)))
    return DenseLayerPlan(
        name=layer.name, in_features=layer.in_features, out_features=layer.out_features,
        weight_bits=layer.weight_bits, state_bits=layer.state_bits, fires=fires,
        weight_memory_bits=layer.weight_memory_bits,
        synapse=synapse_plan(layer.in_features, layer.out_features, layer.weight_bits, lanes,
                             store),
        core=core_plan(out_features=layer.out_features, lanes=lanes,
                       state_bits=layer.state_bits,
                       acc_bits=synaptic_bits(layer.weight) if pool is None else
                       signed_bits_for(*(v * pool.max_count
                                         for v in synaptic_range(layer.weight))),
                       bias_range=bias_range, fires=fires, update_units=update_units),
        pool=pool,
    )


LAYER_KINDS: dict[str, type[DenseLayerPlan]] = {"dense": DenseLayerPlan}
"""Layer plan classes by ``kind`` (a new layer kind registers its plan class here)."""


# --------------------------------------------------------------------------------------
# Memory contents

def pack_synapse_words(weights: Any, weight_bits: int, lanes: int) -> list[int]:
    """Pack a weight matrix into synapse-memory words.

    Word ``j * G + g`` (``G = ceil(out / lanes)``) holds the weights from input ``j`` to
    neurons ``g * lanes + k`` for ``k = 0 .. lanes-1``; lane ``k`` occupies bits
    ``[k * weight_bits, (k + 1) * weight_bits)`` in two's complement. Lanes past the last
    neuron hold 0.

    Returns ``in_features * G`` unsigned words of ``lanes * weight_bits`` bits.
    """
    w = np.asarray(weights, dtype=np.int64)
    out_features, in_features = w.shape
    groups = synapse_plan(in_features, out_features, weight_bits, lanes).groups
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


def pack_bias_words(bias: Any, state_bits: int, update_units: int) -> list[int]:
    """Pack a bias vector into bias-memory words: row ``r`` holds the biases of neurons
    ``r * units .. r * units + units - 1``, neuron ``r * units + k`` in bits
    ``[k * state_bits, (k + 1) * state_bits)``; one word per update row."""
    b = np.asarray(bias, dtype=np.int64)
    rows = ceil_div(len(b), update_units)
    mask = (1 << state_bits) - 1
    words = []
    for r in range(rows):
        word = 0
        for k in range(update_units):
            n = r * update_units + k
            if n < len(b):
                word |= (int(b[n]) & mask) << (k * state_bits)
        words.append(word)
    return words


# --------------------------------------------------------------------------------------
# The network plan

def network_digest(net: IntNetwork) -> str:
    """SHA-256 of what the hardware computes from ``net``: its structure, widths, neuron
    constants, weights and biases (not ``meta``). Two manifests with the same digest give
    the same design; a design records the digest of the network it was generated for."""
    head = {k: v for k, v in net.header().items() if k != "meta"}
    h = hashlib.sha256(json.dumps(head, sort_keys=True, default=json_default).encode())
    for layer in net.layers:
        for arr in (getattr(layer, "weight", None), getattr(layer, "bias", None)):
            if arr is not None:
                a = np.ascontiguousarray(arr, dtype=np.int64)
                h.update(repr(a.shape).encode())
                h.update(a.tobytes())
    return h.hexdigest()


def _lane_width(layer: Any) -> int:
    """Most lanes a layer can use: its neurons (dense) or output channels (conv2d)."""
    return layer.out_channels if _kind(layer) == "conv2d" else layer.out_features


def _kind(layer: Any) -> str:
    return str(getattr(layer.kind, "value", layer.kind))


def _default_lanes_any(layer: Any) -> int:
    if _kind(layer) == "conv2d":
        from .conv import conv_default_lanes
        return conv_default_lanes(layer)
    return default_lanes(layer)


def _check_lanes(layer: IntLayer, value: Any, *, exact: bool) -> int:
    where = f"layer {layer.name!r}"
    what = "out_channels" if _kind(layer) == "conv2d" else "out_features"
    if not is_int(value):
        raise InputError(f"{where}: must be an integer, not {value!r}", param="lanes")
    value = int(value)
    if value < 1:
        raise InputError(f"{where}: must be at least 1, not {value}", param="lanes")
    if exact and value > _lane_width(layer):
        raise InputError(f"{where}: must be at most {what} = {_lane_width(layer)}, "
                         f"not {value}", param="lanes")
    value = min(value, _lane_width(layer))
    if value > MAX_LANES:
        raise InputError(f"{where}: the generator builds at most {MAX_LANES} lanes, not "
                         f"{value}", param="lanes")
    if value * layer.weight_bits > MAX_WORD_BITS:
        raise InputError(f"{where}: word width {value} x {layer.weight_bits} bits exceeds "
                         f"the generator's {MAX_WORD_BITS}-bit maximum", param="lanes")
    return value


def resolve_lanes(net: IntNetwork, lanes: int | Mapping[str, int] | None) -> dict[str, int]:
    """Turn the ``lanes`` option into one validated lane count per layer.

    ``None``: :func:`default_lanes` for every layer. An int: that many lanes for every
    layer, capped at the layer's ``out_features``. A mapping ``{layer name: lanes}``:
    those layers exactly (``1 <= lanes <= out_features``), the others by default.
    Raises :class:`pysim.InputError` (one line, naming the layer) when a lane count is
    not realizable.
    """
    layers = [layer for layer in net.layers if _kind(layer) != "sumpool2d"]
    names = [layer.name for layer in layers]
    if lanes is None:
        return {layer.name: _default_lanes_any(layer) for layer in layers}
    if isinstance(lanes, Mapping):
        unknown = [k for k in lanes if k not in names]
        if unknown:
            raise InputError(f"no layer named {unknown[0]!r} (layers: {', '.join(names)})",
                             param="lanes")
        return {layer.name: (_check_lanes(layer, lanes[layer.name], exact=True)
                             if layer.name in lanes else _default_lanes_any(layer))
                for layer in layers}
    return {layer.name: _check_lanes(layer, lanes, exact=False) for layer in layers}


def check_realizable(net: IntNetwork) -> None:
    """Raise :class:`pysim.InputError` (one line) when the generator cannot build ``net``."""
    if not isinstance(net, IntNetwork):
        raise InputError(f"network: expected a pysim.IntNetwork, not {type(net).__name__}")
    if net.timesteps > MAX_TIMESTEPS:
        raise InputError(f"network: field 'timesteps': the generator supports at most "
                         f"{MAX_TIMESTEPS} steps, not {net.timesteps}")
    count = 1
    for layer in net.layers:
        kind = _kind(layer)
        if kind == "sumpool2d":
            count = int(layer.max_count)
            continue
        if kind not in LAYER_KINDS:
            raise InputError(f"layer {layer.name!r}: the generator does not build "
                             f"{kind} layers yet (it builds: "
                             f"{', '.join([*LAYER_KINDS, 'sumpool2d'])})")
        w = np.asarray(layer.weight, np.int64).reshape(layer.weight.shape[0], -1)
        lo, hi = accumulator_range(w * count, layer.state_bits, layer.bias)
        count = 1
        ab = signed_bits_for(lo, hi)
        if ab > MAX_ACC_BITS:
            raise InputError(f"layer {layer.name!r}: accumulator needs {ab} bits, more than "
                             f"the generator's {MAX_ACC_BITS}")
        if layer.out_size > MAX_NEURONS or layer.in_size > MAX_NEURONS:
            raise InputError(f"layer {layer.name!r}: more than 2^24 inputs or neurons")


@dataclass(frozen=True)
class HardwarePlan:
    """The plan of a whole network's design: its layers in order and the top's facts.

    Attributes
    ----------
    timesteps, input_size, n_classes, readout
        From the network.
    layers
        One plan entry per layer, input to output.
    network_sha256
        :func:`network_digest` of the network the plan was made for.
    """

    timesteps: int
    input_size: int
    n_classes: int
    readout: str
    layers: tuple[Any, ...]
    network_sha256: str = ""

    @property
    def input_index_bits(self) -> int:
        """Width of the index of the input events."""
        return index_bits(self.input_size)

    @property
    def prediction_bits(self) -> int:
        """Width of the prediction port."""
        return prediction_bits(self.n_classes)

    @property
    def count_bits(self) -> int:
        """Width of a spike counter of the spike-count readout (counts 0..T)."""
        return max(1, ceil_log2(self.timesteps + 1))

    @property
    def lanes(self) -> dict[str, int]:
        """Lanes per layer."""
        return {lp.name: lp.lanes for lp in self.layers}

    def layer(self, name: str) -> Any:
        """The plan of layer ``name``."""
        for lp in self.layers:
            if lp.name == name:
                return lp
        raise KeyError(name)

    # ---- cycles
    def layer_input_events(self, spikes: Any, layer_spikes: Mapping[str, Any]
                           ) -> dict[str, np.ndarray]:
        """Input events per sample and step of every layer, int64 (N, T) each.

        ``spikes`` (N, T, input_size) feeds the first layer; ``layer_spikes[name]`` (N, T,
        out) (e.g. ``pysim.simulate(...).spikes``) the layer after ``name``.
        """
        return {name: lp.step_events(x) for (name, x), lp
                in zip(self.layer_inputs(spikes, layer_spikes).items(), self.layers,
                       strict=True)}

    def layer_inputs(self, spikes: Any, layer_spikes: Mapping[str, Any]
                     ) -> dict[str, np.ndarray]:
        """What every layer's synapses see per sample and step, (N, T, in_features):
        the spikes of the layer before (or the input), pooled to counts when a sum-pool
        sits between (each count is that many input events)."""
        x = np.asarray(spikes)
        n = x.shape[0]
        out: dict[str, Any] = {}
        layer_in: Any = x
        for lp in self.layers:
            a = np.asarray(layer_in).reshape(n, self.timesteps, -1)
            out[lp.name] = a if lp.pool is None else lp.pool.apply(a)
            layer_in = layer_spikes[lp.name]
        return out

    def layer_work(self, spikes: Any, layer_spikes: Mapping[str, Any]
                   ) -> dict[str, np.ndarray]:
        """Accumulate work per sample and step of every layer, int64 (N, T): input
        events (dense), ``Σ_events in-bounds taps`` (conv2d)."""
        return {name: lp.step_work(x) for (name, x), lp
                in zip(self.layer_inputs(spikes, layer_spikes).items(), self.layers,
                       strict=True)}

    @property
    def overlapped(self) -> bool:
        """Whether the sample bound is :meth:`pipeline_cycles` (a network with a conv2d
        layer, whose walk over the map is long) rather than the sum over layers."""
        return any(lp.kind != "dense" for lp in self.layers)

    def cycle_bounds(self, spikes: Any, layer_spikes: Mapping[str, Any]) -> np.ndarray:
        """Event-driven lower bound of every sample's cycles, int64 (N,):
        ``Σ_layers Σ_t step_cycles_bound(events)``; with a conv2d layer
        :meth:`pipeline_cycles` (the layers overlapping step by step)."""
        if self.overlapped:
            return self.pipeline_cycles(spikes, layer_spikes)
        events = self.layer_work(spikes, layer_spikes)
        total = np.zeros(np.asarray(spikes).shape[0], np.int64)
        for lp in self.layers:
            total += _layer_sample_bound(lp, events[lp.name])
        return total

    def cycles(self, spikes: Any, layer_spikes: Mapping[str, Any]) -> dict[str, Any]:
        """Cycle figures per sample: the bound (total and per layer) and the model."""
        events = self.layer_work(spikes, layer_spikes)
        n_events = self.layer_input_events(spikes, layer_spikes)
        per_layer = {}
        total = np.zeros(np.asarray(spikes).shape[0], np.int64)
        model = np.zeros_like(total)
        for lp in self.layers:
            ev = events[lp.name]
            cyc = _layer_sample_bound(lp, ev)
            model += (lp.sample_cycles_model(ev) if hasattr(lp, "sample_cycles_model")
                      else lp.step_cycles_model(ev).sum(axis=1))
            per_layer[lp.name] = {"groups": lp.groups,
                                  "input_events_per_sample":
                                      float(n_events[lp.name].sum(axis=1).mean()),
                                  "cycles_per_sample": float(cyc.mean())}
            if lp.kind != "dense":
                per_layer[lp.name]["kind"] = lp.kind
                per_layer[lp.name]["accumulate_work_per_sample"] = float(
                    ev.sum(axis=1).mean())
            total += cyc
        if self.overlapped:   # layers overlapping: the sum over layers is kept beside
            sum_total = total
            total = self.pipeline_cycles(spikes, layer_spikes)
            return {"per_sample": float(total.mean()), "max": int(total.max()),
                    "sum_of_layers_per_sample": float(sum_total.mean()),
                    "model_per_sample": float(model.mean()), "samples": int(total.shape[0]),
                    "layers": per_layer, "bounds": total}
        return {"per_sample": float(total.mean()), "max": int(total.max()),
                "model_per_sample": float(model.mean()), "samples": int(total.shape[0]),
                "layers": per_layer, "bounds": total}

    def pipeline_cycles(self, spikes: Any, layer_spikes: Mapping[str, Any]) -> np.ndarray:
        """Lower bound of every sample's cycles with the layers overlapping, int64 (N,).

        Per layer ``l`` and step ``t`` with accumulate cycles ``a = work * G`` and walk
        ``r = rows``: the accumulation starts when the step before was handed to the walk
        (two buffers; with one, when that walk ended) and not before the layer before
        starts walking step ``t`` (its spikes are this step's events); it ends no earlier
        than ``a`` cycles later and than the end of that walk (the last event); the walk
        starts when the accumulation has ended and the previous walk is done, and takes
        ``r``. The sample ends with the last layer's last walk. Backpressure, pipeline
        latencies and the per-step marker are left out (a bound, not a model)."""
        work = self.layer_work(spikes, layer_spikes)
        n = np.asarray(spikes).shape[0]
        up_start = np.zeros((n, self.timesteps), np.int64)
        up_end = np.zeros((n, self.timesteps), np.int64)
        for lp in self.layers:
            a = np.asarray(work[lp.name], np.int64) * lp.groups
            r = int(lp.rows)
            two = getattr(lp, "accumulator_copies", 2) == 2
            ws = np.zeros_like(up_start)
            we = np.zeros_like(up_end)
            prev_ws = np.zeros(n, np.int64)
            prev_we = np.zeros(n, np.int64)
            for t in range(self.timesteps):
                acc_start = (prev_ws if two else prev_we) if t else np.zeros(n, np.int64)
                acc_end = np.maximum(np.maximum(acc_start, up_start[:, t]) + a[:, t],
                                     up_end[:, t])
                ws[:, t] = np.maximum(acc_end, prev_we) if t else acc_end
                we[:, t] = ws[:, t] + r
                prev_ws, prev_we = ws[:, t], we[:, t]
            up_start, up_end = ws, we
        return up_end[:, -1]

    def worst_case_cycles(self) -> int:
        """Generous upper estimate of one sample's cycles (watchdogs)."""
        return self.timesteps * sum(lp.step_cycles_worst() for lp in self.layers)

    # ---- serialization
    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description: what ``portmap.json`` carries under ``plan``."""
        return {
            "format": PLAN_FORMAT, "version": PLAN_VERSION,
            "network_sha256": self.network_sha256, "timesteps": self.timesteps, "input_size": self.input_size,
            "n_classes": self.n_classes, "readout": self.readout,
            "input_index_bits": self.input_index_bits,
            "prediction_bits": self.prediction_bits,
            "cycles": {
                "bound": "per layer and timestep: input_events * groups + groups",
                "model": "per layer and timestep: max(input_events * groups + 1, rows)",
                "worst": "per layer and timestep: (in_features + 1) * groups + rows + "
                         "out_features + update_latency + 64",
            },
            "layers": [lp.as_dict() for lp in self.layers],
        } | ({} if all(lp.kind == "dense" for lp in self.layers) else {"cycles_conv2d": {
            "bound": "per conv2d layer and sample: a_0 + sum_{t>=1} max(a_t, rows) + rows, "
                     "a_t = work_t * groups, work = the in-bounds kernel taps summed over "
                     "the step's input events (two accumulator buffers: the walk of step "
                     "t-1 runs beside the accumulation of step t)",
            "model": "bound with a_t + marker + accumulate latency, + update latency + 1",
            "sample": "layers overlapping: a layer accumulates step t from the start of "
                      "the previous layer's walk of step t to its end (pipeline_cycles)",
        }})

    @classmethod
    def from_dict(cls, d: Any, *, where: str = "plan") -> HardwarePlan:
        """Read a plan written by :meth:`as_dict`; :class:`pysim.InputError` naming
        ``where`` and the field when it is malformed."""
        if not isinstance(d, Mapping) or d.get("format") != PLAN_FORMAT:
            raise InputError(f"{where}: not a spikeforge hardware plan (format "
                             f"{PLAN_FORMAT!r} expected)")
        if d.get("version") != PLAN_VERSION:
            raise InputError(f"{where}: plan version {d.get('version')!r} is not supported "
                             f"(expected {PLAN_VERSION})")
        try:
            layers = []
            for i, ld in enumerate(d["layers"]):
                kind = ld.get("kind")
                if kind not in LAYER_KINDS:
                    raise InputError(f"{where}: layers[{i}]: unknown kind {kind!r}")
                layers.append(LAYER_KINDS[kind].from_dict(ld))
            return cls(timesteps=int(d["timesteps"]), input_size=int(d["input_size"]),
                       n_classes=int(d["n_classes"]), readout=str(d["readout"]),
                       layers=tuple(layers), network_sha256=str(d["network_sha256"]))
        except InputError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"{where}: malformed plan ({type(exc).__name__}: {exc})"
                             ) from None

    @property
    def weights_in(self) -> dict[str, str]:
        """Where each dense layer's weights live (:data:`WEIGHT_STORES`), by layer name."""
        return {lp.name: lp.synapse.store for lp in self.layers if lp.kind == "dense"}

    @property
    def spram_layers(self) -> tuple[Any, ...]:
        """The layer plans whose synapse memory is in SPRAM, input to output."""
        return tuple(lp for lp in self.layers
                     if lp.kind == "dense" and lp.synapse.store == "spram")

    def check_network(self, net: IntNetwork, *, where: str = "plan") -> None:
        """Raise :class:`pysim.InputError` when this plan was not made for ``net``."""
        spram = self.spram_layers
        if plan_network(net, self.lanes,
                        weights_in={lp.name: "spram" for lp in spram} if spram else None,
                        membrane_packing={lp.name: lp.membrane_units for lp in self.layers
                                          if lp.kind == "conv2d"}) != self:
            raise InputError(f"{where}: the design was generated for another network "
                             f"(its plan differs from the plan of this manifest)")



def _layer_sample_bound(lp: Any, work: np.ndarray) -> np.ndarray:
    """A layer's per-sample cycle bound from its per-step work (N, T)."""
    if hasattr(lp, "sample_cycles_bound"):      # conv2d: the walk overlaps accumulation
        return lp.sample_cycles_bound(work)
    return lp.step_cycles_bound(work).sum(axis=1)


def _spram_blocks_of(layer: IntLayer, lanes: int) -> int:
    return synapse_plan(layer.in_features, layer.out_features, layer.weight_bits, lanes,
                        "spram").memory.spram_blocks


def resolve_weights_in(net: IntNetwork, lanes: Mapping[str, int],
                       weights_in: str | Mapping[str, str] | None) -> dict[str, str]:
    """Turn the ``weights_in`` option into one store (:data:`WEIGHT_STORES`) per dense layer.

    ``None`` or ``"bram"``: every synapse memory in block RAM (the default design).
    ``"spram"``: the largest synapse memories go into the iCE40 UP5K's
    ``SB_SPRAM256KA`` blocks, largest first, as long as they fit its
    :data:`SPRAM_BLOCKS`; the others stay in block RAM. A mapping ``{layer: store}``:
    those layers exactly, the others in block RAM. Raises :class:`pysim.InputError`
    (``param="weights_in"``) when the SPRAM memories do not fit or a layer is not dense.
    """
    dense = [la for la in net.layers if _kind(la) == "dense"]
    out = {la.name: "bram" for la in dense}
    if weights_in is None or weights_in == "bram":
        return out
    if isinstance(weights_in, str):
        if weights_in != "spram":
            raise InputError(f"must be one of {', '.join(WEIGHT_STORES)}, not {weights_in!r}",
                             param="weights_in")
        used = 0
        for la in sorted(dense, key=lambda la: -la.weight_memory_bits):
            need = _spram_blocks_of(la, lanes[la.name])
            if used + need <= SPRAM_BLOCKS:
                out[la.name] = "spram"
                used += need
        if used == 0:
            need = min((_spram_blocks_of(la, lanes[la.name]) for la in dense), default=0)
            raise InputError(f"no layer's weights fit the {SPRAM_BLOCKS} SPRAM blocks "
                             f"(the smallest needs {need})", param="weights_in")
        return out
    if not isinstance(weights_in, Mapping):
        raise InputError(f"must be 'bram', 'spram' or a mapping, not {weights_in!r}",
                         param="weights_in")
    names = {la.name: la for la in dense}
    used = 0
    for name, store in weights_in.items():
        if name not in names:
            raise InputError(f"no dense layer named {name!r} (dense layers: "
                             f"{', '.join(names)})", param="weights_in")
        if store not in WEIGHT_STORES:
            raise InputError(f"layer {name!r}: must be one of {', '.join(WEIGHT_STORES)}, "
                             f"not {store!r}", param="weights_in")
        out[name] = store
        if store == "spram":
            used += _spram_blocks_of(names[name], lanes[name])
    if used > SPRAM_BLOCKS:
        raise InputError(f"the SPRAM memories need {used} SB_SPRAM256KA blocks, more than "
                         f"the UP5K's {SPRAM_BLOCKS}", param="weights_in")
    return out


def _membrane_packing(net: IntNetwork, packing: Mapping[str, int] | None) -> dict[str, int]:
    """Validate ``plan_network``'s ``membrane_packing``: conv layer names, each value an
    integer from 1 to the layer's :func:`hwplan.conv.max_membrane_units`."""
    if not packing:
        return {}
    from .conv import max_membrane_units
    conv = {la.name: la for la in net.layers if _kind(la) == "conv2d"}
    out = {}
    for name, u in dict(packing).items():
        if name not in conv:
            raise InputError(f"membrane packing: {name!r} is not a conv2d layer of the "
                             f"network", param="membrane_packing")
        top = max_membrane_units(conv[name].state_bits)
        if not isinstance(u, int) or isinstance(u, bool) or not 1 <= u <= top:
            raise InputError(f"membrane packing of {name!r} must be an integer between 1 "
                             f"and {top}, not {u!r}", param="membrane_packing")
        out[name] = u
    return out


def plan_network(net: IntNetwork, lanes: int | Mapping[str, int] | None = None, *,
                 weights_in: str | Mapping[str, str] | None = None,
                 membrane_packing: Mapping[str, int] | None = None) -> HardwarePlan:
    """Plan the design of ``net``: validate, resolve lanes, plan every layer.

    Parameters
    ----------
    net : pysim.IntNetwork
    lanes : int, dict or None
        See :func:`resolve_lanes`.
    weights_in : None, "bram", "spram" or dict
        Where the synapse memories live; see :func:`resolve_weights_in` (default: all
        in block RAM, the unchanged design).
    membrane_packing : dict or None
        Neurons per membrane word of some conv layers, by name (default: each layer's
        :func:`hwplan.conv.membrane_units`); for experiments and tests of the packing.

    Raises
    ------
    pysim.InputError
        When the generator cannot build the network with these options (one line).
    """
    check_realizable(net)
    packing = _membrane_packing(net, membrane_packing)
    lane_map = resolve_lanes(net, lanes)
    stores = resolve_weights_in(net, lane_map, weights_in)
    n = len(net.layers)
    membrane = net.readout is Readout.MEMBRANE
    entries = []
    pool = None
    for i, layer in enumerate(net.layers):
        kind = _kind(layer)
        fires = not (membrane and i == n - 1)
        if kind == "sumpool2d":
            from .conv import pool_plan
            pool = pool_plan(layer)
            continue
        if kind == "conv2d":
            from .conv import conv_input_fifo, conv_layer_plan
            entries.append(conv_layer_plan(
                layer, lanes=lane_map[layer.name], fires=fires, pool=pool,
                membrane_packing=packing.get(layer.name),
                input_fifo=conv_input_fifo(entries[-1].out_features) if entries else 0))
        else:
            entries.append(dense_layer_plan(layer, lanes=lane_map[layer.name], fires=fires,
                                            pool=pool, store=stores[layer.name]))
        pool = None
    layers = tuple(entries)
    return HardwarePlan(timesteps=net.timesteps, input_size=net.input_size,
                        n_classes=net.output_size, readout=net.readout.value, layers=layers,
                        network_sha256=network_digest(net))

