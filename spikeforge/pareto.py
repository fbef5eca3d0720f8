"""Accuracy vs weight memory for Hessian, uniform, random and reversed allocations.

The flow's ``pareto`` stage (:func:`pareto_sweep`) runs them as a seeded sweep
(:mod:`spikeforge.sweep`): every allocation is fine-tuned from ``seeds`` seeds (the
random baseline draws its allocation from the seed, ``random_seeds`` of them), points run
as Ray tasks (``workers`` local CPUs, or the cluster at ``address``; ``workers = 1``: in
this process) and are cached under ``RUN/pareto_sweep/points``; each point of
``pareto.json`` is the mean over seeds with its 95% interval. :func:`pareto_allocations`
is the older one-seed set of allocations (kept for scripts).

With ``policy="measured"`` the optimal allocation is the MILP on the measured Ω (kind
"measured"); its reversed baseline permutes the per-layer measured loss increase per unit
squared weight error at the narrowest width (the measured analogue of trace/n).

For each budget (average bits per weight) the Hessian allocation is the exact MILP
optimum of Σ Ω; the baselines are a random feasible allocation using about the same
memory (several seeds) and the allocation the MILP gives when the layers' sensitivity
ranking is reversed; uniform widths are added at each candidate width given. Every
allocation is then quantized and fine-tuned for the same number of epochs, and scored
by the golden model on the whole test set. Identical bit vectors are evaluated once.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pysim.errors import InputError
from quant.config import AllocateConfig

__all__ = ["ParetoConfig", "pareto_allocations", "pareto_sweep", "sweep_config"]

_A = AllocateConfig()


@dataclass(frozen=True)
class ParetoConfig:
    """Defaults of the sweep (the flow's ``[pareto]`` section).

    Attributes
    ----------
    avg_bits : budgets (average bits per weight) of the Hessian/random/reversed points
    uniform_bits : widths of the uniform points
    random_seeds : random allocations per budget (each fine-tuned from its own seed)
    epochs : fine-tuning epochs per point (0: post-training quantization)
    seeds : fine-tuning seeds of every other point
    workers : local Ray CPUs (1: run the points in this process, no Ray)
    address : a running Ray cluster instead of the local one (None: local)
    """

    avg_bits: tuple[float, ...] = (2.0, 2.5, 3.0, 4.0, 6.0)
    uniform_bits: tuple[int, ...] = (2, 3, 4, 6, 8)
    random_seeds: int = 3
    epochs: int = 2
    seeds: int = 3
    workers: int = 2
    address: str | None = None


_P = ParetoConfig()


def pareto_allocations(run_dir: str | os.PathLike[str], *,
                       avg_bits: Sequence[float] = _P.avg_bits,
                       uniform_bits: Sequence[int] = _P.uniform_bits,
                       random_seeds: int = _P.random_seeds,
                       candidates: Sequence[int] = _A.candidates, policy: str = _A.method,
                       progress: bool = True) -> list[Any]:
    """The allocations of the sweep (``quant.allocate.Allocation`` objects, kind set)."""
    from quant.allocate import (
        allocate,
        allocate_for_run,
        budget_from_avg_bits,
        random_allocation,
        reversed_allocation,
        uniform_allocation,
    )

    cands = tuple(int(c) for c in candidates)
    try:
        base = allocate_for_run(run_dir, avg_bits=float(max(avg_bits)), candidates=cands,
                                method=policy, progress=progress)
    except InputError as exc:  # allocate_for_run's "method" is this sweep's "policy"
        raise exc.renamed({"method": "policy"}) from None
    omega, n = np.asarray(base.omega), list(base.n_params)
    if "traces" in base.meta:  # Ω = (trace/n) · E
        per_param = np.array([t["trace"] / t["n_params"] for t in base.meta["traces"]])
        errors = omega / np.where(per_param > 0, per_param, 1.0)[:, None]
    else:  # measured Ω: E and the measured loss increase per unit E at the narrowest width
        per_param = np.asarray(base.meta["per_error"], dtype=np.float64)
        errors = np.asarray(base.meta["errors"], dtype=np.float64)
    main_kind = "measured" if base.meta.get("source") == "measured" else "hessian"
    out = []
    for a in avg_bits:
        budget = budget_from_avg_bits(float(a), n)
        if budget < sum(n) * min(cands):
            continue
        h = allocate(omega, n, cands, budget_bits=budget, meta=dict(base.meta))
        h.kind = main_kind
        out.append(h)
        r = reversed_allocation(errors, per_param, n, cands, budget_bits=budget)
        if main_kind == "measured":  # score under the measured Ω, not its s·E model
            idx = [cands.index(b) for b in r.bits]
            r.omega, r.objective = omega, float(sum(omega[i, k] for i, k in enumerate(idx)))
        out.append(r)
        for seed in range(random_seeds):
            out.append(random_allocation(omega, n, cands, budget_bits=budget, seed=seed))
    for b in uniform_bits:
        if int(b) in cands:
            out.append(uniform_allocation(omega, n, cands, int(b)))
    return out


def sweep_config(*, avg_bits: Sequence[float] = _P.avg_bits,
                 uniform_bits: Sequence[int] = _P.uniform_bits,
                 random_seeds: int = _P.random_seeds, epochs: int = _P.epochs,
                 candidates: Sequence[int] = _A.candidates, policy: str = _A.method,
                 seeds: int = _P.seeds) -> Any:
    """The :class:`spikeforge.sweep.SweepConfig` of :func:`pareto_sweep`, not yet validated
    (``.validate()`` checks every field with no run needed)."""
    from .sweep import SweepConfig

    return SweepConfig(budgets=tuple(float(a) for a in avg_bits), unit="avg_bits",
                       methods=(policy, "reversed", "random", "uniform"), seeds=int(seeds),
                       random_seeds=int(random_seeds), epochs=int(epochs),
                       candidates=tuple(int(c) for c in candidates),
                       uniform_bits=tuple(int(b) for b in uniform_bits))


def pareto_sweep(run_dir: str | os.PathLike[str], *, avg_bits: Sequence[float] = _P.avg_bits,
                 uniform_bits: Sequence[int] = _P.uniform_bits,
                 random_seeds: int = _P.random_seeds, epochs: int = _P.epochs,
                 candidates: Sequence[int] = _A.candidates, policy: str = _A.method,
                 progress: bool = True, seeds: int = _P.seeds, workers: int = _P.workers,
                 address: str | None = _P.address,
                 out_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The seeded sweep of the flow: ``{"points": [...], "sweep": summary}``.

    ``points``: one per (budget, method) and per uniform width, the mean over seeds:
    ``kind`` ("hessian"/"measured", "reversed", "random", "uniform"), ``bits`` (of the
    first seed; ``allocations`` lists every distinct one), ``avg_bits``, ``budget_bits``,
    ``weight_kbits``, ``accuracy`` (mean), ``accuracy_ci`` (95% half-width),
    ``accuracies``, ``seeds``, ``float_accuracy``. ``sweep``: the table and paired
    tests of :func:`spikeforge.sweep.run_sweep`. Points are cached in ``out_dir``
    (default ``RUN/../pareto_sweep``).
    """
    from .sweep import run_sweep

    cfg = sweep_config(avg_bits=avg_bits, uniform_bits=uniform_bits, random_seeds=random_seeds,
                       epochs=epochs, candidates=candidates, policy=policy, seeds=seeds)
    out = Path(out_dir) if out_dir is not None else Path(run_dir).parent / "pareto_sweep"
    try:
        summary = run_sweep(run_dir, out, cfg, serial=int(workers) <= 1,
                            workers=max(1, int(workers)), address=address, progress=progress)
    except InputError as exc:  # the sweep's method is the flow's policy
        raise exc.renamed({"methods": "policy", "budgets": "avg_bits"}) from None
    n_weights = None
    by_key: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    for p in summary["points"]:
        by_key.setdefault((p["budget"], p["method"]), []).append(p)
    points = []
    for row in summary["table"]:
        ps = by_key[(row["budget"], row["method"])]
        first = ps[0]
        if n_weights is None:
            from quant.train import load_run
            n_weights = sum(int(lin.weight.numel()) for lin in load_run(run_dir).model.linears)
        m = row["method"]
        kind = ("uniform" if m.startswith("uniform") else m if m in ("reversed", "random")
                else "measured" if m == "measured" else "hessian")
        points.append({
            "kind": kind, "method": m, "bits": first["bits"],
            "state_bits": first["state_bits"], "allocations": row["allocations"],
            "avg_bits": row["weight_bits_mean"] / n_weights,
            "budget_avg_bits": row["budget"],
            "budget_bits": math.floor(row["budget"] * n_weights + 1e-9)
            if row["budget"] is not None else None,
            "objective": float(np.mean([p["objective"] for p in ps])),
            "weight_kbits": row["weight_bits_mean"] / 1024,
            "accuracy": row["accuracy_mean"],
            "accuracy_ci": row["accuracy_ci"] if row["accuracy_ci"] is not None
            and math.isfinite(row["accuracy_ci"]) else None,
            "accuracies": row["accuracies"], "seeds": row["seeds"],
            "float_accuracy": row["float_accuracy"],
        })
    return {"points": points, "sweep": {k: v for k, v in summary.items() if k != "points"},
            "sweep_points": summary["points"]}
