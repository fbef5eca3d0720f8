"""Map events: flat channel-major indices -> (c, y, x) coordinates, and sum-pool windows.

:class:`MapEvents` sits in front of every layer whose input is a map: it turns each input
event (a flat index ``c*H*W + y*W + x``) into its coordinates with a row cursor (no
divider), and, with a sum-pool plan (:class:`hwplan.PoolPlan`), into one event per
window containing the spike (address arithmetic: the pool has no state). Its output
carries the coordinates and the flat index of the (pooled) map, so a conv2d layer reads
the coordinates and a dense layer after a pool the flat pooled index.
"""
from __future__ import annotations

from typing import Any

from amaranth.hdl import Array, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwplan import PoolPlan
from pysim.util import index_bits

from ._params import check_int, quiet_on_error
from .layer import event_layout

__all__ = ["MapEvents", "map_event_layout"]


def map_event_layout(shape: tuple[int, int, int]) -> data.StructLayout:
    """Payload of a map event stream: flat ``index``, ``last`` (a step marker), then the
    coordinates ``c``, ``y``, ``x`` of ``shape``."""
    c, h, w = shape
    return data.StructLayout({
        "index": unsigned(index_bits(c * h * w)), "last": unsigned(1),
        "c": unsigned(index_bits(c)), "y": unsigned(index_bits(h)), "x": unsigned(index_bits(w)),
    })


def _table(values: list[int]) -> Any:
    width = max(1, max(values).bit_length())
    return Array(Const(v, unsigned(width)) for v in values)


class MapEvents(wiring.Component):
    """Decode flat map indices into coordinates (and sum-pool windows).

    The row cursor holds the global row ``r = c*H + y`` whose flat range ``[r*W, r*W +
    W)`` it covers; an event below or above moves it one row per cycle, then ``x = index
    - r*W``. Any order of indices is decoded correctly; ascending order (what every layer
    emits) costs at most ``C*H`` moves per step. An index past the map is dropped.

    With a pool, a decoded spike at ``(c, y, x)`` leaves as one event per window
    ``(c, py, px)`` containing it (``py`` in a run from a per-row table, ``px`` from a
    per-column table: the floor semantics of docs/semantics.md, so a position outside every window
    sends nothing), one per cycle. Markers (``last``) pass through in order.

    Parameters
    ----------
    in_shape : (C, H, W)
        The map of the input events.
    pool : hwplan.PoolPlan or None
        The sum-pool to apply (its ``in_shape`` must be ``in_shape``).

    Attributes
    ----------
    i : In(stream.Signature(event_layout(index_bits(C*H*W))))
    o : Out(stream.Signature(map_event_layout(out_shape)))
    busy : Out(1): an event is being decoded or expanded
    """

    @quiet_on_error
    def __init__(self, *, in_shape: tuple[int, int, int], pool: PoolPlan | None = None
                 ) -> None:
        if not isinstance(in_shape, (tuple, list)) or len(in_shape) != 3:
            raise TypeError(f"Input shape must be a (C, H, W) tuple, not {in_shape!r}")
        c, h, w = (check_int(v, 1, 1 << 24, "Map dimension") for v in in_shape)
        self._in_shape = (c, h, w)
        if pool is not None:
            if not isinstance(pool, PoolPlan):
                raise TypeError(f"Pool must be a hwplan.PoolPlan, not {pool!r}")
            if tuple(pool.in_shape) != self._in_shape:
                raise ValueError(f"Pool input shape must be {self._in_shape}, not "
                                 f"{pool.in_shape}")
        self._pool = pool
        self._out_shape = pool.out_shape if pool is not None else self._in_shape
        super().__init__({
            "i": In(stream.Signature(event_layout(index_bits(c * h * w)))),
            "o": Out(stream.Signature(map_event_layout(self._out_shape))),
            "busy": Out(1),
        })

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """Map of the input events."""
        return self._in_shape

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """Map of the output events (the pooled map with a pool)."""
        return self._out_shape

    def elaborate(self, platform: Any) -> Module:
        """Build the cursor and the window emitter."""
        m = Module()
        C, H, W = self._in_shape
        pool = self._pool
        i, o = self.i, self.o
        n = C * H * W
        iw = index_bits(n)
        have = Signal()
        idx = Signal(unsigned(iw))
        is_last = Signal()
        row_start = Signal(range(n + 1))
        row_end = Signal(range(n + W + 1), init=W)
        cy = Signal(range(max(C, 2)), name="cur_c")
        yy = Signal(range(max(H, 2)), name="cur_y")
        at_last_row = Signal()
        m.d.comb += at_last_row.eq((cy == C - 1) & (yy == H - 1))
        below = Signal()
        above = Signal()
        m.d.comb += [below.eq(idx < row_start), above.eq(idx >= row_end)]
        drop_oob = have & ~is_last & above & at_last_row
        in_row = have & (is_last | (~below & ~above))

        if pool is not None:
            _, OH, OW = pool.out_shape
            rt, ct = pool.row_windows(), pool.col_windows()
            ylo_t, yn_t = _table([a for a, _ in rt]), _table([b for _, b in rt])
            yflat_t = _table([a * OW for a, _ in rt])
            xlo_t, xn_t = _table([a for a, _ in ct]), _table([b for _, b in ct])
            cbase = Signal(range(C * OH * OW + 1), name="pooled_channel_base")
        # cursor moves
        with m.If(have & ~is_last & below):
            m.d.sync += [row_end.eq(row_start), row_start.eq(row_start - W)]
            with m.If(yy == 0):
                m.d.sync += [yy.eq(H - 1), cy.eq(cy - 1)]
                if pool is not None:
                    m.d.sync += cbase.eq(cbase - OH * OW)
            with m.Else():
                m.d.sync += yy.eq(yy - 1)
        with m.Elif(have & ~is_last & above & ~at_last_row):
            m.d.sync += [row_start.eq(row_end), row_end.eq(row_end + W)]
            with m.If(yy == H - 1):
                m.d.sync += [yy.eq(0), cy.eq(cy + 1)]
                if pool is not None:
                    m.d.sync += cbase.eq(cbase + OH * OW)
            with m.Else():
                m.d.sync += yy.eq(yy + 1)

        xx = Signal(range(max(W, 2)), name="cur_x")
        m.d.comb += xx.eq(idx - row_start)

        # emitter registers
        emitting = Signal()
        finishing = Signal()
        free = Signal()
        load = Signal()
        # input: the event being decoded (``have``) and a skid register behind it, so
        # ``i.ready`` is a register (no combinational ready chain through the layers)
        have2 = Signal(name="skid_valid")
        idx2 = Signal.like(idx, name="skid_index")
        last2 = Signal(name="skid_last")
        consume = Signal()
        accept = Signal()
        m.d.comb += [
            free.eq(~emitting | (o.ready & finishing)),
            load.eq(in_row & free),
            consume.eq(load | drop_oob),
            i.ready.eq(~have2),
            accept.eq(i.valid & ~have2),
        ]
        with m.If(consume):
            with m.If(have2):
                m.d.sync += [idx.eq(idx2), is_last.eq(last2)]
                with m.If(accept):
                    m.d.sync += [idx2.eq(i.payload.index), last2.eq(i.payload.last)]
                with m.Else():
                    m.d.sync += have2.eq(0)
            with m.Elif(accept):
                m.d.sync += [idx.eq(i.payload.index), is_last.eq(i.payload.last)]
            with m.Else():
                m.d.sync += have.eq(0)
        with m.Elif(accept):
            with m.If(~have):
                m.d.sync += [have.eq(1), idx.eq(i.payload.index), is_last.eq(i.payload.last)]
            with m.Else():
                m.d.sync += [have2.eq(1), idx2.eq(i.payload.index), last2.eq(i.payload.last)]
        m.d.comb += [o.valid.eq(emitting), self.busy.eq(have | have2 | emitting)]
        with m.If(o.ready & finishing):
            m.d.sync += emitting.eq(0)
        if pool is None:
            m.d.comb += finishing.eq(1)
            with m.If(load):
                m.d.sync += [emitting.eq(1), o.payload.last.eq(is_last),
                             o.payload.index.eq(Mux(is_last, 0, idx)),
                             o.payload.c.eq(cy), o.payload.y.eq(yy), o.payload.x.eq(xx)]
            return m

        nx = Signal(range(max(pool.kernel[1], 1) + 1), name="win_nx")
        ny = Signal(range(max(pool.kernel[0], 1) + 1), name="win_ny")
        xlo = Signal.like(o.payload.x, name="win_xlo")
        a = Signal.like(ny, name="win_a")
        b = Signal.like(nx, name="win_b")
        rowflat = Signal.like(o.payload.index, name="win_rowflat")
        is_marker = Signal()
        m.d.comb += finishing.eq(is_marker | ((b + 1 >= nx) & (a + 1 >= ny)))
        ylo, yn = ylo_t[yy], yn_t[yy]
        xl, xn = xlo_t[xx], xn_t[xx]
        first = Signal.like(o.payload.index, name="win_first")
        m.d.comb += first.eq(cbase + yflat_t[yy] + xl)
        with m.If(load):
            with m.If(is_last):
                m.d.sync += [emitting.eq(1), is_marker.eq(1), o.payload.last.eq(1),
                             o.payload.index.eq(0)]
            with m.Elif((yn != 0) & (xn != 0)):
                m.d.sync += [emitting.eq(1), is_marker.eq(0), o.payload.last.eq(0),
                             o.payload.c.eq(cy), o.payload.y.eq(ylo), o.payload.x.eq(xl),
                             o.payload.index.eq(first), rowflat.eq(first),
                             a.eq(0), b.eq(0), nx.eq(xn), ny.eq(yn), xlo.eq(xl)]
            with m.Else():
                m.d.sync += emitting.eq(0)   # in no window: no event
        with m.Elif(emitting & o.ready & ~finishing):
            with m.If(b + 1 < nx):
                m.d.sync += [b.eq(b + 1), o.payload.x.eq(o.payload.x + 1),
                             o.payload.index.eq(o.payload.index + 1)]
            with m.Else():
                m.d.sync += [a.eq(a + 1), b.eq(0), o.payload.y.eq(o.payload.y + 1),
                             o.payload.x.eq(xlo), rowflat.eq(rowflat + OW),
                             o.payload.index.eq(rowflat + OW)]
        return m
