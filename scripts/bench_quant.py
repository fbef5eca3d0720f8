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
   allocation, random allocations (``--random-seeds`` seeds, summarized as mean ± sd and
   range; ``--random-mode near``: distinct vectors drawn uniformly among those within
   ``--random-slack`` average bits below the budget) and the reversed allocation at the
   same budget; with ``--measured`` also the allocation on the directly measured Ω
   (``quant.allocate.measured_sensitivity``); identical bit vectors are quantized once
   (deterministic: same widths, same result); ``--qat-epochs 0`` scores the calibrated
   networks without fine-tuning;
5. weight memory and reduction vs float32; McNemar's exact test (paired, test set) of
   every quantized network against the float one and of every allocation against the
   Hessian allocation at the same budget.

MNIST only (docs/results_quant.md, section "MNIST: 784-400-200-100-10")::

    OMP_NUM_THREADS=1 python scripts/bench_quant.py --no-digits --mnist MNIST \
        --mnist-arch 784-400-200-100-10 --mnist-epochs 6 --batch-size 64 --threads 1 \
        --qat-epochs 1 --budgets 2.5,3 --random-mode near --random-seeds 12 --measured \
        --out results.json --md results.md

MNIST: ``spikeforge data fetch mnist`` once, then ``--mnist`` with the cache directory it
prints, or any MNIST IDX directory / ``.npz`` of your own.

Writes JSON (``--out``, default docs/results_quant.json; ``<out>.partial`` after every
quantized network) and a Markdown report (``--md``, default docs/results_quant.md);
``--quick`` (a small digits run to check the script) writes neither unless asked.
McNemar counts use ``quant.stats.mcnemar``'s keys: ``a_only`` = right only in the first
network (float, or the Hessian allocation for ``mcnemar_vs_hessian``), ``b_only`` = right
only in this one.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from benchlib import ROOT, Bench, markdown_table

from quant.allocate import (
    Allocation,
    allocate,
    budget_from_avg_bits,
    choose_traces,
    measured_sensitivity,
    quant_errors,
    random_allocation,
    reversed_allocation,
    uniform_allocation,
)
from quant.hessian import traces_for_run
from quant.stats import mcnemar

BENCH = Bench("bench_quant", __doc__)


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    r = spearmanr(a, b).statistic
    return float(r) if np.isfinite(r) else float("nan")


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
        "_ok": ok_q,
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
    BENCH.progress(f"[{name}] {arch}: float accuracy {100 * float_acc:.2f}% on {len(test_y)}")

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

    om_meas = None
    measured_seconds = None
    if args.measured:
        t0 = time.perf_counter()
        om_meas = measured_sensitivity(run, cands, samples=args.samples, progress=False)
        measured_seconds = time.perf_counter() - t0
        nan = float("nan")
        corr["measured"] = {
            "per_param_vs_accuracy_drop": nan, "per_param_vs_loss_increase": nan,
            "omega2_vs_accuracy_drop": spearman(list(om_meas[:, k2]),
                                                [s["accuracy_drop"] for s in sens]),
            "omega2_vs_loss_increase": spearman(list(om_meas[:, k2]),
                                                [s["loss_increase"] for s in sens]),
        }

    traces, why = choose_traces(hut, gn, policy=args.policy)
    per_param = np.asarray(traces) / np.asarray(n_params, dtype=np.float64)
    omega = per_param[:, None] * errors

    # --- quantized networks
    rows: list[dict[str, Any]] = []
    done: dict[tuple[int, ...], dict[str, Any]] = {}
    correct: dict[tuple[int, ...], np.ndarray] = {}  # per-sample correctness by widths
    partial = None if args.out is None else Path(str(args.out) + ".partial")

    def quantized_once(bits: list[int]) -> dict[str, Any]:
        key = tuple(int(b) for b in bits)
        if key in done:
            return {**done[key], "reused": True}
        r = quantized(run_dir, list(key), args, float_pred, test_x, test_y)
        correct[key] = r.pop("_ok")
        done[key] = r
        return done[key]

    def checkpoint() -> None:
        if partial is None:
            return
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps({"name": name, "arch": arch, "float_accuracy": float_acc,
                                       "results": rows}, default=float) + "\n")

    for b in args.uniform:
        if b not in cands:
            continue
        r = quantized_once([b] * len(n_params))
        u = uniform_allocation(omega, n_params, cands, b)
        rows.append({"kind": "uniform", "budget_avg_bits": float(b), "objective": u.objective,
                     **r})
        checkpoint()
        BENCH.progress(f"  uniform {b}: {100 * r['accuracy']:.2f}% ({r['seconds']:.0f} s)")
    for avg in args.budgets:
        budget = budget_from_avg_bits(avg, n_params)
        allocs = [allocate(omega, n_params, cands, budget_bits=budget)]
        if om_meas is not None:
            allocs.append(allocate(om_meas, n_params, cands, budget_bits=budget,
                                   kind="measured"))
        allocs.append(reversed_allocation(errors, per_param, n_params, cands,
                                          budget_bits=budget))
        if args.random_mode == "fill":
            allocs += [random_allocation(omega, n_params, cands, budget_bits=budget, seed=s)
                       for s in range(args.random_seeds)]
        else:
            pool, picks = near_budget_random(n_params, cands, budget, args.random_slack,
                                             args.random_seeds, seed=args.seed)
            for s, bits in enumerate(picks):
                allocs.append(Allocation(
                    bits=list(bits), objective=float("nan"), budget_bits=budget,
                    used_bits=int(np.dot(bits, n_params)), omega=omega, candidates=cands,
                    n_params=list(n_params), kind="random", meta={"seed": s, "mode": "near", "pool": pool,
                          "slack_avg_bits": args.random_slack}))
        for a in allocs:
            r = quantized_once(a.bits)
            # objective: ΣΩ under the allocation policy's (trace) Ω for every row
            obj = float(sum(omega[i, cands.index(b)] for i, b in enumerate(a.bits)))
            rows.append({"kind": a.kind, "budget_avg_bits": avg, "objective": obj,
                         "seed": a.meta.get("seed"), **r})
            if a.kind == "random":
                rows[-1]["random_mode"] = args.random_mode
                rows[-1]["random_pool"] = a.meta.get("pool")
            if om_meas is not None:
                rows[-1]["objective_measured"] = float(
                    sum(om_meas[i, cands.index(b)] for i, b in enumerate(a.bits)))
            hess = next(x for x in rows if x["kind"] == "hessian"
                        and x["budget_avg_bits"] == avg)
            # paired test against the Hessian allocation at the same budget
            rows[-1]["mcnemar_vs_hessian"] = mcnemar(correct[tuple(hess["bits"])],
                                                     correct[tuple(a.bits)])
            checkpoint()
            BENCH.progress(f"  {a.kind} {avg} {a.bits}: {100 * r['accuracy']:.2f}% "
                           f"({r['seconds']:.0f} s{', reused' if r.get('reused') else ''})")
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
        "omega_measured": None if om_meas is None else om_meas.tolist(),
        "measured_seconds": measured_seconds,
        "random_summary": random_summary(rows, float_acc),
        "results": rows,
        "seconds": time.perf_counter() - t_all,
    }


def near_budget_random(n_params: list[int], cands: tuple[int, ...], budget: int,
                       slack_avg_bits: float, count: int, seed: int = 0
                       ) -> tuple[int, list[tuple[int, ...]]]:
    """``count`` distinct allocations drawn uniformly (without replacement) from every
    per-layer width vector that fits the budget and uses at least ``budget -
    slack_avg_bits · Σn`` bits (all ``len(cands)**L`` vectors enumerated; L <= 7).

    A baseline whose seeds really differ: :func:`quant.allocate.random_allocation` keeps
    the fullest of 4000 draws, which on input-layer-dominated networks returns the same
    one or two vectors for most seeds. Returns (pool size, draws).
    """
    import itertools

    if len(n_params) > 7:
        raise ValueError("near-budget random: too many layers to enumerate")
    n = np.asarray(n_params, dtype=np.int64)
    lo = budget - slack_avg_bits * float(n.sum())
    pool = [bits for bits in itertools.product(cands, repeat=len(n))
            if lo <= int(np.dot(bits, n)) <= budget]
    rng = np.random.default_rng((seed, budget))
    order = rng.permutation(len(pool))[:count]
    return len(pool), [pool[i] for i in order]


def random_summary(rows: list[dict[str, Any]], float_acc: float) -> list[dict[str, Any]]:
    """Per budget: the random allocations' accuracy as mean, sample sd, min, max, and
    each non-random allocation's rank against them (how many random draws it beats)."""
    out = []
    for avg in dict.fromkeys(r["budget_avg_bits"] for r in rows if r["kind"] == "random"):
        rand = [r for r in rows if r["kind"] == "random" and r["budget_avg_bits"] == avg]
        acc = np.array([r["accuracy"] for r in rand])
        ptq = np.array([r["ptq_accuracy"] for r in rand])
        others = {}
        for r in rows:
            if r["budget_avg_bits"] == avg and r["kind"] not in ("random", "uniform"):
                others[r["kind"]] = {
                    "accuracy": r["accuracy"],
                    "mcnemar_vs_hessian": r.get("mcnemar_vs_hessian"),
                    "random_below": int(np.sum(acc < r["accuracy"])),
                    "random_equal": int(np.sum(acc == r["accuracy"])),
                    "z_vs_random": (float((r["accuracy"] - acc.mean()) / acc.std(ddof=1))
                                    if len(acc) > 1 and acc.std(ddof=1) > 0
                                    else float("nan")),
                }
        out.append({
            "budget_avg_bits": avg, "n": len(rand),
            "distinct_bits": len({tuple(r["bits"]) for r in rand}),
            "accuracy_mean": float(acc.mean()),
            "accuracy_sd": float(acc.std(ddof=1)) if len(acc) > 1 else float("nan"),
            "accuracy_min": float(acc.min()), "accuracy_max": float(acc.max()),
            "ptq_mean": float(ptq.mean()),
            "ptq_sd": float(ptq.std(ddof=1)) if len(ptq) > 1 else float("nan"),
            "ptq_min": float(ptq.min()), "ptq_max": float(ptq.max()),
            "delta_vs_float_mean": float(acc.mean() - float_acc),
            "random_vs_hessian_p": [r["mcnemar_vs_hessian"]["p_value"] for r in rand
                                    if "mcnemar_vs_hessian" in r],
            "others": others,
        })
    return out


def _fmt_p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def f2(v: float) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:.2f}"


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
                  markdown_table(
                      ["layer", "weights", "Hutchinson trace ± se", "/weight", "probes",
                       "Gauss-Newton trace ± se", "/weight", "2-bit acc. drop (pts)",
                       "2-bit loss incr."],
                      [(h["name"], h["n_params"], f"{h['trace']:.4g} ± {h['stderr']:.2g}",
                        f"{h['per_param']:.3e}", h["probes"],
                        f"{g['trace']:.4g} ± {g['stderr']:.2g}", f"{g['per_param']:.3e}",
                        f"{100 * s['accuracy_drop']:.2f}", f"{s['loss_increase']:.4f}")
                       for h, g, s in zip(d["traces"]["hutchinson"],
                                          d["traces"]["gauss_newton"],
                                          d["layer_sensitivity_2bit"])])]
        lines += ["", (f"Traces over {d['traces']['samples']} training samples "
                  f"({d['traces']['seconds']:.0f} s for both estimators). Allocation policy: "
                  f"{d['trace_policy']['source']} ({d['trace_policy']['reason']})."), "",
                  ("Spearman rank correlation with the measured per-layer sensitivity "
                  "(only that layer at 2 bits, no fine-tuning):"), "",
                  markdown_table(
                      ["estimator", "trace/weight vs acc. drop", "trace/weight vs loss incr.",
                       "Ω(2) vs acc. drop", "Ω(2) vs loss incr."],
                      [(m, *(f2(c[k]) for k in ("per_param_vs_accuracy_drop",
                                                "per_param_vs_loss_increase",
                                                "omega2_vs_accuracy_drop",
                                                "omega2_vs_loss_increase")))
                       for m, c in d["spearman"].items()])]
        if "measured" in d["spearman"]:
            lines += ["", ("`measured` = Ω measured directly (training-loss increase with only "
                      f"that layer fake-quantized, {d['traces']['samples']} training samples, "
                      f"{d['measured_seconds']:.0f} s); its Ω(2) vs loss increase is close to "
                      "the same quantity by construction (same samples), the accuracy-drop "
                      "column (test set) is the real check.")]
        acc_rows = []
        for r in d["results"]:
            kind = r["kind"] + (f" (seed {r['seed']})" if r.get("seed") is not None else "")
            kind += " †" if r.get("reused") else ""
            mc, mh = r["mcnemar"], r.get("mcnemar_vs_hessian")
            acc_rows.append((
                kind, f"{r['budget_avg_bits']:g}", "-".join(map(str, r["bits"])),
                f"{r['average_bits']:.3f}", f"{r['reduction_vs_float32']:.1f}%",
                f"{r['objective']:.3e}", f"{100 * r['ptq_accuracy']:.2f}%",
                f"{100 * r['accuracy']:.2f}%",
                f"{100 * (r['accuracy'] - d['float_accuracy']):+.2f}",
                f"{mc['a_only']}/{mc['b_only']}, {_fmt_p(mc['p_value'])}",
                f"{mh['a_only']}/{mh['b_only']}, {_fmt_p(mh['p_value'])}"
                if mh and r["kind"] != "hessian" else "",
                r["integer_mismatches"]))
        lines += ["", "### Accuracy vs weight memory", "", markdown_table(
            ["allocation", "budget (avg bits)", "bits per layer", "avg bits", "smaller than f32",
             "ΣΩ", "PTQ acc.", "QAT acc. (golden)", "Δ vs float (pts)", "McNemar b/c, p",
             "vs Hessian b/c, p", "mism"], acc_rows, align="lrlrrrrrrllr")]
        summ = d.get("random_summary") or []
        if summ:
            lines += ["", "### Random allocations (distribution) vs the others", "",
                      ("| budget | random: n (distinct) | QAT acc. mean ± sd | range | "
                       "PTQ acc. mean ± sd | random vs Hessian: p < 0.05 | " + " | ".join(
                           f"{k} (beats n random)" for k in summ[0]["others"]) + " |"),
                      "|---:|---:|---:|---:|---:|---:|" + "---:|" * len(summ[0]["others"])]
            for sm in summ:
                cells = [f"{100 * o['accuracy']:.2f}% ({o['random_below']}/{sm['n']}"
                         + (f", {o['random_equal']} tied" if o["random_equal"] else "") + ")"
                         for o in sm["others"].values()]
                lines.append(
                    f"| {sm['budget_avg_bits']:g} | {sm['n']} ({sm['distinct_bits']}) | "
                    f"{100 * sm['accuracy_mean']:.2f} ± {100 * sm['accuracy_sd']:.2f}% | "
                    f"{100 * sm['accuracy_min']:.2f}–{100 * sm['accuracy_max']:.2f}% | "
                    f"{100 * sm['ptq_mean']:.2f} ± {100 * sm['ptq_sd']:.2f}% | "
                    f"{sum(p < 0.05 for p in sm['random_vs_hessian_p'])}/"
                    f"{len(sm['random_vs_hessian_p'])} | "
                    + " | ".join(cells) + " |")
        lines += ["", ("† same widths as an earlier row: that network's result (quantization "
                  "is deterministic), not quantized again."),
                  "", ("McNemar: b = test samples the float network classifies correctly and "
                  "the quantized one not, c = the reverse; exact two-sided binomial p-value. "
                  "'vs Hessian': the same paired test with the Hessian allocation at the same "
                  "budget in place of the float network (b = Hessian right, this one wrong)."),
                  f"Total time for this dataset: {d['seconds']:.0f} s.", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = BENCH.parser(quick="digits 64-96-64-48-10, 3 epochs, 64 samples / 16 probes, uniform "
                     "4,2, budget 3, 1 random seed, 1 QAT epoch", seed=0)
    p.set_defaults(out=None, md=None)
    p.add_argument("--runs", default=str(ROOT / "runs" / "bench_quant"),
                   help="where trained runs are kept (reused when present)")
    p.add_argument("--digits-arch", default="64-96-64-48-10")
    p.add_argument("--digits-epochs", type=int, default=20)
    p.add_argument("--mnist", default=None, help="MNIST npz/IDX path: also run MNIST")
    p.add_argument("--mnist-arch", default="784-400-200-100-10")
    p.add_argument("--mnist-epochs", type=int, default=8)
    p.add_argument("--no-digits", action="store_true")
    p.add_argument("--timesteps", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=32)
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
    p.add_argument("--random-mode", choices=("fill", "near"), default="fill",
                   help="fill: quant.allocate.random_allocation (fullest of 4000 draws); "
                        "near: distinct vectors drawn uniformly among those within "
                        "--random-slack average bits below the budget")
    p.add_argument("--random-slack", type=float, default=0.1)
    p.add_argument("--measured", action="store_true",
                   help="also allocate on the directly measured Ω (method 'measured')")
    args = BENCH.parse(p, argv)
    if args.quick:
        args.digits_epochs, args.samples, args.probes = 3, 64, 16
        args.min_probes, args.uniform, args.budgets = 8, "4,2", "3"
        args.random_seeds, args.qat_epochs = 1, 1
    else:  # the full run regenerates the documented results unless told otherwise
        args.out = args.out or ROOT / "docs" / "results_quant.json"
        args.md = args.md or ROOT / "docs" / "results_quant.md"
    args.candidates = [int(v) for v in args.candidates.split(",")]
    args.uniform = ([] if args.uniform in ("", "none")
                    else [int(v) for v in args.uniform.split(",")])
    args.budgets = [float(v) for v in args.budgets.split(",")]
    if args.threads:
        torch.set_num_threads(args.threads)
    report: dict[str, Any] = {
        "command": BENCH.command,
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
    text = markdown(report)
    print(text)
    BENCH.write_json(report)
    BENCH.write_md(text)
    return 0 if all(math.isfinite(d["float_accuracy"]) for d in report["datasets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
