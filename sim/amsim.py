"""Run a generated :class:`~hdl.network.Network` in Amaranth's own simulator.

Used by the hdl test tier to compare the hardware with the golden model spike for spike
without any external tool; slow (pure Python), so meant for small networks.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from amaranth.sim import Simulator

from hdl.network import Network
from pysim import IntNetwork

__all__ = ["HwRun", "run_network"]


@dataclass(frozen=True)
class HwRun:
    """What the hardware did on a batch of samples.

    Attributes
    ----------
    predictions : int64 (N,)
    spikes : dict layer name -> uint8 (N, T, out_features), rebuilt from the taps
    markers : dict layer name -> int64 (N,): markers seen on each tap per sample
    order_ok : bool
        Every step's spike indices on every tap were strictly ascending.
    cycles : int64 (N,)
        Cycles from the start pulse to the done pulse.
    bounds : int64 (N,)
        The event-driven lower bound of each sample (the plan's
        :meth:`~hwplan.HardwarePlan.cycle_bounds`).
    """

    predictions: np.ndarray
    spikes: dict[str, np.ndarray]
    markers: dict[str, np.ndarray]
    order_ok: bool
    cycles: np.ndarray
    bounds: np.ndarray



def run_network(net: IntNetwork, spikes: np.ndarray, *,
                lanes: int | Mapping[str, int] | None = None,
                gap_rng: np.random.Generator | None = None, gap_rate: float = 0.0,
                max_cycles: int = 1_000_000) -> HwRun:
    """Simulate the generated hardware of ``net`` on input ``spikes`` (N, T, input_size).

    Samples run back to back through one simulation (start, events, wait for done).
    With ``gap_rng`` the driver inserts idle cycles (valid low) with probability
    ``gap_rate`` before each beat, to exercise the handshake.
    """
    x = np.asarray(spikes)
    N, T = x.shape[0], net.timesteps
    dut = Network(network=net, lanes=lanes)
    names = [hw.name for hw in dut.layers]
    out_sizes = {hw.name: hw.plan.out_features for hw in dut.layers}
    got = {n: np.zeros((N, T, out_sizes[n]), np.uint8) for n in names}
    markers = {n: np.zeros(N, np.int64) for n in names}
    preds = np.full(N, -1, np.int64)
    cycles = np.zeros(N, np.int64)
    state = {"order_ok": True, "sample": 0, "cycle": 0, "start_cycle": 0}
    last_index = {n: -1 for n in names}
    steps = {n: 0 for n in names}

    taps = [dut.tap(n) for n in names]
    sampled = []
    for tap in taps:
        sampled += [tap.valid, tap.index, tap.last]

    async def monitor(ctx):
        async for _clk, _rst, *vals in ctx.tick().sample(*sampled, dut.done, dut.prediction):
            state["cycle"] += 1
            s = state["sample"]
            for li, n in enumerate(names):
                valid, index, last = vals[3 * li: 3 * li + 3]
                if not valid or s >= N:
                    continue
                if last:
                    markers[n][s] += 1
                    steps[n] += 1
                    last_index[n] = -1
                else:
                    if index <= last_index[n] or index >= out_sizes[n] or steps[n] >= T:
                        state["order_ok"] = False
                    else:
                        got[n][s, steps[n], index] = 1
                    last_index[n] = index
            done, pred = vals[-2], vals[-1]
            if done and s < N:
                preds[s] = pred
                cycles[s] = state["cycle"] - state["start_cycle"]
                state["sample"] = s + 1
                for n in names:
                    steps[n] = 0
                    last_index[n] = -1

    async def driver(ctx):
        ev = dut.events
        for s in range(N):
            while ctx.get(dut.busy):
                await ctx.tick()
            ctx.set(dut.start, 1)
            state["start_cycle"] = state["cycle"]
            await ctx.tick()
            ctx.set(dut.start, 0)
            for t in range(T):
                beats = [(int(j), 0) for j in np.flatnonzero(x[s, t])] + [(0, 1)]
                for index, last in beats:
                    if gap_rng is not None:
                        while gap_rng.random() < gap_rate:
                            ctx.set(ev.valid, 0)
                            await ctx.tick()
                    ctx.set(ev.valid, 1)
                    ctx.set(ev.payload, {"index": index, "last": last})
                    while True:
                        ready = ctx.get(ev.ready)
                        await ctx.tick()
                        if ready:
                            break
                        if state["cycle"] > max_cycles:
                            raise RuntimeError("hardware simulation: input never accepted")
                ctx.set(ev.valid, 0)
            while state["sample"] <= s:
                await ctx.tick()
                if state["cycle"] > max_cycles:
                    raise RuntimeError("hardware simulation: done never came")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(driver)
    sim.run()
    from pysim import simulate
    golden = simulate(net, x)
    bounds = dut.plan.cycle_bounds(x, golden.spikes)
    return HwRun(predictions=preds, spikes=got, markers=markers,
                 order_ok=state["order_ok"], cycles=cycles, bounds=bounds)
