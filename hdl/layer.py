"""Event-driven layer: a synapse memory, a neuron core and their controller."""
from __future__ import annotations

from typing import Any

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from hwplan import (
    MAX_TIMESTEPS,
    DenseLayerPlan,
    default_update_units,
    dense_layer_plan,
    synaptic_bits,
)
from pysim import IntLayer

from ._params import check_bool, check_int, quiet_on_error
from .neuron import NeuronCore
from .synapse import SynapseMemory

__all__ = ["Layer", "Phase", "event_layout"]


def event_layout(index_width: int) -> data.StructLayout:
    """Payload of an event stream: ``index`` (bits ``[0, w)``) then ``last`` (bit ``w``).

    A beat with ``last = 0`` says neuron/input ``index`` spiked at the current step; a
    beat with ``last = 1`` ends the step (its index is 0 and is ignored).
    """
    return data.StructLayout({"index": unsigned(index_width), "last": unsigned(1)})


def _times_const(x: Any, c: int) -> Any:
    """``x * c`` for a constant ``c >= 1`` as a sum of shifted copies of ``x``.

    Written out so that synthesis builds one or two adders (or none, for a power of
    two) instead of a DSP multiplier on the input-pin → ROM address path.
    """
    terms = [x << b for b in range(c.bit_length()) if (c >> b) & 1]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


class Phase(enum.Enum, shape=2):
    """State of the layer controller."""

    IDLE = 0    #: waiting for ``start``
    ACCUM = 1   #: consuming input events (G weight words each) and step markers


class Layer(wiring.Component):
    """One dense layer of an integer network as an event-driven pipeline stage.

    Per sample (after a ``start`` pulse while idle) the layer runs ``timesteps`` steps.
    One step:

    1. every input event ``j`` (a beat with ``last = 0``) reads the ``G = ceil(out /
       lanes)`` weight words ``j*G .. j*G+G-1`` and adds them to the step's synaptic
       accumulators of the ``G`` groups, one word per cycle (``G`` cycles per event,
       back to back);
    2. the end-of-step marker hands the step to the neuron core's serial update unit
       (see :class:`NeuronCore`) and the next step's events accumulate meanwhile into
       the other buffer; the marker is taken only when the update unit has finished
       issuing the previous step;
    3. the update's spikes leave on :attr:`o_events` as one beat per spiking neuron in
       ascending order, then the layer's own marker.

    A step costs about ``max(events * G + 1, rows)`` cycles when the next layer keeps up
    (``rows = ceil(out / update_units)``), plus the synapse read and update pipeline
    latency once per sample; a row that fires ``f > 1`` neurons holds the update for
    ``f - 1`` extra cycles (one output beat per cycle). Every one of these numbers is
    the layer's plan (:class:`hwplan.DenseLayerPlan`, :attr:`plan`).

    Parameters
    ----------
    layer : pysim.IntLayer
    timesteps : int
        Steps per sample, 1..65535.
    lanes : int
        Accumulator lanes, 1..min(out_features, 64) (not with ``plan``).
    fires : bool
        False for the last layer of a membrane readout (not with ``plan``).
    update_units : int or None
        Neurons updated per cycle (a divisor of ``lanes``); None:
        :func:`hwplan.default_update_units` (not with ``plan``).
    plan : hwplan.DenseLayerPlan or None
        The layer's plan (as :func:`hwplan.plan_network` made it); it then fixes the
        lanes, the firing flag and the update units.

    Attributes
    ----------
    start : In(1)
    busy : Out(1)
    i_events : In(stream.Signature(event_layout(index_bits(in_features))))
    o_events : Out(stream.Signature(event_layout(index_bits(out_features))))
    readout : Out: ``valid`` (one row's membranes after an update), ``final`` (it is
        the sample's last step), ``row``, ``u`` (``update_units`` membranes ``u[t]``)
    """

    @quiet_on_error
    def __init__(self, *, layer: IntLayer, timesteps: int, lanes: int | None = None,
                 fires: bool = True, update_units: int | None = None,
                 plan: DenseLayerPlan | None = None) -> None:
        if not isinstance(layer, IntLayer):
            raise TypeError(f"Layer must be a pysim.IntLayer, not {layer!r}")
        self._layer = layer
        self._timesteps = check_int(timesteps, 1, MAX_TIMESTEPS, "Timestep count")
        if plan is not None:
            if not isinstance(plan, DenseLayerPlan):
                raise TypeError(f"Plan must be a hwplan.DenseLayerPlan, not {plan!r}")
            if lanes is not None or update_units is not None:
                raise ValueError("Lanes and update units come from the plan; do not also "
                                 "give them")
            lanes, fires, update_units = plan.lanes, plan.fires, plan.update_units
        elif lanes is None:
            raise TypeError("Layer needs either lanes or a plan")
        fires = check_bool(fires, "Firing flag")
        store = "bram" if plan is None else plan.synapse.store
        memory_class = SynapseMemory
        if store == "spram":  # iCE40 UP5K single-port RAMs, loaded at run time
            from .spram import SpramSynapseMemory
            memory_class = SpramSynapseMemory
        self._synapses = memory_class(weights=layer.weight, weight_bits=layer.weight_bits,
                                      lanes=lanes)
        lanes = self._synapses.lanes
        if update_units is None:
            update_units = default_update_units(layer.in_features, layer.out_features, lanes)
        self._neurons = NeuronCore(
            out_features=layer.out_features, lanes=lanes, weight_bits=layer.weight_bits,
            state_bits=layer.state_bits,
            acc_bits=synaptic_bits(layer.weight) if plan is None else plan.acc_bits,
            threshold=layer.threshold, leak_shift=layer.leak_shift, reset=layer.reset.value,
            bias=layer.bias, fires=fires, update_units=update_units,
        )
        own = dense_layer_plan(layer, lanes=lanes, fires=fires, update_units=update_units,
                               pool=None if plan is None else plan.pool, store=store)
        if plan is not None and plan != own:
            raise ValueError(f"Plan of layer {plan.name!r} does not match layer "
                             f"{layer.name!r}")
        self._plan = own
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "i_events": In(stream.Signature(event_layout(own.in_index_bits))),
            "o_events": Out(stream.Signature(event_layout(own.out_index_bits))),
            "readout": Out(wiring.Signature({
                "valid": Out(1), "final": Out(1), "row": Out(unsigned(own.core.row_bits)),
                "u": Out(data.ArrayLayout(signed(layer.state_bits), own.update_units)),
            })),
        })

    # ------------------------------------------------------------------ properties
    @property
    def layer(self) -> IntLayer:
        """The integer layer this hardware realizes."""
        return self._layer

    @property
    def name(self) -> str:
        """The layer's name."""
        return self._layer.name

    @property
    def plan(self) -> DenseLayerPlan:
        """The layer's plan: every geometric and timing fact of this hardware."""
        return self._plan

    @property
    def lanes(self) -> int:
        """Accumulator lanes (weights added per cycle)."""
        return self._plan.lanes

    @property
    def groups(self) -> int:
        """``G = ceil(out_features / lanes)``: cycles per input event."""
        return self._plan.groups

    @property
    def update_units(self) -> int:
        """Neurons updated per cycle."""
        return self._plan.update_units

    @property
    def rows(self) -> int:
        """``ceil(out_features / update_units)``: update cycles per step."""
        return self._plan.rows

    @property
    def timesteps(self) -> int:
        """Steps per sample."""
        return self._timesteps

    @property
    def fires(self) -> bool:
        """False for a membrane-readout layer."""
        return self._plan.fires

    @property
    def acc_bits(self) -> int:
        """Accumulator width (exact; see :func:`hwplan.synaptic_bits`)."""
        return self._plan.acc_bits

    @property
    def synapses(self) -> SynapseMemory:
        """The synapse memory component."""
        return self._synapses

    @property
    def neurons(self) -> NeuronCore:
        """The neuron core component."""
        return self._neurons

    # ------------------------------------------------------------------ hardware
    def elaborate(self, platform: Any) -> Module:
        """Build the controller and the spike-event emitter."""
        m = Module()
        m.submodules.synapses = syn = self._synapses
        m.submodules.neurons = core = self._neurons
        G, U, T = self.groups, self.update_units, self._timesteps
        out_w = self._plan.out_index_bits

        phase = Signal(Phase)
        cmd_pending = Signal()                # a delayed command not yet in the core
        step_fresh = Signal()                 # the next event is the step's first
        ev_fresh = Signal()                   # the event being issued is the step's first
        g = Signal(range(max(G, 2)))          # next group of the current event
        base = Signal.like(syn.addr, name="word_base")
        ev_active = Signal()                  # issuing groups 1..G-1 of an input event
        issued = Signal(range(T + 1))         # steps handed to the update unit
        marker_pending = Signal()
        mask = Signal(U)                      # spikes of the row being emitted
        emit_base = Signal(unsigned(out_w + 1))

        i, o, upd = self.i_events, self.o_events, core.upd
        m.d.comb += [
            core.start.eq(self.start & ~self.busy),
            core.weights.eq(syn.data),
            syn.en.eq(1),
            syn.addr.eq(Mux(ev_active, base + g, _times_const(i.payload.index, G))),
        ]

        # ---- emitter: one output beat per spike, lowest neuron first, then the marker
        has_spike = Signal()
        m.d.comb += [
            has_spike.eq(mask.any()),
            self.busy.eq((phase != Phase.IDLE) | has_spike | marker_pending | core.busy),
        ]
        if U > 1:
            lowest = Signal(range(U), name="lowest_spike")
            enc = 0
            for k in reversed(range(U)):
                enc = Mux(mask[k], k, enc)
            m.d.comb += lowest.eq(enc)
            index = emit_base + lowest
        else:
            index = emit_base
        last_row = Signal()
        m.d.comb += last_row.eq(upd.valid & upd.payload.last)
        # The marker may leave in the very cycle the last row is offered, when that
        # row fired nothing and no earlier spike is still waiting.
        early_marker = Signal()
        m.d.comb += early_marker.eq(last_row & ~upd.payload.spikes.any() & ~has_spike
                                    & ~marker_pending)
        spike_xfer = o.valid & o.ready & has_spike
        marker_xfer = o.valid & o.ready & ~has_spike
        mask_after = Signal(U)
        m.d.comb += [
            o.valid.eq(has_spike | marker_pending | early_marker),
            o.payload.index.eq(Mux(has_spike, index, 0)),
            o.payload.last.eq(~has_spike),
            mask_after.eq(Mux(spike_xfer, mask & (mask - 1), mask)),
            upd.ready.eq(~mask_after.any() & ~marker_pending),
        ]
        upd_xfer = Signal()
        m.d.comb += upd_xfer.eq(upd.valid & upd.ready)
        with m.If(upd_xfer):
            m.d.sync += [mask.eq(upd.payload.spikes),
                         emit_base.eq(_times_const(upd.payload.row, U))]
        with m.Else():
            m.d.sync += mask.eq(mask_after)
        with m.If(upd_xfer & last_row & ~(early_marker & o.ready)):
            m.d.sync += marker_pending.eq(1)
        with m.Elif(marker_xfer):
            m.d.sync += marker_pending.eq(0)
        m.d.comb += [
            self.readout.valid.eq(upd_xfer),
            self.readout.final.eq(upd.payload.final),
            self.readout.row.eq(upd.payload.row),
            self.readout.u.eq(upd.payload.u),
        ]

        # ---- controller: events -> G accumulator commands; marker -> the update unit.
        # ``ready`` depends on registers (and the marker flag of the offered beat) only.
        accum = (phase == Phase.ACCUM) & ~ev_active
        m.d.comb += [
            i.ready.eq(accum & (~i.payload.last | (core.step.ready & ~cmd_pending))),
            core.step.valid.eq(accum & i.valid & i.payload.last & ~cmd_pending),
            core.step.payload.final.eq(issued == T - 1),
        ]
        # The accumulate command: continuous expressions (not assigned inside the
        # controller's Switch), so event-driven simulators evaluate them at time 0.
        event_taken = Signal()
        acc_valid = Signal()
        acc_group = Signal.like(core.acc.payload.group, name="acc_group")
        acc_fresh = Signal(name="acc_fresh")
        m.d.comb += [
            event_taken.eq(accum & i.valid & ~i.payload.last),
            acc_valid.eq((phase == Phase.ACCUM) & (ev_active | event_taken)),
            acc_group.eq(Mux(ev_active, g, 0)),
            acc_fresh.eq(Mux(ev_active, ev_fresh, step_fresh)),
        ]
        if syn.latency == 1:
            m.d.comb += [core.acc.valid.eq(acc_valid), core.acc.payload.group.eq(acc_group),
                         core.acc.payload.fresh.eq(acc_fresh)]
        else:
            # banked synapse ROM (two cycles from address to word): the core gets each
            # command one cycle after its ROM address
            m.d.sync += [core.acc.valid.eq(acc_valid), cmd_pending.eq(acc_valid)]
            with m.If(acc_valid):
                m.d.sync += [core.acc.payload.group.eq(acc_group),
                             core.acc.payload.fresh.eq(acc_fresh)]
        self._probe = {"phase": phase, "g": g, "ev_active": ev_active, "mask": mask,
                       "marker_pending": marker_pending}
        with m.Switch(phase):
            with m.Case(Phase.IDLE):  # noqa: SIM117 (Amaranth control flow)
                with m.If(self.start & ~self.busy):
                    m.d.sync += [phase.eq(Phase.ACCUM), g.eq(0), ev_active.eq(0),
                                 issued.eq(0), step_fresh.eq(1)]
            with m.Case(Phase.ACCUM):
                with m.If(ev_active):
                    m.d.sync += g.eq(g + 1)
                    with m.If(g == G - 1):
                        m.d.sync += ev_active.eq(0)
                with m.Elif(i.valid & i.ready):
                    with m.If(i.payload.last):
                        m.d.sync += [issued.eq(issued + 1), step_fresh.eq(1),
                                     phase.eq(Mux(issued == T - 1, Phase.IDLE, Phase.ACCUM))]
                    with m.Else():
                        m.d.sync += [step_fresh.eq(0), ev_fresh.eq(step_fresh)]
                        if G > 1:
                            m.d.sync += [ev_active.eq(1), g.eq(1),
                                         base.eq(_times_const(i.payload.index, G))]
        return m
