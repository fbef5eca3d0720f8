"""Analytic resource model: block RAM from each family's geometries, LUT/FF from a fitted fit.

Block RAM is computed, not fitted: :func:`map_memory` repeats the geometry search of
Yosys' ``memory_libmap`` (``passes/memory/memory_libmap.cc``, ``handle_geom``) for a
memory of a given depth and width, over the primitives of :mod:`cost.targets`, and so
predicts the same primitive, shape and count Yosys picks. LUTs and flip-flops are a
linear function of per-layer width terms (lanes x accumulator bits, lanes x state bits,
counter widths, ...) whose coefficients per family are fitted by least squares to
synthesis runs (``scripts/fit_resource_model.py``) and shipped in
``cost/resource_model.json``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources as _ir
from typing import Any

from hwplan import DenseLayerPlan, HardwarePlan, MemoryPlan, plan_network
from pysim import IntNetwork
from pysim.errors import InputError
from pysim.util import ceil_div

from .targets import BramPrimitive, Target, get_target

__all__ = [
    "FEATURES",
    "BramFloor",
    "LayerEstimate",
    "MemoryMapping",
    "ResourceEstimate",
    "estimate_network",
    "layer_features",
    "layer_memories",
    "load_model",
    "map_memory",
    "map_synapse",
    "membrane_floor",
    "memory_floor",
]

_FACTOR_MUX = 0.5
_FACTOR_DEMUX = 0.5


@dataclass(frozen=True)
class MemoryMapping:
    """How one logical memory (depth x width) lands in block RAM primitives."""

    depth: int
    width: int
    cell: str
    count: int
    units: int
    shape: tuple[int, int]
    allocated_bits: int
    mode: str

    @property
    def used_bits(self) -> int:
        """Bits of the logical memory (depth x width)."""
        return self.depth * self.width

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        d = asdict(self)
        d["shape"] = f"{self.shape[0]}x{self.shape[1]}"
        d["used_bits"] = self.used_bits
        return d



def map_memory(depth: int, width: int, target: str | Target, *, read_ports: int = 1,
               writable: bool = False) -> MemoryMapping:
    """Map a ``depth`` x ``width`` memory to block RAM the way Yosys' memory_libmap does.

    For every primitive mode and every base width the cost is
    ``cost * ceil(mult_a * swizzle / unit_width) * repl_port + 0.5 * mux + 0.5 * demux``
    with ``mult_a`` the number of address ranges the depth spans; the cheapest (first on
    a tie) wins, exactly as in ``handle_geom``/``prune_post_geom``. A read-only memory
    packs its words without padding; a writable one pads each word to the write-enable
    granularity (``byte``) of the primitive.

    Parameters
    ----------
    depth, width
        Logical memory shape (words, bits per word).
    target
        Target (or its name) whose block RAM primitives to use.
    read_ports
        Read ports of the memory (each primitive offers ``read_ports`` of its own; more
        replicate the array).
    writable
        Whether the memory has a write port (membrane RAMs) or is a ROM (synapses).
    """
    if depth < 1 or width < 1:
        raise InputError(f"memory shape must be positive, not {depth}x{width}")
    t = get_target(target) if isinstance(target, str) else target
    best: tuple[float, MemoryMapping] | None = None
    for prim in t.bram:
        cand = _best_geometry(prim, depth, width, read_ports, writable)
        if cand is not None and (best is None or cand[0] < best[0]):
            best = cand
    if best is None:  # pragma: no cover - every family has a mode for any shape
        raise InputError(f"no block RAM of {t.name} holds a {depth}x{width} memory")
    return best[1]


def _best_geometry(prim: BramPrimitive, depth: int, width: int, read_ports: int,
                   writable: bool) -> tuple[float, MemoryMapping] | None:
    lo, hi = (prim.ram_range or (0, len(prim.widths))) if writable else (0, len(prim.widths))
    repl_port = 1 if writable else ceil_div(read_ports, prim.read_ports)
    best: tuple[float, MemoryMapping] | None = None
    for i in range(lo, hi):
        unit = prim.widths[i]
        if writable:
            eb = prim.byte if 0 < prim.byte <= unit else unit
            swizzle = ceil_div(width, eb) * eb
        else:
            swizzle = width
        addrs = 1 << (prim.abits - i)
        mult_a = (depth - 1) // addrs + 1
        repl = ceil_div(mult_a * swizzle, unit)
        score_mux = (mult_a - 1) * width * read_ports
        score_demux = mult_a if (writable and mult_a != 1) else 0
        cost = prim.cost * repl * repl_port + _FACTOR_MUX * score_mux \
            + _FACTOR_DEMUX * score_demux
        if best is None or cost < best[0]:
            count = repl * repl_port
            best = (cost, MemoryMapping(
                depth=depth, width=width, cell=prim.cell, count=count,
                units=count * prim.units, shape=(addrs, unit),
                allocated_bits=count * prim.capacity_bits,
                mode=prim.name,
            ))
    return best


def map_synapse(memory: MemoryPlan, target: str | Target) -> MemoryMapping:
    """Block RAM of a synapse ROM as the generator builds it (``memory``, from the plan):
    one mapping per bank (each bank mapped on its own), summed. An SPRAM memory
    (``kind == "spram"``, iCE40 UP5K) takes no block RAM: its mapping counts 0 block
    RAMs, names ``SB_SPRAM256KA`` and gives the blocks in ``mode`` (``"spram x4"``)."""
    if memory.kind == "spram":
        t = get_target(target) if isinstance(target, str) else target
        if t.name != "ice40-up5k":
            raise InputError(f"a synapse memory in SPRAM exists only on the iCE40 UP5K, "
                             f"not on {t.name}", param="targets")
        return MemoryMapping(depth=memory.depth, width=memory.width, cell="SB_SPRAM256KA",
                             count=0, units=0, shape=(16384, 16), allocated_bits=0,
                             mode=f"spram x{memory.spram_blocks}")
    parts = [map_memory(max(2, d), memory.width, target) for d in memory.banks]
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    return MemoryMapping(
        depth=memory.depth, width=memory.width, cell=first.cell,
        count=sum(p.count for p in parts), units=sum(p.units for p in parts),
        shape=first.shape, allocated_bits=sum(p.allocated_bits for p in parts),
        mode=first.mode,
    )


# --------------------------------------------------------------------------------------
# Lower bounds: the fewest blocks a memory's data could take

@dataclass(frozen=True)
class BramFloor:
    """The fewest block RAMs (in the target's unit) the data of one memory could take.

    ``bits_floor`` is ``ceil(data_bits / block_bits)``: no layout of ``data_bits`` bits
    in blocks of ``block_bits`` (the family's smallest block, parity bits included) takes
    fewer. ``shape_floor`` is the fewest blocks of any one legal mode of the family's
    block RAM (depth x width, read-write modes for a RAM) holding ``ceil(items / u)``
    words of ``u * item_bits`` bits, over every packing ``u`` allowed (``packings``):
    ``ceil(ceil(words / depth) * slot / width)`` blocks (address ranges side by side in
    a block's width, as Yosys' memory_libmap lays them, each ``slot`` = the word padded to
    the mode's write-enable granularity in a RAM: 9 bits on ECP5 / Xilinx);
    ``shape`` / ``packing`` / ``mode`` say which. ``bits_floor <= shape_floor``; a design
    that allocates ``shape_floor`` blocks loses only the block granularity and the mode
    shapes, not packing.
    """

    data_bits: int
    block_bits: int
    bits_floor: int
    shape_floor: int
    packing: int
    shape: tuple[int, int]
    mode: str

    def ratio(self, units: int) -> float:
        """Allocated bits / data bits of ``units`` blocks."""
        return units * self.block_bits / max(1, self.data_bits)

    @property
    def bits_floor_ratio(self) -> float:
        """The granularity floor: ``bits_floor`` blocks / data bits (>= 1)."""
        return self.ratio(self.bits_floor)

    @property
    def shape_floor_ratio(self) -> float:
        """``shape_floor`` blocks / data bits (>= :attr:`bits_floor_ratio`)."""
        return self.ratio(self.shape_floor)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"data_bits": self.data_bits, "block_bits": self.block_bits,
                "bits_floor_units": self.bits_floor, "shape_floor_units": self.shape_floor,
                "packing": self.packing, "shape": f"{self.shape[0]}x{self.shape[1]}",
                "mode": self.mode, "bits_floor_ratio": round(self.bits_floor_ratio, 4),
                "shape_floor_ratio": round(self.shape_floor_ratio, 4)}


def _legal_modes(t: Target, writable: bool) -> list[tuple[int, int, int, str, int]]:
    """(depth, width, units, cell, write-enable bits) of every mode of the family's block
    RAM a memory may use (a RAM only the read-write modes, ``ram_range``)."""
    out = []
    for prim in t.bram:
        lo, hi = (prim.ram_range or (0, len(prim.widths))) if writable \
            else (0, len(prim.widths))
        for i in range(lo, hi):
            out.append((1 << (prim.abits - i), prim.widths[i], prim.units, prim.cell,
                        prim.byte))
    return out


def memory_floor(items: int, item_bits: int, target: str | Target, *,
                 packings: Sequence[int] = (1,), writable: bool = True) -> BramFloor:
    """Lower bounds on the block RAMs of ``items`` values of ``item_bits`` bits.

    ``packings``: the values per word a design may choose (the shape floor is the
    minimum over them); ``writable``: a RAM (read-write modes only) or a ROM.

    E.g. 2,048 membranes of 12 bits on ECP5 (18,432-bit blocks): ``bits_floor =
    ceil(24576 / 18432) = 2``, and 2 blocks of 1024x18 hold them (``shape_floor = 2``):
    the 1.50 of allocated / data bits is the block granularity.
    """
    t = get_target(target) if isinstance(target, str) else target
    if items < 1 or item_bits < 1:
        raise InputError(f"memory data must be positive, not {items} x {item_bits} bits")
    block = t.bram_block_bits
    data = items * item_bits
    best: tuple[int, int, tuple[int, int], str] | None = None
    for u in sorted({int(p) for p in packings if 1 <= int(p) <= items}) or [1]:
        words, width = ceil_div(items, u), u * item_bits
        for depth, w, units, cell, byte in _legal_modes(t, writable):
            # address ranges side by side in a block's width, as memory_libmap lays
            # them, each padded to the write-enable granularity in a RAM
            eb = byte if writable and 0 < byte <= w else w
            slot = ceil_div(width, eb) * eb if writable else width
            n = ceil_div(ceil_div(words, depth) * slot, w) * units
            if best is None or n < best[0]:
                best = (n, u, (depth, w), cell)
    assert best is not None
    return BramFloor(data_bits=data, block_bits=block, bits_floor=ceil_div(data, block),
                     shape_floor=best[0], packing=best[1], shape=best[2], mode=best[3])


def membrane_floor(neurons: int, state_bits: int, target: str | Target) -> BramFloor:
    """:func:`memory_floor` of a membrane RAM: ``neurons`` states of ``state_bits``, any
    packing the plan may choose (1 .. :func:`hwplan.conv.max_membrane_units` neurons per
    word, as :func:`hwplan.conv.membrane_units`)."""
    from hwplan.conv import max_membrane_units
    return memory_floor(neurons, state_bits, target,
                        packings=range(1, max_membrane_units(state_bits) + 1))


# --------------------------------------------------------------------------------------
# Per-layer shapes and features

@dataclass(frozen=True)
class MembraneMapping:
    """Where Yosys puts a layer's accumulator (membrane) memory when it chooses freely.

    ``kind`` is ``"block"`` (block RAM, ``block`` set), ``"lutram"`` (distributed RAM,
    ``lutram_bits`` of LUT-RAM cells) or ``"ff"`` (flip-flops and multiplexers).
    """

    kind: str
    depth: int
    width: int
    block: MemoryMapping | None = None
    lutram_bits: int = 0

    @property
    def bits(self) -> int:
        """Bits of the logical memory."""
        return self.depth * self.width


_EMU_BLOCK = 8.0   # transparency + separate read port emulation score x FACTOR_EMU
_EMU_LUTRAM = 2.0


def _lutram_cost(depth: int, width: int, t: Target) -> tuple[float, int] | None:
    """(memory_libmap cost, LUT-RAM bits) of the cheapest distributed RAM, if any."""
    if t.family == "ecp5":      # TRELLIS_DPR16X4: 16 x 4, cost 4
        mult_a = ceil_div(depth, 16)
        repl = mult_a * ceil_div(width, 4)
        cost = 4 * repl + _FACTOR_MUX * (mult_a - 1) * width
        return cost + _EMU_LUTRAM, repl * 64
    if t.family == "xc7":       # $__XILINX_LUTRAM_SDP_ (RAM32M/RAM64M): cost 8, widthscale 7
        best = None
        for abits, unit, cell_bits in ((5, 6, 128), (6, 3, 256)):
            mult_a = ceil_div(depth, 1 << abits)
            repl = mult_a * ceil_div(width, unit)
            cost = (8 - 7) * repl + (7 * mult_a * width) // unit \
                + _FACTOR_MUX * (mult_a - 1) * width
            cand = (cost + _EMU_LUTRAM, repl * cell_bits)
            if best is None or cand[0] < best[0]:
                best = cand
        return best
    return None


def map_membrane(depth: int, width: int, target: str | Target) -> MembraneMapping:
    """Predict memory_libmap's free choice for a read-write memory without ``ram_style``.

    Soft logic costs one per bit; block and distributed RAM cost as in
    :func:`map_memory`; the cheapest wins (logic on a tie).
    """
    t = get_target(target) if isinstance(target, str) else target
    logic = float(int(depth * width * 1.0))
    best_kind, best_cost = "ff", logic
    blk = map_memory(depth, width, t, writable=True)
    prim = next(p for p in t.bram if p.name == blk.mode)
    blk_cost = prim.cost * blk.count + _EMU_BLOCK \
        + _FACTOR_MUX * ((depth - 1) // blk.shape[0]) * width
    lut = _lutram_cost(depth, width, t)
    if lut is not None and lut[0] < best_cost:
        best_kind, best_cost = "lutram", lut[0]
    if blk_cost < best_cost:
        best_kind, best_cost = "block", blk_cost
    if best_kind == "block":
        return MembraneMapping("block", depth, width, block=blk)
    if best_kind == "lutram":
        return MembraneMapping("lutram", depth, width, lutram_bits=lut[1])
    return MembraneMapping("ff", depth, width)


FEATURES: tuple[str, ...] = (
    "layer",            # per layer constant (sequencer, handshakes)
    "lanes",            # per lane control and event encoding
    "lanes_acc",        # lanes x accumulator bits (accumulate adders, buffer select)
    "addr_bits",        # synapse address width (counters, address adders)
    "mem_ff_bits",      # accumulator and membrane bits kept in flip-flops (no RAM)
    "lutram_bits",      # accumulator and membrane bits in LUT-RAM
    "units_state",      # update units x state bits (reset, leak, sum, clamp pipeline)
    "bank_bits",        # banked synapse ROM: bank output registers and the bank multiplexer
    # conv2d layers and sum-pools (zero for a dense layer without a pool, so the dense
    # figures do not depend on these coefficients)
    "pool_bits",        # sum-pool in front: row cursor, window tables and counters
    "conv_layer",       # per conv layer constant (controller, emitter, handshakes)
    "conv_lanes_acc",   # lanes x accumulator bits (adders, two forwarding registers, muxes)
    "conv_addr_bits",   # address generation: tap / accumulator / membrane / cursor widths
    "conv_state",       # update pipeline: state + sum + syn-bias bits, lane select
    "conv_slot_bits",   # packed membrane words: (U - 1) x state bits (slot multiplexer,
                        # the word's read and write-back registers)
    "conv_deep_bits",   # block RAMs several blocks deep: (address ranges - 1) x width
                        # summed over a conv layer's memories (their read multiplexers)
)
CONV_FEATURES: tuple[str, ...] = ("pool_bits", "conv_layer", "conv_lanes_acc",
                                  "conv_addr_bits", "conv_state", "conv_slot_bits",
                                  "conv_deep_bits")
"""The features a conv2d layer or a pool adds; fitted on conv designs with the dense
coefficients held (``scripts/fit_resource_model.py --conv``)."""
TOP_FEATURES: tuple[str, ...] = ("top", "count_bits")


def layer_memories(lp: DenseLayerPlan, target: str | Target) -> list[MembraneMapping]:
    """Where Yosys puts a layer's read-write memories: the two accumulator step buffers
    and the membrane memory (see :func:`map_membrane`)."""
    acc, mem = lp.core.accumulator, lp.core.membrane
    if lp.kind == "conv2d":
        # whole-map memories: block RAM unless tiny (the same free choice as Yosys);
        # the accumulator buffers, their tag RAMs, the input FIFO, the membrane RAM last
        return ([map_membrane(acc.depth, acc.width, target)] * acc.copies
                + [map_membrane(lp.tags.depth, 1, target)] * acc.copies
                + ([map_membrane(lp.input_fifo, lp.in_index_bits + 1, target)]
                   if lp.input_fifo else [])
                + [map_membrane(mem.depth, mem.width, target)])
    a = map_membrane(acc.depth, acc.width, target)
    return [a] * acc.copies + [map_membrane(mem.depth, mem.width, target)]


def _pool_bits(lp: Any) -> float:
    pool = getattr(lp, "pool", None)
    if pool is None:
        return 0.0
    from pysim.util import index_bits
    c, h, w = pool.in_shape
    # cursor (row start/end, c, y), the pooled index and window counters
    return float(3 * index_bits(pool.in_size) + index_bits(pool.out_size) + index_bits(c)
                 + index_bits(h) + index_bits(w))


def layer_features(lp: Any, mems: Sequence[MembraneMapping]) -> dict[str, float]:
    """The linear model's regressors for one layer (``mems``: :func:`layer_memories`)."""
    if lp.kind == "conv2d":
        return _conv_features(lp, mems)
    syn = lp.synapse.memory
    return {
        "layer": 1.0,
        "lanes": float(lp.lanes),
        "lanes_acc": float(lp.lanes * lp.acc_bits),
        "addr_bits": float(syn.addr_bits),
        "mem_ff_bits": float(sum(mm.bits for mm in mems if mm.kind == "ff")),
        "lutram_bits": float(sum(mm.lutram_bits for mm in mems)),
        "units_state": float(lp.update_units * lp.state_bits),
        # banked synapse ROM: the banks' output registers and the bank multiplexer
        "bank_bits": float(len(syn.banks) * syn.width if len(syn.banks) > 1 else 0),
        **({} if lp.pool is None else {"pool_bits": _pool_bits(lp)}),
    }


def _conv_features(lp: Any, mems: Sequence[MembraneMapping]) -> dict[str, float]:
    from pysim.util import index_bits
    c, h, w = lp.in_shape
    # the tag RAMs' address multiplexers (walk / accumulation, per buffer) and the input
    # FIFO's pointers count as address bits too
    copies = lp.accumulator.copies
    fifo = int(getattr(lp, "input_fifo", 0))
    addr = (lp.weights.addr_bits * 5 + lp.accumulator.addr_bits * 9
            + lp.membrane.addr_bits * 6 + 3 * index_bits(c * h * w) + index_bits(c)
            + index_bits(h) + index_bits(w) + 4 * copies * lp.tags.addr_bits
            + (3 * index_bits(fifo) if fifo else 0))
    return {
        "mem_ff_bits": float(sum(mm.bits for mm in mems if mm.kind == "ff")),
        "lutram_bits": float(sum(mm.lutram_bits for mm in mems)),
        "pool_bits": _pool_bits(lp),
        "conv_layer": 1.0,
        "conv_lanes_acc": float(lp.lanes * lp.acc_bits),
        "conv_addr_bits": float(addr),
        "conv_state": float(2 * lp.state_bits + lp.sum_bits + lp.syn_bias_bits
                            + lp.acc_bits),
        "conv_slot_bits": float((lp.membrane_units - 1) * lp.state_bits),
        "conv_deep_bits": float(sum((ceil_div(mm.depth, mm.block.shape[0]) - 1) * mm.width
                                    for mm in mems if mm.block is not None)),
    }


def top_features(plan: HardwarePlan) -> dict[str, float]:
    """Regressors of the network top (readout counters, argmax, sequencing)."""
    return {"top": 1.0, "count_bits": float(plan.n_classes * plan.count_bits)}


# --------------------------------------------------------------------------------------
# The fitted model

@lru_cache(maxsize=4)
def _load_model_text(path: str | None) -> str:
    if path is None:
        return _ir.files("cost").joinpath("resource_model.json").read_text()
    with open(path) as f:
        return f.read()


def load_model(path: str | None = None) -> dict[str, Any]:
    """Load fitted coefficients (``cost/resource_model.json`` unless ``path`` is given)."""
    try:
        return json.loads(_load_model_text(path))
    except FileNotFoundError as exc:
        raise InputError(f"resource model not found: {path or 'cost/resource_model.json'}"
                         ) from exc


@dataclass(frozen=True)
class LayerEstimate:
    """Estimated resources of one layer on one target."""

    name: str
    lanes: int
    weight_bits: int
    weight_bits_total: int
    synapse: MemoryMapping
    membrane: MemoryMapping | None
    luts: float
    ffs: float
    accumulator: MemoryMapping | None = None
    kind: str = "dense"
    accumulator_copies: int = 2
    membrane_bits_total: int = 0
    """Neurons x state bits (the membrane RAM's data)."""
    tags: MemoryMapping | None = None
    """Block mapping of one accumulator tag RAM (conv2d; one per buffer)."""
    fifo: MemoryMapping | None = None
    """Block mapping of the input FIFO (conv2d fed by a layer)."""
    membrane_floor: BramFloor | None = None
    """Lower bounds on the membrane RAM's blocks (:func:`membrane_floor`; None when the
    membranes are not in block RAM)."""
    weight_floor: BramFloor | None = None
    """Lower bounds on the weight ROM's blocks (None when it takes no block RAM)."""

    def _rw(self) -> list[MemoryMapping]:
        """Block mappings of the read-write memories (accumulator buffers and their tags,
        the input FIFO, membrane)."""
        acc = [self.accumulator] * self.accumulator_copies if self.accumulator else []
        acc += [self.tags] * self.accumulator_copies if self.tags else []
        return acc + ([self.fifo] if self.fifo else []) + ([self.membrane] if self.membrane
                                                           else [])

    @property
    def weight_bram_units(self) -> int:
        """Block RAMs of the weight (synapse) ROM."""
        return self.synapse.units

    @property
    def membrane_bram_units(self) -> int:
        """Block RAMs of the membrane RAM (0 when in LUT-RAM or flip-flops)."""
        return self.membrane.units if self.membrane else 0

    @property
    def accumulator_bram_units(self) -> int:
        """Block RAMs of the accumulator buffers (and their tag RAMs)."""
        acc = self.accumulator.units if self.accumulator else 0
        tag = self.tags.units if self.tags else 0
        return (acc + tag) * self.accumulator_copies

    @property
    def fifo_bram_units(self) -> int:
        """Block RAMs of the input FIFO."""
        return self.fifo.units if self.fifo else 0

    @property
    def membrane_ratio(self) -> float | None:
        """Membrane block RAM bits allocated / (neurons x state bits); None when the
        membranes are not in block RAM."""
        if self.membrane is None or not self.membrane_bits_total:
            return None
        return self.membrane.allocated_bits / self.membrane_bits_total

    @property
    def membrane_floor_ratio(self) -> float | None:
        """The membrane RAM's granularity floor: ``ceil(neurons x state bits / block
        bits)`` blocks / (neurons x state bits); None when not in block RAM."""
        return None if self.membrane_floor is None else self.membrane_floor.bits_floor_ratio

    @property
    def weight_floor_ratio(self) -> float | None:
        """The weight ROM's granularity floor (as :attr:`membrane_floor_ratio`)."""
        return None if self.weight_floor is None else self.weight_floor.bits_floor_ratio

    @property
    def bram_count(self) -> int:
        """Block RAM primitives (synapse, accumulator buffers, membrane)."""
        return self.synapse.count + sum(mm.count for mm in self._rw())

    @property
    def bram_units(self) -> int:
        """Block RAMs in the target's unit (RAMB18 halves on Xilinx)."""
        return self.synapse.units + sum(mm.units for mm in self._rw())

    @property
    def bram_bits(self) -> int:
        """Block RAM bits allocated (primitive capacity x count)."""
        return self.synapse.allocated_bits + sum(mm.allocated_bits for mm in self._rw())

    @property
    def bram_ratio(self) -> float:
        """Synapse block RAM bits allocated / (weights x weight bits)."""
        return self.synapse.allocated_bits / max(1, self.weight_bits_total)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "name": self.name, "lanes": self.lanes, "weight_bits": self.weight_bits,
            "weight_memory_bits": self.weight_bits_total,
            "synapse_memory": self.synapse.as_dict(),
            "accumulator_memory": self.accumulator.as_dict() if self.accumulator else None,
            "membrane_memory": self.membrane.as_dict() if self.membrane else None,
            "luts": round(self.luts, 1), "ffs": round(self.ffs, 1),
            "bram_count": self.bram_count, "bram_units": self.bram_units,
            "bram_bits": self.bram_bits, "bram_ratio": round(self.bram_ratio, 4),
            "kind": self.kind, "weight_bram_units": self.weight_bram_units,
            "membrane_bram_units": self.membrane_bram_units,
            "accumulator_bram_units": self.accumulator_bram_units,
            "fifo_bram_units": self.fifo_bram_units,
            "membrane_bits": self.membrane_bits_total,
            "membrane_ratio": None if self.membrane_ratio is None
            else round(self.membrane_ratio, 4),
            "membrane_floor": None if self.membrane_floor is None
            else self.membrane_floor.as_dict(),
            "membrane_floor_ratio": None if self.membrane_floor_ratio is None
            else round(self.membrane_floor_ratio, 4),
            "weight_floor": None if self.weight_floor is None else self.weight_floor.as_dict(),
            "weight_floor_ratio": None if self.weight_floor_ratio is None
            else round(self.weight_floor_ratio, 4),
        }


@dataclass(frozen=True)
class ResourceEstimate:
    """Estimated resources of a network on one target (per layer and total)."""

    target: str
    layers: tuple[LayerEstimate, ...]
    top_luts: float
    top_ffs: float
    model: str

    @property
    def luts(self) -> int:
        """Total LUTs (LUT4-equivalents on Lattice; carry LUTs included on ECP5)."""
        return round(sum(lay.luts for lay in self.layers) + self.top_luts)

    @property
    def ffs(self) -> int:
        """Total flip-flops."""
        return round(sum(lay.ffs for lay in self.layers) + self.top_ffs)

    @property
    def bram_count(self) -> int:
        """Total block RAM primitives."""
        return sum(lay.bram_count for lay in self.layers)

    @property
    def bram_units(self) -> int:
        """Total block RAMs in the target's unit."""
        return sum(lay.bram_units for lay in self.layers)

    @property
    def bram_bits(self) -> int:
        """Total block RAM bits allocated."""
        return sum(lay.bram_bits for lay in self.layers)

    @property
    def weight_memory_bits(self) -> int:
        """Sum over layers of weights x weight bits."""
        return sum(lay.weight_bits_total for lay in self.layers)

    def _floor_totals(self, which: str) -> tuple[int, int, int] | None:
        """(allocated bits, data bits, bits-floor bits) summed over the layers whose
        ``which`` memory ("membrane" / "weight") is in block RAM; None when none is."""
        alloc = data = floor = 0
        for lay in self.layers:
            f = getattr(lay, f"{which}_floor")
            if f is None:
                continue
            mm = lay.membrane if which == "membrane" else lay.synapse
            alloc += mm.allocated_bits
            data += f.data_bits
            floor += f.bits_floor * f.block_bits
        return (alloc, data, floor) if data else None

    @property
    def membrane_ratio(self) -> float | None:
        """Membrane block RAM bits allocated / (neurons x state bits) over the layers
        whose membranes are in block RAM (None when none is)."""
        t = self._floor_totals("membrane")
        return None if t is None else t[0] / t[1]

    @property
    def membrane_floor_ratio(self) -> float | None:
        """The granularity floor of :attr:`membrane_ratio`: the layers' bits floors
        summed / their data bits."""
        t = self._floor_totals("membrane")
        return None if t is None else t[2] / t[1]

    @property
    def weight_ratio(self) -> float | None:
        """Weight ROM block RAM bits allocated / (weights x weight bits), over the layers
        whose weights are in block RAM."""
        t = self._floor_totals("weight")
        return None if t is None else t[0] / t[1]

    @property
    def weight_floor_ratio(self) -> float | None:
        """The granularity floor of :attr:`weight_ratio`."""
        t = self._floor_totals("weight")
        return None if t is None else t[2] / t[1]

    def fits(self) -> bool:
        """Whether the estimate fits the target part's LUT, FF and block RAM capacity."""
        t = get_target(self.target)
        return self.luts <= t.luts and self.ffs <= t.ffs and self.bram_units <= t.brams

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "target": self.target, "model": self.model, "luts": self.luts, "ffs": self.ffs,
            "bram_count": self.bram_count, "bram_units": self.bram_units,
            "bram_bits": self.bram_bits, "weight_memory_bits": self.weight_memory_bits,
            "fits": self.fits(), "layers": [lay.as_dict() for lay in self.layers],
            "weight_bram_units": sum(lay.weight_bram_units for lay in self.layers),
            "membrane_bram_units": sum(lay.membrane_bram_units for lay in self.layers),
            "accumulator_bram_units": sum(lay.accumulator_bram_units for lay in self.layers),
            "fifo_bram_units": sum(lay.fifo_bram_units for lay in self.layers),
            **{k: None if getattr(self, k) is None else round(getattr(self, k), 4)
               for k in ("membrane_ratio", "membrane_floor_ratio", "weight_ratio",
                         "weight_floor_ratio")},
        }


def _predict(coef: Mapping[str, float], feats: Mapping[str, float]) -> float:
    return float(sum(coef.get(k, 0.0) * v for k, v in feats.items()))


def estimate_network(design: IntNetwork | HardwarePlan, *, target: str | Target,
                     lanes: Mapping[str, int] | int | None = None,
                     model: Mapping[str, Any] | None = None) -> ResourceEstimate:
    """Estimate LUTs, FFs and block RAM of a design on ``target`` without synthesis.

    Parameters
    ----------
    design
        The design's plan (:class:`hwplan.HardwarePlan`, e.g. of a generated design),
        or an integer network, planned with ``lanes`` (:func:`hwplan.plan_network`).
    target
        Target name or :class:`~cost.targets.Target`.
    lanes
        Lanes per layer, only with a network (an int for all layers, a dict by layer
        name, or the generator's default).
    model
        Fitted coefficients (defaults to the shipped ``cost/resource_model.json``).
    """
    plan = _plan_of(design, lanes)
    t = get_target(target) if isinstance(target, str) else target
    m = dict(model) if model is not None else load_model()
    fam = m.get("families", {}).get(t.family)
    if fam is None:
        raise InputError(f"resource model has no coefficients for family {t.family}")
    layers = []
    for lp in plan.layers:
        syn = map_synapse(lp.synapse.memory, t)
        mems = layer_memories(lp, t)
        feats = layer_features(lp, mems)
        conv = lp.kind == "conv2d"
        copies = lp.core.accumulator.copies
        mfloor = (membrane_floor(lp.out_features, lp.state_bits, t)
                  if mems[-1].block is not None else None)
        layers.append(LayerEstimate(
            name=lp.name, lanes=lp.lanes, weight_bits=lp.weight_bits,
            weight_bits_total=lp.weight_memory_bits, synapse=syn, membrane=mems[-1].block,
            luts=_predict(fam["luts"], feats), ffs=_predict(fam["ffs"], feats),
            accumulator=mems[0].block, kind=lp.kind,
            accumulator_copies=copies,
            membrane_bits_total=lp.out_features * lp.state_bits,
            tags=mems[copies].block if conv else None,
            fifo=mems[2 * copies].block if conv and lp.input_fifo else None,
            membrane_floor=mfloor, weight_floor=_weight_floor(lp, syn, t),
        ))
    top = top_features(plan)
    return ResourceEstimate(
        target=t.name, layers=tuple(layers),
        top_luts=_predict(fam.get("top_luts", {}), top),
        top_ffs=_predict(fam.get("top_ffs", {}), top),
        model=str(m.get("version", "?")),
    )


def _weight_floor(lp: Any, syn: MemoryMapping, t: Target) -> BramFloor | None:
    """Lower bounds on a weight ROM's blocks: ``bits_floor`` of the weights x weight bits,
    ``shape_floor`` of the plan's words (lanes x weight bits wide, each bank apart)."""
    if syn.units == 0 or lp.weight_memory_bits < 1:
        return None
    mem = lp.synapse.memory
    parts = [memory_floor(max(2, d), mem.width, t, writable=False) for d in mem.banks]
    first = parts[0]
    return BramFloor(data_bits=lp.weight_memory_bits, block_bits=t.bram_block_bits,
                     bits_floor=ceil_div(lp.weight_memory_bits, t.bram_block_bits),
                     shape_floor=sum(p.shape_floor for p in parts), packing=1,
                     shape=first.shape, mode=first.mode)


def _plan_of(design: IntNetwork | HardwarePlan, lanes: Any) -> HardwarePlan:
    if isinstance(design, HardwarePlan):
        if lanes is not None:
            raise InputError("a plan fixes the lanes; give lanes with a network only",
                             param="lanes")
        return design
    return plan_network(design, lanes)
