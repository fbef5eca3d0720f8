"""Weights in the iCE40 UP5K's single-port RAMs (``SB_SPRAM256KA``), filled at run time.

The UP5K has 30 block RAMs of 4 Kbit (120 Kbit) but four 256 Kbit single-port RAMs; an
MNIST-size layer (784 x 256 weights at 3 bits: 602 Kbit) fits only in the latter. Yosys
maps an Amaranth memory to SPRAM only without initial contents, and Amaranth writes an
all-zero ``initial`` block even for an empty one, so the blocks are instantiated
directly:

* :class:`SpramSynapseMemory`: a :class:`~hdl.synapse.SynapseMemory` (the same read
  port: ``addr``, ``en``, ``data`` one cycle later, held while ``en`` is low) built from
  ``ceil(width / 16)`` ``SB_SPRAM256KA`` side by side per 16,384 words, with the write
  port of :meth:`~hdl.synapse.SynapseMemory.add_write_port` always present. Every
  number comes from the layer's :class:`hwplan.MemoryPlan` (``kind == "spram"``);
* :class:`SpramLoader`: a byte stream in the order of :mod:`hwplan.spram` becomes one
  write per synapse word; ``loaded`` rises after the last byte;
* :class:`SpramNetwork`: the bare core (:class:`~hdl.network.Network`) with the loader in
  front: ``busy`` is high and ``start`` is refused (sticky ``load_error``) until the load
  completes; a reset empties the load state, so the weights are loaded after every reset.

Amaranth's simulator cannot run an ``Instance``; :meth:`SpramSynapseMemory.use_model`
swaps the blocks for an Amaranth memory of the same behaviour (for the board's UART
path in :mod:`sim.board_sim`). The Verilog with the real blocks is verified with
Verilator against the ``SB_SPRAM256KA`` model Yosys ships (:mod:`sim.tools`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from amaranth.hdl import C, ClockSignal, Instance, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out, connect, flipped

from hwplan import (
    SPRAM_DEPTH,
    SPRAM_WIDTH,
    HardwarePlan,
    SynapsePlan,
    load_image_bytes,
    load_layout,
    load_word_bytes,
    synapse_plan,
)
from pysim import IntNetwork
from pysim.util import ceil_log2

from ._logic import mux_tree
from ._params import quiet_on_error
from .network import Network
from .synapse import SynapseMemory

__all__ = ["SPRAM_CELL", "SpramLoader", "SpramNetwork", "SpramSynapseMemory", "spram_portmap"]

SPRAM_CELL = "SB_SPRAM256KA"
"""The iCE40 UP5K primitive the SPRAM memories instantiate."""


class SpramSynapseMemory(SynapseMemory):
    """A layer's synapse memory in ``SB_SPRAM256KA`` blocks (see the module docstring).

    Parameters are those of :class:`~hdl.synapse.SynapseMemory` (keyword-only, validated
    alike). The memory holds no initial contents: its words arrive through the write
    port (:meth:`add_write_port`, always built), as :func:`hwplan.pack_synapse_words`
    packs them. Reading and writing share the blocks' one port: a write (``wr.en``)
    takes the address, so the owner writes only while the layer is idle.
    """

    @quiet_on_error
    def __init__(self, *, weights: Any, weight_bits: int, lanes: int) -> None:
        super().__init__(weights=weights, weight_bits=weight_bits, lanes=lanes)
        self._plan = synapse_plan(self.in_features, self.out_features, self.weight_bits,
                                  self.lanes, "spram")
        self._model = False
        self.add_write_port()

    @property
    def columns(self) -> int:
        """``SB_SPRAM256KA`` blocks side by side: ``ceil(width / 16)``."""
        return self._plan.memory.spram_columns

    @property
    def blocks(self) -> int:
        """``SB_SPRAM256KA`` blocks in all (columns x banks)."""
        return self._plan.memory.spram_blocks

    def use_model(self) -> None:
        """Build an Amaranth memory with the blocks' behaviour instead of the
        instances (Amaranth's simulator cannot run an ``Instance``); call before
        elaboration. The Verilog for a device never uses it."""
        self._model = True

    def _block(self, m: Module, name: str, *, addr: Any, wdata: Any, we: Any, cs: Any,
               q: Any, depth: int) -> None:
        if not self._model:
            m.submodules[name] = Instance(
                SPRAM_CELL, i_ADDRESS=addr, i_DATAIN=wdata, i_MASKWREN=C(0b1111, 4),
                i_WREN=we, i_CHIPSELECT=cs, i_CLOCK=ClockSignal("sync"), i_STANDBY=C(0, 1),
                i_SLEEP=C(0, 1), i_POWEROFF=C(1, 1), o_DATAOUT=q)
            return
        m.submodules[name] = mem = Memory(shape=unsigned(SPRAM_WIDTH), depth=max(2, depth),
                                          init=[])
        bits = ceil_log2(max(2, depth))
        rd = mem.read_port()
        wr = mem.write_port()
        m.d.comb += [rd.addr.eq(addr[:bits]), rd.en.eq(cs & ~we), q.eq(rd.data),
                     wr.addr.eq(addr[:bits]), wr.data.eq(wdata), wr.en.eq(cs & we)]

    def elaborate(self, platform: Any) -> Module:
        """Build the blocks, the address multiplexer and the read path."""
        m = Module()
        mem = self._plan.memory
        wr = self.add_write_port()
        cols = mem.spram_columns
        lo = self._plan.bank_select_lsb
        abits = min(lo, len(self.addr))
        wdata = Signal(cols * SPRAM_WIDTH, name="spram_wdata")
        m.d.comb += wdata.eq(wr.data)
        outs = []
        for b, depth in enumerate(mem.banks):
            sel = 1 if len(mem.banks) == 1 else (wr.addr[lo:] == b)
            we = Signal(name=f"spram_we_{b}")
            cs = Signal(name=f"spram_cs_{b}")
            addr = Signal(ceil_log2(SPRAM_DEPTH), name=f"spram_addr_{b}")
            q = Signal(cols * SPRAM_WIDTH, name=f"spram_q_{b}")
            m.d.comb += [we.eq(wr.en & sel), cs.eq(self.en | we),
                         addr.eq(Mux(wr.en, wr.addr[:abits], self.addr[:abits]))]
            for c in range(cols):
                self._block(m, f"spram_{b}_{c}", addr=addr,
                            wdata=wdata[c * SPRAM_WIDTH:(c + 1) * SPRAM_WIDTH], we=we, cs=cs,
                            q=q[c * SPRAM_WIDTH:(c + 1) * SPRAM_WIDTH], depth=depth)
            outs.append(q)
        if len(outs) == 1:
            m.d.comb += self.data.as_value().eq(outs[0][:mem.width])
            return m
        # several banks: registered outputs, then the bank multiplexer (latency 2)
        sel1 = Signal(range(len(outs)), name="bank_sel")
        sel2 = Signal(range(len(outs)), name="bank_sel_q")
        regs = []
        for b, q in enumerate(outs):
            r = Signal(mem.width, name=f"bank_q_{b}")
            with m.If(self.en):
                m.d.sync += r.eq(q[:mem.width])
            regs.append(r)
        with m.If(self.en):
            m.d.sync += [sel1.eq(self.addr[lo:]), sel2.eq(sel1)]
        m.d.comb += self.data.as_value().eq(mux_tree(regs, sel2))
        return m


def _write_signature(plan: SynapsePlan) -> wiring.Signature:
    mem = plan.memory
    return wiring.Signature({"addr": Out(unsigned(mem.addr_bits)),
                             "data": Out(unsigned(mem.width)), "en": Out(1)})


class SpramLoader(wiring.Component):
    """Fill SPRAM synapse memories from a byte stream (the order of :mod:`hwplan.spram`).

    Takes one byte per cycle while loading (``load.ready`` is high until the last
    byte, then low); the last byte of a word writes it (``wr_<i>.en`` for one cycle).
    ``loaded`` is high from the cycle after the image's last byte until reset.

    Parameters
    ----------
    plans : sequence of hwplan.SynapsePlan
        The memories, in load order; each must be an SPRAM memory (``memory.kind ==
        "spram"``).

    Attributes
    ----------
    load : In(stream.Signature(8))
    loaded : Out(1)
    wr_<i> : Out: ``addr``, ``data`` (a packed word), ``en`` of memory ``i``
    """

    @quiet_on_error
    def __init__(self, *, plans: Sequence[SynapsePlan]) -> None:
        plans = list(plans) if isinstance(plans, (list, tuple)) else plans
        if not isinstance(plans, list) or not plans:
            raise TypeError(f"Plans must be a non-empty sequence of hwplan.SynapsePlan, "
                            f"not {plans!r}")
        for i, p in enumerate(plans):
            if not isinstance(p, SynapsePlan):
                raise TypeError(f"Plan {i} must be a hwplan.SynapsePlan, not {p!r}")
            if p.memory.kind != "spram":
                raise ValueError(f"Plan {i} must describe an SPRAM memory, not a "
                                 f"{p.memory.kind!r} memory")
        self._plans = plans
        members: dict[str, Any] = {"load": In(stream.Signature(8)), "loaded": Out(1)}
        for i, p in enumerate(plans):
            members[f"wr_{i}"] = Out(_write_signature(p))
        super().__init__(members)

    @property
    def plans(self) -> list[SynapsePlan]:
        """The memories in load order (a copy)."""
        return list(self._plans)

    @property
    def image_bytes(self) -> int:
        """Bytes of a complete load."""
        return sum(p.memory.words * load_word_bytes(p.memory) for p in self._plans)

    def elaborate(self, platform: Any) -> Module:
        """The word assembler and the address counters."""
        m = Module()
        plans = self._plans
        M = len(plans)
        nbs = [load_word_bytes(p.memory) for p in plans]
        mem_i = Signal(range(M + 1), name="load_mem")
        addr = Signal(max(p.memory.addr_bits for p in plans), name="load_addr")
        byte = Signal(range(max(max(nbs), 2)), name="load_byte")
        acc = Signal(8 * max(nbs), name="load_acc")
        full = Signal(8 * max(nbs), name="load_word")
        loaded = Signal()
        xfer = Signal()
        m.d.comb += [
            loaded.eq(mem_i == M), self.loaded.eq(loaded), self.load.ready.eq(~loaded),
            xfer.eq(self.load.valid & ~loaded),
            full.eq(acc | (self.load.payload << (byte * 8))),
        ]
        for i, (p, nb) in enumerate(zip(plans, nbs, strict=True)):
            wr = getattr(self, f"wr_{i}")
            m.d.comb += [wr.addr.eq(addr), wr.data.eq(full[:p.memory.width]),
                         wr.en.eq(xfer & (mem_i == i) & (byte == nb - 1))]
        with m.If(xfer), m.Switch(mem_i):
            for i, (p, nb) in enumerate(zip(plans, nbs, strict=True)):
                with m.Case(i):
                    with m.If(byte == nb - 1):
                        m.d.sync += [byte.eq(0), acc.eq(0)]
                        with m.If(addr == p.memory.words - 1):
                            m.d.sync += [mem_i.eq(i + 1), addr.eq(0)]
                        with m.Else():
                            m.d.sync += addr.eq(addr + 1)
                    with m.Else():
                        m.d.sync += [byte.eq(byte + 1), acc.eq(full)]
        return m


def spram_synapses(core: Network) -> list[SpramSynapseMemory]:
    """The SPRAM synapse memories of a core, in layer (= load) order."""
    return [la.synapses for la in core.layers
            if isinstance(getattr(la, "synapses", None), SpramSynapseMemory)]


def drive_write_ports(m: Module, loader: SpramLoader, memories: Sequence[SpramSynapseMemory]
                      ) -> None:
    """Connect the loader's write ports to the memories' (same order)."""
    for i, syn in enumerate(memories):
        wp = syn.add_write_port()
        src = getattr(loader, f"wr_{i}")
        m.d.comb += [wp.addr.eq(src.addr), wp.data.eq(src.data), wp.en.eq(src.en)]


class SpramNetwork(wiring.Component):
    """The bare core with its weights in SPRAM and the load port in front.

    Ports: every port of :class:`~hdl.network.Network` (same names and meaning) plus

    * ``load`` (in stream, 8-bit bytes): the load image (:func:`hwplan.load_image`);
    * ``loaded`` (out): the image is complete (the core may start);
    * ``load_error`` (out, sticky until reset): ``start`` came before the load completed
      (that start was refused).

    Until ``loaded``, ``busy`` is high, ``start`` is ignored and the input stream is
    not ready.

    Parameters
    ----------
    network : pysim.IntNetwork
    plan : hwplan.HardwarePlan
        With at least one SPRAM synapse memory (``plan_network(..., weights_in="spram")``).
    """

    @quiet_on_error
    def __init__(self, *, network: IntNetwork, plan: HardwarePlan) -> None:
        if not isinstance(plan, HardwarePlan):
            raise TypeError(f"Plan must be a hwplan.HardwarePlan, not {plan!r}")
        if not plan.spram_layers:
            raise ValueError("Plan must keep at least one synapse memory in SPRAM "
                             "(weights_in='spram')")
        self._core = Network(network=network, plan=plan)
        self._mems = spram_synapses(self._core)
        self._loader = SpramLoader(plans=[s.plan for s in self._mems])
        members = dict(self._core.signature.members)
        members.update({"load": In(stream.Signature(8)), "loaded": Out(1),
                        "load_error": Out(1)})
        super().__init__(members)

    @property
    def plan(self) -> HardwarePlan:
        """The design's plan."""
        return self._core.plan

    @property
    def network(self) -> IntNetwork:
        return self._core.network

    @property
    def core(self) -> Network:
        """The bare core inside."""
        return self._core

    @property
    def memories(self) -> list[SpramSynapseMemory]:
        """The SPRAM synapse memories, in load order."""
        return list(self._mems)

    def elaborate(self, platform: Any) -> Module:
        """The loader, the gating of start / busy / events, the pass-through ports."""
        m = Module()
        m.submodules.core = core = self._core
        m.submodules.loader = ld = self._loader
        drive_write_ports(m, ld, self._mems)
        connect(m, flipped(self.load), ld.load)
        loaded = ld.loaded
        err = Signal(name="load_error_q")
        with m.If(self.start & ~loaded):
            m.d.sync += err.eq(1)
        m.d.comb += [
            self.loaded.eq(loaded), self.load_error.eq(err),
            core.start.eq(self.start & loaded), self.busy.eq(core.busy | ~loaded),
            core.events.valid.eq(self.events.valid & loaded),
            core.events.payload.eq(self.events.payload),
            self.events.ready.eq(core.events.ready & loaded),
            self.done.eq(core.done), self.prediction.eq(core.prediction),
        ]
        for lp in self.plan.layers:
            src, dst = core.tap(lp.name), getattr(self, f"tap_{lp.name}")
            m.d.comb += [dst.valid.eq(src.valid), dst.index.eq(src.index),
                         dst.last.eq(src.last)]
        return m


def spram_portmap(design: SpramNetwork, top: str) -> dict[str, Any]:
    """The port map of an SPRAM core: the bare core's (:func:`hdl.generate.portmap`)
    plus the load port and, under ``weights_in``, the load image's layout."""
    from .generate import portmap

    pm = portmap(design, top)  # type: ignore[arg-type]
    pm["ports"].update({
        "load_valid": {"name": "load__valid", "width": 1},
        "load_ready": {"name": "load__ready", "width": 1},
        "load_data": {"name": "load__payload", "width": 8},
        "loaded": {"name": "loaded", "width": 1},
        "load_error": {"name": "load_error", "width": 1},
    })
    pm["weights_in"] = {"store": "spram", "cell": SPRAM_CELL,
                        "image_bytes": load_image_bytes(design.plan),
                        "image_file": "spram_weights.bin",
                        "memories": load_layout(design.plan)}
    return pm
