#!/usr/bin/env python
"""Convolutional spiking networks: accuracy, memory and speed (MNIST or digits).

Three parts, one process:

1. **Accuracy and memory**: a trained conv run (``--run``, else trained here with
   ``--arch``/``--epochs``/``--timesteps``) is quantized with uniform widths (``--uniform``,
   default 8/4/3/2 bits) and with the Hessian-aware mixed allocation at ``--avg-bits``
   (MILP over the conv and dense layers, Ω from the run's traces), each fine-tuned for
   ``--qat-epochs`` epochs (QAT with the clamp, floor-shift leak and threshold-snapped
   scales) and scored by the golden model on the whole test set; the exact McNemar test
   pairs every quantized network with the float one on the same test spikes. Memory is
   counted twice against float32: weights only, and weights + membranes (one
   ``state_bits`` word per neuron: a conv layer holds one per output position).
2. **Training speed**: seconds per epoch of our training step (``quant.convnet.
   SpikingConvNet``: the conv of all ``B·T`` maps in one call, fused BPTT of the
   simplified LIF) vs the same network the snnTorch way (``nn.Conv2d`` + ``snntorch.Leaky``
   per layer, time-outer loop, ``beta = 1 - 2^-k``, threshold 1, reset to zero,
   fast-sigmoid surrogate of the same slope, the same sum-pools, spike-count
   cross-entropy), same data, batch and threads, interleaved steps; epoch = steps/epoch x
   median step time.
3. **Golden-model throughput** of the Hessian-mixed integer network on real test spikes vs
   the torch float32 forward of the same network (``bench_golden_conv.torch_float_forward``),
   alternating rounds.

    python scripts/bench_conv.py --data mnist.npz --run runs/mnist_conv/train \\
        --out docs/results_conv.json --md docs/results_conv.md
    python scripts/bench_conv.py --dataset digits --arch 1x8x8-16c3-sp2-10 --quick
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import Bench, Table, alternating_best, ratio


def snntorch_convnet(spec, *, beta: float, slope: float, init_gain: float):
    """The same conv network the snnTorch way: Conv2d/Linear + Leaky, time-outer loop."""
    import snntorch as snn
    import torch
    import torch.nn.functional as F
    from snntorch import surrogate
    from torch import nn

    class SnnTorchConv(nn.Module):
        def __init__(self):
            super().__init__()
            grad = surrogate.fast_sigmoid(slope=slope)
            self.spec = spec
            self.mods = nn.ModuleList()
            self.lifs = nn.ModuleList()
            for a in spec:
                if a.kind == "conv2d":
                    m = nn.Conv2d(a.in_shape[0], a.size, a.kernel, stride=a.stride,
                                  padding=a.padding, bias=False)
                elif a.kind == "dense":
                    m = nn.Linear(int(np.prod(a.in_shape)), a.size, bias=False)
                else:
                    continue
                with torch.no_grad():
                    m.weight.mul_(init_gain)
                self.mods.append(m)
                self.lifs.append(snn.Leaky(beta=beta, threshold=1.0, spike_grad=grad,
                                           reset_mechanism="zero"))

        def forward(self, x):
            B, T = x.shape[:2]
            mems = [lif.init_leaky() for lif in self.lifs]
            count = 0
            for t in range(T):
                h = x[:, t].reshape(B, *self.spec[0].in_shape)
                i = 0
                for a in self.spec:
                    if a.kind == "sumpool2d":
                        h = F.avg_pool2d(h, a.kernel, a.stride, divisor_override=1)
                        continue
                    if a.kind == "dense":
                        h = h.reshape(B, -1)
                    h, mems[i] = self.lifs[i](self.mods[i](h), mems[i])
                    i += 1
                count = count + h.reshape(B, -1)
            return count

    return SnnTorchConv()


def train_speed(bench, cfg, x, y, *, steps: int, warmup: int, n_train: int, snn: bool):
    """Median training-step seconds of ours and snnTorch's, interleaved."""
    import torch
    import torch.nn.functional as F

    from quant.model import fused_bptt
    from quant.train import build_model

    torch.manual_seed(cfg.seed)
    variants = {"spikeforge (SpikingConvNet, fused BPTT)": build_model(cfg)}
    err = None
    if snn:
        try:
            torch.manual_seed(cfg.seed)
            k = cfg.leak_shift
            variants["snnTorch (nn.Conv2d + Leaky)"] = snntorch_convnet(
                variants["spikeforge (SpikingConvNet, fused BPTT)"].spec,
                beta=1.0 if k is None else 1.0 - 2.0 ** -k, slope=cfg.slope,
                init_gain=cfg.init_gain)
        except ImportError as exc:
            err = f"snntorch not installed ({exc})"
            bench.progress(f"skipping snnTorch: {err}")
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in variants.items()}
    times: dict[str, list[float]] = {k: [] for k in variants}
    bs = cfg.batch_size
    nb = len(y) // bs
    bench.progress(f"training speed: {warmup} warm-up + {steps} timed steps per variant")
    for step in range(warmup + steps):
        b = step % nb
        xb, yb = x[b * bs:(b + 1) * bs], y[b * bs:(b + 1) * bs]
        for k, m in variants.items():
            t0 = time.perf_counter()
            opts[k].zero_grad(set_to_none=True)
            with fused_bptt(m):
                loss = F.cross_entropy(m(xb), yb)
                loss.backward()
            opts[k].step()
            if step >= warmup:
                times[k].append(time.perf_counter() - t0)
    steps_per_epoch = -(-n_train // bs)
    out = {}
    for k, ts in times.items():
        med = statistics.median(ts)
        out[k] = {"step_seconds_median": med, "epoch_seconds": med * steps_per_epoch}
    return out, err


def main(argv=None) -> int:
    bench = Bench("bench_conv", __doc__)
    ap = bench.parser(quick="digits-sized settings: 1 QAT epoch, 10 timed steps, 50 "
                      "golden samples", seed=0)
    ap.add_argument("--dataset", default="mnist", help="mnist (default) or digits")
    ap.add_argument("--data", default=None, help="MNIST .npz or IDX directory")
    ap.add_argument("--run", type=Path, default=None,
                    help="a trained conv run (spikeforge train); default: train one here")
    ap.add_argument("--arch", default="1x28x28-12c5-sp2-32c5-sp2-10")
    ap.add_argument("--timesteps", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=6, help="float epochs when training here")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--uniform", default="8,4,3,2", help="uniform widths")
    ap.add_argument("--avg-bits", default="4", help="Hessian mixed budgets (avg bits/weight)")
    ap.add_argument("--qat-epochs", type=int, default=1)
    ap.add_argument("--hessian-samples", type=int, default=256)
    ap.add_argument("--hessian-probes", type=int, default=100)
    ap.add_argument("--speed-steps", type=int, default=30)
    ap.add_argument("--golden-samples", type=int, default=200)
    ap.add_argument("--no-snntorch", action="store_true")
    args = bench.parse(ap, argv)
    if args.quick:
        args.qat_epochs, args.speed_steps = min(args.qat_epochs, 1), min(args.speed_steps, 10)
        args.golden_samples = min(args.golden_samples, 50)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    from pysim import simulate
    from quant.config import TrainConfig
    from quant.export import quantize_run
    from quant.hessian import traces_for_run
    from quant.stats import mcnemar
    from quant.train import load_run, predict, train

    tmp = tempfile.TemporaryDirectory()
    run_dir = args.run
    if run_dir is None:
        cfg = TrainConfig(dataset=args.dataset, data_path=args.data, arch=args.arch,
                          timesteps=args.timesteps, epochs=args.epochs,
                          batch_size=args.batch_size, threads=args.threads, seed=args.seed)
        run_dir = Path(tmp.name) / "train"
        bench.progress(f"training {args.arch} for {args.epochs} epochs")
        train(cfg, run_dir, progress=False)
    run = load_run(run_dir)
    cfg = run.cfg
    hist = run.info.get("history", [])
    bench.progress(f"run {run_dir}: {cfg.arch}, T={cfg.timesteps}, float "
                   f"{100 * run.info['test_accuracy']:.2f}%")
    traces_for_run(run, "both", samples=args.hessian_samples, max_probes=args.hessian_probes,
                   progress=False)
    test_x, test_y = run.test_spikes()
    float_pred = predict(run.model, test_x).numpy()
    float_ok = float_pred == test_y
    n_w = sum(m.weight.numel() for m in run.model.linears)
    n_neurons = sum(run.model.sizes[1:])

    # ---- 1. accuracy and memory
    configs = [("uniform", int(b)) for b in args.uniform.split(",") if b.strip()]
    configs += [("hessian", float(a)) for a in args.avg_bits.split(",") if a.strip()]
    points, rows = [], []
    rows.append(("float32", "-", f"{100 * float_ok.mean():.2f}", "-", "-", "100.0", "100.0",
                 "-"))
    best_net = None
    for kind, v in configs:
        bench.progress(f"quantize {kind} {v} ({args.qat_epochs} QAT epochs)")
        kw = {"bits": v} if kind == "uniform" else {"avg_bits": v}
        res = quantize_run(run_dir, Path(tmp.name) / "net", epochs=args.qat_epochs,
                           progress=False, write=False, **kw)
        net = res.net
        q_ok = res.predictions == test_y
        m = mcnemar(float_ok, q_ok)
        w_bits, m_bits = net.weight_memory_bits, net.membrane_memory_bits
        pt = {"kind": kind, "setting": v, "bits": res.bits,
              "state_bits": [la.state_bits for la in net.neuron_layers],
              "golden_accuracy": res.golden_accuracy, "ptq_accuracy": res.ptq_accuracy,
              "float_accuracy": float(float_ok.mean()),
              "delta_points": 100 * (res.golden_accuracy - float(float_ok.mean())),
              "mcnemar_vs_float": m, "weight_memory_bits": w_bits,
              "membrane_memory_bits": m_bits,
              "weights_percent_of_float32": 100 * w_bits / (32 * n_w),
              "weights_membranes_percent_of_float32":
                  100 * (w_bits + m_bits) / (32 * (n_w + n_neurons)),
              "average_weight_bits": w_bits / n_w, "mismatches": res.check["mismatches"],
              "quantize_seconds": res.seconds}
        points.append(pt)
        if kind == "hessian" and best_net is None:
            best_net = net
        label = f"uniform {v}-bit" if kind == "uniform" else f"Hessian mixed <= {v:g} avg"
        rows.append((label, " ".join(map(str, res.bits)), f"{100 * res.golden_accuracy:.2f}",
                     f"{pt['delta_points']:+.2f}", f"{m['p_value']:.3g}",
                     f"{pt['weights_percent_of_float32']:.1f}",
                     f"{pt['weights_membranes_percent_of_float32']:.1f}",
                     str(res.check["mismatches"])))
    acc_table = Table(
        ["network", "bits", "golden acc %", "Δ vs float", "McNemar p", "weights % f32",
         "weights+membranes % f32", "int==golden mismatches"], rows,
        title=(f"{cfg.dataset} {cfg.arch}, T={cfg.timesteps}, {len(test_y)} test samples, "
               f"{args.qat_epochs} QAT epoch(s) per point"))

    # ---- 2. training speed
    n_speed = cfg.batch_size * max(4, args.speed_steps // 4)
    xs, ys = run.train_spikes(n_speed)
    xs = torch.from_numpy(np.asarray(xs)).float()
    ys = torch.from_numpy(np.asarray(ys)).long()
    n_train = len(run.dataset().y_train)
    speed, snn_err = train_speed(bench, cfg, xs, ys, steps=args.speed_steps, warmup=2,
                                 n_train=n_train, snn=not args.no_snntorch)
    keys = list(speed)
    ours = speed[keys[0]]["epoch_seconds"]
    srows = [(k, f"{1e3 * r['step_seconds_median']:.1f}", f"{r['epoch_seconds']:.1f}",
              f"{r['epoch_seconds'] / ours:.2f}") for k, r in speed.items()]
    measured_epochs = [h["seconds"] for h in hist]
    speed_table = Table(["variant", "ms/step (median)", "s/epoch", "time vs ours"], srows,
                        title=(f"training step, batch {cfg.batch_size}, {args.threads} threads, "
                               f"{args.speed_steps} timed steps each, interleaved"),
                        notes=([(f"the run's own {len(measured_epochs)} training epochs: "
                                 f"{statistics.mean(measured_epochs):.1f} s each on average "
                                 "(measured while training, machine shared)")]
                               if measured_epochs else []))

    # ---- 3. golden-model throughput
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_golden_conv import torch_float_forward

    net = best_net
    xg = test_x[:args.golden_samples]
    simulate(net, xg[:2])
    torch_float_forward(net, xg[:2], torch)
    bench.progress(f"golden vs torch float32: {len(xg)} samples, best of 3 alternating")
    t_g, t_t = alternating_best([lambda: simulate(net, xg),
                                 lambda: torch_float_forward(net, xg, torch)], 3)
    gtable = Table(["model", "seconds", "samples/s", "ratio"],
                   [("golden model (pysim, int exact)", f"{t_g:.3f}", f"{len(xg) / t_g:.0f}",
                     f"{t_t / t_g:.2f}"),
                    ("torch float32 forward", f"{t_t:.3f}", f"{len(xg) / t_t:.0f}", "1.00")],
                   title=f"Hessian-mixed network on {len(xg)} test samples, {args.threads} threads")

    result = {
        "dataset": cfg.dataset, "arch": cfg.arch, "timesteps": cfg.timesteps,
        "run": str(run_dir), "train_config": cfg.to_dict(), "train_history": hist,
        "float_accuracy": float(float_ok.mean()), "n_test": len(test_y),
        "n_weights": int(n_w), "n_neurons": int(n_neurons), "qat_epochs": args.qat_epochs,
        "points": points, "train_speed": speed, "snntorch_error": snn_err,
        "train_speedup_vs_snntorch": (ratio(speed[keys[1]]["epoch_seconds"], ours)
                                      if len(keys) > 1 else None),
        "golden_seconds": t_g, "torch_float32_seconds": t_t, "golden_samples": len(xg),
        "golden_over_torch": ratio(t_t, t_g),
    }
    bench.finish(result, [acc_table, speed_table, gtable])
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
