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
different layers comparable).

Measured policy (``method="measured"``, :func:`measured_sensitivity`): Ω is not derived
from traces at all but measured directly, ``Ω_l(b)`` = the mean training loss with only
layer ``l``'s weights fake-quantized to ``b`` bits minus the float loss, over a fixed
subset of encoded training samples (clipped at 0). The MILP is the same.
"""
from __future__ import annotations

import json
import math
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
    "DEFAULT_CANDIDATES",
    "METHODS",
    "POLICIES",
    "Allocation",
    "allocate",
    "allocate_for_run",
    "budget_from_avg_bits",
    "choose_traces",
    "default_quantizer",
    "measured_sensitivity",
    "pareto",
    "quant_errors",
    "random_allocation",
    "reversed_allocation",
    "run_quantizer",
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
def choose_traces(hutchinson: Sequence[TraceEstimate] | None,
                  gauss_newton: Sequence[TraceEstimate] | None = None, *,
                  policy: str = "auto") -> tuple[list[float], dict[str, Any]]:
    """Pick the traces Ω uses, never a negative or insignificant one.

    Parameters
    ----------
    hutchinson, gauss_newton : per-layer estimates (either may be None)
    policy : {"auto", "hutchinson", "gauss_newton"}
        ``"hutchinson"``: Hutchinson's traces, refused (InputError) if any is negative or
        insignificant. ``"gauss_newton"``: the PSD traces. ``"auto"``: Hutchinson's when
        every layer's is positive and significant, else Gauss-Newton's for all layers.

    Returns
    -------
    traces : list of float (>= 0), one per layer
    meta : dict with ``policy``, ``source`` (the method used) and ``reason``
    """
    if policy not in POLICIES:
        raise InputError(f"must be one of {', '.join(POLICIES)}, not {policy!r}",
                         param="policy")
    bad = []
    if hutchinson is not None:
        bad = [t.name for t in hutchinson if not (t.trace > 0 and t.significant)]
    if policy == "hutchinson" or (policy == "auto" and hutchinson is not None and not bad):
        if hutchinson is None:
            raise InputError("no Hutchinson traces (run spikeforge hessian RUN first)")
        if bad:
            raise InputError(f"Hutchinson trace of layer {bad[0]} is negative or not "
                             "significant (|trace| <= 2 stderr): use more probes/samples or "
                             "the gauss_newton policy")
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
        }


def _check_candidates(candidates: Sequence[int]) -> tuple[int, ...]:
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
    cands = _check_candidates(candidates)
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
def _layer_names(model: Any) -> list[str]:
    """Manifest names of a model's weight layers (``fc1``.., or ``conv1``, ``fc5``.. of a
    convolutional network, whose conv2d layers count O·C·KH·KW weights)."""
    names = getattr(model, "layer_names", None)
    return list(names) if names else [f"fc{i + 1}" for i in range(len(model.linears))]


def _layer_meta(model: Any) -> dict[str, Any]:
    """Names and neuron counts (one membrane each) of a model's weight layers."""
    return {"layers": _layer_names(model), "neurons": [int(n) for n in model.sizes[1:]]}


def allocate_for_run(run_dir: str | Path, *, avg_bits: float | None = None,
                     budget_bits: int | None = None,
                     candidates: Sequence[int] = DEFAULT_CANDIDATES, method: str = _A.method,
                     quantizer: Quantizer | None = None, samples: int = _A.trace_samples,
                     max_probes: int = _A.trace_max_probes, progress: bool = True
                     ) -> Allocation:
    """Allocate widths for a trained run (``spikeforge train`` output).

    Reads ``RUN/hessian.json`` (computing and saving the traces the policy needs when
    absent, over ``samples`` training samples with at most ``max_probes`` probes: by
    default :class:`quant.config.AllocateConfig`'s ``trace_samples``/``trace_max_probes``,
    lighter than ``spikeforge hessian``'s :class:`~quant.config.HessianConfig`, so that
    ``quantize`` stays quick; run ``spikeforge hessian RUN`` first for the fuller
    estimate), builds Ω with the project's quantizer and solves the MILP. Exactly one of
    ``avg_bits`` / ``budget_bits``. ``method`` is the trace policy
    (:func:`choose_traces`), or ``"measured"``: Ω measured directly by
    :func:`measured_sensitivity` over ``samples`` training samples (cached in
    ``RUN/sensitivity.json``; no traces). The allocation's ``meta`` records the traces
    used (or the measured table), their source and the policy's reason.
    """
    from .hessian import traces_for_run
    from .train import load_run

    if (avg_bits is None) == (budget_bits is None):
        raise InputError("give exactly one of avg_bits and budget_bits")
    if method not in METHODS:
        raise InputError(f"must be one of {', '.join(METHODS)}, not {method!r}", param="method")
    cands = _check_candidates(candidates)
    run = load_run(run_dir)
    weights = [lin.weight.detach().cpu().numpy().astype(np.float64)
               for lin in run.model.linears]
    n_params = [w.size for w in weights]
    budget = (budget_from_avg_bits(avg_bits, n_params) if budget_bits is None
              else int(budget_bits))
    if budget < sum(n_params) * min(cands):
        raise _min_budget_error(budget, np.asarray(n_params), cands)
    if method == "measured":
        alloc = _allocate_measured(run, weights, n_params, cands, budget, quantizer,
                                   samples=samples, progress=progress)
        alloc.meta.setdefault("neurons", _layer_meta(run.model)["neurons"])
        return alloc
    kw = {"samples": samples, "max_probes": max_probes, "progress": progress}
    hut = gn = None
    if method in ("auto", "hutchinson"):
        hut = traces_for_run(run, ("hutchinson",), **kw)["hutchinson"]
    if method == "gauss_newton" or (method == "auto" and any(
            not (t.trace > 0 and t.significant) for t in hut or [])):
        gn = traces_for_run(run, ("gauss_newton",), **kw)["gauss_newton"]
    traces, why = choose_traces(hut, gn, policy=method)
    q = run_quantizer(run, quantizer)
    errors = quant_errors(weights, cands, q)
    per_param = np.asarray(traces) / np.asarray(n_params, dtype=np.float64)
    omega = per_param[:, None] * errors
    meta = {
        **why,
        "traces": [t.as_dict() for t in (hut if why["source"] == "hutchinson" else gn)],
        "quantizer": _quantizer_name(q),
        **_layer_meta(run.model),
    }
    if hut is not None and why["source"] != "hutchinson":
        meta["hutchinson_traces"] = [t.as_dict() for t in hut]
    return allocate(omega, n_params, cands, budget_bits=budget, meta=meta)


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
    cands = _check_candidates(candidates)
    model = run.model
    linears = list(model.linears)
    q = run_quantizer(run, quantizer)
    qname = _quantizer_name(q)
    key = f"candidates={','.join(map(str, cands))};samples={int(samples)};quantizer={qname}"
    path = Path(run.run_dir) / "sensitivity.json"
    cache: dict[str, Any] = {}
    if path.is_file():
        try:
            cache = json.loads(path.read_text())
        except (OSError, ValueError):
            cache = {}
        if not isinstance(cache, dict):
            cache = {}
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


def _allocate_measured(run: Any, weights: Sequence[np.ndarray], n_params: Sequence[int],
                       cands: tuple[int, ...], budget: int, quantizer: Quantizer | None, *,
                       samples: int, progress: bool) -> Allocation:
    """The MILP on the measured Ω (``allocate_for_run(method="measured")``)."""
    q = run_quantizer(run, quantizer)
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
        "layers": _layer_names(run.model),
        "samples": int(samples),
        "errors": errors.tolist(), "per_error": per_error,
        "quantizer": _quantizer_name(q),
    }
    return allocate(omega, n_params, cands, budget_bits=budget, kind="measured", meta=meta)
