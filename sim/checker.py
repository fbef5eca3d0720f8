"""The testbench's pure-NumPy layers: event encoding and the in-order checker.

Nothing here touches a simulator, so the same code serves the buffered Verilog driver,
the per-cycle cocotb driver and unit tests. The cycle bound is the hardware plan's
(:meth:`hwplan.HardwarePlan.cycle_bounds`).

Event streams (docs/hardware.md, *Interfaces*): one timestep is zero or more beats ``(last=0, index)`` with
distinct, ascending indices followed by one marker beat ``(last=1)``; a sample is exactly
``T`` timesteps. A recorded tap event is a row ``(sample, layer, last, index)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pysim import IntNetwork, SimResult

__all__ = [
    "KIND_DONE",
    "KIND_EARLY_DONE",
    "KIND_START",
    "KIND_TAP",
    "KIND_TIMEOUT",
    "CheckReport",
    "check_events",
    "encode_beats",
    "expected_beats",
    "parse_log",
]

# Record kinds in the wrapper's log (one line = five integers: kind a b c d).
KIND_TAP = 0          # 0 sample layer last index
KIND_START = 1        # 1 sample cycle 0 0
KIND_DONE = 2         # 2 sample cycles prediction 0
KIND_TIMEOUT = 3      # 3 sample cycle markers_sent 0
KIND_EARLY_DONE = 4   # 4 sample markers_sent 0 0: done before the sample's input was consumed


def expected_beats(spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode spike trains (N, T, C) as an event stream in interface order (docs/hardware.md).

    Returns
    -------
    sample, last, index : int64 arrays of equal length, one entry per beat; markers carry
    index 0.
    """
    x = np.asarray(spikes)
    N, T, C = x.shape
    n, t, i = np.nonzero(x)
    ev_key = (n * T + t) * (C + 1) + i
    step = np.arange(N * T, dtype=np.int64)
    mk_key = step * (C + 1) + C
    key = np.concatenate([ev_key.astype(np.int64), mk_key])
    last = np.concatenate([np.zeros(len(ev_key), np.int64), np.ones(N * T, np.int64)])
    index = np.concatenate([i.astype(np.int64), np.zeros(N * T, np.int64)])
    order = np.argsort(key, kind="stable")
    return key[order] // ((C + 1) * T), last[order], index[order]


def encode_beats(spikes: np.ndarray, index_width: int) -> np.ndarray:
    """Return the input beats of every sample as words ``(last << index_width) | index``."""
    _, last, index = expected_beats(spikes)
    return (last << index_width) | index



@dataclass
class CheckReport:
    """What the in-order checker found.

    Attributes
    ----------
    by_layer_step : int64 (L, T): event mismatches per layer and timestep
    protocol_errors : dict layer -> int (markers missing or extra, events outside a sample)
    prediction_mismatches : int
    unfinished : int: samples without a ``done`` (timeout, early done)
    first_mismatch : str | None
    rtl_spikes : dict layer -> uint8 (N, T, out)
    """

    layer_names: list[str]
    by_layer_step: np.ndarray
    protocol_errors: dict[str, int]
    prediction_mismatches: int
    unfinished: int
    first_mismatch: str | None
    rtl_spikes: dict[str, np.ndarray] = field(repr=False)

    @property
    def mismatches_by_layer(self) -> dict[str, int]:
        return {name: int(self.by_layer_step[i].sum()) + self.protocol_errors[name]
                for i, name in enumerate(self.layer_names)}

    @property
    def mismatches(self) -> int:
        return (sum(self.mismatches_by_layer.values()) + self.prediction_mismatches
                + self.unfinished)


def _fmt_idx(v: list[int] | np.ndarray) -> str:
    v = [int(a) for a in v]
    if len(v) > 12:
        return "[" + ", ".join(map(str, v[:12])) + f", ... ({len(v)} events)]"
    return "[" + ", ".join(map(str, v)) + "]"


def check_events(net: IntNetwork, golden: SimResult, events: np.ndarray,
                 rtl_predictions: np.ndarray, finished: np.ndarray) -> CheckReport:
    """Compare recorded tap events and predictions with the golden model, in order.

    Parameters
    ----------
    net : the network
    golden : ``pysim.simulate`` result for the same N samples
    events : int64 (M, 4) rows ``(sample, layer, last, index)`` in arrival order;
        ``sample = -1`` marks an event seen while no sample was running
    rtl_predictions : int64 (N,), -1 where the sample never finished
    finished : bool (N,): the sample's ``done`` was seen
    """
    N = golden.predictions.shape[0]
    T = net.timesteps
    L = len(net.neuron_layers)
    names = [layer.name for layer in net.neuron_layers]
    by_ls = np.zeros((L, T), np.int64)
    proto = {name: 0 for name in names}
    first: list[tuple[int, int, int, str]] = []  # (sample, layer, step, text)
    rtl_spikes: dict[str, np.ndarray] = {}
    ev = np.asarray(events, np.int64).reshape(-1, 4)

    outside = ev[:, 0] < 0
    for li in np.unique(ev[outside, 1]):
        if 0 <= li < L:
            k = int(np.sum(outside & (ev[:, 1] == li)))
            proto[names[li]] += k
            msg = f"layer {names[li]}: {k} tap events while no sample was running"
            first.append((-1, int(li), -1, msg))
    ev = ev[~outside & (ev[:, 0] < N)]

    for li, layer in enumerate(net.neuron_layers):
        out = layer.out_size
        gold = golden.spikes[layer.name]
        rtl = np.zeros((N, T, out), np.uint8)
        mine = ev[ev[:, 1] == li]
        order = np.argsort(mine[:, 0], kind="stable")
        s, last, idx = mine[order, 0], mine[order, 2], mine[order, 3]
        # step of every event = markers seen before it within its sample
        csum = np.cumsum(last) - last
        starts = np.searchsorted(s, np.arange(N))
        base = np.concatenate([csum, [0]])[starts] if len(s) else np.zeros(N, np.int64)
        step = csum - base[s] if len(s) else csum
        ok = (last == 0) & (step < T) & (idx >= 0) & (idx < out)
        rtl[s[ok], step[ok], idx[ok]] = 1
        rtl_spikes[layer.name] = rtl

        es, el, ei = expected_beats(gold)
        if len(es) == len(s) and np.array_equal(es, s) and np.array_equal(el, last) \
                and np.array_equal(ei, idx):
            continue  # the whole layer matched, in order
        # Locate differences sample by sample, then step by step.
        ends = np.searchsorted(s, np.arange(N), side="right")
        e_starts = np.searchsorted(es, np.arange(N))
        e_ends = np.searchsorted(es, np.arange(N), side="right")
        for n in range(N):
            g_last, g_idx = last[starts[n]:ends[n]], idx[starts[n]:ends[n]]
            x_last, x_idx = el[e_starts[n]:e_ends[n]], ei[e_starts[n]:e_ends[n]]
            if np.array_equal(g_last, x_last) and np.array_equal(g_idx, x_idx):
                continue
            got_steps = np.split(g_idx, np.flatnonzero(g_last) + 1)
            # np.split leaves [marker index] at each piece end; strip markers
            got_steps = [p[:-1] if k < int(g_last.sum()) else p
                         for k, p in enumerate(got_steps)]
            n_markers = int(g_last.sum())
            if n_markers != T:
                proto[layer.name] += 1
                trailing = got_steps[T:] if n_markers > T else []
                extra = sum(len(p) for p in trailing)
                first.append((n, li, min(n_markers, T),
                              f"sample {n}, layer {layer.name}: {n_markers} end-of-step "
                              f"markers, expected {T}"
                              + (f" ({extra} events after the last step)" if extra else "")))
            for t in range(T):
                exp = np.flatnonzero(gold[n, t])
                got = got_steps[t] if t < len(got_steps) else np.zeros(0, np.int64)
                if len(got) == len(exp) and np.array_equal(got, exp):
                    continue
                diff = len(set(exp.tolist()) ^ set(got.tolist()))
                by_ls[li, t] += diff if diff else 1
                why = "" if diff else " (same set, wrong order or duplicates)"
                first.append((n, li, t, f"sample {n}, layer {layer.name}, step {t}: expected "
                                        f"spikes at {_fmt_idx(exp)}, RTL gave {_fmt_idx(got)}"
                                        + why))

    fin = np.asarray(finished, bool)
    unfinished = int(np.sum(~fin))
    if unfinished:
        n = int(np.flatnonzero(~fin)[0])
        msg = f"sample {n}: no done from the design ({unfinished} unfinished samples)"
        first.append((n, L, -1, msg))
    rp = np.asarray(rtl_predictions, np.int64)
    bad = fin & (rp != golden.predictions)
    if bad.any():
        n = int(np.flatnonzero(bad)[0])
        msg = (f"sample {n}: prediction expected {int(golden.predictions[n])}, "
               f"RTL gave {int(rp[n])}")
        first.append((n, L, T, msg))
    first.sort(key=lambda r: (r[0], r[2], r[1]))
    return CheckReport(
        layer_names=names, by_layer_step=by_ls, protocol_errors=proto,
        prediction_mismatches=int(bad.sum()), unfinished=unfinished,
        first_mismatch=first[0][3] if first else None, rtl_spikes=rtl_spikes,
    )


def parse_log(text: str) -> np.ndarray:
    """Parse the wrapper's log (lines of five integers) into an int64 (M, 5) array."""
    if not text.strip():
        return np.zeros((0, 5), np.int64)
    flat = np.array(text.split(), dtype=np.int64)
    if flat.size % 5:
        raise ValueError(f"testbench log is malformed ({flat.size} numbers, not a multiple "
                         f"of 5)")
    return flat.reshape(-1, 5)
