"""Cycles per sample of conv2d designs vs the plan's bound, per layer (Amaranth simulator).

Every layer's plan bound is :meth:`hwplan.Conv2dLayerPlan.sample_cycles_bound` for a
conv2d layer (two accumulator buffers: ``a_0 + Σ_{t>=1} max(a_t, rows) + rows``, ``a_t =
work_t * G``, ``work`` = in-bounds kernel taps summed over the step's input events,
``rows`` = its neurons, one update per cycle) and ``Σ_t (events_t * G + G)`` for a dense
one (:meth:`hwplan.HardwarePlan.cycles`); the sample's is
:meth:`hwplan.HardwarePlan.pipeline_cycles` (the layers overlapping step by step). Measured per layer is its *occupied* cycles: the
cycles of a sample in which the layer is busy, not idling for want of input and not
held by the next layer (its own accumulate commands, hazard stalls, pipeline drains, the
update walk). The sample's cycles are reported against the largest layer bound (the
layers overlap: a layer accumulates step t while the one before it still walks step t)
and against the sum of the bounds.

Inputs: random spikes, or with ``--data mnist.npz`` the first test images rate-coded
(a pixel spikes with probability intensity / 255 per step).

    python scripts/bench_conv_cycles.py [--samples 2] [--data mnist.npz] [--quick]
                                        [--out out.json] [--md out.md]
"""
from __future__ import annotations

import sys
import time

import numpy as np
from amaranth.sim import Simulator
from benchlib import Bench, Table

import pysim
from hdl.network import Network
from hwplan import plan_network

CASES = [
    # name, arch, timesteps, input rate (None: MNIST when --data)
    ("small 1x12x12-4c3-sp2-10", "1x12x12-4c3-sp2-10", 8, 0.2),
    ("padded 2x10x10-4c3p1-sp2-6c3-8", "2x10x10-4c3p1-sp2-6c3-8", 8, 0.2),
    ("mnist 1x28x28-8c5-sp2-16c5-sp2-10", "1x28x28-8c5-sp2-16c5-sp2-10", 8, None),
]


def measure(net: pysim.IntNetwork, x: np.ndarray) -> dict:
    """Run ``x`` through the design; per sample: cycles, per-layer occupied cycles."""
    dut = Network(network=net)
    layers = dut.layers
    N, T = x.shape[0], net.timesteps
    occupied = {lay.name: np.zeros(N, np.int64) for lay in layers}
    stalls = {lay.name: np.zeros(N, np.int64) for lay in layers}
    cycles = np.zeros(N, np.int64)
    state = {"sample": -1, "cycle": 0}
    sim = Simulator(dut)   # elaborates the design: the layers' probes exist from here
    probes = []
    for lay in layers:
        p = lay._probe
        o = lay.o_events
        blocked = o.valid & ~o.ready          # held by the next layer
        if "waiting" in p:
            probes.append((lay.name, [lay.busy & ~p["waiting"] & ~blocked, p["stall"]]))
        else:  # dense: occupied when busy and its input, an event or its core is active
            probes.append((lay.name, [lay.busy & ~blocked & (lay.i_events.valid
                                                              | lay.neurons.busy
                                                              | p["ev_active"])]))
    sig = [s for _, group in probes for s in group]

    async def monitor(ctx):
        async for _clk, _rst, *vals in ctx.tick().sample(*sig, dut.busy):
            s = state["sample"]
            if s < 0 or s >= N:
                continue
            k = 0
            for name, group in probes:
                v = vals[k:k + len(group)]
                k += len(group)
                occupied[name][s] += int(bool(v[0]))
                if len(group) == 2:
                    stalls[name][s] += int(bool(v[1]))
            if vals[-1]:
                cycles[s] += 1

    async def driver(ctx):
        ev = dut.events
        for s in range(N):
            while ctx.get(dut.busy):
                await ctx.tick()
            state["sample"] = s
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            for t in range(T):
                for j in [*np.flatnonzero(x[s, t]).tolist(), None]:
                    ctx.set(ev.valid, 1)
                    ctx.set(ev.payload, {"index": 0 if j is None else j,
                                         "last": int(j is None)})
                    while True:
                        ready = ctx.get(ev.ready)
                        await ctx.tick()
                        if ready:
                            break
                ctx.set(ev.valid, 0)
            await ctx.tick()
            while ctx.get(dut.busy):
                await ctx.tick()
        state["sample"] = N

    sim.add_clock(1e-8)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(driver)
    sim.run()
    return {"cycles": cycles, "occupied": occupied, "stalls": stalls}


def main(argv: list[str] | None = None) -> int:
    bench = Bench("bench_conv_cycles", __doc__)
    ap = bench.parser(quick="skip the MNIST-size network", seed=0)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--data", default=None, help="MNIST npz (x_test) for the MNIST case")
    ap.add_argument("--net", default=None,
                    help="a manifest directory to measure instead of the random cases")
    ap.add_argument("--spikes", default=None, help="its input spike file (.npz)")
    args = bench.parse(ap, argv)
    rows, layer_rows = [], []
    cases = CASES if args.net is None else [(f"{args.net}", None, None, None)]
    for name, arch, T, rate in cases:
        if args.quick and "mnist" in name:
            continue
        rng = np.random.default_rng(args.seed)
        if args.net is not None:
            net = pysim.load_network(args.net)
            x = np.asarray(pysim.load_spikes(args.spikes).spikes)[:args.samples]
            source = f"{args.spikes} (first {args.samples})"
        else:
            net = pysim.random_conv_network(rng, arch, timesteps=T)
        if args.net is not None:
            pass
        elif rate is None and args.data:
            with np.load(args.data) as z:
                img = z["x_test"][:args.samples].reshape(args.samples, 1, -1) / 255.0
            x = (rng.random((args.samples, T, img.shape[-1])) < img).astype(np.uint8)
            source = "MNIST test images, rate-coded"
        else:
            x = (rng.random((args.samples, T, net.input_size)) < (rate or 0.13)
                 ).astype(np.uint8)
            source = f"random spikes, rate {rate or 0.13}"
        t0 = time.perf_counter()
        got = measure(net, x)
        wall = time.perf_counter() - t0
        golden = pysim.simulate(net, x)
        dut_plan = plan_network(net)
        cyc = dut_plan.cycles(x, golden.spikes)
        work = dut_plan.layer_work(x, golden.spikes)
        bounds = {lp.name: (lp.sample_cycles_bound(work[lp.name])
                            if hasattr(lp, "sample_cycles_bound")
                            else lp.step_cycles_bound(work[lp.name]).sum(axis=1))
                  for lp in dut_plan.layers}
        pipe = dut_plan.pipeline_cycles(x, golden.spikes)
        max_bound = np.max(np.stack(list(bounds.values())), axis=0)
        sum_bound = np.sum(np.stack(list(bounds.values())), axis=0)
        c = got["cycles"].astype(float)
        rows.append({"network": name, "source": source, "samples": args.samples,
                     "cycles_per_sample": float(c.mean()),
                     "max_layer_bound": float(max_bound.mean()),
                     "sum_bound": float(sum_bound.mean()),
                     "ratio_to_max_layer_bound": float((c / max_bound).mean()),
                     "ratio_to_sum_bound": float((c / sum_bound).mean()),
                     "pipeline_bound": float(pipe.mean()),
                     "ratio_to_pipeline_bound": float((c / pipe).mean()),
                     "plan_per_sample": cyc["per_sample"], "sim_seconds": wall})
        for lp in dut_plan.layers:
            occ = got["occupied"][lp.name].astype(float)
            b = bounds[lp.name].astype(float)
            layer_rows.append({"network": name, "layer": lp.name, "kind": lp.kind,
                               "groups": lp.groups,
                               "bound_per_sample": float(b.mean()),
                               "occupied_per_sample": float(occ.mean()),
                               "ratio": float((occ / b).mean()),
                               "hazard_stalls_per_sample":
                                   float(got["stalls"][lp.name].mean())})
        bench.progress(f"{name}: {c.mean():.0f} cycles/sample ({wall:.0f} s)")
    t1 = Table(["network", "cyc/sample", "pipeline bound", "ratio", "max layer bound",
                "ratio", "sum bound", "ratio"],
               [(r["network"], f"{r['cycles_per_sample']:.0f}",
                 f"{r['pipeline_bound']:.0f}", f"{r['ratio_to_pipeline_bound']:.3f}",
                 f"{r['max_layer_bound']:.0f}", f"{r['ratio_to_max_layer_bound']:.3f}",
                 f"{r['sum_bound']:.0f}", f"{r['ratio_to_sum_bound']:.3f}") for r in rows],
               title="per sample")
    t2 = Table(["network", "layer", "kind", "G", "bound", "occupied", "ratio", "stalls"],
               [(r["network"], r["layer"], r["kind"], r["groups"],
                 f"{r['bound_per_sample']:.0f}", f"{r['occupied_per_sample']:.0f}",
                 f"{r['ratio']:.3f}", f"{r['hazard_stalls_per_sample']:.1f}")
                for r in layer_rows], title="per layer")
    bench.finish({"rows": rows, "layers": layer_rows}, [t1, t2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
