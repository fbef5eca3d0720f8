"""``spikeforge hessian`` and ``spikeforge allocate``: layer traces and bit allocation."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from quant.config import AllocateConfig, HessianConfig

from .output import emit, format_table

__all__ = ["register", "run_allocate", "run_hessian"]

_H, _A = HessianConfig(), AllocateConfig()


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``hessian`` and ``allocate`` to the CLI."""
    p = sub.add_parser(
        "hessian", help="estimate each layer's Hessian trace of a trained run",
        description="Estimate the trace of each layer's Hessian block of the training loss "
                    "(Hutchinson's estimator with Rademacher probes through the time-unrolled "
                    "network, and/or the positive semi-definite Gauss-Newton trace), print "
                    "trace ± standard error and trace per weight, and write RUN/hessian.json.",
        epilog="example: spikeforge hessian runs/digits --method both --probes 200",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", type=Path, help="run directory written by 'spikeforge train'")
    p.add_argument("--method", default=_H.method,
                   choices=("hutchinson", "gauss_newton", "fisher", "both"),
                   help=f"estimator ('both' runs the two; default {_H.method})")
    p.add_argument("--probes", type=int, default=_H.probes,
                   help=f"probe cap (default {_H.probes})")
    p.add_argument("--min-probes", type=int, default=_H.min_probes, help="probes before the "
                   f"stopping rule applies (default {_H.min_probes})")
    p.add_argument("--samples", type=int, default=_H.samples,
                   help=f"training samples the loss is averaged over (default {_H.samples})")
    p.add_argument("--tol", type=float, default=_H.tol,
                   help=f"stop when every layer's stderr/|trace| < TOL, or its trace is known "
                        f"to be below TOL times the largest layer's (default {_H.tol})")
    p.add_argument("--seed", type=int, default=_H.seed, help=f"probe seed (default {_H.seed})")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_hessian)

    p = sub.add_parser(
        "allocate", help="choose per-layer weight widths under a memory budget",
        description="Build the sensitivity table Ω_l(b) = (trace_l/n_l)·||Q_b(W_l) - W_l||² "
                    "from the run's Hessian traces (RUN/hessian.json, computed when absent) "
                    "and choose one width per layer minimizing ΣΩ under the weight-memory "
                    "budget (exact MILP). Negative or insignificant Hutchinson traces are "
                    "never used: the 'auto' policy falls back to the Gauss-Newton traces. "
                    "'--method measured' replaces Ω by the directly measured training-loss "
                    "increase of quantizing each layer alone (L·K forward passes).",
        epilog="example: spikeforge allocate runs/digits --avg-bits 3 --pareto 2,2.5,3,4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", type=Path, help="run directory written by 'spikeforge train'")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--avg-bits", type=float, help="average bits per weight")
    g.add_argument("--budget-bits", type=int, help="total weight memory in bits (with "
                   "--budget-scope all: weights + membranes)")
    g.add_argument("--budget-bram", type=int, help="block RAMs of --target (weight and "
                   "state widths chosen together, from the hardware plan)")
    add_budget_flags(p)
    cands = ",".join(map(str, _A.candidates))
    p.add_argument("--candidates", default=cands,
                   help=f"candidate widths, comma-separated (default {cands})")
    p.add_argument("--method", default=_A.method,
                   help="sensitivity source: auto (Hutchinson traces when every layer's is "
                        "positive and significant, else Gauss-Newton), hutchinson, "
                        "gauss_newton, or measured (Ω = measured training-loss increase with "
                        "only that layer quantized, cached in RUN/sensitivity.json); "
                        f"default {_A.method}")
    p.add_argument("--samples", type=int, default=None,
                   help="training samples for traces computed here (default "
                        f"{_A.trace_samples}) or the measured Ω (default "
                        f"{_A.measured_samples})")
    p.add_argument("--pareto", default=None,
                   help="also sweep these average-bit budgets, e.g. 2,2.5,3,4")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_allocate)


def add_budget_flags(p: argparse.ArgumentParser) -> None:
    """The cost-aware budget's flags (``allocate`` and ``quantize``)."""
    p.add_argument("--target", default=_A.target,
                   help=f"target whose block RAMs --budget-bram counts (default {_A.target})")
    p.add_argument("--budget-scope", default=_A.budget_scope,
                   help="what the budget counts: weights, or all (weights + membranes; "
                        f"--avg-bits is then bits per stored value); default {_A.budget_scope}")
    p.add_argument("--state-widths", default=_A.state_policy,
                   help="state widths of a cost-aware budget: measured (the calibration "
                        "rule), priced (chosen with the clamp error in ΣΩ) or auto "
                        "(measured when the budget counts weights only, else priced); "
                        f"default {_A.state_policy}")


def budget_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The cost-aware keyword arguments of ``allocate_for_run`` from the flags."""
    return {"budget_bram": getattr(args, "budget_bram", None), "target": args.target,
            "budget_scope": args.budget_scope, "state_policy": args.state_widths}


def run_hessian(args: argparse.Namespace) -> int:
    """Estimate the traces, write RUN/hessian.json, print the table."""
    from quant.hessian import traces_for_run

    res = traces_for_run(args.run, args.method, samples=args.samples, max_probes=args.probes,
                         min_probes=args.min_probes, rel_tol=args.tol, seed=args.seed,
                         recompute=True, progress=not args.json)
    rows = []
    neurons = _neurons(args.run)
    data: dict[str, Any] = {"run": str(args.run), "file": str(args.run / "hessian.json"),
                            "samples": args.samples, "methods": {}, "neurons": neurons}
    for m, ts in res.items():
        data["methods"][m] = [t.as_dict() for t in ts]
        for t in ts:
            rows.append([m, t.name, t.n_params, neurons.get(t.name, "-"),
                         f"{t.trace:.4g} ± {t.stderr:.2g}",
                         f"{t.per_param:.3e}", t.probes, "yes" if t.significant else "NO"])
    table = format_table(["method", "layer", "weights", "neurons", "trace ± stderr",
                          "trace/weight", "probes", "significant"], rows, align="llrrrrrl")
    notes = []
    for m, ts in res.items():
        neg = [t.name for t in ts if t.significant and t.trace < 0]
        if neg:
            notes.append(f"note: {m} trace significantly negative for {', '.join(neg)} "
                         "(non-convex surrogate loss); 'allocate --method auto' uses the "
                         "Gauss-Newton trace instead")
    head = f"{args.run}: Hessian traces over {args.samples} training samples -> {data['file']}"
    emit(args, "\n".join([head, table, *notes]), data)
    return 0


def _neurons(run: Path) -> dict[str, int]:
    """Neurons (one membrane each) per weight layer of a run, by manifest name."""
    from quant.allocate import _layer_meta
    from quant.train import load_run

    meta = _layer_meta(load_run(run).model)
    return dict(zip(meta["layers"], meta["neurons"]))


def run_allocate(args: argparse.Namespace) -> int:
    """Solve the allocation (and an optional Pareto sweep) and print it."""
    from .config import parse_float_list, parse_int_list

    cands = tuple(sorted(set(parse_int_list(args.candidates, "--candidates"))))
    sweep = parse_float_list(args.pareto, "--pareto") if args.pareto else []
    from quant.allocate import allocate, allocate_for_run, budget_from_avg_bits

    samples = args.samples
    if samples is None:
        samples = _A.measured_samples if args.method == "measured" else _A.trace_samples
    from pysim.errors import InputError

    try:
        alloc = allocate_for_run(args.run, avg_bits=args.avg_bits,
                                 budget_bits=args.budget_bits, candidates=cands,
                                 method=args.method, samples=samples,
                                 progress=not args.json, **budget_kwargs(args))
    except InputError as exc:
        raise exc.renamed({"state_policy": "state_widths"}) from None
    traces = alloc.meta.get("traces")
    names = ([t["name"] for t in traces] if traces
             else list(alloc.meta.get("layers", [f"fc{i + 1}" for i in range(len(alloc.bits))])))
    neurons = alloc.meta.get("neurons") or ["-"] * len(names)
    rows = []
    for i, name in enumerate(names):
        extra = [f"{traces[i]['trace']:.4g}"] if traces else []
        rows.append([name, alloc.n_params[i], neurons[i], *extra,
                     *[f"{v:.3e}" for v in alloc.omega[i]], alloc.bits[i],
                     alloc.n_params[i] * alloc.bits[i]])
    omega_table = format_table(["layer", "weights", "neurons", *(["trace"] if traces else []),
                                *[f"Ω({b})" for b in cands], "bits", "weight mem"], rows)
    data = {"run": str(args.run), "allocation": alloc.as_dict(), "pareto": []}
    what = "traces" if traces else "Ω"
    used = (f"{alloc.used_bits} weight bits" if alloc.state_bits is not None
            else f"{alloc.used_bits}/{alloc.budget_bits} bits")
    lines = [f"{args.run}: {what} from {alloc.meta['source']} ({alloc.meta['reason']})",
             omega_table,
             (f"bits {alloc.bits}: {used}, "
              f"{alloc.average_bits:.3f} avg bits/weight, "
              f"{alloc.percent_of_float32:.1f}% of float32, ΣΩ = {alloc.objective:.4e}")]
    if alloc.state_bits is not None:
        unit = {"bram": f"block RAMs of {alloc.target}", "memory_bits": "memory bits",
                "weight_bits": "weight bits"}[alloc.unit]
        parts = alloc.objective_parts or {}
        lines.append(f"state widths {alloc.state_bits} ({alloc.meta.get('state_policy')}): "
                     f"{alloc.used:g}/{alloc.budget:g} {unit} (scope {alloc.scope}), "
                     f"{alloc.memory_bits} memory bits with membranes; ΣΩ weights "
                     f"{parts.get('weights', 0):.4e} + clamps {parts.get('clamp', 0):.4e}")
        lines += [f"note: {n}" for n in alloc.meta.get("notes", [])]
    else:
        lines.append("membranes: one per neuron; their widths are measured by 'spikeforge "
                     "quantize' (this budget counts weight memory; --budget-scope all "
                     "counts membranes too)")
    if sweep:
        prow = []
        for a_bits in sweep:
            budget = budget_from_avg_bits(a_bits, alloc.n_params)
            p = allocate(alloc.omega, alloc.n_params, cands, budget_bits=budget)
            data["pareto"].append({"avg_bits_budget": a_bits, **p.as_dict()})
            prow.append([a_bits, budget, " ".join(map(str, p.bits)), f"{p.average_bits:.3f}",
                         f"{100 - p.percent_of_float32:.1f}%", f"{p.objective:.4e}"])
        lines += ["Pareto sweep:",
                  format_table(["budget avg", "budget bits", "bits", "avg bits",
                                "smaller vs f32", "ΣΩ"], prow)]
    emit(args, "\n".join(lines), data)
    return 0
