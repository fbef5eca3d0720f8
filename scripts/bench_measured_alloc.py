"""Measured-sensitivity allocation vs Hessian (Gauss-Newton), reversed and random ones.

For a trained run: the measured Ω (``quant.allocate.measured_sensitivity``), each layer's
2-bit test-accuracy drop (only that layer at 2 bits, no fine-tuning) and Spearman's rank
correlation of Ω(2) with it, for the measured and the Gauss-Newton Ω; then, at each
budget, the measured, Gauss-Newton, reversed (both rankings) and random allocations,
each quantized with the same QAT (``quant.export.quantize_run(..., write=False)``) and
scored by the golden model on the test set. Identical bit vectors are evaluated once.
Prints a table (``--md``: as Markdown) and writes JSON (``--out``).

    OMP_WAIT_POLICY=PASSIVE python scripts/bench_measured_alloc.py RUN --out out.json

RUN is a training run directory (``spikeforge train ... -o RUN``); the figures in
docs/results_quant.md (*Measured-sensitivity allocation*) are this command at its defaults.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import Bench, Table


def main(argv: list[str] | None = None) -> int:
    bench = Bench("bench_measured_alloc", __doc__)
    ap = bench.parser(quick="budget 2.5 only, 2 random seeds, 128 samples, 1 QAT epoch")
    ap.add_argument("run", type=Path, help="training run directory")
    ap.add_argument("--budgets", default="2.5,3.0")
    ap.add_argument("--random-seeds", type=int, default=10)
    ap.add_argument("--samples", type=int, default=512, help="samples of the measured Ω")
    ap.add_argument("--epochs", type=int, default=3, help="QAT epochs")
    args = bench.parse(ap, argv)
    if args.quick:
        args.budgets, args.random_seeds = args.budgets.split(",")[0], min(args.random_seeds, 2)
        args.samples, args.epochs = min(args.samples, 128), min(args.epochs, 1)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    from scipy.stats import spearmanr

    from quant.allocate import (
        allocate,
        allocate_for_run,
        budget_from_avg_bits,
        measured_sensitivity,
        random_allocation,
        reversed_allocation,
        run_quantizer,
    )
    from quant.export import quantize_run
    from quant.train import evaluate, load_run

    torch.set_num_threads(1)
    cands = (2, 3, 4, 5, 6, 7, 8)
    run = load_run(args.run)
    res: dict = {"run": str(args.run), "arch": run.cfg.arch, "torch": torch.__version__,
                 "threads": 1, "samples": args.samples, "qat_epochs": args.epochs}
    bench.progress(f"measured Ω of {args.run} ({run.cfg.arch})")
    t0 = time.perf_counter()
    om = measured_sensitivity(run, cands, samples=args.samples, progress=False, recompute=True)
    res["measured_seconds"] = time.perf_counter() - t0
    res["omega_measured"] = om.tolist()
    tx, ty = run.test_spikes()
    model, q = run.model, run_quantizer(run)
    facc = evaluate(model, tx, ty)
    drops = []
    for lin in model.linears:
        orig = lin.weight.detach().clone()
        wi, s = q(orig.numpy().astype(np.float64), 2)
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(np.asarray(wi, np.float64) * s, dtype=orig.dtype))
        drops.append(100 * (facc - evaluate(model, tx, ty)))
        with torch.no_grad():
            lin.weight.copy_(orig)
    res.update(float_accuracy=facc, n_test=len(ty), drop2_points=drops)
    t0 = time.perf_counter()
    gn = allocate_for_run(args.run, avg_bits=3.0, candidates=cands, method="gauss_newton",
                          progress=False)
    res["gn_seconds_incl_cache"] = time.perf_counter() - t0
    om_gn = np.asarray(gn.omega)
    res["gn_traces"] = gn.meta["traces"]
    res["spearman"] = {
        "measured_omega2_vs_drop2": float(spearmanr(om[:, 0], drops)[0]),
        "gn_omega2_vs_drop2": float(spearmanr(om_gn[:, 0], drops)[0]),
        "gn_trace_per_weight_vs_drop2": float(spearmanr(
            [t["trace"] / t["n_params"] for t in gn.meta["traces"]], drops)[0]),
        "measured_omega2_vs_gn_omega2": float(spearmanr(om[:, 0], om_gn[:, 0])[0]),
    }
    n = gn.n_params
    per_param = np.array([t["trace"] / t["n_params"] for t in gn.meta["traces"]])
    errors = om_gn / per_param[:, None]
    meas = allocate_for_run(args.run, avg_bits=3.0, candidates=cands, method="measured",
                            samples=args.samples, progress=False)
    rows = []
    for a in [float(v) for v in args.budgets.split(",")]:
        b = budget_from_avg_bits(a, n)
        rows.append((a, "measured", allocate(om, n, cands, budget_bits=b).bits))
        rows.append((a, "hessian (GN)", allocate(om_gn, n, cands, budget_bits=b).bits))
        rows.append((a, "reversed GN", reversed_allocation(
            errors, per_param, n, cands, budget_bits=b).bits))
        rows.append((a, "reversed measured", reversed_allocation(
            np.asarray(meas.meta["errors"]), np.asarray(meas.meta["per_error"]), n, cands,
            budget_bits=b).bits))
        for seed in range(args.random_seeds):
            rows.append((a, f"random {seed}", random_allocation(
                om, n, cands, budget_bits=b, seed=seed).bits))

    def tot(table: np.ndarray, bits: list[int]) -> float:
        return float(sum(table[i, cands.index(x)] for i, x in enumerate(bits)))

    scored: dict[tuple[int, ...], dict] = {}
    distinct = list(dict.fromkeys(tuple(int(x) for x in r[2]) for r in rows))
    with tempfile.TemporaryDirectory(prefix="bench-measured-") as unused:
        for i, bits in enumerate(distinct, 1):
            t1 = time.perf_counter()
            r = quantize_run(args.run, Path(unused) / "net", bits=list(bits),
                             epochs=args.epochs, progress=False, write=False)
            scored[bits] = {"golden_accuracy": r.golden_accuracy,
                            "ptq_accuracy": r.ptq_accuracy,
                            "mismatches": r.check["mismatches"],
                            "seconds": time.perf_counter() - t1}
            bench.progress(f"[{i}/{len(distinct)}] {bits}: {100 * r.golden_accuracy:.2f}%")
    res["allocations"] = []
    for a, kind, bits in rows:
        bits = [int(x) for x in bits]
        res["allocations"].append({
            "budget": a, "kind": kind, "bits": bits,
            "avg_bits": sum(x * m for x, m in zip(bits, n)) / sum(n),
            "sum_omega_measured": tot(om, bits), "sum_omega_gn": tot(om_gn, bits),
            **scored[tuple(bits)]})
    intro = (f"{args.run} ({run.cfg.arch}), float {100 * facc:.2f}%, measured Ω "
             f"{res['measured_seconds']:.1f} s; Spearman Ω(2) vs 2-bit drop: measured "
             f"{res['spearman']['measured_omega2_vs_drop2']:+.2f}, GN "
             f"{res['spearman']['gn_omega2_vs_drop2']:+.2f}")
    table = Table(
        ["budget", "allocation", "bits", "avg bits", "ΣΩ measured", "ΣΩ GN", "PTQ",
         "QAT (golden)"],
        [(d["budget"], d["kind"], "-".join(map(str, d["bits"])), f"{d['avg_bits']:.3f}",
          f"{d['sum_omega_measured']:.4f}", f"{d['sum_omega_gn']:.3e}",
          f"{100 * d['ptq_accuracy']:.2f}%", f"{100 * d['golden_accuracy']:.2f}%")
         for d in res["allocations"]],
        align="rlllrrrr", title=intro)
    bench.finish(res, [table], intro=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
