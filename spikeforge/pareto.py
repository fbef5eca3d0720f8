"""Accuracy vs weight memory for Hessian, uniform, random and reversed allocations.

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

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pysim.errors import InputError
from quant.config import AllocateConfig

__all__ = ["ParetoConfig", "pareto_allocations", "pareto_sweep"]

_A = AllocateConfig()


@dataclass(frozen=True)
class ParetoConfig:
    """Defaults of the sweep (the flow's ``[pareto]`` section).

    Attributes
    ----------
    avg_bits : budgets (average bits per weight) of the Hessian/random/reversed points
    uniform_bits : widths of the uniform points
    random_seeds : random allocations per budget
    epochs : fine-tuning epochs per point (0: post-training quantization)
    """

    avg_bits: tuple[float, ...] = (2.0, 2.5, 3.0, 4.0, 6.0)
    uniform_bits: tuple[int, ...] = (2, 3, 4, 6, 8)
    random_seeds: int = 3
    epochs: int = 2


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


def pareto_sweep(run_dir: str | os.PathLike[str], *, avg_bits: Sequence[float] = _P.avg_bits,
                 uniform_bits: Sequence[int] = _P.uniform_bits,
                 random_seeds: int = _P.random_seeds, epochs: int = _P.epochs,
                 candidates: Sequence[int] = _A.candidates, policy: str = _A.method,
                 progress: bool = True) -> list[dict[str, Any]]:
    """Quantize and score every allocation of the sweep; return one JSON-ready dict each."""
    from quant.export import quantize_run

    allocs = pareto_allocations(run_dir, avg_bits=avg_bits, uniform_bits=uniform_bits,
                                random_seeds=random_seeds, candidates=candidates,
                                policy=policy, progress=progress)
    scored: dict[tuple[int, ...], dict[str, Any]] = {}
    unique = list(dict.fromkeys(tuple(a.bits) for a in allocs))
    with tempfile.TemporaryDirectory() as tmp:
        for bits in tqdm(unique, desc="pareto", disable=not progress, leave=False):
            res = quantize_run(run_dir, Path(tmp) / "net", bits=list(bits), epochs=epochs,
                               progress=False, write=False)
            scored[bits] = {"accuracy": res.golden_accuracy,
                            "float_accuracy": res.float_accuracy,
                            "ptq_accuracy": res.ptq_accuracy,
                            "weight_bits_total": res.net.weight_memory_bits}
    points = []
    for a in allocs:
        s = scored[tuple(a.bits)]
        points.append({
            "kind": a.kind, "bits": [int(b) for b in a.bits],
            "avg_bits": float(a.average_bits), "budget_bits": int(a.budget_bits),
            "objective": float(a.objective), "seed": a.meta.get("seed"),
            "weight_kbits": s["weight_bits_total"] / 1024, **s,
        })
    return points
