#!/usr/bin/env python
"""Training speed and neuron-state memory of the simplified LIF (issue 3, item 7).

Two comparisons, each measured in this one process on the same network, data, batch
size and torch threads:

1. **Speed vs snnTorch**: time per training step (forward, cross-entropy, backward, Adam)
   of :class:`quant.model.SpikingMLP` (simplified LIF) against the same network written
   the usual snnTorch way (``nn.Linear`` + ``snntorch.Leaky`` per layer, time-outer
   loop, ``beta = 1 - 2^-k``, threshold 1, reset to zero, fast-sigmoid surrogate of the
   same slope, spike-count cross-entropy). Reported as seconds per epoch (steps/epoch x
   median step time) and the ratio snnTorch / ours. snnTorch is only needed here
   (``pip install snntorch``, the ``bench`` extra); without it that row is skipped.
2. **State memory, simplified vs four-state (DECOLLE) LIF**: bytes of neuron state carried
   from one step to the next for a batch, bytes of tensors autograd saves for the
   backward pass in one training step (the activation memory that dominates training),
   and time per step. The DECOLLE variant runs through the step-by-step autograd graph,
   so the simplified LIF is also timed that way (``simplified_lif_unfused``) to separate
   the neuron model from the fused implementation.

Steps alternate between the variants (ours, snnTorch, ours, ...) so that load changes
on a shared machine hit all of them alike.

Example::

    python scripts/bench_train.py --dataset digits --arch 64-128-10 --out bench_train.json

The figures in docs/frontend.md (*Measured*): ``--threads 2`` on digits (B=32) and
``--dataset mnist --batch-size 128 --threads 2`` (MNIST from ``spikeforge data fetch
mnist`` or ``--data PATH``).
"""
from __future__ import annotations

import itertools
import math
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP

import torch
import torch.nn.functional as F
from benchlib import Bench, Table, ratio
from torch import nn

from quant.model import SpikingMLP, parse_arch


class SnnTorchMLP(nn.Module):
    """The same network the snnTorch way: Linear + Leaky per layer, time-outer loop."""

    def __init__(self, sizes: list[int], *, beta: float, slope: float, init_gain: float):
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        self.fcs = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in itertools.pairwise(sizes))
        with torch.no_grad():
            for fc in self.fcs:
                fc.weight.mul_(init_gain)
        grad = surrogate.fast_sigmoid(slope=slope)
        self.lifs = nn.ModuleList(
            snn.Leaky(beta=beta, threshold=1.0, spike_grad=grad, reset_mechanism="zero")
            for _ in self.fcs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mems = [lif.init_leaky() for lif in self.lifs]
        count = 0
        for t in range(x.shape[1]):
            h = x[:, t]
            for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                h, mems[i] = lif(fc(h), mems[i])
            count = count + h
        return count


def saved_bytes_per_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps for backward in one training step."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor):
        # count each saved tensor's own bytes once (a view of a larger buffer counts
        # only its elements; the same tensor saved by two ops counts once)
        key = (t.data_ptr(), tuple(t.shape), tuple(t.stride()), t.dtype)
        seen[key] = t.numel() * t.element_size()
        return t

    x, y = x.clone(), y.clone()

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return int(sum(seen.values()))


def make_data(dataset: str, data: str | None, timesteps: int, n: int, seed: int):
    from quant.data import load_dataset
    from quant.encoding import encode

    ds = load_dataset(dataset, data, limit_train=n)
    spikes = encode(ds.x_train, timesteps, method="rate", seed=seed)
    return torch.from_numpy(spikes).float(), torch.from_numpy(ds.y_train).long(), len(
        load_dataset(dataset, data).y_train) if n is not None else len(ds.y_train)


def main(argv: list[str] | None = None) -> int:
    bench = Bench("bench_train", __doc__)
    ap = bench.parser(quick="10 timed steps per variant, 1 warm-up step", seed=0)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--data", default=None, help="MNIST files (default: fetch cache)")
    ap.add_argument("--arch", default=None, help="default 64-128-10 (digits), "
                    "784-400-200-10 (mnist)")
    ap.add_argument("--timesteps", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=60, help="timed steps per variant")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--leak-shift", type=int, default=3)
    ap.add_argument("--no-snntorch", action="store_true")
    args = bench.parse(ap, argv)
    if args.quick:
        args.steps, args.warmup = min(args.steps, 10), min(args.warmup, 1)

    arch = args.arch or ("64-128-10" if args.dataset == "digits" else "784-400-200-10")
    sizes = parse_arch(arch)
    torch.set_num_threads(args.threads)
    n_needed = args.batch_size * (args.steps + args.warmup)
    x, y, n_train = make_data(args.dataset, args.data, args.timesteps, n_needed, args.seed)
    steps_per_epoch = math.ceil(n_train / args.batch_size)
    beta = 1.0 - 2.0 ** -args.leak_shift
    slope, gain = 5.0, 2.0

    variants: dict[str, nn.Module] = {}
    torch.manual_seed(args.seed)
    variants["simplified_lif"] = SpikingMLP(sizes, timesteps=args.timesteps,
                                            leak_shift=args.leak_shift, slope=slope,
                                            init_gain=gain)
    for neu in variants["simplified_lif"].neurons:
        neu.fused = True  # as quant.train trains it (quant.model.fused_bptt)
    torch.manual_seed(args.seed)
    # the same neuron through the step-by-step autograd graph (like the DECOLLE variant):
    # separates the neuron model's cost from the fused implementation's gain
    variants["simplified_lif_unfused"] = SpikingMLP(sizes, timesteps=args.timesteps,
                                                    leak_shift=args.leak_shift, slope=slope,
                                                    init_gain=gain)
    torch.manual_seed(args.seed)
    variants["decolle_lif"] = SpikingMLP(sizes, timesteps=args.timesteps, neuron="decolle",
                                         slope=slope, init_gain=gain)
    snn_error = None
    if not args.no_snntorch:
        try:
            torch.manual_seed(args.seed)
            variants["snntorch_leaky"] = SnnTorchMLP(sizes, beta=beta, slope=slope,
                                                     init_gain=gain)
        except ImportError as exc:
            snn_error = f"snntorch not installed ({exc}); pip install snntorch"
            bench.progress(f"skipping snnTorch: {snn_error}")
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in variants.items()}
    times: dict[str, list[float]] = {k: [] for k in variants}
    n_batches = len(y) // args.batch_size
    bench.progress(f"{args.warmup} warm-up + {args.steps} timed steps of {len(variants)} "
                   "variants, interleaved")
    for step in range(args.warmup + args.steps):
        b = step % n_batches
        xb = x[b * args.batch_size:(b + 1) * args.batch_size]
        yb = y[b * args.batch_size:(b + 1) * args.batch_size]
        for k, m in variants.items():
            t0 = time.perf_counter()
            opts[k].zero_grad(set_to_none=True)
            loss = F.cross_entropy(m(xb), yb)
            loss.backward()
            opts[k].step()
            dt = time.perf_counter() - t0
            if step >= args.warmup:
                times[k].append(dt)
    xb, yb = x[:args.batch_size], y[:args.batch_size]
    results = {}
    for k, m in variants.items():
        med = statistics.median(times[k])
        if isinstance(m, SpikingMLP):
            state = m.state_bytes(args.batch_size)
        else:  # snnTorch Leaky: one membrane per neuron
            state = 4 * args.batch_size * sum(sizes[1:])
        results[k] = {
            "step_seconds_median": med,
            "step_seconds_mean": statistics.fmean(times[k]),
            "epoch_seconds": med * steps_per_epoch,
            "state_bytes": state,
            "saved_for_backward_bytes": saved_bytes_per_step(m, xb, yb),
        }
    ours = results["simplified_lif"]
    def step_ratio(a: str, b: str) -> float | None:
        return ratio(results[a]["step_seconds_median"], results[b]["step_seconds_median"])

    ratios = {
        "decolle_over_simplified_step_time": step_ratio("decolle_lif", "simplified_lif"),
        "decolle_over_simplified_state_bytes":
            ratio(results["decolle_lif"]["state_bytes"], ours["state_bytes"]),
        "decolle_over_simplified_unfused_step_time":
            step_ratio("decolle_lif", "simplified_lif_unfused"),
        "decolle_over_simplified_saved_bytes":
            ratio(results["decolle_lif"]["saved_for_backward_bytes"],
                  ours["saved_for_backward_bytes"]),
    }
    if "snntorch_leaky" in results:
        ratios["snntorch_over_simplified_step_time"] = step_ratio("snntorch_leaky",
                                                                  "simplified_lif")
    report = {
        "benchmark": "bench_train", "dataset": args.dataset, "arch": arch,
        "timesteps": args.timesteps, "batch_size": args.batch_size, "threads": args.threads,
        "steps_timed": args.steps, "steps_per_epoch": steps_per_epoch,
        "torch": torch.__version__, "snntorch_error": snn_error,
        "results": results, "ratios": ratios,
    }
    if "snntorch_leaky" in variants:
        import snntorch
        report["snntorch"] = snntorch.__version__
    tables = [
        Table(["variant", "ms/step", "s/epoch", "state B", "saved MB", "ms/step vs ours"],
              [(k, f"{1e3 * r['step_seconds_median']:.2f}", f"{r['epoch_seconds']:.2f}",
                r["state_bytes"], f"{r['saved_for_backward_bytes'] / 2**20:.2f}",
                f"{r['step_seconds_median'] / ours['step_seconds_median']:.2f}x")
               for k, r in results.items()],
              title=(f"{args.dataset} {arch} T={args.timesteps} batch {args.batch_size} "
                     f"threads {args.threads}, {args.steps} steps each (median)")),
        Table(["ratio", "value"], [(k, f"{v:.2f}x") for k, v in ratios.items()]),
    ]
    bench.finish(report, tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
