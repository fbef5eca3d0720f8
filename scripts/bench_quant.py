"""Quantization benchmark: uniform widths vs Hessian-allocated mixed precision.

For one dataset (digits by default; MNIST with ``--mnist PATH``) and one network of at
least four layers, in one process:

1. train the float network (or reuse ``RUNS/<name>`` when it exists);
2. estimate the per-layer Hessian traces: Hutchinson and Gauss-Newton (PSD);
3. per-layer sensitivity: the float network with only layer ``l`` quantized to 2 bits
   (the project's quantizer, no fine-tuning): test-accuracy drop and training-loss
   increase; Spearman's rank correlation of each estimator's trace/weight and Ω_l(2)
   with those measured sensitivities;
4. quantize (``quant.export.quantize_run``: calibration, QAT, integer export, golden-model
   check) at uniform 8/6/4/3/2 bits, and at several average-bit budgets with the Hessian
   allocation, a random allocation and the reversed allocation at the same budget;
5. weight memory and reduction vs float32; McNemar's exact test (paired, test set) of
   every quantized network against the float one.

Writes JSON (``--json``) and a Markdown report (``--md``, default docs/results_quant.md).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quant.allocate import (
    allocate,
    budget_from_avg_bits,
    choose_traces,
    quant_errors,
    random_allocation,
    reversed_allocation,
    uniform_allocation,
)
from quant.hessian import traces_for_run


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    r = spearmanr(a, b).statistic
    return float(r) if np.isfinite(r) else float("nan")


def mcnemar(float_ok: np.ndarray, q_ok: np.ndarray) -> dict[str, Any]:
    """Exact McNemar test on paired correctness: b = float right/quant wrong, c = reverse."""
    from scipy.stats import binomtest

    b = int(np.sum(float_ok & ~q_ok))
    c = int(np.sum(~float_ok & q_ok))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return {"float_only": b, "quant_only": c, "p_value": p}


def train_or_load(args, name: str, arch: str, dataset: str, epochs: int) -> Path:
    from quant.train import TrainConfig, train

    run_dir = Path(args.runs) / name
    if (run_dir / "run.json").is_file() and (run_dir / "model.pt").is_file():
        return run_dir
    cfg = TrainConfig(dataset=dataset, arch=arch, epochs=epochs, seed=args.seed,
                      timesteps=args.timesteps, data_path=args.mnist if dataset == "mnist"
                      else None, batch_size=args.batch_size, threads=args.threads)
    train(cfg, run_dir, progress=True)
    return run_dir


def layer_sensitivity(run, test_x, test_y, train_x, train_y, bits: int = 2,
                      method: str = "mse") -> list[dict[str, float]]:
    """Accuracy drop / loss increase with only one layer quantized to ``bits`` (no QAT)."""
    from quant.qat import quantize_weight
    from quant.train import evaluate, loss_fn

    model = run.model
    model.set_quant(None)
    xt = torch.as_tensor(train_x, dtype=torch.float32)
    yt = torch.as_tensor(train_y).long()
    with torch.no_grad():
        base_acc = evaluate(model, test_x, test_y)
        base_loss = float(loss_fn(model, xt, yt))
    out = []
    for lin in model.linears:
        w0 = lin.weight.detach().clone()
        w_int, s = quantize_weight(w0.numpy(), bits, method, threshold=model.threshold)
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(w_int * s, dtype=w0.dtype))
            acc = evaluate(model, test_x, test_y)
            loss = float(loss_fn(model, xt, yt))
            lin.weight.copy_(w0)
        out.append({"accuracy": acc, "accuracy_drop": base_acc - acc,
                    "loss_increase": loss - base_loss})
    return out


def quantized(run_dir: Path, bits: list[int], args, float_pred: np.ndarray,
              test_x: np.ndarray, test_y: np.ndarray) -> dict[str, Any]:
    """Quantize with Q1's quantize_run at ``bits`` and score the integer network."""
    from quant.export import quantize_run

    t0 = time.perf_counter()
    res = quantize_run(run_dir, Path(args.runs) / "_unused", bits=list(bits),
                       epochs=args.qat_epochs, progress=False, write=False)
    pred = res.model.run_integer(test_x).predictions  # == golden model (checked)
    ok_q = pred == test_y
    ok_f = float_pred == test_y
    n_w = res.net.n_weights
    return {
        "bits": list(bits),
        "ptq_accuracy": res.ptq_accuracy,
        "qat_accuracy": res.qat_accuracy,
        "accuracy": res.golden_accuracy,
        "integer_mismatches": res.check["mismatches"],
        "weight_memory_bits": res.net.weight_memory_bits,
        "average_bits": res.net.weight_memory_bits / n_w,
        "reduction_vs_float32": 100.0 * (1 - res.net.weight_memory_bits / (32 * n_w)),
        "state_bits": [layer.state_bits for layer in res.net.layers],
        "mcnemar": mcnemar(ok_f, ok_q),
        "seconds": time.perf_counter() - t0,
    }


def bench_dataset(args, dataset: str, name: str, arch: str, epochs: int) -> dict[str, Any]:
    from quant.train import load_run, predict

    t_all = time.perf_counter()
    run_dir = train_or_load(args, name, arch, dataset, epochs)
    run = load_run(run_dir)
    test_x, test_y = run.test_spikes()
    float_pred = predict(run.model, test_x).numpy()
    float_acc = float(np.mean(float_pred == test_y))
    n_params = [lin.weight.numel() for lin in run.model.linears]
    print(f"[{name}] {arch}: float accuracy {100 * float_acc:.2f}% on {len(test_y)}",
          file=sys.stderr)

    # --- traces
    t0 = time.perf_counter()
    tr = traces_for_run(run, ("hutchinson", "gauss_newton"), samples=args.samples,
                        max_probes=args.probes, min_probes=args.min_probes,
                        rel_tol=args.tol, recompute=args.recompute)
    trace_seconds = time.perf_counter() - t0
    hut, gn = tr["hutchinson"], tr["gauss_newton"]

    # --- per-layer sensitivity at 2 bits
    train_x, train_y = run.train_spikes(args.samples)
    sens = layer_sensitivity(run, test_x, test_y, train_x, train_y)
    weights = [lin.weight.detach().numpy().astype(np.float64) for lin in run.model.linears]
    from quant.qat import quantize_weight

    def q(w, b):
        return quantize_weight(w, b, threshold=run.model.threshold)

    cands = tuple(args.candidates)
    errors = quant_errors(weights, cands, q)
    k2 = cands.index(2)
    corr: dict[str, Any] = {}
    for label, ts in (("hutchinson", hut), ("gauss_newton", gn)):
        pp = [t.per_param for t in ts]
        om2 = [pp[i] * errors[i, k2] for i in range(len(ts))]
        corr[label] = {
            "per_param_vs_accuracy_drop": spearman(pp, [s["accuracy_drop"] for s in sens]),
            "per_param_vs_loss_increase": spearman(pp, [s["loss_increase"] for s in sens]),
            "omega2_vs_accuracy_drop": spearman(om2, [s["accuracy_drop"] for s in sens]),
            "omega2_vs_loss_increase": spearman(om2, [s["loss_increase"] for s in sens]),
        }

    traces, why = choose_traces(hut, gn, policy=args.policy)
    per_param = np.asarray(traces) / np.asarray(n_params, dtype=np.float64)
    omega = per_param[:, None] * errors

    # --- quantized networks
    rows: list[dict[str, Any]] = []
    for b in args.uniform:
        if b not in cands:
            continue
        r = quantized(run_dir, [b] * len(n_params), args, float_pred, test_x, test_y)
        u = uniform_allocation(omega, n_params, cands, b)
        rows.append({"kind": "uniform", "budget_avg_bits": float(b), "objective": u.objective,
                     **r})
        print(f"  uniform {b}: {100 * r['accuracy']:.2f}%", file=sys.stderr)
    for avg in args.budgets:
        budget = budget_from_avg_bits(avg, n_params)
        allocs = [allocate(omega, n_params, cands, budget_bits=budget)]
        allocs += [random_allocation(omega, n_params, cands, budget_bits=budget, seed=s)
                   for s in range(args.random_seeds)]
        allocs.append(reversed_allocation(errors, per_param, n_params, cands,
                                          budget_bits=budget))
        for a in allocs:
            r = quantized(run_dir, a.bits, args, float_pred, test_x, test_y)
            rows.append({"kind": a.kind, "budget_avg_bits": avg, "objective": a.objective,
                         "seed": a.meta.get("seed"), **r})
            print(f"  {a.kind} {avg} {a.bits}: {100 * r['accuracy']:.2f}%", file=sys.stderr)
    return {
        "dataset": dataset, "name": name, "arch": arch, "epochs": epochs,
        "timesteps": run.cfg.timesteps, "n_test": len(test_y),
        "float_accuracy": float_acc, "n_params": n_params,
        "traces": {"hutchinson": [t.as_dict() for t in hut],
                   "gauss_newton": [t.as_dict() for t in gn],
                   "samples": args.samples, "seconds": trace_seconds},
        "trace_policy": why,
        "layer_sensitivity_2bit": sens,
        "spearman": corr,
        "candidates": list(cands),
        "omega": omega.tolist(),
        "results": rows,
        "seconds": time.perf_counter() - t_all,
    }


def _fmt_p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Quantization results (measured by scripts/bench_quant.py)", "",
             (f"Generated by `{report['command']}`; torch {report['torch']}, "
             f"{report['threads']} threads. Each figure below was measured in this run."), ""]
    for d in report["datasets"]:
        lines += [(f"## {d['dataset']}: {d['arch']} (T={d['timesteps']}, {d['epochs']} epochs, "
                  f"{d['n_test']} test samples)"), "",
                  (f"Float accuracy: **{100 * d['float_accuracy']:.2f}%**. Quantized networks: "
                  f"calibration + {report['qat_epochs']} QAT epochs, accuracy of the exported "
                  "integer network in the golden model (torch integer mode agreed on every "
                  "spike: see `mism`)."), "",
                  "### Hessian traces (per layer)", "",
                  ("| layer | weights | Hutchinson trace ± se | /weight | probes | "
                  "Gauss-Newton trace ± se | /weight | 2-bit acc. drop (pts) | "
                  "2-bit loss incr. |"),
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for h, g, s in zip(d["traces"]["hutchinson"], d["traces"]["gauss_newton"],
                           d["layer_sensitivity_2bit"]):
            lines.append(f"| {h['name']} | {h['n_params']} | {h['trace']:.4g} ± "
                         f"{h['stderr']:.2g} | {h['per_param']:.3e} | {h['probes']} | "
                         f"{g['trace']:.4g} ± {g['stderr']:.2g} | {g['per_param']:.3e} | "
                         f"{100 * s['accuracy_drop']:.2f} | {s['loss_increase']:.4f} |")
        lines += ["", (f"Traces over {d['traces']['samples']} training samples "
                  f"({d['traces']['seconds']:.0f} s for both estimators). Allocation policy: "
                  f"{d['trace_policy']['source']} ({d['trace_policy']['reason']})."), "",
                  ("Spearman rank correlation with the measured per-layer sensitivity "
                  "(only that layer at 2 bits, no fine-tuning):"), "",
                  ("| estimator | trace/weight vs acc. drop | trace/weight vs loss incr. | "
                  "Ω(2) vs acc. drop | Ω(2) vs loss incr. |"), "|---|---:|---:|---:|---:|"]
        for m, c in d["spearman"].items():
            lines.append(f"| {m} | {c['per_param_vs_accuracy_drop']:.2f} | "
                         f"{c['per_param_vs_loss_increase']:.2f} | "
                         f"{c['omega2_vs_accuracy_drop']:.2f} | "
                         f"{c['omega2_vs_loss_increase']:.2f} |")
        lines += ["", "### Accuracy vs weight memory", "",
                  ("| allocation | budget (avg bits) | bits per layer | avg bits | "
                  "smaller than f32 | ΣΩ | PTQ acc. | QAT acc. (golden) | Δ vs float (pts) | "
                  "McNemar b/c, p | mism |"),
                  "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|"]
        for r in d["results"]:
            kind = r["kind"] + (f" (seed {r['seed']})" if r.get("seed") is not None else "")
            mc = r["mcnemar"]
            lines.append(
                f"| {kind} | {r['budget_avg_bits']:g} | {'-'.join(map(str, r['bits']))} | "
                f"{r['average_bits']:.3f} | {r['reduction_vs_float32']:.1f}% | "
                f"{r['objective']:.3e} | {100 * r['ptq_accuracy']:.2f}% | "
                f"{100 * r['accuracy']:.2f}% | "
                f"{100 * (r['accuracy'] - d['float_accuracy']):+.2f} | "
                f"{mc['float_only']}/{mc['quant_only']}, {_fmt_p(mc['p_value'])} | "
                f"{r['integer_mismatches']} |")
        lines += ["", ("McNemar: b = test samples the float network classifies correctly and "
                  "the quantized one not, c = the reverse; exact two-sided binomial p-value."),
                  f"Total time for this dataset: {d['seconds']:.0f} s.", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="/tmp/spikeforge_bench_quant",
                   help="where trained runs are kept (reused when present)")
    p.add_argument("--digits-arch", default="64-96-64-48-10")
    p.add_argument("--digits-epochs", type=int, default=20)
    p.add_argument("--mnist", default=None, help="MNIST npz/IDX path: also run MNIST")
    p.add_argument("--mnist-arch", default="784-400-200-100-10")
    p.add_argument("--mnist-epochs", type=int, default=8)
    p.add_argument("--no-digits", action="store_true")
    p.add_argument("--timesteps", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--samples", type=int, default=512, help="Hessian samples")
    p.add_argument("--probes", type=int, default=200)
    p.add_argument("--min-probes", type=int, default=32)
    p.add_argument("--tol", type=float, default=0.05)
    p.add_argument("--recompute", action="store_true", help="recompute cached traces")
    p.add_argument("--policy", default="auto")
    p.add_argument("--qat-epochs", type=int, default=3)
    p.add_argument("--candidates", default="2,3,4,5,6,7,8")
    p.add_argument("--uniform", default="8,6,4,3,2")
    p.add_argument("--budgets", default="2.5,3,3.5,4")
    p.add_argument("--random-seeds", type=int, default=2)
    p.add_argument("--json", default=str(ROOT / "docs" / "results_quant.json"))
    p.add_argument("--md", default=str(ROOT / "docs" / "results_quant.md"))
    args = p.parse_args(argv)
    args.candidates = [int(v) for v in args.candidates.split(",")]
    args.uniform = [int(v) for v in args.uniform.split(",")]
    args.budgets = [float(v) for v in args.budgets.split(",")]
    if args.threads:
        torch.set_num_threads(args.threads)
    report: dict[str, Any] = {
        "command": "python scripts/bench_quant.py " + " ".join(argv if argv is not None
                                                               else sys.argv[1:]),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "qat_epochs": args.qat_epochs, "datasets": []}
    if not args.no_digits:
        report["datasets"].append(bench_dataset(args, "digits", "digits",
                                                args.digits_arch, args.digits_epochs))
    if args.mnist:
        report["datasets"].append(bench_dataset(args, "mnist", "mnist", args.mnist_arch,
                                                args.mnist_epochs))
    for d in report["datasets"]:
        for r in d["results"]:
            r["reduction_vs_float32"] = float(r["reduction_vs_float32"])
    text = json.dumps(report, indent=2, default=float)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(text + "\n")
    Path(args.md).write_text(markdown(report))
    print(markdown(report))
    return 0 if all(math.isfinite(d["float_accuracy"]) for d in report["datasets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
