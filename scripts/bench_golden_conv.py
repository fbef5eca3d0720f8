#!/usr/bin/env python
"""Golden-model time of a convolutional network vs the same network's float32 forward in
torch (one process, alternating rounds).

The network is a random conv net (``pysim.random_conv_network``) on Bernoulli input
spikes; the torch baseline runs the same recurrence in float32 with ``conv2d`` and a
sum-pool as ``avg_pool2d * k^2``. The ratio is golden samples/s over torch samples/s.

    python scripts/bench_golden_conv.py [--arch 1x28x28-8c5-sp2-16c5-sp2-10] [--samples 100]
    python scripts/bench_golden_conv.py --quick --out bench_golden_conv.json
    python scripts/bench_golden_conv.py --net RUN/net [--spikes RUN/net/test_spikes.npz]

With ``--net`` the network is a saved one (a trained, quantized conv net) and the input
its own ``test_spikes.npz`` (or ``--spikes``), first ``--samples`` samples.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from benchlib import Bench, Table, alternating_best, ratio

from pysim import load_network, load_spikes, random_conv_network, random_spikes, simulate


def torch_float_forward(net, x_np, torch):
    """The float recurrence of every layer kind (docs/semantics.md), float32."""
    import torch.nn.functional as F

    x = torch.from_numpy(x_np.astype(np.float32))
    n, t_steps = x.shape[:2]
    with torch.no_grad():
        layer_in = x.reshape(n, t_steps, *net.input_shape)
        for layer in net.layers:
            kind = getattr(layer.kind, "value", layer.kind)
            if kind == "sumpool2d":
                kh, kw = layer.kernel
                flat = layer_in.reshape(n * t_steps, *layer.in_shape)
                p = F.avg_pool2d(flat, layer.kernel, layer.stride) * (kh * kw)
                layer_in = p.reshape(n, t_steps, *layer.out_shape)
                continue
            w = torch.from_numpy(layer.weight.astype(np.float32))
            alpha = 1.0 if layer.leak_shift is None else 1.0 - 2.0 ** -layer.leak_shift
            if kind == "conv2d":
                flat = layer_in.reshape(n * t_steps, *layer.in_shape)
                cur = F.conv2d(flat, w, stride=layer.stride, padding=layer.padding)
                cur = cur.reshape(n, t_steps, -1)
            else:
                cur = layer_in.reshape(n, t_steps, -1) @ w.T
            u = torch.zeros(n, cur.shape[2])
            s = torch.zeros_like(u)
            outs = []
            for t in range(t_steps):
                u = alpha * u * (1 - s) + cur[:, t]
                s = (u >= layer.threshold).float()
                outs.append(s)
            layer_in = torch.stack(outs, 1).reshape(n, t_steps, *layer.out_shape)
        return layer_in.reshape(n, t_steps, -1).sum(1).argmax(1)


def main(argv=None) -> int:
    bench = Bench("bench_golden_conv", __doc__)
    ap = bench.parser(quick="20 samples, 1 repeat", seed=0)
    ap.add_argument("--arch", default="1x28x28-8c5-sp2-16c5-sp2-10")
    ap.add_argument("--net", default=None, help="a saved network directory (instead of --arch)")
    ap.add_argument("--spikes", default=None,
                    help="input spike file with --net (default NET/test_spikes.npz)")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--timesteps", type=int, default=16)
    ap.add_argument("--rate", type=float, default=0.2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2,
                    help="threads of each model (also timed at 1): simulate(threads=) with a "
                         "one-thread BLAS for the golden model, intra-op threads for torch")
    args = bench.parse(ap, argv)
    if args.quick:
        args.samples, args.repeats = min(args.samples, 20), 1
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # the golden model threads itself (simulate(threads=))
    rng = np.random.default_rng(args.seed)
    if args.net:
        net = load_network(args.net)
        spikes = args.spikes or os.path.join(args.net, "test_spikes.npz")
        x = np.asarray(load_spikes(spikes, net).spikes[:args.samples])
        args.samples, args.timesteps = len(x), net.timesteps
        shapes = "-".join("x".join(map(str, lay.out_shape)) for lay in net.layers)
        args.arch = "saved network, layer outputs " + shapes
        args.rate = float(x.mean())
    else:
        net = random_conv_network(rng, args.arch, timesteps=args.timesteps, state_bits=16)
        x = random_spikes(rng, args.samples, args.timesteps, net.input_size, rate=args.rate)
    res = simulate(net, x[:2])
    torch_float_forward(net, x[:2], torch)
    counts = sorted({1, args.threads})
    bench.progress(f"timing {args.samples} samples at {counts} threads, best of "
                   f"{args.repeats} alternating rounds")
    times: dict[int, tuple[float, float]] = {}
    for n in counts:
        def golden(n=n):
            simulate(net, x, threads=n)

        def baseline(n=n):
            torch.set_num_threads(n)
            torch_float_forward(net, x, torch)

        t_golden, t_torch = alternating_best([golden, baseline], args.repeats)
        times[n] = (t_golden, t_torch)
    res = simulate(net, x)
    t_golden, t_torch = times[args.threads]
    golden_sps, torch_sps = args.samples / t_golden, args.samples / t_torch
    best_golden = args.samples / min(t for t, _ in times.values())
    best_torch = args.samples / min(t for _, t in times.values())
    result = {
        "arch": args.arch, "timesteps": args.timesteps, "samples": args.samples,
        "input_rate": args.rate, "neurons": net.n_neurons, "threads": args.threads,
        "golden_seconds": t_golden, "torch_float32_seconds": t_torch,
        "golden_samples_per_s": golden_sps, "torch_float32_samples_per_s": torch_sps,
        "ratio_golden_over_torch": ratio(golden_sps, torch_sps),
        "by_threads": {str(n): {"golden_seconds": g, "torch_float32_seconds": t,
                                "ratio_golden_over_torch": ratio(t, g)}
                       for n, (g, t) in times.items()},
        "best_golden_samples_per_s": best_golden, "best_torch_samples_per_s": best_torch,
        "ratio_best_over_best": ratio(best_golden, best_torch),
        "load_average": os.getloadavg()[0],
        "spike_rates": {k: float(v.mean()) for k, v in res.spikes.items()},
    }
    rows = []
    for n, (g, t) in times.items():
        rows.append((f"golden model (pysim, int exact), {n} thread(s)", f"{g:.3f}",
                     f"{args.samples / g:.0f}", f"{t / g:.2f}"))
        rows.append((f"torch float32 forward (baseline), {n} thread(s)", f"{t:.3f}",
                     f"{args.samples / t:.0f}", "1.00"))
    table = Table(
        ["model", "seconds", "samples/s", "ratio"], rows,
        title=(f"{args.arch}, T={args.timesteps}, {args.samples} samples, best of "
               f"{args.repeats}; golden: BLAS 1 thread + simulate(threads=n); best vs best "
               f"{best_golden / best_torch:.2f}x; load average {os.getloadavg()[0]:.1f}"))
    bench.finish(result, [table])
    return 0


if __name__ == "__main__":
    sys.exit(main())
