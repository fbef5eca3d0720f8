"""Allocation study: sensitivity methods vs baselines under weight-bit and block-RAM budgets,
several seeds per point, paired tests, per-layer damage prediction, sweep throughput.

For a trained run (e.g. MNIST 784-400-200-10):

1. **Weight-bit sweep** (``spikeforge.sweep``, average bits per weight): the MILP optima of
   the Gauss-Newton, Hutchinson and measured sensitivities and the uniform, random and
   reversed baselines (on the Gauss-Newton Ω) at each budget, ``--seeds`` QAT seeds each;
   mean golden-model test accuracy with its 95% interval, paired tests against the
   Gauss-Newton allocation (paired t over seeds; McNemar pooled over seeds).
2. **Block-RAM sweep**: the same with budgets in block RAMs of ``--target`` counting
   weights and membranes (``scope all``, state widths priced), and the target check:
   the mixed allocation's mean ahead of the best uniform width at equal block RAMs.
3. **Per-layer damage**: for every layer and candidate width, only that layer quantized
   (no fine-tuning): test-loss increase and accuracy drop, against each sensitivity's
   Ω; Spearman's ρ with its 95% (Fisher-z) interval.
4. **Throughput**: the same distinct points run by two Ray workers (one torch thread
   each) and by one process with two torch threads; wall times, ratio, and whether the
   results are identical.

A layer whose Hutchinson trace is negative or insignificant gets its Gauss-Newton trace
rescaled to Hutchinson's scale (``quant.allocate.hutchinson_fallback``, docs/hessian.md
§5), as ``spikeforge allocate --method hutchinson`` does; a method whose sensitivity is
still refused is reported, not run.

    nice -n 10 python scripts/bench_allocation.py RUN --out runs/bench/alloc.json \\
        --md runs/bench/alloc.md

Points are cached under ``--work`` (re-runs resume). ``--quick``: one budget per sweep,
2 seeds, 20 QAT batches, 1,000 test samples, 2 throughput points.
"""
from __future__ import annotations

import os

# before torch's first MKL call: MKL's float results then do not depend on the number of
# threads, so the throughput comparison (two threads against one per Ray worker) compares
# identical computations (spikeforge.sweep.MKL_CBWR)
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

import shutil
import time
from pathlib import Path

import numpy as np
from benchlib import Bench, Table


def _parse(text: str, kind=float) -> tuple:
    return tuple(kind(t) for t in text.split(",") if t.strip())


def main(argv: list[str] | None = None) -> int:
    bench = Bench("bench_allocation", __doc__)
    ap = bench.parser(quick="1 budget per sweep, 2 seeds, 20 QAT batches, 1k test samples")
    ap.add_argument("run", type=Path, help="training run directory")
    ap.add_argument("--bit-budgets", default="2.5,3.0,4.0", help="average bits per weight")
    ap.add_argument("--bram-budgets", default="60,80,110", help="block RAMs (weights + "
                    "membranes) of --target")
    ap.add_argument("--target", default="ecp5-85k")
    ap.add_argument("--methods", default="gauss_newton,hutchinson,measured,uniform,random,"
                    "reversed")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=1, help="QAT epochs per point")
    ap.add_argument("--qat-batches", type=int, default=100,
                    help="training batches per QAT epoch (0: the whole training set)")
    ap.add_argument("--test-samples", type=int, default=0, help="0: the whole test set")
    ap.add_argument("--calib-samples", type=int, default=None,
                    help="training samples of each point's calibration (default: quantize's)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--throughput-points", type=int, default=6)
    ap.add_argument("--damage-samples", type=int, default=0,
                    help="test samples of the damage analysis (0: all)")
    ap.add_argument("--work", type=Path, default=Path("runs/bench_alloc"))
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: bits, bram, "
                    "damage, throughput")
    args = bench.parse(ap, argv)
    if args.quick:
        args.bit_budgets = args.bit_budgets.split(",")[0]
        args.bram_budgets = args.bram_budgets.split(",")[0]
        args.seeds, args.qat_batches = min(args.seeds, 2), min(args.qat_batches or 20, 20)
        args.test_samples = args.test_samples or 1000
        args.throughput_points = min(args.throughput_points, 2)
        args.damage_samples = args.damage_samples or 1000
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    from pysim.errors import InputError
    from spikeforge.sweep import SweepConfig, format_sweep, run_sweep

    torch.set_num_threads(1)
    skip = set(_parse(args.skip, str))
    methods = _parse(args.methods, str)
    res: dict = {"run": str(args.run), "settings": {
        "seeds": args.seeds, "qat_epochs": args.epochs, "qat_batches": args.qat_batches,
        "test_samples": args.test_samples or "all", "target": args.target,
        "calib_samples": args.calib_samples or "quantize's default"}}
    tables: list[Table] = []
    common = {"seeds": args.seeds, "epochs": args.epochs,
                  "qat_batches": args.qat_batches or None,
                  "test_samples": args.test_samples or None, "reference": "gauss_newton",
                  **({} if args.calib_samples is None
                     else {"calib_samples": args.calib_samples})}

    def sweep(name: str, cfg_kw: dict) -> dict | None:
        ok, refused = [], {}
        for m in methods:  # a method whose sensitivity is refused is reported, not run
            try:
                SweepConfig(**{**common, **cfg_kw, "methods": ("gauss_newton", m)}).validate()
                from spikeforge.sweep import plan_points
                if m == "hutchinson":
                    plan_points(args.run, SweepConfig(**{**common, **cfg_kw, "seeds": 1,
                                                        "methods": (m,)}), progress=False)
                ok.append(m)
            except InputError as exc:
                refused[m] = str(exc)
        cfg = SweepConfig(**{**common, **cfg_kw, "methods": tuple(ok)})
        bench.progress(f"{name} sweep: {cfg.budgets} x {cfg.methods} x {cfg.seeds} seeds")
        s = run_sweep(args.run, args.work / name, cfg, workers=args.workers, progress=True)
        s["refused"] = refused
        s["pairs"] = _all_pairs(s, args.work / name / "points")
        print(f"\n== {name} sweep ({s['ran']} points run, {s['cached']} cached, "
              f"{s['seconds']:.0f} s)\n" + format_sweep(s))
        for m, why in refused.items():
            print(f"refused: {m}: {why}")
        tables.append(_sweep_table(name, s))
        if s["tests"]:
            tables.append(_tests_table(name, s))
        return s

    if "bits" not in skip:
        res["bits"] = _strip(sweep("bits", {"budgets": _parse(args.bit_budgets),
                                            "unit": "avg_bits"}))
    if "bram" not in skip:
        s = sweep("bram", {"budgets": _parse(args.bram_budgets), "unit": "bram",
                           "scope": "all", "target": args.target})
        res["bram_check"] = _uniform_check(s)
        res["bram"] = _strip(s)
        tables.append(Table(["budget (BRAM)", "method", "mixed mean %", "BRAM used",
                             "best uniform mean %", "uniform widths", "BRAM used",
                             "mixed ahead"],
                            [[c["budget"], c["method"], f"{100 * c['mixed']:.2f}",
                              f"{c['mixed_cost']:.3g}", f"{100 * c['uniform']:.2f}",
                              c["uniform_alloc"], f"{c['uniform_cost']:.3g}",
                              "yes" if c["ahead"] else "NO"] for c in res["bram_check"]],
                            title="target: mixed ahead of the best uniform width at equal "
                                  "block RAMs (mean over seeds)"))
    if "damage" not in skip:
        res["damage"] = _damage(bench, args)
        tables.append(Table(["sensitivity", "ρ vs test-loss increase", "95% CI", "p",
                             "ρ vs accuracy drop", "95% CI"],
                            [[r["method"], f"{r['loss']['rho']:.3f}",
                              f"[{r['loss']['lo']:.2f}, {r['loss']['hi']:.2f}]",
                              f"{r['loss']['p_value']:.2g}", f"{r['acc']['rho']:.3f}",
                              f"[{r['acc']['lo']:.2f}, {r['acc']['hi']:.2f}]"]
                             for r in res["damage"]["spearman"]],
                            title="per-layer damage (one layer quantized, no fine-tuning; "
                                  f"{res['damage']['pairs']} layer x width pairs)"))
    if "throughput" not in skip:
        res["throughput"] = _throughput(bench, args)
        t = res["throughput"]
        tables.append(Table(["mode", "points", "wall s", "speed-up", "identical results"],
                            [["1 process, 2 torch threads", t["points"],
                              f"{t['serial_seconds']:.1f}", "1.00x", ""],
                             ["Ray, 2 workers x 1 thread", t["points"],
                              f"{t['ray_seconds']:.1f}", f"{t['speedup']:.2f}x",
                              "yes" if t["identical"] else "NO"],
                             ["Ray, tasks only (start-up excluded)", t["points"],
                              f"{t['ray_task_seconds']:.1f}", f"{t['speedup_tasks']:.2f}x",
                              ""]],
                            title="sweep throughput, same distinct points"))
    bench.finish(res, [])
    print()
    for t in tables:
        print(t.text())
        print()
    if args.md:
        bench.write_md(bench.markdown(tables))
    return 0


def _strip(s: dict) -> dict:
    out = dict(s)
    out["points"] = [{k: v for k, v in p.items()} for p in s["points"]]
    return out


def _sweep_table(name: str, s: dict) -> Table:
    rows = []
    for r in s["table"]:
        ci = r["accuracy_ci"]
        rows.append([r["budget"], r["method"], r["seeds"],
                     f"{100 * r['accuracy_mean']:.2f} ± {100 * ci:.2f}"
                     if ci is not None and np.isfinite(ci) else f"{100 * r['accuracy_mean']:.2f}",
                     f"{r['cost_mean']:.4g}", "; ".join(r["allocations"])])
    unit = "avg bits/weight" if name == "bits" else "BRAM"
    return Table([f"budget ({unit})", "method", "seeds", "accuracy % (mean ± 95% CI)",
                  "cost used", "weight / state widths"], rows, align="llrrrl",
                 title=f"{name} sweep (float {100 * s['table'][0]['float_accuracy']:.2f}%)",
                 notes=[f"refused: {m}: {w}" for m, w in s.get("refused", {}).items()])


def _tests_table(name: str, s: dict) -> Table:
    rows = []
    for t in s["tests"]:
        m = t["mcnemar_pooled"]
        rows.append([t["budget"], f"{t['a']} - {t['b']}", f"{100 * t['diff']:+.2f}",
                     f"[{100 * t['diff_lo']:+.2f}, {100 * t['diff_hi']:+.2f}]"
                     if t["diff_lo"] is not None and np.isfinite(t["diff_lo"]) else "-",
                     f"{t['p_paired_t']:.3g}", f"{m['a_only']}/{m['b_only']}",
                     f"{m['p_value']:.3g}"])
    return Table(["budget", "methods", "diff (points)", "95% CI", "p (paired t)",
                  "only a / only b (pooled)", "p (McNemar)"], rows, align="llrrrrr",
                 title=f"{name} sweep: paired tests over seeds")


SENS = ("gauss_newton", "hutchinson", "measured", "auto")


def _uniform_check(s: dict) -> list[dict]:
    """Each sensitivity's mean against the best uniform width that fits the same budget."""
    out = []
    by = {(r["budget"], r["method"]): r for r in s["table"]}
    for b in dict.fromkeys(r["budget"] for r in s["table"] if r["budget"] is not None):
        uni = by.get((b, "uniform"))
        if uni is None:
            continue
        for m in SENS:
            mixed = by.get((b, m))
            if mixed is None:
                continue
            out.append({"budget": b, "method": m, "mixed": mixed["accuracy_mean"],
                        "mixed_alloc": "; ".join(mixed["allocations"]),
                        "mixed_cost": mixed["cost_mean"], "uniform_cost": uni["cost_mean"],
                        "uniform": uni["accuracy_mean"], "uniform_alloc": "; ".join(
                            uni["allocations"]),
                        "ahead": mixed["accuracy_mean"] > uni["accuracy_mean"]})
    return out


def _all_pairs(s: dict, cache: Path) -> list[dict]:
    """Paired tests between every two methods at each budget (same seeds): paired t over
    seeds and exact McNemar on the per-image outcomes pooled over the seeds."""
    import itertools
    import json

    from quant.stats import mcnemar, paired_t
    from spikeforge.sweep import correct_of

    groups: dict = {}
    for p in s["points"]:  # the summary drops the per-image outcomes; the cache has them
        res = json.loads((cache / f"{p['key']}.json").read_text())
        groups.setdefault((p["budget"], p["method"]), {})[p["seed"]] = res
    out = []
    budgets = dict.fromkeys(b for b, _ in groups if b is not None)
    methods = list(dict.fromkeys(m for _, m in groups))
    for b in budgets:
        for ma, mb in itertools.combinations(methods, 2):
            ga, gb = groups.get((b, ma)), groups.get((b, mb))
            if not ga or not gb:
                continue
            seeds = sorted(set(ga) & set(gb))
            if not seeds:
                continue
            t = paired_t([ga[k]["accuracy"] for k in seeds], [gb[k]["accuracy"] for k in seeds])
            mc = mcnemar(np.concatenate([correct_of(ga[k]) for k in seeds]),
                         np.concatenate([correct_of(gb[k]) for k in seeds]))
            same = all(ga[k]["bits"] == gb[k]["bits"] and ga[k]["state_bits"]
                       == gb[k]["state_bits"] for k in seeds)
            out.append({"budget": b, "a": ma, "b": mb, "seeds": seeds, "diff": t["diff"],
                        "diff_lo": t["lo"], "diff_hi": t["hi"], "p_paired_t": t["p_value"],
                        "mcnemar": mc, "same_allocation": bool(same)})
    return out


def _damage(bench: Bench, args) -> dict:
    import torch
    import torch.nn.functional as F

    from quant.allocate import (
        quant_errors,
        run_quantizer,
        run_sensitivity,
    )
    from quant.hessian import traces_for_run
    from quant.stats import spearman_ci
    from quant.train import load_run

    run = load_run(args.run)
    cands = (2, 3, 4, 5, 6, 7, 8)
    model = run.model.eval()
    x, y = run.test_spikes()
    if args.damage_samples:
        x, y = x[:args.damage_samples], y[:args.damage_samples]
    xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.long)

    @torch.no_grad()
    def score() -> tuple[float, float]:
        loss, ok = 0.0, 0
        for i in range(0, len(yt), 500):
            s = model(xt[i:i + 500])
            loss += float(F.cross_entropy(s, yt[i:i + 500], reduction="sum"))
            ok += int((s.argmax(1) == yt[i:i + 500]).sum())
        return loss / len(yt), ok / len(yt)

    bench.progress("damage: float")
    base_loss, base_acc = score()
    q = run_quantizer(run)
    L = len(model.linears)
    dloss = np.zeros((L, len(cands)))
    dacc = np.zeros((L, len(cands)))
    for i, lin in enumerate(model.linears):
        orig = lin.weight.detach().clone()
        w = orig.numpy().astype(np.float64)
        for k, b in enumerate(cands):
            w_int, s = q(w, b)
            with torch.no_grad():
                lin.weight.copy_(torch.as_tensor(w_int * s, dtype=orig.dtype))
            lo, ac = score()
            dloss[i, k], dacc[i, k] = lo - base_loss, base_acc - ac
            with torch.no_grad():
                lin.weight.copy_(orig)
        bench.progress(f"damage: layer {i + 1}/{L}")
    weights = [lin.weight.detach().numpy().astype(np.float64) for lin in model.linears]
    errors = quant_errors(weights, cands, q)
    tr = traces_for_run(run, ("hutchinson", "gauss_newton"), progress=False)
    preds = {}
    for m, label in (("gauss_newton", "Gauss-Newton"),
                     ("hutchinson", "Hutchinson (fallback rule)")):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            preds[label] = run_sensitivity(run, cands, method=m, progress=False)["omega"]
    preds["Hutchinson (raw traces)"] = np.array(
        [t.trace / t.n_params for t in tr["hutchinson"]])[:, None] * errors
    # the measured Ω the sweep allocates with (same samples, cached in RUN/sensitivity.json)
    preds["measured (train loss)"] = run_sensitivity(run, cands, method="measured",
                                                     progress=False)["omega"]
    rows = []
    for m, om in preds.items():
        rows.append({"method": m, "loss": spearman_ci(om.ravel(), dloss.ravel()),
                     "acc": spearman_ci(om.ravel(), dacc.ravel())})
    return {"pairs": int(dloss.size), "candidates": list(cands), "samples": len(yt),
            "float_loss": base_loss, "float_accuracy": base_acc,
            "loss_increase": dloss.tolist(), "accuracy_drop": dacc.tolist(),
            "omega": {m: v.tolist() for m, v in preds.items()}, "spearman": rows,
            "traces": {m: [t.as_dict() for t in ts] for m, ts in tr.items()}}


def _throughput(bench: Bench, args) -> dict:
    import spikeforge.sweep as sw

    bits = [[2, 4, 8], [3, 3, 3], [2, 6, 8], [4, 4, 4], [2, 3, 4], [3, 5, 8], [2, 2, 2],
            [5, 5, 5]]
    n = int(args.throughput_points)
    run = str(args.run.resolve())
    base = {"run": run, "state_bits": None, "epochs": args.epochs,
            "lr": sw.SweepConfig().lr, "qat_batches": args.qat_batches or None,
            "test_samples": args.test_samples or None,
            "calib_samples": args.calib_samples or sw.SweepConfig().calib_samples}
    tasks = [{**base, "key": f"t{i}", "bits": bits[i % len(bits)], "seed": 50 + i}
             for i in range(n)]
    bench.progress(f"throughput: {n} points in one process, 2 threads")
    sw._RUNS.clear()
    serial: dict = {}
    t0 = time.perf_counter()
    for t in tasks:
        serial[t["key"]] = sw.evaluate_point({**t, "threads": 2})
    t_serial = time.perf_counter() - t0
    sw._RUNS.clear()
    bench.progress(f"throughput: {n} points on Ray, 2 workers x 1 thread")
    ray_res: dict = {}
    t0 = time.perf_counter()
    ray = sw._ray_start(2, None)
    t1 = time.perf_counter()
    sw._run_tasks([{**t, "threads": 1} for t in tasks], serial=False, workers=2,
                  address=None, done=lambda t, r: ray_res.__setitem__(t["key"], r))
    t_ray = time.perf_counter() - t0
    t_tasks = time.perf_counter() - t1
    ray.shutdown()
    same = all({k: v for k, v in serial[k2].items() if k != "seconds"}
               == {k: v for k, v in ray_res[k2].items() if k != "seconds"} for k2 in serial)
    acc_same = all(serial[k]["correct"] == ray_res[k]["correct"] for k in serial)
    shutil.rmtree(args.work / "throughput", ignore_errors=True)
    # break-even size: serial(N) = N·a_s (a_s its mean point time, the first point's data
    # load included once), Ray(N) = startup + fixed + N/2·a_r; the smallest N with
    # serial/Ray >= 1.5 (None when the per-point ratio itself is below 1.5)
    ps = [serial[t["key"]]["seconds"] for t in tasks]
    pr = [ray_res[t["key"]]["seconds"] for t in tasks]
    a_s, a_r = float(np.mean(ps)), float(np.median(pr))
    fixed = (t1 - t0) + max(0.0, t_tasks - sum(pr) / 2)
    break_even = None
    if a_s > 0.75 * a_r:
        break_even = int(np.ceil(1.5 * fixed / (a_s - 0.75 * a_r)))
    return {"points": n, "break_even_points": break_even, "ray_fixed_seconds": fixed,
            "point_mean_serial": a_s, "point_median_ray": a_r, "serial_seconds": t_serial, "ray_seconds": t_ray,
            "ray_task_seconds": t_tasks, "ray_startup_seconds": t1 - t0,
            "speedup": t_serial / t_ray, "speedup_tasks": t_serial / t_tasks,
            "identical": bool(same), "identical_predictions": bool(acc_same),
            "point_seconds_serial": [serial[t["key"]]["seconds"] for t in tasks],
            "point_seconds_ray": [ray_res[t["key"]]["seconds"] for t in tasks],
            "accuracies_serial": [serial[t["key"]]["accuracy"] for t in tasks],
            "accuracies_ray": [ray_res[t["key"]]["accuracy"] for t in tasks]}


if __name__ == "__main__":
    raise SystemExit(main())
