"""Cycles per timestep of the generated hardware vs the event-driven bound.

Runs random networks through Amaranth's own simulator (no external tool) and prints, per
network, the measured cycles per sample, the bound Σ_t Σ_l (events·G_l + G_l) and their
ratio; writes the same as JSON.

    python scripts/bench_hdl_cycles.py [--samples 2] [--out out.json] [--md out.md] [--quick]
"""
from __future__ import annotations

import sys
import time

import numpy as np
from benchlib import Bench, Table

import pysim
from sim.amsim import run_network

CASES = [
    # name, sizes, timesteps, input rate, lanes
    ("tiny 16-10", [16, 10], 8, 0.3, None),
    ("small 20-30-10", [20, 30, 10], 8, 0.3, None),
    ("digits 64-128-10", [64, 128, 10], 16, 0.2, None),
    ("digits 64-128-10 lanes=4", [64, 128, 10], 16, 0.2, 4),
    ("mnist 784-256-10", [784, 256, 10], 16, 0.1, None),
]


def main(argv: list[str] | None = None) -> int:
    bench = Bench("bench_hdl_cycles", __doc__)
    ap = bench.parser(quick="skip the MNIST-size network", seed=0)
    ap.add_argument("--samples", type=int, default=2)
    args = bench.parse(ap, argv)
    rows = []
    for name, sizes, T, rate, lanes in CASES:
        if args.quick and sizes[0] > 100:
            continue
        rng = np.random.default_rng(args.seed)
        net = pysim.random_network(rng, sizes, timesteps=T, bias=True)
        x = pysim.random_spikes(rng, args.samples, T, sizes[0], rate)
        t0 = time.perf_counter()
        run = run_network(net, x, lanes=lanes)
        wall = time.perf_counter() - t0
        gold = pysim.simulate(net, x)
        mism = sum(int((run.spikes[k] != v).sum()) for k, v in gold.spikes.items())
        mism += int((run.predictions != gold.predictions).sum())
        cyc, bnd = run.cycles.astype(float), run.bounds.astype(float)
        rows.append({
            "network": name, "timesteps": T, "lanes": lanes or "default",
            "cycles_per_sample": float(cyc.mean()), "bound_per_sample": float(bnd.mean()),
            "ratio": float((cyc / bnd).mean()),
            "excess_cycles_per_step": float(((cyc - bnd) / T).mean()),
            "mismatches": mism, "sim_seconds": wall,
        })
        bench.progress(f"{name}: done in {wall:.1f}s")
    table = Table(["network", "cyc/sample", "bound", "ratio", "excess/step", "mism"],
                  [(r["network"], f"{r['cycles_per_sample']:.1f}",
                    f"{r['bound_per_sample']:.1f}", f"{r['ratio']:.3f}",
                    f"{r['excess_cycles_per_step']:.2f}", r["mismatches"]) for r in rows])
    bench.finish(rows, [table])
    return 0


if __name__ == "__main__":
    sys.exit(main())
