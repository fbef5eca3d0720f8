#!/usr/bin/env python
"""Golden-model time of a random convolutional network (NumPy only).

    python scripts/bench_golden_conv.py [--arch 1x28x28-8c5-sp2-16c5-sp2-10] [--samples 100]
        [--timesteps 16] [--rate 0.2] [--repeats 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pysim import random_conv_network, random_spikes, simulate


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="1x28x28-8c5-sp2-16c5-sp2-10")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--timesteps", type=int, default=16)
    ap.add_argument("--rate", type=float, default=0.2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="BLAS threads")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    rng = np.random.default_rng(0)
    net = random_conv_network(rng, args.arch, timesteps=args.timesteps, state_bits=16)
    x = random_spikes(rng, args.samples, args.timesteps, net.input_size, rate=args.rate)
    simulate(net, x[:2])
    best = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = simulate(net, x)
        best = min(best, time.perf_counter() - t0)
    print(f"{args.arch}, T={args.timesteps}, {args.samples} samples: {best:.3f} s "
          f"({args.samples / best:.0f} samples/s), {net.n_neurons} neurons")
    for name, s in res.spikes.items():
        print(f"  {name}: spike rate {s.mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
