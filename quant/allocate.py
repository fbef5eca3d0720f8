"""Hessian-aware bit allocation: per-layer weight widths under a memory budget.

For layer ``l`` with ``n_l`` weights, Hessian trace ``tr_l`` and candidate width ``b``,
the sensitivity (HAWQ-V3, Yao et al. 2021) is::

    Ω_l(b) = (tr_l / n_l) · ||Q_b(W_l) - W_l||²

the second-order loss increase of quantizing ``W_l`` alone to ``b`` bits when the
perturbation is spread like the Hessian's average diagonal. ``Q_b`` is the project's
quantizer (:func:`quant.qat.quantize_weight`), so Ω measures the error of the weights the
hardware will actually hold.

The allocation is the exact integer program (solved by ``scipy.optimize.milp``, HiGHS)::

    minimize    Σ_l Σ_k Ω_l(b_k) · x_lk
    subject to  Σ_k x_lk = 1                      (one width per layer)
                Σ_l Σ_k n_l · b_k · x_lk <= B     (weight memory budget in bits)
                x_lk ∈ {0, 1}

Traces policy (see :func:`choose_traces`): Ω never sees a negative or insignificant
trace. The default ``"auto"`` uses Hutchinson's traces when every layer's trace is
positive and significant (``|tr| > 2·stderr``), otherwise the positive semi-definite
Gauss-Newton trace for *every* layer (one estimator for all layers keeps the Ω values of
different layers comparable). ``"hutchinson"`` keeps Hutchinson's traces and replaces a
negative or insignificant one by that layer's Gauss-Newton trace rescaled to Hutchinson's
scale (:func:`hutchinson_fallback`, with a warning; docs/hessian.md §5).

Measured policy (``method="measured"``, :func:`measured_sensitivity`): Ω is not derived
from traces at all but measured directly, ``Ω_l(b)`` = the mean training loss with only
layer ``l``'s weights fake-quantized to ``b`` bits minus the float loss, over a fixed
subset of encoded training samples (clipped at 0). The MILP is the same.

Cost-aware allocation (:class:`AllocationProblem`, :func:`problem_for_run`; docs/hessian.md
§14): per layer the options are pairs (weight width, state width), the objective Ω plus the
state width's clamp error measured on the membranes (:func:`membrane_profile`) and priced
as an equivalent weight error, the budget in weight bits, memory bits (weights +
membranes) or block RAMs of a target (the hardware plan of each option, mapped by the
calibrated model of :mod:`cost.resources`; imported only for a block-RAM budget).
"""
from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pysim import WEIGHT_BITS_RANGE
from pysim.errors import InputError
from pysim.util import is_int, to_jsonable

from .config import AllocateConfig
from .hessian import TraceEstimate

__all__ = [
    "BUDGET_SCOPES",
    "DEFAULT_CANDIDATES",
    "METHODS",
    "POLICIES",
    "STATE_POLICIES",
    "Allocation",
    "AllocationProblem",
    "LayerShape",
    "MembraneProfile",
    "allocate",
    "allocate_for_run",
    "budget_from_avg_bits",
    "build_problem",
    "check_allocation_options",
    "check_candidates",
    "choose_traces",
    "default_quantizer",
    "hutchinson_fallback",
    "measured_sensitivity",
    "membrane_profile",
    "pareto",
    "problem_budget",
    "problem_for_run",
    "quant_errors",
    "random_allocation",
    "reversed_allocation",
    "run_layer_shapes",
    "run_quantizer",
    "run_sensitivity",
    "sensitivity_table",
]

_A = AllocateConfig()
DEFAULT_CANDIDATES = _A.candidates
POLICIES = ("auto", "hutchinson", "gauss_newton")
METHODS = (*POLICIES, "measured")  # allocate_for_run: the trace policies + measured Ω

Quantizer = Callable[[np.ndarray, int], tuple[np.ndarray, float]]


# ---------------------------------------------------------------------- quantizer
def default_quantizer() -> Quantizer:
    """The project's weight quantizer :func:`quant.qat.quantize_weight`."""
    from .qat import quantize_weight

    return quantize_weight


def _quantizer_name(q: Quantizer) -> str:
    """``module.name`` of a quantizer (recorded in the meta and the Ω cache key)."""
    return getattr(q, "__module__", "") + "." + getattr(q, "__name__", str(q))


def quant_errors(weights: Sequence[np.ndarray], candidates: Sequence[int] = DEFAULT_CANDIDATES,
                 quantizer: Quantizer | None = None) -> np.ndarray:
    """``||Q_b(W_l) - W_l||²`` for every layer and candidate width: array (L, K)."""
    q = quantizer or default_quantizer()
    out = np.zeros((len(weights), len(candidates)))
    for i, w in enumerate(weights):
        w = np.asarray(w, dtype=np.float64)
        for k, b in enumerate(candidates):
            w_int, scale = q(w, int(b))
            out[i, k] = float(np.sum((np.asarray(w_int, np.float64) * float(scale) - w) ** 2))
    return out


# ---------------------------------------------------------------------- traces policy
def _good(t: TraceEstimate) -> bool:
    return bool(t.trace > 0 and t.significant)


def hutchinson_fallback(hutchinson: Sequence[TraceEstimate],
                        gauss_newton: Sequence[TraceEstimate]
                        ) -> tuple[list[float], dict[str, Any]]:
    """Hutchinson's traces with every negative or insignificant one replaced by the layer's
    Gauss-Newton trace rescaled to Hutchinson's scale (docs/hessian.md §5).

    The scale ``r`` is the geometric mean of ``tr_H / tr_GN`` over the layers whose
    Hutchinson trace is positive and significant (``r = 1`` when there is none), so the
    substituted layer is priced by the PSD curvature the data do support, on the same
    scale as the layers that keep their Hutchinson trace. Returns the traces (all >= 0)
    and ``{"fallback": {layer: {...}}, "scale": r}``.
    """
    if len(hutchinson) != len(gauss_newton):
        raise ValueError(f"{len(hutchinson)} Hutchinson traces but {len(gauss_newton)} "
                         "Gauss-Newton traces")
    neg = [g.name for g in gauss_newton if g.trace < 0]
    if neg:
        raise InputError(f"Gauss-Newton trace of layer {neg[0]} is negative")
    ratios = [h.trace / g.trace for h, g in zip(hutchinson, gauss_newton)
              if _good(h) and g.trace > 0]
    r = float(np.exp(np.mean(np.log(ratios)))) if ratios else 1.0
    out, fb = [], {}
    for h, g in zip(hutchinson, gauss_newton):
        if _good(h):
            out.append(float(h.trace))
            continue
        out.append(r * float(g.trace))
        fb[h.name] = {"hutchinson": float(h.trace), "stderr": float(h.stderr),
                      "gauss_newton": float(g.trace), "used": r * float(g.trace)}
    return out, {"fallback": fb, "scale": r, "scale_layers": len(ratios)}


def choose_traces(hutchinson: Sequence[TraceEstimate] | None,
                  gauss_newton: Sequence[TraceEstimate] | None = None, *,
                  policy: str = "auto") -> tuple[list[float], dict[str, Any]]:
    """Pick the traces Ω uses, never a negative or insignificant one.

    Parameters
    ----------
    hutchinson, gauss_newton : per-layer estimates (either may be None)
    policy : {"auto", "hutchinson", "gauss_newton"}
        ``"hutchinson"``: Hutchinson's traces; a layer whose trace is negative or
        insignificant (``|tr| <= 2·stderr``) gets its Gauss-Newton trace rescaled to
        Hutchinson's scale (:func:`hutchinson_fallback`, a :class:`UserWarning` and the
        meta's ``fallback`` name it; needs ``gauss_newton`` then). ``"gauss_newton"``:
        the PSD traces. ``"auto"``: Hutchinson's when every layer's is positive and
        significant, else Gauss-Newton's for all layers.

    Returns
    -------
    traces : list of float (>= 0), one per layer
    meta : dict with ``policy``, ``source`` (the method used), ``reason`` and, for a
        Hutchinson fallback, ``fallback`` / ``scale``
    """
    if policy not in POLICIES:
        raise InputError(f"must be one of {', '.join(POLICIES)}, not {policy!r}",
                         param="policy")
    bad = []
    if hutchinson is not None:
        bad = [t.name for t in hutchinson if not _good(t)]
    if policy == "hutchinson" or (policy == "auto" and hutchinson is not None and not bad):
        if hutchinson is None:
            raise InputError("no Hutchinson traces (run spikeforge hessian RUN first)")
        if bad:
            if gauss_newton is None:
                raise InputError(f"Hutchinson trace of layer {bad[0]} is negative or not "
                                 "significant (|trace| <= 2 stderr) and no Gauss-Newton "
                                 "trace to replace it (spikeforge hessian RUN --method both)")
            traces, fb = hutchinson_fallback(hutchinson, gauss_newton)
            msg = (f"Hutchinson trace negative or insignificant for {', '.join(bad)}: "
                   f"Gauss-Newton trace x {fb['scale']:.3g} (the Hutchinson/Gauss-Newton "
                   f"scale of the other layers) used there")
            warnings.warn(msg, stacklevel=2)
            return traces, {"policy": policy, "source": "hutchinson", "reason": msg, **fb}
        return [float(t.trace) for t in hutchinson], {
            "policy": policy, "source": "hutchinson",
            "reason": "every Hutchinson trace is positive and significant"}
    if gauss_newton is None:
        raise InputError("policy needs Gauss-Newton traces, none given "
                         "(spikeforge hessian RUN --method gauss_newton)")
    neg = [t.name for t in gauss_newton if t.trace < 0]
    if neg:  # impossible for a PSD estimator; refuse rather than feed it
        raise InputError(f"Gauss-Newton trace of layer {neg[0]} is negative")
    if policy == "gauss_newton":
        reason = "Gauss-Newton (PSD) traces requested"
    elif hutchinson is None:
        reason = "no Hutchinson traces"
    else:
        reason = (f"Hutchinson trace negative or insignificant for {', '.join(bad)}: "
                  "Gauss-Newton (PSD) traces used for every layer")
    return [float(t.trace) for t in gauss_newton], {
        "policy": policy, "source": "gauss_newton", "reason": reason}


def sensitivity_table(weights: Sequence[np.ndarray], traces: Sequence[float | TraceEstimate],
                      candidates: Sequence[int] = DEFAULT_CANDIDATES,
                      quantizer: Quantizer | None = None) -> np.ndarray:
    """Ω (L, K): ``Ω_l(b) = (trace_l / n_l) · ||Q_b(W_l) - W_l||²``.

    ``traces`` are already chosen by a policy (:func:`choose_traces`): every one must be
    finite and >= 0 (a :class:`TraceEstimate` must also be significant).
    """
    if len(weights) != len(traces):
        raise ValueError(f"{len(weights)} weight matrices but {len(traces)} traces")
    vals = []
    for i, t in enumerate(traces):
        if isinstance(t, TraceEstimate):
            if not t.significant:
                raise InputError(f"trace of layer {t.name} is not significant "
                                 f"({t.trace:.4g} ± {t.stderr:.2g}); choose traces with a "
                                 "policy (choose_traces)")
            t = t.trace
        t = float(t)
        if not (math.isfinite(t) and t >= 0):
            raise InputError(f"trace of layer {i + 1} is {t:.4g}: Ω needs a trace >= 0 "
                             "(use the Gauss-Newton trace or the 'auto' policy)")
        vals.append(t)
    n = np.array([np.asarray(w).size for w in weights], dtype=np.float64)
    return (np.asarray(vals) / n)[:, None] * quant_errors(weights, candidates, quantizer)


# ---------------------------------------------------------------------- allocation
@dataclass
class Allocation:
    """One width per layer, chosen under a weight-memory budget.

    Attributes
    ----------
    bits : chosen width per layer
    objective : Σ_l Ω_l(bits_l) (under the true Ω, also for the baselines)
    budget_bits : the budget (total weight bits)
    used_bits : Σ_l n_l · bits_l
    omega : the Ω table (L, K) used to score it
    candidates : candidate widths (the columns of ``omega``)
    n_params : weights per layer
    kind : "hessian", "measured", "random", "reversed" or "uniform"
    meta : anything else worth recording (trace source, seed, ...)

    A cost-aware allocation (:class:`AllocationProblem`) also sets ``state_bits`` (the
    chosen membrane widths), ``budget``/``used`` in ``unit`` ("weight_bits",
    "memory_bits" or "bram"), ``scope``, ``target``, ``memory_bits`` (weights +
    membranes) and ``objective_parts`` (the weights' and the clamps' share of ΣΩ).
    """

    bits: list[int]
    objective: float
    budget_bits: int
    used_bits: int
    omega: np.ndarray
    candidates: tuple[int, ...]
    n_params: list[int] = field(default_factory=list)
    kind: str = "hessian"
    meta: dict[str, Any] = field(default_factory=dict)
    state_bits: list[int] | None = None
    budget: float | None = None
    used: float | None = None
    unit: str = "weight_bits"
    scope: str = "weights"
    target: str | None = None
    memory_bits: int | None = None
    objective_parts: dict[str, float] | None = None

    @property
    def average_bits(self) -> float:
        """Average bits per weight ``used_bits / Σ n_l``."""
        return self.used_bits / sum(self.n_params) if self.n_params else float("nan")

    @property
    def percent_of_float32(self) -> float:
        """Weight memory relative to float32, in percent."""
        return 100.0 * self.average_bits / 32.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the manifest meta)."""
        return {
            "kind": self.kind,
            "bits": [int(b) for b in self.bits],
            "objective": float(self.objective),
            "budget_bits": int(self.budget_bits),
            "used_bits": int(self.used_bits),
            "average_bits": float(self.average_bits),
            "percent_of_float32": float(self.percent_of_float32),
            "n_params": [int(n) for n in self.n_params],
            "candidates": [int(c) for c in self.candidates],
            "omega": [[float(v) for v in row] for row in np.asarray(self.omega)],
            "meta": to_jsonable(self.meta),
            **({} if self.state_bits is None else {
                "state_bits": [int(w) for w in self.state_bits],
                "budget": self.budget, "used": self.used, "unit": self.unit,
                "scope": self.scope, "target": self.target, "memory_bits": self.memory_bits,
                "objective_parts": self.objective_parts}),
        }


def check_candidates(candidates: Sequence[int]) -> tuple[int, ...]:
    """The candidate widths as a tuple: distinct integers in the weight-width range
    (InputError on ``candidates`` otherwise)."""
    candidates = list(candidates)
    lo, hi = WEIGHT_BITS_RANGE
    if (not candidates or any(not is_int(c) or not lo <= c <= hi for c in candidates)
            or len(set(candidates)) != len(candidates)):
        raise InputError(f"must be distinct integer widths in {lo}..{hi}, "
                         f"not {list(candidates)}", param="candidates")
    return tuple(int(c) for c in candidates)


def _check(omega: np.ndarray, n_params: Sequence[int], candidates: Sequence[int]
           ) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    omega = np.asarray(omega, dtype=np.float64)
    n = np.asarray([int(v) for v in n_params], dtype=np.int64)
    cands = check_candidates(candidates)
    if omega.shape != (len(n), len(cands)):
        raise ValueError(f"omega has shape {omega.shape}, expected ({len(n)}, {len(cands)})")
    if not np.all(np.isfinite(omega)):
        raise InputError("Ω table has non-finite values")
    return omega, n, cands


def budget_from_avg_bits(avg_bits: float, n_params: Sequence[int]) -> int:
    """Total weight bits for an average of ``avg_bits`` per weight (rounded down)."""
    if not (math.isfinite(avg_bits) and avg_bits > 0):
        raise InputError(f"must be a positive number, not {avg_bits!r}", param="avg_bits")
    return math.floor(avg_bits * sum(int(n) for n in n_params) + 1e-9)


def _min_budget_error(budget: int, n: np.ndarray, cands: tuple[int, ...]) -> InputError:
    need = int(n.sum()) * min(cands)
    return InputError(f"budget of {budget} weight bits ({budget / n.sum():.3f} per weight) is "
                      f"below the minimum {need} bits ({min(cands)} bits on every weight)")


def allocate(omega: np.ndarray, n_params: Sequence[int],
             candidates: Sequence[int] = DEFAULT_CANDIDATES, *, budget_bits: int,
             kind: str = "hessian", meta: dict[str, Any] | None = None) -> Allocation:
    """Exact minimum of Σ Ω under ``Σ n_l · b_l <= budget_bits`` (MILP, HiGHS).

    Ties (equal Ω) are broken toward fewer used bits by a tiny secondary term; the
    result is deterministic.

    Raises
    ------
    pysim.errors.InputError
        The budget is below what the smallest candidate on every layer needs.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    omega, n, cands = _check(omega, n_params, candidates)
    L, K = omega.shape
    budget = int(budget_bits)
    if budget < int(n.sum()) * min(cands):
        raise _min_budget_error(budget, n, cands)
    cost = np.outer(n, np.asarray(cands, dtype=np.float64))  # bits of each choice
    # scale Ω to O(1) for the solver; the tie-break term is far below any Ω difference
    scale = float(np.max(np.abs(omega))) or 1.0
    c = omega.ravel() / scale + 1e-9 * cost.ravel() / float(cost.max())
    one_per_layer = np.zeros((L, L * K))
    for i in range(L):
        one_per_layer[i, i * K:(i + 1) * K] = 1.0
    cons = [LinearConstraint(one_per_layer, 1.0, 1.0),
            LinearConstraint(cost.ravel()[None, :], -np.inf, float(budget))]
    res = milp(c, constraints=cons, integrality=np.ones(L * K), bounds=Bounds(0, 1),
               options={"mip_rel_gap": 0.0})
    if res.x is None:  # pragma: no cover - feasible by the check above
        raise InputError(f"bit allocation failed: {res.message}")
    x = np.round(res.x).reshape(L, K).astype(int)
    idx = [int(np.argmax(row)) for row in x]
    return _make(omega, n, cands, idx, budget, kind, meta)


def _make(omega: np.ndarray, n: np.ndarray, cands: tuple[int, ...], idx: Sequence[int],
          budget: int, kind: str, meta: dict[str, Any] | None) -> Allocation:
    bits = [cands[k] for k in idx]
    return Allocation(
        bits=bits, objective=float(sum(omega[i, k] for i, k in enumerate(idx))),
        budget_bits=int(budget), used_bits=int(sum(int(n[i]) * b for i, b in enumerate(bits))),
        omega=omega, candidates=cands, n_params=[int(v) for v in n], kind=kind,
        meta=dict(meta or {}))


def pareto(omega: np.ndarray, n_params: Sequence[int],
           candidates: Sequence[int] = DEFAULT_CANDIDATES, budgets: Sequence[int] = ()
           ) -> list[Allocation]:
    """The optimal allocation at each budget (bits), in the order given.

    The objective never increases with the budget (each solve is exact).
    """
    return [allocate(omega, n_params, candidates, budget_bits=int(b)) for b in budgets]


def uniform_allocation(omega: np.ndarray, n_params: Sequence[int],
                       candidates: Sequence[int], bits: int) -> Allocation:
    """Every layer at ``bits`` (which must be a candidate), scored under Ω."""
    omega, n, cands = _check(omega, n_params, candidates)
    if bits not in cands:
        raise InputError(f"uniform width {bits} is not a candidate ({list(cands)})")
    k = cands.index(bits)
    return _make(omega, n, cands, [k] * len(n), int(n.sum()) * bits, "uniform", {})


def random_allocation(omega: np.ndarray, n_params: Sequence[int],
                      candidates: Sequence[int] = DEFAULT_CANDIDATES, *, budget_bits: int,
                      seed: int = 0, tries: int = 4000) -> Allocation:
    """A random feasible allocation that uses nearly the budget (a baseline).

    Draws ``tries`` assignments of widths uniformly at random (a seeded generator) and
    keeps, among the feasible ones (``used <= budget``), the one that uses the most bits
    (the first drawn on ties): random in *which* layer gets the bits, comparable in
    memory to the optimal allocation. If none is feasible, all layers get the smallest
    width and random layers are raised one candidate at a time while the budget allows.
    """
    omega, n, cands = _check(omega, n_params, candidates)
    budget = int(budget_bits)
    if budget < int(n.sum()) * min(cands):
        raise _min_budget_error(budget, n, cands)
    rng = np.random.default_rng(seed)
    c = np.asarray(cands)
    draws = rng.integers(0, len(cands), size=(int(tries), len(n)))
    used = (c[draws] * n[None, :]).sum(axis=1)
    ok = np.nonzero(used <= budget)[0]
    if ok.size:
        best = ok[np.argmax(used[ok])]
        idx = [int(k) for k in draws[best]]
    else:
        order = np.argsort(c)
        idx = [int(order[0])] * len(n)
        for i in rng.permutation(len(n)):
            for k in order[1:]:
                trial = list(idx)
                trial[i] = int(k)
                if sum(cands[t] * int(n[j]) for j, t in enumerate(trial)) <= budget:
                    idx = trial
    return _make(omega, n, cands, idx, budget, "random", {"seed": int(seed), "tries": tries})


def reversed_allocation(errors: np.ndarray, per_param: Sequence[float],
                        n_params: Sequence[int], candidates: Sequence[int] = DEFAULT_CANDIDATES,
                        *, budget_bits: int) -> Allocation:
    """The optimal allocation for the sensitivity ranking reversed (a baseline).

    With ``s_l = trace_l / n_l`` and ``E_l(b) = ||Q_b(W_l) - W_l||²`` (``errors``), the
    layers' ``s`` values are permuted so that the most sensitive layer receives the
    smallest ``s``, the second most sensitive the second smallest, and so on
    (``s'_l = s_(L-1-rank(l))``); the MILP is solved for ``Ω'_l(b) = s'_l · E_l(b)`` at the
    same budget, and the result is scored under the true ``Ω = s · E``.
    """
    errors = np.asarray(errors, dtype=np.float64)
    s = np.asarray(per_param, dtype=np.float64)
    order = np.argsort(-s, kind="stable")  # most sensitive first
    s_rev = np.empty_like(s)
    s_rev[order] = s[order[::-1]]
    alloc = allocate(s_rev[:, None] * errors, n_params, candidates, budget_bits=budget_bits,
                     kind="reversed", meta={"reversed_per_param": s_rev.tolist()})
    omega = s[:, None] * errors
    cands = tuple(int(c) for c in candidates)
    idx = [cands.index(b) for b in alloc.bits]
    alloc.omega = omega
    alloc.objective = float(sum(omega[i, k] for i, k in enumerate(idx)))
    return alloc


# ---------------------------------------------------------------------- runs
def _read_json_cache(path: Path) -> dict[str, Any]:
    """A run's JSON cache file as a dict (empty when missing, unreadable or not a dict)."""
    try:
        cache = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _layer_names(model: Any) -> list[str]:
    """Manifest names of a model's weight layers (``fc1``.., or ``conv1``, ``fc5``.. of a
    convolutional network, whose conv2d layers count O·C·KH·KW weights)."""
    names = getattr(model, "layer_names", None)
    return list(names) if names else [f"fc{i + 1}" for i in range(len(model.linears))]


def _layer_meta(model: Any) -> dict[str, Any]:
    """Names and neuron counts (one membrane each) of a model's weight layers."""
    return {"layers": _layer_names(model), "neurons": [int(n) for n in model.sizes[1:]]}


def check_allocation_options(*, method: str = _A.method, budget_scope: str = _A.budget_scope,
                             state_policy: str = _A.state_policy) -> None:
    """The checks of :func:`allocate_for_run`'s choices, with no run needed (InputError
    naming the parameter)."""
    if method not in METHODS:
        raise InputError(f"must be one of {', '.join(METHODS)}, not {method!r}", param="method")
    if budget_scope not in BUDGET_SCOPES:
        raise InputError(f"must be one of {', '.join(BUDGET_SCOPES)}, not {budget_scope!r}",
                         param="budget_scope")
    if state_policy not in STATE_POLICIES:
        raise InputError(f"must be one of {', '.join(STATE_POLICIES)}, not {state_policy!r}",
                         param="state_policy")


def allocate_for_run(run_dir: str | Path, *, avg_bits: float | None = None,
                     budget_bits: int | None = None,
                     candidates: Sequence[int] = DEFAULT_CANDIDATES, method: str = _A.method,
                     quantizer: Quantizer | None = None, samples: int = _A.trace_samples,
                     max_probes: int = _A.trace_max_probes, progress: bool = True,
                     budget_bram: int | None = None, target: str | None = None,
                     budget_scope: str = _A.budget_scope,
                     state_policy: str = _A.state_policy) -> Allocation:
    """Allocate widths for a trained run (``spikeforge train`` output).

    Reads ``RUN/hessian.json`` (computing and saving the traces the policy needs when
    absent, over ``samples`` training samples with at most ``max_probes`` probes: by
    default :class:`quant.config.AllocateConfig`'s ``trace_samples``/``trace_max_probes``,
    lighter than ``spikeforge hessian``'s :class:`~quant.config.HessianConfig`, so that
    ``quantize`` stays quick; run ``spikeforge hessian RUN`` first for the fuller
    estimate), builds Ω with the project's quantizer and solves the MILP. Exactly one of
    ``avg_bits`` / ``budget_bits`` / ``budget_bram``. ``method`` is the trace policy
    (:func:`choose_traces`), or ``"measured"``: Ω measured directly by
    :func:`measured_sensitivity` over ``samples`` training samples (cached in
    ``RUN/sensitivity.json``; no traces). The allocation's ``meta`` records the traces
    used (or the measured table), their source and the policy's reason.

    Cost-aware budgets (:func:`problem_for_run`): ``budget_bram`` block RAMs of
    ``target``, or ``budget_scope="all"`` (``budget_bits``/``avg_bits`` count weights and
    membranes; ``avg_bits`` is then bits per stored value), or a ``state_policy`` other
    than "auto": weight and state widths are chosen together and the allocation carries
    ``state_bits``. The default (weight bits, scope "weights") is the weight-only MILP.
    """
    given = sum(v is not None for v in (avg_bits, budget_bits, budget_bram))
    if given != 1:
        raise InputError("give exactly one of avg_bits, budget_bits and budget_bram")
    check_allocation_options(method=method, budget_scope=budget_scope,
                             state_policy=state_policy)
    if budget_bram is not None or budget_scope != "weights" or state_policy != "auto":
        prob = problem_for_run(run_dir, candidates=candidates, method=method,
                               quantizer=quantizer, samples=samples, max_probes=max_probes,
                               progress=progress, unit=("bram" if budget_bram is not None
                                                        else "weight_bits"
                                                        if budget_scope == "weights"
                                                        else "memory_bits"),
                               target=target, budget_scope=budget_scope,
                               state_policy=state_policy)
        return prob.solve(problem_budget(prob, avg_bits=avg_bits, budget_bits=budget_bits,
                                         budget_bram=budget_bram),
                          kind=prob.meta.get("kind", "hessian"))
    cands = check_candidates(candidates)
    from .train import load_run

    run = load_run(run_dir)
    weights = _run_weights(run)
    n_params = [w.size for w in weights]
    budget = (budget_from_avg_bits(avg_bits, n_params) if budget_bits is None
              else int(budget_bits))
    if budget < sum(n_params) * min(cands):
        raise _min_budget_error(budget, np.asarray(n_params), cands)
    sens = run_sensitivity(run, cands, method=method, quantizer=quantizer, samples=samples,
                           max_probes=max_probes, progress=progress)
    return allocate(sens["omega"], n_params, cands, budget_bits=budget, kind=sens["kind"],
                    meta=sens["meta"])


def _run_weights(run: Any) -> list[np.ndarray]:
    return [lin.weight.detach().cpu().numpy().astype(np.float64) for lin in run.model.linears]


def run_sensitivity(run: Any, candidates: Sequence[int] = DEFAULT_CANDIDATES, *,
                    method: str = _A.method, quantizer: Quantizer | None = None,
                    samples: int = _A.trace_samples, max_probes: int = _A.trace_max_probes,
                    progress: bool = True) -> dict[str, Any]:
    """The sensitivity of a run's layers by ``method`` (:data:`METHODS`).

    Returns a dict: ``omega`` (L, K) Ω of the weights, ``errors`` (L, K)
    ``||Q_b(W) - W||²``, ``per_param`` (L,) sensitivity per unit squared weight error
    (trace / n, or for "measured" the measured Ω per unit error at the narrowest width),
    ``meta`` (source, reason, traces...) and ``kind`` ("hessian" or "measured").
    """
    from .hessian import traces_for_run
    from .train import load_run

    if method not in METHODS:
        raise InputError(f"must be one of {', '.join(METHODS)}, not {method!r}", param="method")
    cands = check_candidates(candidates)
    if not hasattr(run, "model"):
        run = load_run(run)
    weights = _run_weights(run)
    n_params = [w.size for w in weights]
    q = run_quantizer(run, quantizer)
    if method == "measured":
        omega = measured_sensitivity(run, cands, samples=samples, progress=progress,
                                     quantizer=quantizer)
        errors = quant_errors(weights, cands, q)
        k0 = int(np.argmin(cands))
        # measured loss increase per unit squared weight error at the narrowest width: the
        # measured analogue of trace/n (used to reverse the layer ranking for a baseline)
        per_error = [float(omega[i, k0] / errors[i, k0]) if errors[i, k0] > 0 else 0.0
                     for i in range(len(n_params))]
        meta = {
            "policy": "measured", "source": "measured",
            "reason": (f"Ω measured directly: training-loss increase with only that layer "
                       f"fake-quantized, over {int(samples)} training samples (clipped at 0)"),
            **_layer_meta(run.model),
            "samples": int(samples),
            "errors": errors.tolist(), "per_error": per_error,
            "quantizer": _quantizer_name(q),
        }
        return {"omega": omega, "errors": errors, "per_param": np.asarray(per_error),
                "meta": meta, "kind": "measured"}
    kw = {"samples": samples, "max_probes": max_probes, "progress": progress}
    hut = gn = None
    if method in ("auto", "hutchinson"):
        hut = traces_for_run(run, ("hutchinson",), **kw)["hutchinson"]
    if method == "gauss_newton" or (method in ("auto", "hutchinson") and any(
            not _good(t) for t in hut or [])):
        gn = traces_for_run(run, ("gauss_newton",), **kw)["gauss_newton"]
    traces, why = choose_traces(hut, gn, policy=method)
    errors = quant_errors(weights, cands, q)
    per_param = np.asarray(traces) / np.asarray(n_params, dtype=np.float64)
    omega = per_param[:, None] * errors
    meta = {
        **why,
        "traces": [t.as_dict() for t in (hut if why["source"] == "hutchinson" else gn)],
        **({"gauss_newton_traces": [t.as_dict() for t in gn]}
           if why.get("fallback") and gn is not None else {}),
        "quantizer": _quantizer_name(q),
        **_layer_meta(run.model),
    }
    if hut is not None and why["source"] != "hutchinson":
        meta["hutchinson_traces"] = [t.as_dict() for t in hut]
    return {"omega": omega, "errors": errors, "per_param": per_param, "meta": meta,
            "kind": "hessian"}


def run_layer_shapes(run: Any) -> list[LayerShape]:
    """The memory shapes of a run's layers: weights, and one membrane per neuron (a conv
    layer has one per output position)."""
    model = run.model
    names = _layer_names(model)
    return [LayerShape(name=names[i], kind="conv2d" if lin.weight.ndim == 4 else "dense",
                       n_weights=int(lin.weight.numel()), n_neurons=int(model.sizes[i + 1]))
            for i, lin in enumerate(model.linears)]


def problem_for_run(run_dir: Any, *, candidates: Sequence[int] = DEFAULT_CANDIDATES,
                    method: str = _A.method, quantizer: Quantizer | None = None,
                    samples: int = _A.trace_samples, max_probes: int = _A.trace_max_probes,
                    progress: bool = True, unit: str = "weight_bits",
                    target: str | None = None, budget_scope: str = _A.budget_scope,
                    state_policy: str = _A.state_policy,
                    profile_samples: int | None = None) -> AllocationProblem:
    """The cost-aware allocation problem of a run (see :class:`AllocationProblem`).

    Sensitivity by ``method`` (:func:`run_sensitivity`); the membranes measured by
    :func:`membrane_profile` (skipped when the budget is weight bits and state widths
    are the calibration's); block RAMs (``unit="bram"``) per dense layer from the
    hardware plan (:func:`hwplan.dense_layer_plan` at the generator's default lanes) and
    the calibrated model's block RAM mapping (:func:`cost.resources.map_synapse`,
    :func:`cost.resources.layer_memories`) on ``target``, for the integer weights the
    project's quantizer gives at each width.
    """
    from .train import load_run

    if method not in METHODS:
        raise InputError(f"must be one of {', '.join(METHODS)}, not {method!r}", param="method")
    cands = check_candidates(candidates)
    if unit == "bram":
        if target is None:
            raise InputError("a block RAM budget needs a target", param="target")
        from cost.targets import get_target

        target = get_target(str(target), param="target").name
    run = load_run(run_dir) if not hasattr(run_dir, "model") else run_dir
    sens = run_sensitivity(run, cands, method=method, quantizer=quantizer, samples=samples,
                           max_probes=max_probes, progress=progress)
    shapes = run_layer_shapes(run)
    policy = state_policy if state_policy != "auto" else (
        "measured" if budget_scope == "weights" else "priced")
    need_profile = not (unit == "weight_bits" and policy == "measured")
    profile = (membrane_profile(run, cands, samples=profile_samples, progress=progress)
               if need_profile else None)
    model = run.model
    bram_cost = None
    if unit == "bram":
        weights = _run_weights(run)
        q = run_quantizer(run, quantizer)
        n_layers = len(weights)
        ints = {}
        membrane = model.readout == "membrane"

        ctxs = _layer_contexts(model)
        names = _layer_names(model)

        def bram_cost(i: int, b: int, w: int) -> int:
            if (i, b) not in ints:
                ints[(i, b)] = q(weights[i], b)[0]
            k = cands.index(b)
            return _layer_bram(
                ints[(i, b)], b, w, profile.threshold[i][k], model.leak_shifts[i],
                model.reset, None, not (membrane and i == n_layers - 1), target,
                budget_scope, names[i], ctxs[i])
        bram_cost.kinds = ("dense", "conv2d")  # type: ignore[attr-defined]
        if model.has_bias:
            raise InputError("block RAM budgets of networks with biases are not supported yet")
    prob = build_problem(shapes, cands, weight_omega=sens["omega"], weight_error=sens["errors"],
                         per_param=sens["per_param"], unit=unit, scope=budget_scope,
                         state_policy=state_policy, profile=profile, target=target,
                         bram_cost=bram_cost, leak_shifts=model.leak_shifts,
                         meta={**sens["meta"], "kind": sens["kind"]})
    return prob


def problem_budget(prob: AllocationProblem, *, avg_bits: float | None = None,
                   budget_bits: int | None = None, budget_bram: int | None = None) -> float:
    """The budget in the problem's unit from the caller's one budget.

    ``avg_bits`` is bits per weight (scope "weights") or per stored value, weights and
    membranes (scope "all"); ``budget_bits`` total bits; ``budget_bram`` block RAMs.
    """
    if sum(v is not None for v in (avg_bits, budget_bits, budget_bram)) != 1:
        raise InputError("give exactly one of avg_bits, budget_bits and budget_bram")
    if prob.unit == "bram":
        if budget_bram is None:
            raise InputError("a block RAM problem needs budget_bram")
        if not is_int(budget_bram) or budget_bram < 0:
            raise InputError(f"must be an integer >= 0, not {budget_bram!r}",
                             param="budget_bram")
        return float(budget_bram)
    if budget_bram is not None:
        raise InputError("budget_bram needs a block RAM problem (give a target)")
    if budget_bits is not None:
        return float(int(budget_bits))
    values = sum(s.n_weights + (s.n_neurons if prob.scope == "all" else 0)
                 for s in prob.layers)
    if not (math.isfinite(avg_bits) and avg_bits > 0):
        raise InputError(f"must be a positive number, not {avg_bits!r}", param="avg_bits")
    return float(math.floor(avg_bits * values + 1e-9))


def run_quantizer(run: Any, quantizer: Quantizer | None = None) -> Quantizer:
    """The quantizer Ω uses for a run: ``quantizer``, else the project's quantizer with
    the scale snapped to the run's threshold (as calibration does), so Ω sees the
    weights the hardware will hold."""
    if quantizer is not None:
        return quantizer
    base = default_quantizer()
    th = float(run.model.threshold)

    def q(w: np.ndarray, b: int) -> tuple[np.ndarray, float]:
        return base(w, b, threshold=th)

    q.__name__, q.__module__ = base.__name__, base.__module__
    return q


# ---------------------------------------------------------------------- measured Ω
def measured_sensitivity(run: Any, candidates: Sequence[int] = DEFAULT_CANDIDATES, *,
                         samples: int = _A.measured_samples, batch_size: int = 256, progress: bool = True,
                         quantizer: Quantizer | None = None, recompute: bool = False
                         ) -> np.ndarray:
    """Directly measured sensitivity Ω (L, K) of a trained run.

    ``Ω_l(b)`` = mean training loss (:func:`quant.train.loss_fn`, the loss training and
    QAT minimize) with *only* layer ``l``'s weights replaced by their fake-quantized
    values ``scale · Q_b(W_l)`` (:func:`run_quantizer`: the project's quantizer, scale
    snapped to the threshold), minus the float loss, over the first ``samples`` training
    samples (epoch-0 encoding, fixed, so the table is deterministic). Costs ``L·K + 1``
    forward passes over the samples, no gradients.

    The difference is clipped at 0: quantization noise can lower the loss on a finite
    sample by chance (a negative Ω would make the MILP *prefer* fewer bits for that layer
    and is not a sensitivity); the unclipped values are kept in the cache file.

    ``run`` is a run directory or a :class:`quant.train.Run`. The table is cached in
    ``RUN/sensitivity.json`` (written atomically), keyed by the candidates, the number of
    samples and the quantizer; a cached entry is reused unless ``recompute``.
    """
    import torch
    from tqdm import tqdm

    from pysim import atomic_path

    from .train import load_run, loss_fn

    if not hasattr(run, "model"):
        run = load_run(run)
    if not is_int(samples) or samples < 2:
        raise InputError(f"must be an integer >= 2, not {samples!r}", param="samples")
    cands = check_candidates(candidates)
    model = run.model
    linears = list(model.linears)
    q = run_quantizer(run, quantizer)
    qname = _quantizer_name(q)
    key = f"candidates={','.join(map(str, cands))};samples={int(samples)};quantizer={qname}"
    path = Path(run.run_dir) / "sensitivity.json"
    cache = _read_json_cache(path)
    entry = cache.get(key)
    if entry is not None and not recompute:
        omega = np.asarray(entry["omega"], dtype=np.float64)
        if omega.shape == (len(linears), len(cands)):
            return omega

    spikes, labels = run.train_spikes(samples)
    x = torch.as_tensor(np.asarray(spikes), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    n = int(x.shape[0])
    was_training = model.training
    model.eval()

    @torch.no_grad()
    def mean_loss() -> float:
        tot = 0.0
        for i in range(0, n, batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            tot += float(loss_fn(model, xb, yb)) * int(xb.shape[0])
        return tot / n

    raw = np.zeros((len(linears), len(cands)))
    bar = tqdm(total=len(linears) * len(cands) + 1, desc="measured Ω", disable=not progress,
               leave=False)
    try:
        base_loss = mean_loss()
        bar.update(1)
        for i, lin in enumerate(linears):
            orig = lin.weight.detach().clone()
            w = orig.cpu().numpy().astype(np.float64)
            try:
                for k, b in enumerate(cands):
                    w_int, scale = q(w, b)
                    wq = np.asarray(w_int, dtype=np.float64) * float(scale)
                    with torch.no_grad():
                        lin.weight.copy_(torch.as_tensor(wq, dtype=orig.dtype))
                    raw[i, k] = mean_loss() - base_loss
                    bar.update(1)
            finally:
                with torch.no_grad():
                    lin.weight.copy_(orig)
    finally:
        bar.close()
        model.train(was_training)
    omega = np.maximum(raw, 0.0)
    cache[key] = {"candidates": list(cands), "samples": n, "batch_size": int(batch_size),
                  "quantizer": qname, "data": "train[:samples], epoch-0 encoding",
                  "float_loss": base_loss, "layers": _layer_names(model),
                  "loss_increase": raw.tolist(), "omega": omega.tolist(),
                  "clip": "omega = max(loss_increase, 0)"}
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(cache, indent=1) + "\n")
    return omega


# ---------------------------------------------------------------------- cost-aware allocation
# Joint choice of weight width b and state (membrane) width w per layer, under a budget
# in weight bits, memory bits (weights + membranes) or block RAMs of a target (docs/hessian.md,
# "Allocation under a hardware budget").
BUDGET_SCOPES = ("weights", "all")
"""What a budget counts: weight memories only, or weights and membranes."""
STATE_POLICIES = ("auto", "measured", "priced")
"""How a cost-aware allocation picks state widths: ``"measured"`` the calibration rule
(widest accumulator value seen + headroom, as ``quantize`` does), ``"priced"`` a
candidate range whose clamp error is priced in the objective, ``"auto"`` measured when
the budget counts weights only (membranes are free), priced otherwise."""
BUDGET_UNITS = ("weight_bits", "memory_bits", "bram")


@dataclass(frozen=True)
class LayerShape:
    """What a layer's memory cost depends on, besides its widths.

    ``kind`` is the IR layer kind (``"dense"``; a layer kind without a hardware plan is
    costed in bits, see :func:`layer_option_costs`); ``n_weights`` weights,
    ``n_neurons`` membranes (a conv layer holds one per output position).
    """

    name: str
    kind: str
    n_weights: int
    n_neurons: int


@dataclass
class MembraneProfile:
    """The measured membrane (accumulator) distribution of a run at each weight width.

    For candidate ``candidates[k]``, with every layer fake-quantized to that width and no
    clamp (as :func:`quant.qat.calibrate` measures), per layer ``l``: ``scale[l][k]``
    (threshold-snapped), ``threshold[l][k]`` (θ_int), ``peak[l][k]`` (largest magnitude of
    accumulator, threshold and bias, integer units) and ``clamp[l][k][w]``: the clamp error
    energy ``Σ (a - clamp_w(a))²`` in float units (scale² · integer²), per sample and step
    summed over neurons, for every state width ``w`` in 2..24; ``input_rate[l]`` is the
    mean fraction of the layer's inputs that fire per step.
    """

    layers: list[str]
    candidates: tuple[int, ...]
    samples: int
    scale: list[list[float]]
    threshold: list[list[int]]
    peak: list[list[int]]
    clamp: list[list[dict[int, float]]]
    input_rate: list[float]
    headroom: int = 1

    def measured_state_bits(self, l: int, k: int) -> int:
        """The calibration rule's state width: the peak's signed width + headroom."""
        from .qat import state_bits_for

        return max(self.min_state_bits(l, k), state_bits_for(self.peak[l][k], self.headroom))

    def min_state_bits(self, l: int, k: int, leak_shift: int | None = None) -> int:
        """Narrowest width holding θ_int (and above the leak shift)."""
        from .qat import state_bits_for

        lo = state_bits_for(self.threshold[l][k], 0)
        if leak_shift is not None:
            lo = max(lo, int(leak_shift) + 1)
        return lo

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"layers": self.layers, "candidates": list(self.candidates),
                "samples": self.samples, "scale": self.scale, "threshold": self.threshold,
                "peak": self.peak, "headroom": self.headroom,
                "clamp": [[{str(w): v for w, v in d.items()} for d in row]
                          for row in self.clamp],
                "input_rate": self.input_rate}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MembraneProfile:
        """Inverse of :meth:`as_dict`."""
        return cls(layers=list(d["layers"]), candidates=tuple(d["candidates"]),
                   samples=int(d["samples"]), scale=d["scale"], threshold=d["threshold"],
                   peak=d["peak"], headroom=int(d.get("headroom", 1)),
                   clamp=[[{int(w): float(v) for w, v in c.items()} for c in row]
                          for row in d["clamp"]],
                   input_rate=[float(v) for v in d["input_rate"]])


MAX_PRICED_STATE_BITS = 24
"""Widest state width a profile prices (the fake-quant float32 path is exact up to 24)."""


def membrane_profile(run: Any, candidates: Sequence[int] = DEFAULT_CANDIDATES, *,
                     samples: int | None = None, headroom: int | None = None,
                     batch_size: int = 256, progress: bool = True,
                     recompute: bool = False) -> MembraneProfile:
    """Measure a run's membrane distribution at every candidate weight width.

    One fake-quant forward pass per candidate width over the first ``samples`` training
    samples (epoch-0 encoding; default ``QuantizeConfig.calib_samples``, the samples
    calibration measures the state range on), every layer at that width, no clamp,
    scales as :func:`quant.qat.calibrate` sets them. Cached in ``RUN/membranes.json``
    keyed by the candidates, samples and headroom.
    """
    import torch
    from tqdm import tqdm

    from pysim import atomic_path

    from .config import QuantizeConfig
    from .model import LayerQuant
    from .qat import layer_scale
    from .train import load_run

    qc = QuantizeConfig()
    samples = qc.calib_samples if samples is None else samples
    headroom = qc.headroom if headroom is None else headroom
    if not hasattr(run, "model"):
        run = load_run(run)
    if not is_int(samples) or samples < 1:
        raise InputError(f"must be an integer >= 1, not {samples!r}", param="samples")
    cands = check_candidates(candidates)
    model = run.model
    key = f"candidates={','.join(map(str, cands))};samples={int(samples)};headroom={headroom}"
    path = Path(run.run_dir) / "membranes.json"
    cache = _read_json_cache(path)
    if key in cache and not recompute:
        return MembraneProfile.from_dict(cache[key])
    x_all, _ = run.train_spikes(samples)
    n = len(x_all)
    L = len(model.linears)
    widths = list(range(2, MAX_PRICED_STATE_BITS + 1))
    scale = [[0.0] * len(cands) for _ in range(L)]
    thr = [[0] * len(cands) for _ in range(L)]
    peak = [[0] * len(cands) for _ in range(L)]
    clamp = [[dict.fromkeys(widths, 0.0) for _ in cands] for _ in range(L)]
    rate_sum = np.zeros(L)
    was_quant, was_training = model.quant, model.training
    model.eval()
    bar = tqdm(total=len(cands) * ((n + batch_size - 1) // batch_size), desc="membranes",
               disable=not progress, leave=False)
    try:
        for k, b in enumerate(cands):
            quant = []
            for i, lin in enumerate(model.linears):
                s, th, clip = layer_scale(lin.weight, b, model.threshold)
                quant.append(LayerQuant(bits=b, scale=s, threshold=th, state_bits=None,
                                        clip=clip))
                scale[i][k], thr[i][k] = float(s), int(th)
                bias = model.linears[i].bias
                if bias is not None:
                    peak[i][k] = max(peak[i][k], math.ceil(float(bias.abs().max()) / s))
                peak[i][k] = max(peak[i][k], int(th))
            model.set_quant(quant)
            with torch.no_grad():
                for start in range(0, n, batch_size):
                    xb = torch.as_tensor(np.asarray(x_all[start:start + batch_size]),
                                         dtype=torch.float32)
                    out = model.run(xb, record=True)
                    inputs = [xb] + list(out.spikes[:-1])
                    for i, a in enumerate(out.membranes or []):
                        a64 = a.double()
                        amax = float(a64.abs().max())
                        peak[i][k] = max(peak[i][k], math.ceil(amax))
                        if k == 0:
                            rate_sum[i] += float(inputs[i].double().mean()) * xb.shape[0]
                        s2 = scale[i][k] ** 2
                        for w in widths:
                            hi = float((1 << (w - 1)) - 1)
                            if amax <= hi:
                                continue  # no clamp at this width or wider
                            lo = -float(1 << (w - 1))
                            err = a64 - a64.clamp(lo, hi)
                            clamp[i][k][w] += float((err * err).sum()) * s2
                    bar.update(1)
    finally:
        bar.close()
        model.set_quant(was_quant)
        model.train(was_training)
    T = float(model.timesteps)
    clamp = [[{w: v / (n * T) for w, v in d.items()} for d in row] for row in clamp]
    prof = MembraneProfile(layers=_layer_names(model), candidates=cands,
                           samples=n, scale=scale, threshold=thr, peak=peak, clamp=clamp,
                           input_rate=[float(v / n) for v in rate_sum], headroom=int(headroom))
    cache[key] = prof.as_dict()
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(cache) + "\n")
    return prof


def _layer_contexts(model: Any) -> list[dict[str, Any]]:
    """Per neuron layer of a model: its kind, input shape, stride, padding and the sum-pool
    in front of it (``None``), as the IR and the hardware plan see them."""
    spec = getattr(model, "spec", None)
    if spec is None:  # a SpikingMLP: dense layers only
        return [{"kind": "dense", "pool": None} for _ in model.linears]
    out, pool = [], None
    for a in spec:
        if a.kind == "sumpool2d":
            pool = a
            continue
        out.append({"kind": a.kind, "in_shape": tuple(a.in_shape), "stride": a.stride,
                    "padding": a.padding, "pool": pool})
        pool = None
    return out


def _layer_bram(w_int: np.ndarray, b: int, w: int, threshold: int,
                leak_shift: int | None, reset: str, bias: np.ndarray | None,
                fires: bool, target: Any, scope: str, name: str,
                ctx: dict[str, Any] | None = None) -> int:
    """Block RAMs (target units) of one neuron layer (dense, or conv2d with the sum-pool in
    front of it: ``ctx`` from :func:`_layer_contexts`) as the generator would build it:
    the hardware plan at the generator's default lanes, mapped by the calibrated model."""
    from cost.resources import layer_memories, map_synapse
    from pysim import Conv2dLayer, IntLayer, SumPool2dLayer

    ctx = ctx or {"kind": "dense", "pool": None}
    pool = None
    if ctx["pool"] is not None:
        from hwplan.conv import pool_plan

        a = ctx["pool"]
        pool = pool_plan(SumPool2dLayer(name=a.name, in_shape=tuple(a.in_shape),
                                        kernel=a.kernel, stride=a.stride))
    if ctx["kind"] == "conv2d":
        from hwplan.conv import conv_default_lanes, conv_layer_plan

        layer = Conv2dLayer(name=name, in_shape=ctx["in_shape"], weight=w_int, weight_bits=b,
                            state_bits=w, threshold=threshold, leak_shift=leak_shift,
                            reset=reset, bias=bias, stride=ctx["stride"],
                            padding=ctx["padding"])
        lp = conv_layer_plan(layer, lanes=conv_default_lanes(layer), fires=fires, pool=pool)
    else:
        from hwplan import default_lanes, dense_layer_plan

        layer = IntLayer(name=name, weight=w_int, weight_bits=b, state_bits=w,
                         threshold=threshold, leak_shift=leak_shift, reset=reset, bias=bias)
        lp = dense_layer_plan(layer, lanes=default_lanes(layer), fires=fires, pool=pool)
    units = map_synapse(lp.synapse.memory, target).units
    if scope == "all":
        units += sum(m.block.units for m in layer_memories(lp, target)
                     if m.kind == "block" and m.block is not None)
    return int(units)


@dataclass
class AllocationProblem:
    """Per layer, the options ``(weight width, state width)`` with their cost and damage.

    ``weight_omega[l][j]`` is the weight part of Ω of option ``j`` (the sensitivity table
    at its weight width), ``clamp_eq[l][j]`` the clamp error of its state width as an
    equivalent squared weight error (clamp energy / input rate, see docs/hessian.md),
    ``per_param[l]`` the layer's sensitivity per unit squared weight error (trace / n,
    or the measured analogue), so Ω = weight_omega + per_param · clamp_eq;
    ``weight_error[l][j]`` ``||Q_b(W_l) - W_l||²`` (for the reversed baseline); ``cost``
    in ``unit`` (``"weight_bits"``, ``"memory_bits"`` or ``"bram"``).
    """

    layers: list[LayerShape]
    candidates: tuple[int, ...]
    options: list[list[tuple[int, int]]]
    weight_omega: list[np.ndarray]
    weight_error: list[np.ndarray]
    clamp_eq: list[np.ndarray]
    per_param: np.ndarray
    cost: list[np.ndarray]
    unit: str
    scope: str
    state_policy: str
    target: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    # ---- the objective
    def omega(self, per_param: np.ndarray | None = None, *, weight_scale: np.ndarray | None
              = None) -> list[np.ndarray]:
        """Ω per option; ``per_param`` replaces the sensitivities (reversed baseline), and
        then the weight part is ``per_param · weight_error`` too."""
        if per_param is None:
            return [self.weight_omega[i] + self.per_param[i] * self.clamp_eq[i]
                    for i in range(len(self.layers))]
        return [per_param[i] * (self.weight_error[i] + self.clamp_eq[i])
                for i in range(len(self.layers))]

    @property
    def min_cost(self) -> float:
        """The cheapest any allocation can be (narrowest option of every layer)."""
        return float(sum(c.min() for c in self.cost))

    def _min_error(self, budget: float) -> InputError:
        what = {"weight_bits": "weight bits", "memory_bits": "memory bits (weights + "
                "membranes)", "bram": f"block RAMs of {self.target}"}[self.unit]
        param = {"weight_bits": "budget_bits", "memory_bits": "budget_bits",
                 "bram": "budget_bram"}[self.unit]
        return InputError(f"no allocation fits a budget of {_fmt_num(budget)} {what}: the "
                          f"minimum is {_fmt_num(self.min_cost)}", param=param)

    # ---- solvers
    def solve(self, budget: float, *, kind: str = "hessian",
              per_param: np.ndarray | None = None) -> Allocation:
        """Exact minimum of ΣΩ with ``Σ cost <= budget`` (MILP, HiGHS), scored under the
        true Ω. Ties go to the cheaper option."""
        if budget < self.min_cost - 1e-9:
            raise self._min_error(budget)
        om = self.omega(per_param)
        # Ω spans many decades (a narrow state width's clamp error dwarfs every weight
        # error), which a solver's tolerances cannot resolve. So: solve, then drop every
        # option whose Ω alone exceeds the incumbent's ΣΩ (Ω >= 0: it cannot be in a
        # better allocation), rescale and solve again until nothing is dropped. Exact.
        keep = [np.ones(len(o), dtype=bool) for o in om]
        for _ in range(8):
            idx = self._milp(om, keep, budget)
            best = float(sum(om[i][j] for i, j in enumerate(idx)))
            drop = [k & (o > best * (1 + 1e-9) + 1e-300) for k, o in zip(keep, om)]
            if not any(d.any() for d in drop):
                break
            keep = [k & ~d for k, d in zip(keep, drop)]
        return self.make(idx, budget, kind)

    def _milp(self, om: list[np.ndarray], keep: list[np.ndarray], budget: float
              ) -> list[int]:
        """Option index per layer minimizing ΣΩ over the kept options (MILP, HiGHS)."""
        from scipy.optimize import Bounds, LinearConstraint, milp

        sel = [np.nonzero(k)[0] for k in keep]
        sizes = [len(s) for s in sel]
        N = sum(sizes)
        flat_om = np.concatenate([o[s] for o, s in zip(om, sel)])
        flat_cost = np.concatenate([c[s] for c, s in zip(self.cost, sel)]).astype(np.float64)
        scale = float(np.max(np.abs(flat_om))) or 1.0
        c = flat_om / scale + 1e-9 * flat_cost / (float(flat_cost.max()) or 1.0)
        one = np.zeros((len(sizes), N))
        off = 0
        for i, n in enumerate(sizes):
            one[i, off:off + n] = 1.0
            off += n
        cons = [LinearConstraint(one, 1.0, 1.0),
                LinearConstraint(flat_cost[None, :], -np.inf, float(budget) + 1e-9)]
        res = milp(c, constraints=cons, integrality=np.ones(N), bounds=Bounds(0, 1),
                   options={"mip_rel_gap": 0.0})
        if res.x is None:  # pragma: no cover - feasible by the check in solve
            raise InputError(f"bit allocation failed: {res.message}")
        x = np.round(res.x)
        idx, off = [], 0
        for s, n in zip(sel, sizes):
            idx.append(int(s[int(np.argmax(x[off:off + n]))]))
            off += n
        return idx

    def uniform(self, budget: float, bits: int | None = None) -> Allocation:
        """Every layer at one weight width: ``bits``, or the best (least ΣΩ, the wider on
        a tie) of the widths that fit the budget; state widths the best the budget leaves
        (exact)."""
        best: Allocation | None = None
        for b in sorted(self.candidates, reverse=True) if bits is None else [int(bits)]:
            sub = self.restrict(lambda i, o, b=b: o[0] == b)
            if sub is None or sub.min_cost > budget + 1e-9:
                continue
            a = sub.solve(budget, kind="uniform")
            a = self.make([self.options[i].index(o) for i, o in
                           enumerate(zip(a.bits, a.state_bits or []))], budget, "uniform")
            if best is None or a.objective < best.objective:
                best = a
        if best is not None:
            return best
        raise self._min_error(budget) if bits is None else InputError(
            f"uniform width {bits} does not fit a budget of {_fmt_num(budget)} "
            f"({self.unit})")

    def reversed(self, budget: float) -> Allocation:
        """The optimum for the layers' sensitivity ranking reversed, scored under Ω."""
        s = np.asarray(self.per_param, dtype=np.float64)
        order = np.argsort(-s, kind="stable")
        s_rev = np.empty_like(s)
        s_rev[order] = s[order[::-1]]
        a = self.solve(budget, kind="reversed", per_param=s_rev)
        a.meta["reversed_per_param"] = s_rev.tolist()
        return a

    def random(self, budget: float, seed: int = 0, tries: int = 4000) -> Allocation:
        """A random feasible allocation using nearly the budget (seeded; as
        :func:`random_allocation`, over the joint options)."""
        if budget < self.min_cost - 1e-9:
            raise self._min_error(budget)
        rng = np.random.default_rng(seed)
        draws = np.stack([rng.integers(0, len(o), size=int(tries)) for o in self.options],
                         axis=1)
        used = sum(self.cost[i][draws[:, i]] for i in range(len(self.options)))
        ok = np.nonzero(used <= budget + 1e-9)[0]
        if ok.size:
            idx = [int(k) for k in draws[ok[np.argmax(used[ok])]]]
        else:
            idx = [int(np.argmin(c)) for c in self.cost]
            for i in rng.permutation(len(self.options)):
                for j in np.argsort(self.cost[i]):
                    trial = list(idx)
                    trial[i] = int(j)
                    if sum(self.cost[t][trial[t]] for t in range(len(trial))) <= budget:
                        idx = trial
        a = self.make(idx, budget, "random")
        a.meta.update({"seed": int(seed), "tries": int(tries)})
        return a

    def restrict(self, keep: Callable[[int, tuple[int, int]], bool]
                 ) -> AllocationProblem | None:
        """The problem with only the options ``keep(layer, option)`` accepts (None if a
        layer loses all)."""
        sel = [[j for j, o in enumerate(opts) if keep(i, o)]
               for i, opts in enumerate(self.options)]
        if any(not s for s in sel):
            return None
        return dataclasses.replace(
            self, options=[[self.options[i][j] for j in s] for i, s in enumerate(sel)],
            weight_omega=[self.weight_omega[i][s] for i, s in enumerate(sel)],
            weight_error=[self.weight_error[i][s] for i, s in enumerate(sel)],
            clamp_eq=[self.clamp_eq[i][s] for i, s in enumerate(sel)],
            cost=[self.cost[i][s] for i, s in enumerate(sel)])

    def make(self, idx: Sequence[int], budget: float, kind: str) -> Allocation:
        """The allocation choosing option ``idx[l]`` of every layer."""
        om = self.omega()
        opts = [self.options[i][j] for i, j in enumerate(idx)]
        bits = [o[0] for o in opts]
        states = [o[1] for o in opts]
        n = [s.n_weights for s in self.layers]
        used = float(sum(self.cost[i][j] for i, j in enumerate(idx)))
        k_of = {b: k for k, b in enumerate(self.candidates)}
        # Allocation.omega stays the (L, K) weight table of the run (Ω at each weight width
        # with that width's cheapest-error state option), for tables and the reversed baseline
        table = np.full((len(n), len(self.candidates)), np.nan)
        for i in range(len(n)):
            for j, (b, _) in enumerate(self.options[i]):
                k = k_of[b]
                v = om[i][j]
                table[i, k] = v if np.isnan(table[i, k]) else min(table[i, k], v)
        mem_bits = int(sum(s.n_weights * b + s.n_neurons * w
                           for s, b, w in zip(self.layers, bits, states)))
        return Allocation(
            bits=bits, objective=float(sum(om[i][j] for i, j in enumerate(idx))),
            budget_bits=math.floor(budget) if self.unit != "bram" else 0,
            used_bits=int(sum(nl * b for nl, b in zip(n, bits))), omega=table,
            candidates=self.candidates, n_params=n, kind=kind,
            meta={**self.meta, "budget_unit": self.unit}, state_bits=states,
            budget=float(budget), used=used, unit=self.unit, scope=self.scope,
            target=self.target, memory_bits=mem_bits,
            objective_parts={
                "weights": float(sum(self.weight_omega[i][j] for i, j in enumerate(idx))),
                "clamp": float(sum(self.per_param[i] * self.clamp_eq[i][j]
                                   for i, j in enumerate(idx)))})


def _fmt_num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"


def build_problem(layers: Sequence[LayerShape], candidates: Sequence[int], *,
                  weight_omega: np.ndarray, weight_error: np.ndarray,
                  per_param: Sequence[float], unit: str, scope: str = "weights",
                  state_policy: str = "auto", profile: MembraneProfile | None = None,
                  target: str | None = None, bram_cost: Callable[[int, int, int], int]
                  | None = None, leak_shifts: Sequence[int | None] | None = None,
                  meta: dict[str, Any] | None = None) -> AllocationProblem:
    """Assemble the options, costs and Ω of a cost-aware allocation.

    Parameters
    ----------
    layers : the layers' shapes (kind, weights, membranes)
    weight_omega, weight_error : (L, K) tables over ``candidates``: Ω of the weights
        alone, and ``||Q_b(W) - W||²``
    per_param : the layers' sensitivity per unit squared weight error
    unit : "weight_bits", "memory_bits" or "bram"; scope : "weights" or "all"
    state_policy : see :data:`STATE_POLICIES`
    profile : the measured membranes (needed unless the budget is weight bits with
        measured state widths, where the state width is not chosen here)
    bram_cost : ``(layer, weight width, state width) -> block RAMs`` of a layer (unit
        "bram") of the kinds in its attribute ``kinds`` (default ``("dense",)``); a layer
        of another kind is costed as ``ceil(bits / block bits)`` of the target (no hardware
        plan), noted in ``notes``
    """
    planned = tuple(getattr(bram_cost, "kinds", ("dense",)))
    cands = check_candidates(candidates)
    if unit not in BUDGET_UNITS:
        raise ValueError(f"unit must be one of {BUDGET_UNITS}, not {unit!r}")
    check_allocation_options(budget_scope=scope, state_policy=state_policy)
    policy = state_policy
    if policy == "auto":
        policy = "measured" if scope == "weights" else "priced"
    L = len(layers)
    leaks = list(leak_shifts) if leak_shifts is not None else [None] * L
    notes: list[str] = []
    block_bits = None
    if unit == "bram":
        from cost.targets import get_target

        block_bits = get_target(target).bram_block_bits  # type: ignore[arg-type]
    options, w_om, w_err, c_eq, costs = [], [], [], [], []
    for i, shape in enumerate(layers):
        opts, om, er, ce, co = [], [], [], [], []
        for k, b in enumerate(cands):
            if profile is None:
                states = [0]
            else:
                w_meas = profile.measured_state_bits(i, k)
                if policy == "measured":
                    states = [w_meas]
                else:
                    w_lo = profile.min_state_bits(i, k, leaks[i])
                    states = list(range(w_lo, max(w_lo, w_meas) + 1))
            for w in states:
                rate = profile.input_rate[i] if profile is not None else 1.0
                clamp = (profile.clamp[i][k].get(w, 0.0) if profile is not None and w else 0.0)
                opts.append((int(b), int(w)))
                om.append(float(weight_omega[i, k]))
                er.append(float(weight_error[i, k]))
                ce.append(clamp / rate if rate > 0 else 0.0)
                bits = shape.n_weights * b + (shape.n_neurons * w if scope == "all" else 0)
                if unit == "bram":
                    if bram_cost is not None and shape.kind in planned:
                        co.append(float(bram_cost(i, int(b), int(w))))
                    else:
                        co.append(float(math.ceil(bits / block_bits)))
                else:
                    co.append(float(bits))
        options.append(opts)
        w_om.append(np.asarray(om))
        w_err.append(np.asarray(er))
        c_eq.append(np.asarray(ce))
        costs.append(np.asarray(co))
        if unit == "bram" and shape.kind not in planned:
            notes.append(f"layer {shape.name} ({shape.kind}): no hardware plan yet, block "
                         f"RAMs counted as ceil(bits / {block_bits})")
    return AllocationProblem(
        layers=list(layers), candidates=cands, options=options, weight_omega=w_om,
        weight_error=w_err, clamp_eq=c_eq, per_param=np.asarray(per_param, dtype=np.float64),
        cost=costs, unit=unit, scope=scope, state_policy=policy, target=target,
        meta={**(meta or {}), "state_policy": policy, "budget_scope": scope,
              **({"notes": notes} if notes else {})}, notes=notes)
