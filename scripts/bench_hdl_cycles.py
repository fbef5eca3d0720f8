"""Cycles per timestep of the generated hardware vs the event-driven bound.

Runs random networks through Amaranth's own simulator (no external tool) and prints, per
network, the measured cycles per sample, the bound Σ_t Σ_l (events·G_l + G_l) and their
ratio; writes the same as JSON.

    python scripts/bench_hdl_cycles.py [--samples 2] [--json out.json] [--quick]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

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
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--quick", action="store_true", help="skip the MNIST-size network")
    args = ap.parse_args(argv)
    rows = []
    for name, sizes, T, rate, lanes in CASES:
        if args.quick and sizes[0] > 100:
            continue
        rng = np.random.default_rng(0)
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
        print(f"{name}: done in {wall:.1f}s", file=sys.stderr)
    head = f"{'network':28s} {'cyc/sample':>10s} {'bound':>10s} {'ratio':>6s} " \
           f"{'excess/step':>11s} {'mism':>4s}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['network']:28s} {r['cycles_per_sample']:10.1f} {r['bound_per_sample']:10.1f} "
              f"{r['ratio']:6.3f} {r['excess_cycles_per_step']:11.2f} {r['mismatches']:4d}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
