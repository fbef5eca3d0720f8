"""Event-driven layer: a synapse memory, a neuron core and their controller."""
from __future__ import annotations

from typing import Any

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from pysim import IntLayer

from ._params import check_bool, check_int, index_bits, quiet_on_error
from .neuron import NeuronCore, Op, accumulator_bits
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


class Phase(enum.Enum, shape=3):
    """State of the layer controller."""

    IDLE = 0    #: waiting for ``start``
    INIT = 1    #: writing ``acc := b`` to every group
    ACCUM = 2   #: consuming input events (G weight words each)
    UPDATE = 3  #: issuing UPDATE to groups 1..G-1 (group 0 issued with the marker)


class Layer(wiring.Component):
    """One dense layer of an integer network as an event-driven pipeline stage.

    Per sample (after a ``start`` pulse while idle) the layer initializes its neurons
    (``groups`` cycles), then runs ``timesteps`` steps. One step:

    1. every input event ``j`` (a beat with ``last = 0``) reads the ``G = ceil(out /
       lanes)`` weight words ``j*G .. j*G+G-1`` and adds them to the accumulators of the
       ``G`` groups, one word per cycle (``G`` cycles per event, back to back);
    2. the end-of-step marker starts the update: group by group (one per cycle) the
       neurons clamp, fire and prepare the next step (see :class:`NeuronCore`); spikes
       leave on :attr:`o_events` as one beat per spiking neuron in ascending order;
    3. after the last group the layer sends its own marker and accepts the next step.

    A step costs ``events * G + G`` cycles plus a pipeline constant of about two
    cycles, when the next layer keeps up; a group that fires ``f > 1`` neurons holds
    the update for ``f - 1`` extra cycles (one output beat per cycle).

    Parameters
    ----------
    layer : pysim.IntLayer
    lanes : int
        Neurons per group, 1..min(out_features, 64).
    timesteps : int
        Steps per sample, 1..65535.
    fires : bool
        False for the last layer of a membrane readout.

    Attributes
    ----------
    start : In(1)
    busy : Out(1)
    i_events : In(stream.Signature(event_layout(index_bits(in_features))))
    o_events : Out(stream.Signature(event_layout(index_bits(out_features))))
    readout : Out: ``valid`` (one group's membranes after an update), ``final`` (it is
        the sample's last step), ``group``, ``u`` (``lanes`` membranes ``u[t]``)
    """

    @quiet_on_error
    def __init__(self, *, layer: IntLayer, lanes: int, timesteps: int,
                 fires: bool = True) -> None:
        if not isinstance(layer, IntLayer):
            raise TypeError(f"Layer must be a pysim.IntLayer, not {layer!r}")
        self._layer = layer
        self._timesteps = check_int(timesteps, 1, 65535, "Timestep count")
        self._fires = check_bool(fires, "Firing flag")
        self._acc_bits = accumulator_bits(layer.weight, layer.state_bits, layer.bias)
        self._synapses = SynapseMemory(weights=layer.weight, weight_bits=layer.weight_bits,
                                       lanes=lanes)
        self._lanes = self._synapses.lanes
        self._neurons = NeuronCore(
            out_features=layer.out_features, lanes=self._lanes, weight_bits=layer.weight_bits,
            state_bits=layer.state_bits, acc_bits=self._acc_bits, threshold=layer.threshold,
            leak_shift=layer.leak_shift, reset=layer.reset.value, bias=layer.bias,
            fires=self._fires,
        )
        gshape = unsigned(index_bits(self._neurons.groups))
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "i_events": In(stream.Signature(event_layout(index_bits(layer.in_features)))),
            "o_events": Out(stream.Signature(event_layout(index_bits(layer.out_features)))),
            "readout": Out(wiring.Signature({
                "valid": Out(1), "final": Out(1), "group": Out(gshape),
                "u": Out(data.ArrayLayout(signed(layer.state_bits), self._lanes)),
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
    def lanes(self) -> int:
        """Neurons updated per cycle."""
        return self._lanes

    @property
    def groups(self) -> int:
        """``G = ceil(out_features / lanes)``: cycles per input event and per update."""
        return self._neurons.groups

    @property
    def timesteps(self) -> int:
        """Steps per sample."""
        return self._timesteps

    @property
    def fires(self) -> bool:
        """False for a membrane-readout layer."""
        return self._fires

    @property
    def acc_bits(self) -> int:
        """Accumulator width (exact; see :func:`hdl.neuron.accumulator_bits`)."""
        return self._acc_bits

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
        G, L, T = self.groups, self._lanes, self._timesteps
        out_w = index_bits(self._layer.out_features)

        phase = Signal(Phase)
        g = Signal(range(max(G, 2)))          # next group to issue
        base = Signal.like(syn.addr, name="word_base")
        ev_active = Signal()                  # issuing groups 1..G-1 of an input event
        step = Signal(range(T + 1))          # updates completed this sample
        marker_pending = Signal()
        mask = Signal(L)                      # spikes of the group being emitted
        emit_base = Signal(unsigned(out_w + 1))

        i, o, cmd, upd = self.i_events, self.o_events, core.cmd, core.upd
        m.d.comb += [
            core.weights.eq(syn.data),
            syn.en.eq(1),
            syn.addr.eq(Mux(ev_active, base + g, _times_const(i.payload.index, G))),
        ]

        # ---- emitter: one output beat per spike, lowest neuron first, then the marker
        lowest = Signal(range(max(L, 2)), name="lowest_spike")
        enc = 0
        for k in reversed(range(L)):
            enc = Mux(mask[k], k, enc)
        m.d.comb += lowest.eq(enc)
        has_spike = Signal()
        m.d.comb += [
            has_spike.eq(mask.any()),
            self.busy.eq((phase != Phase.IDLE) | has_spike | marker_pending | core.busy),
        ]
        last_group = Signal()
        m.d.comb += last_group.eq(upd.valid & (upd.payload.group == G - 1))
        # The marker may leave in the very cycle the last group is updated, when that
        # group fired nothing and no earlier spike is still waiting.
        early_marker = Signal()
        m.d.comb += early_marker.eq(last_group & ~upd.payload.spikes.any() & ~has_spike
                                    & ~marker_pending)
        spike_xfer = o.valid & o.ready & has_spike
        marker_xfer = o.valid & o.ready & ~has_spike
        mask_after = Signal(L)
        m.d.comb += [
            o.valid.eq(has_spike | marker_pending | early_marker),
            o.payload.index.eq(Mux(has_spike, emit_base + lowest, 0)),
            o.payload.last.eq(~has_spike),
            mask_after.eq(Mux(spike_xfer, mask & (mask - 1), mask)),
            upd.ready.eq(~mask_after.any() & ~marker_pending),
        ]
        upd_xfer = Signal()
        m.d.comb += upd_xfer.eq(upd.valid & upd.ready)
        with m.If(upd_xfer):
            m.d.sync += [mask.eq(upd.payload.spikes), emit_base.eq(_times_const(upd.payload.group, L))]
        with m.Else():
            m.d.sync += mask.eq(mask_after)
        with m.If(upd_xfer & last_group & ~(early_marker & o.ready)):
            m.d.sync += marker_pending.eq(1)
        with m.Elif(marker_xfer):
            m.d.sync += marker_pending.eq(0)
        # The core's pipeline may still hold the last UPDATE of the previous step: take a
        # new input only when that update cannot stall (no spike or marker waiting), so
        # the ready signal depends on registers only.
        m.d.comb += i.ready.eq((phase == Phase.ACCUM) & ~ev_active
                               & (~upd.valid | ~(has_spike | marker_pending)))
        # ``steps_done`` counts the update completing in this very cycle too, so the
        # decision taken when the next step's last group is issued is never stale.
        steps_done = Signal(range(T + 2))
        m.d.comb += steps_done.eq(step + (upd_xfer & last_group))
        m.d.sync += step.eq(steps_done)
        # Steps whose last UPDATE has been issued: decides when the sample's input ends
        # (the result register of the core may still hold an earlier step's update).
        issued = Signal(range(T + 1))
        self._probe = {"phase": phase, "g": g, "step": step, "ev_active": ev_active,
                       "mask": mask, "marker_pending": marker_pending}
        m.d.comb += [
            self.readout.valid.eq(upd_xfer),
            self.readout.final.eq(step == T - 1),
            self.readout.group.eq(upd.payload.group),
            self.readout.u.eq(upd.payload.u),
        ]

        # ---- controller
        with m.Switch(phase):
            with m.Case(Phase.IDLE):  # noqa: SIM117 (Amaranth control flow)
                with m.If(self.start & ~self.busy):
                    m.d.sync += [phase.eq(Phase.INIT), g.eq(0), step.eq(0), ev_active.eq(0),
                                 issued.eq(0)]
            with m.Case(Phase.INIT):
                m.d.comb += [cmd.valid.eq(1), cmd.payload.op.eq(Op.INIT),
                             cmd.payload.group.eq(g)]
                with m.If(cmd.ready):
                    with m.If(g == G - 1):
                        m.d.sync += phase.eq(Phase.ACCUM)
                    with m.Else():
                        m.d.sync += g.eq(g + 1)
            with m.Case(Phase.ACCUM):
                # cmd.ready is high here: i.ready made sure a pending UPDATE completes in
                # the accepting cycle, and INIT/ACC never stall.
                with m.If(ev_active):
                    m.d.comb += [cmd.valid.eq(1), cmd.payload.op.eq(Op.ACC),
                                 cmd.payload.group.eq(g)]
                    m.d.sync += g.eq(g + 1)
                    with m.If(g == G - 1):
                        m.d.sync += ev_active.eq(0)
                with m.Elif(i.valid & i.ready):
                    m.d.comb += cmd.valid.eq(1)
                    with m.If(i.payload.last):
                        m.d.comb += [cmd.payload.op.eq(Op.UPDATE), cmd.payload.group.eq(0)]
                        if G > 1:
                            m.d.sync += [g.eq(1), phase.eq(Phase.UPDATE)]
                        else:
                            m.d.sync += [issued.eq(issued + 1),
                                     phase.eq(Mux(issued == T - 1, Phase.IDLE, Phase.ACCUM))]
                    with m.Else():
                        m.d.comb += [cmd.payload.op.eq(Op.ACC), cmd.payload.group.eq(0)]
                        if G > 1:
                            m.d.sync += [ev_active.eq(1), g.eq(1),
                                         base.eq(_times_const(i.payload.index, G))]
            with m.Case(Phase.UPDATE):
                m.d.comb += [cmd.valid.eq(1), cmd.payload.op.eq(Op.UPDATE),
                             cmd.payload.group.eq(g)]
                with m.If(cmd.ready):
                    # After the last group is issued the next step's events may come;
                    # its update completes in the core's second stage meanwhile.
                    with m.If(g == G - 1):
                        m.d.sync += [issued.eq(issued + 1),
                                     phase.eq(Mux(issued == T - 1, Phase.IDLE, Phase.ACCUM))]
                    with m.Else():
                        m.d.sync += g.eq(g + 1)
        return m
