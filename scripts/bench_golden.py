#!/usr/bin/env python
"""Golden-model throughput vs the same network's float32 forward in torch (one process).

Network 784-256-10, T=16, 1000 random Bernoulli samples (rate 0.2 by default). The ratio
is golden samples/s divided by torch samples/s; target >= 1.0.

    python scripts/bench_golden.py [--samples 1000] [--repeats 3] [--out bench_golden.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pysim import random_network, random_spikes, simulate


def torch_float_forward(net, x_np, torch):
    """The float LIF recurrence of contract §1 (α = 1 - 2^-k), per step, float32."""
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


def best_times(fns, repeats):
    """Best wall time of each function, measured in alternating rounds (fair under drift)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--timesteps", type=int, default=16)
    ap.add_argument("--rate", type=float, default=0.2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--weight-bits", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2,
                    help="BLAS threads for NumPy and intra-op threads for torch (same for both)")
    ap.add_argument("--out", type=Path, default=Path("bench_golden.json"))
    args = ap.parse_args(argv)
    # Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning
    # threads made torch many times slower (a user's own setting wins).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    rng = np.random.default_rng(0)
    net = random_network(rng, [784, 256, 10], timesteps=args.timesteps,
                         weight_bits=args.weight_bits, state_bits=16)
    x = random_spikes(rng, args.samples, args.timesteps, 784, rate=args.rate)
    simulate(net, x[:10])
    torch_float_forward(net, x[:10], torch)
    t_golden, t_torch = best_times(
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
        "ratio_golden_over_torch": golden_sps / torch_sps,
        "threads": args.threads,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
    }
    rows = [("golden model (pysim, int exact)", t_golden, golden_sps, golden_sps / torch_sps),
            ("torch float32 forward (baseline)", t_torch, torch_sps, 1.0)]
    print(f"784-256-10, T={args.timesteps}, {args.samples} samples, best of {args.repeats}")
    print(f"{'model':34s} {'seconds':>9s} {'samples/s':>10s} {'ratio':>6s}")
    for name, t, sps, ratio in rows:
        print(f"{name:34s} {t:9.3f} {sps:10.0f} {ratio:6.2f}")
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
