#!/usr/bin/env python
"""Golden-model throughput vs the same network's float32 forward in torch (one process).

Network 784-256-10, T=16, 1000 random Bernoulli samples (rate 0.2 by default). The ratio
is golden samples/s divided by torch samples/s; target >= 1.0.

    python scripts/bench_golden.py [--samples 1000] [--repeats 3] [--threads 2]
    python scripts/bench_golden.py --quick --out bench_golden.json --md bench_golden.md

The figures in docs/results.md (*Golden model*): ``--repeats 7 --threads 2`` and
``--repeats 7 --threads 1``.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from benchlib import Bench, Table, alternating_best, ratio

from pysim import random_network, random_spikes, simulate


def torch_float_forward(net, x_np, torch):
    """The float LIF recurrence (docs/semantics.md, *One step*; α = 1 - 2^-k), float32."""
    x = torch.from_numpy(x_np.astype(np.float32))
    with torch.no_grad():
        layer_in = x
        for layer in net.layers:
            w = torch.from_numpy(layer.weight.astype(np.float32))
            alpha = 1.0 if layer.leak_shift is None else 1.0 - 2.0 ** -layer.leak_shift
            N, T, _ = layer_in.shape
            u = torch.zeros(N, layer.out_features)
            s = torch.zeros(N, layer.out_features)
            outs = []
            for t in range(T):
                u = alpha * u * (1 - s) + layer_in[:, t] @ w.T
                s = (u >= layer.threshold).float()
                outs.append(s)
            layer_in = torch.stack(outs, 1)
        return layer_in.sum(1).argmax(1)


def main(argv=None) -> int:
    bench = Bench("bench_golden", __doc__)
    ap = bench.parser(quick="200 samples, 1 repeat", seed=0)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--timesteps", type=int, default=16)
    ap.add_argument("--rate", type=float, default=0.2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--weight-bits", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2,
                    help="BLAS threads for NumPy and intra-op threads for torch (same for both)")
    args = bench.parse(ap, argv)
    if args.quick:
        args.samples, args.repeats = min(args.samples, 200), 1
    # Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning
    # threads made torch many times slower (a user's own setting wins).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    rng = np.random.default_rng(args.seed)
    net = random_network(rng, [784, 256, 10], timesteps=args.timesteps,
                         weight_bits=args.weight_bits, state_bits=16)
    x = random_spikes(rng, args.samples, args.timesteps, 784, rate=args.rate)
    simulate(net, x[:10])
    torch_float_forward(net, x[:10], torch)
    bench.progress(f"timing {args.samples} samples, best of {args.repeats} alternating rounds")
    t_golden, t_torch = alternating_best(
        [lambda: simulate(net, x), lambda: torch_float_forward(net, x, torch)], args.repeats)
    golden_sps = args.samples / t_golden
    torch_sps = args.samples / t_torch
    result = {
        "network": "784-256-10",
        "timesteps": args.timesteps,
        "samples": args.samples,
        "input_rate": args.rate,
        "weight_bits": args.weight_bits,
        "golden_seconds": t_golden,
        "torch_float32_seconds": t_torch,
        "golden_samples_per_s": golden_sps,
        "torch_float32_samples_per_s": torch_sps,
        "ratio_golden_over_torch": ratio(golden_sps, torch_sps),
        "threads": args.threads,
    }
    table = Table(
        ["model", "seconds", "samples/s", "ratio"],
        [("golden model (pysim, int exact)", f"{t_golden:.3f}", f"{golden_sps:.0f}",
          f"{golden_sps / torch_sps:.2f}"),
         ("torch float32 forward (baseline)", f"{t_torch:.3f}", f"{torch_sps:.0f}", "1.00")],
        title=(f"784-256-10, T={args.timesteps}, {args.samples} samples, {args.threads} "
               f"threads, best of {args.repeats}"))
    bench.finish(result, [table])
    return 0


if __name__ == "__main__":
    sys.exit(main())
