"""The network top: layers chained by event streams, start/done, prediction, taps."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from amaranth.hdl import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from hwplan import HardwarePlan, plan_network
from pysim import IntNetwork, Readout

from ._params import quiet_on_error
from .conv import ConvLayer
from .layer import Layer, event_layout
from .pool import MapEvents

__all__ = ["Network", "tap_signature"]


def tap_signature(index_width: int) -> wiring.Signature:
    """Debug tap of one layer's output events: ``valid`` (one cycle per beat), ``index``,
    ``last``."""
    return wiring.Signature({"valid": Out(1), "index": Out(index_width), "last": Out(1)})


class Network(wiring.Component):
    """A whole integer network as one event-driven accelerator.

    Layers are chained by event streams (valid/ready); the first takes the input
    events, each passes its spikes and step markers on to the next. Layers run
    concurrently (layer ``l+1`` consumes step ``t`` while layer ``l`` is still
    emitting it, and layer ``l`` starts step ``t+1`` as soon as its marker is taken).

    Ports (see docs/hardware.md and the generated ``portmap.json``):

    * ``start`` (in): a one-cycle pulse while not busy starts a sample (all state zero);
    * ``busy`` (out): high from start until done;
    * ``done`` (out): one-cycle pulse after the last layer's last marker; ``prediction``
      is valid then and held until the next start;
    * ``events`` (in stream): ``index``, ``last`` of the input spikes of each step;
    * ``tap_<layer>`` (out): ``valid`` for one cycle per beat of that layer's output
      event stream, with its ``index`` and ``last``.

    Parameters
    ----------
    network : pysim.IntNetwork
    lanes : int, dict or None
        See :func:`hwplan.resolve_lanes` (not with ``plan``).
    plan : hwplan.HardwarePlan or None
        The design's plan (default: :func:`hwplan.plan_network` of ``network`` and
        ``lanes``); every layer is built from its entry.
    scores : bool
        Also expose the class scores as the ``scores`` port (default False: the port and
        its logic are absent and the Verilog is unchanged): the spike counters
        (``count_bits`` each) for a spike-count readout, the last-step membranes
        (signed ``state_bits``) for a membrane readout; valid with ``prediction``.
        With a spike-count readout also ``score_index``, ``score_load`` (in) and
        ``score`` (out): while the core is idle, a cycle with ``score_load`` high selects
        class ``score_index``, whose count ``score`` shows from the next cycle on, read
        through the counters' own select (no second multiplexer).
    _faults : dict or None
        Test only: ``{conv layer name: fault}`` injects a fault of
        :data:`hdl.conv.CONV_FAULTS` into that layer (a corrupted design the verification
        must catch).
    """

    @quiet_on_error
    def __init__(self, *, network: IntNetwork, lanes: int | Mapping[str, int] | None = None,
                 plan: HardwarePlan | None = None, scores: bool = False,
                 _faults: Mapping[str, str] | None = None) -> None:
        if not isinstance(network, IntNetwork):
            raise TypeError(f"Network must be a pysim.IntNetwork, not {network!r}")
        if plan is None:
            plan = plan_network(network, lanes)
        elif not isinstance(plan, HardwarePlan):
            raise TypeError(f"Plan must be a hwplan.HardwarePlan, not {plan!r}")
        elif lanes is not None:
            raise ValueError("Lanes come from the plan; do not also give them")
        self._network = network
        self._plan = plan
        faults = dict(_faults or {})
        self._layers: list[Any] = []
        self._pools: dict[str, MapEvents] = {}
        for layer, lp in zip(network.neuron_layers, plan.layers, strict=True):
            if lp.kind == "conv2d":
                self._layers.append(ConvLayer(layer=layer, timesteps=network.timesteps,
                                              plan=lp, fault=faults.get(layer.name)))
                continue
            self._layers.append(Layer(layer=layer, timesteps=network.timesteps, plan=lp))
            if lp.pool is not None:
                # a sum-pool in front of a dense layer: address arithmetic on its events
                self._pools[lp.name] = MapEvents(in_shape=lp.pool.in_shape, pool=lp.pool)
        members: dict[str, Any] = {
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "prediction": Out(plan.prediction_bits),
            "events": In(stream.Signature(event_layout(plan.input_index_bits))),
        }
        for lp in plan.layers:
            members[f"tap_{lp.name}"] = Out(tap_signature(lp.out_index_bits))
        self._scores = bool(scores)
        if self._scores:
            shape = (signed(plan.layers[-1].state_bits) if network.readout is Readout.MEMBRANE
                     else unsigned(plan.count_bits))
            members["scores"] = Out(data.ArrayLayout(shape, network.output_size))
            if network.readout is Readout.SPIKE_COUNT:
                members["score_index"] = In(range(max(network.output_size, 2)))
                members["score_load"] = In(1)
                members["score"] = Out(shape)
        super().__init__(members)

    @property
    def network(self) -> IntNetwork:
        """The integer network this hardware realizes."""
        return self._network

    @property
    def plan(self) -> HardwarePlan:
        """The design's plan."""
        return self._plan

    @property
    def lanes(self) -> dict[str, int]:
        """Lanes per layer (a copy)."""
        return self._plan.lanes

    @property
    def layers(self) -> list[Any]:
        """The layer components, input to output (a copy of the list)."""
        return list(self._layers)

    def tap(self, name: str) -> Any:
        """The debug tap interface of layer ``name``."""
        return getattr(self, f"tap_{name}")

    def elaborate(self, platform: Any) -> Module:
        """Chain the layers and build the start/done/readout logic."""
        m = Module()
        net, layers = self._network, self._layers
        T = net.timesteps
        for layer in layers:
            m.submodules[layer.name] = layer

        busy = Signal()
        done = Signal()
        begin = Signal()
        m.d.comb += [begin.eq(self.start & ~busy), self.busy.eq(busy), self.done.eq(done)]
        for layer in layers:
            m.d.comb += layer.start.eq(begin)

        sources = [flipped(self.events)] + [a.o_events for a in layers[:-1]]
        for src, b in zip(sources, layers, strict=True):
            pool = self._pools.get(b.name)
            if pool is None:
                connect(m, src, b.i_events)
                continue
            m.submodules[f"{b.name}_pool"] = pool
            connect(m, src, pool.i)
            m.d.comb += [b.i_events.valid.eq(pool.o.valid),
                         b.i_events.payload.index.eq(pool.o.payload.index),
                         b.i_events.payload.last.eq(pool.o.payload.last),
                         pool.o.ready.eq(b.i_events.ready)]
        last = layers[-1]
        m.d.comb += last.o_events.ready.eq(1)
        for layer in layers:
            o, tap = layer.o_events, self.tap(layer.name)
            m.d.comb += [tap.valid.eq(o.valid & o.ready), tap.index.eq(o.payload.index),
                         tap.last.eq(o.payload.last)]

        out = last.o_events
        out_xfer = out.valid & out.ready
        out_step = Signal(range(max(T, 2)))
        best = Signal(range(max(net.output_size, 2)), name="best_index")
        prediction = Signal.like(self.prediction, name="prediction_q")
        m.d.comb += self.prediction.eq(prediction)
        m.d.sync += done.eq(0)
        with m.If(begin):
            m.d.sync += [busy.eq(1), out_step.eq(0)]
        with m.Elif(busy & out_xfer & out.payload.last):
            m.d.sync += out_step.eq(out_step + 1)
        # The last marker can leave in the cycle the last membranes are read out, so the
        # running argmax settles one cycle after it: finish then.
        finishing = Signal()
        finishing_q = Signal()
        m.d.sync += [finishing.eq(busy & out_xfer & out.payload.last & (out_step == T - 1)),
                     finishing_q.eq(finishing)]
        # spike-count readout: the argmax settles two cycles after the last spike
        done_when = finishing_q if net.readout is Readout.SPIKE_COUNT else finishing
        with m.If(done_when):
            m.d.sync += [busy.eq(0), done.eq(1), prediction.eq(best)]

        if net.readout is Readout.SPIKE_COUNT:
            self._spike_count_readout(m, begin, out, best)
        else:
            self._membrane_readout(m, begin, last, best)
        return m

    def _spike_count_readout(self, m: Module, begin: Any, out: Any, best: Any) -> None:
        """Running argmax of spike counters: ties go to the lowest index.

        When counter ``i`` rises to ``c``, ``i`` becomes the best if ``c`` beats the best
        count or equals it with a lower index; counters only grow, so this keeps the
        argmax (lowest index on ties) of all counters at every cycle.
        """
        n, T = self._network.output_size, self._network.timesteps
        counts = Array(Signal(range(T + 1), name=f"count_{i}") for i in range(n))
        best_count = Signal(range(T + 1))
        # Timing: the spike is registered first, so the emitter's priority encoder does
        # not feed the counter select and the argmax compare in the same cycle. A spike
        # always leaves at least one cycle before the step marker, so the argmax has
        # still settled when ``finishing`` (one cycle after the last marker) reads it.
        spike_q = Signal(name="spike_q")
        idx = Signal.like(out.payload.index, name="spike_index_q")
        m.d.sync += spike_q.eq(out.valid & out.ready & ~out.payload.last)
        if self._scores:
            # while idle the counter select reads out the score of class score_index
            # (loaded with score_load, on ``score`` from the next cycle): the wrapper's
            # packet shares this multiplexer
            with m.If(self.busy | self.score_load):
                m.d.sync += idx.eq(Mux(self.busy, out.payload.index, self.score_index))
        else:
            m.d.sync += idx.eq(out.payload.index)
        bumped = Signal(range(T + 2), name="count_next")
        m.d.comb += bumped.eq(counts[idx] + 1)
        # Timing: the new count is registered before the argmax compare (the counter
        # select + increment and the compare are separate stages); the argmax still sees
        # every rise in order, one cycle later (``done`` waits one more cycle for it).
        cmp_q = Signal(name="cmp_q")
        cmp_idx = Signal.like(idx, name="cmp_index")
        cmp_count = Signal(range(T + 2), name="cmp_count")
        m.d.sync += [cmp_q.eq(spike_q & ~begin), cmp_idx.eq(idx), cmp_count.eq(bumped)]
        with m.If(begin):
            m.d.sync += [c.eq(0) for c in counts]
            m.d.sync += [best.eq(0), best_count.eq(0)]
        with m.Else():
            with m.If(spike_q):
                m.d.sync += counts[idx].eq(bumped)
            with m.If(cmp_q & ((cmp_count > best_count)
                               | ((cmp_count == best_count) & (cmp_idx < best)))):
                m.d.sync += [best.eq(cmp_idx), best_count.eq(cmp_count)]
        if self._scores:
            m.d.comb += [self.scores[i].eq(c) for i, c in enumerate(counts)]
            m.d.comb += self.score.eq(counts[idx])

    def _membrane_readout(self, m: Module, begin: Any, last: Layer, best: Any) -> None:
        """Running argmax of the final membranes, row by row (``update_units`` neurons each)
        in ascending order; with one update unit a plain running compare."""
        L, G = last.update_units, last.rows
        sb = last.layer.state_bits
        ro = last.readout
        valid_last = last.plan.last_row_neurons
        # argmax within the group (lanes past the last neuron excluded)
        grp_best_v = ro.u[0]
        grp_best_k: Any = 0
        for k in range(1, L):
            lane_ok = 1 if k < valid_last else (ro.row != G - 1)
            take = Signal(name=f"take_{k}")
            m.d.comb += take.eq(lane_ok & (ro.u[k] > grp_best_v))
            v = Signal(signed(sb), name=f"grp_best_v_{k}")
            kk = Signal(range(max(L, 2)), name=f"grp_best_k_{k}")
            m.d.comb += [v.eq(Mux(take, ro.u[k], grp_best_v)), kk.eq(Mux(take, k, grp_best_k))]
            grp_best_v, grp_best_k = v, kk
        best_v = Signal(signed(sb))
        first = Signal()
        cand = Signal(unsigned(last.plan.out_index_bits + 1), name="group_best_index")
        m.d.comb += cand.eq(ro.row * L + grp_best_k)
        with m.If(begin):
            m.d.sync += [first.eq(1), best.eq(0), best_v.eq(0)]
        with m.Elif(ro.valid & ro.final), m.If(first | (grp_best_v > best_v)):
            m.d.sync += [first.eq(0), best.eq(cand), best_v.eq(grp_best_v)]
        if self._scores:  # the last step's membranes, captured row by row
            n = self._network.output_size
            with m.If(ro.valid & ro.final), m.Switch(ro.row):
                for r in range(G):
                    with m.Case(r):
                        m.d.sync += [self.scores[r * L + k].eq(ro.u[k])
                                     for k in range(L) if r * L + k < n]
