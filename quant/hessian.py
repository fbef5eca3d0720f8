"""Layer-wise Hessian trace of the training loss of a spiking network.

Two estimators, both per layer weight matrix ``W_l`` (biases are not probed: they are a
few values beside the weights and are not quantized to the allocated width):

``"hutchinson"``
    Hutchinson's estimator ``tr(H_ll) = E[v_l · (H v)_l]`` with Rademacher probes ``v``
    (entries ±1). All layers are probed jointly: one Hessian-vector product per probe,
    by double backward (``torch.autograd.grad`` of the gradient, itself built with
    ``create_graph=True``) through the time-unrolled network and the surrogate spike
    derivative. Because the probe entries are independent across layers, the block
    ``v_l · (H v)_l`` estimates the trace of the diagonal block ``H_ll`` without bias.
    The surrogate gradient is not the gradient of any function, so this "Hessian" is the
    Jacobian of the surrogate gradient, not necessarily symmetric nor positive
    semi-definite: the trace can be negative (Lui & Neftci's loss is not convex).

``"gauss_newton"`` (alias ``"fisher"``)
    The trace of the generalized Gauss-Newton matrix ``G = (1/N) Σ_n J_nᵀ H_n J_n``
    (``J_n`` the Jacobian of sample ``n``'s scores w.r.t. the weights, ``H_n`` the Hessian
    of its loss w.r.t. the scores; for softmax cross-entropy ``H_n = diag(p) - p pᵀ``, and
    ``G`` is then the Fisher information). ``G`` is positive semi-definite, so its trace
    is ``>= 0``. Estimated without per-sample gradients: draw ``r_n`` with
    ``E[r_n r_nᵀ] = H_n`` independently per sample (``r_n = H_n^{1/2} ε_n``, ``ε_n``
    Rademacher), back-propagate ``g = Σ_n J_nᵀ r_n`` once, and ``||g_l||² / N`` is an
    unbiased estimate of ``tr(G_ll)`` (cross terms vanish in expectation). One backward
    pass per probe; the forward graph is kept between probes.

Both estimators report the mean over probes and its standard error
``std(ddof=1)/sqrt(probes)``; sampling stops when every layer's
``stderr / |mean| < rel_tol`` (after ``min_probes``), or is known to be small (its
``|mean| + 2·stderr`` below ``rel_tol`` times the largest layer's ``|mean|``), or at
``max_probes``.
The loss is the mean over all samples of all batches (each batch weighted by its size),
the same normalization as the training loss.
"""
from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from pysim import atomic_path
from pysim.errors import InputError
from pysim.util import is_int

from .config import HessianConfig, check_seed

__all__ = [
    "METHODS",
    "TraceEstimate",
    "check_trace_options",
    "default_loss_fn",
    "default_output_loss",
    "layer_traces",
    "load_traces",
    "probe_params",
    "save_traces",
    "traces_for_run",
]

METHODS = ("hutchinson", "gauss_newton")
_ALIASES = {"fisher": "gauss_newton", "ggn": "gauss_newton"}

_H = HessianConfig()

LossFn = Callable[[nn.Module, Tensor, Tensor], Tensor]
OutputLoss = Callable[[Tensor, Tensor], Tensor]


@dataclass
class TraceEstimate:
    """One layer's estimated Hessian trace.

    Attributes
    ----------
    name : str
        Layer name (``fc1``, ``fc2``, ...: the manifest's names).
    trace : float
        Estimated trace of the layer's diagonal Hessian block.
    stderr : float
        Standard error of ``trace`` (over probes).
    n_params : int
        Number of weights in the layer.
    probes : int
        Probes used.
    method : str
        ``"hutchinson"`` or ``"gauss_newton"``.
    """

    name: str
    trace: float
    stderr: float
    n_params: int
    probes: int
    method: str

    @property
    def per_param(self) -> float:
        """Average diagonal curvature ``trace / n_params``."""
        return self.trace / self.n_params

    @property
    def significant(self) -> bool:
        """True when ``|trace| > 2 · stderr`` (the sign is known at ~95%)."""
        return abs(self.trace) > 2.0 * self.stderr

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (with ``per_param`` and ``significant``)."""
        d = asdict(self)
        d["per_param"] = self.per_param
        d["significant"] = self.significant
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TraceEstimate:
        """Inverse of :meth:`as_dict`."""
        return cls(name=str(d["name"]), trace=float(d["trace"]), stderr=float(d["stderr"]),
                   n_params=int(d["n_params"]), probes=int(d["probes"]),
                   method=str(d["method"]))


def default_output_loss(scores: Tensor, y: Tensor) -> Tensor:
    """Per-sample loss of the scores: cross-entropy of the scores as logits (unreduced).

    The per-sample form of the training loss :func:`quant.train.loss_fn`, so the
    Gauss-Newton trace is taken of the loss actually trained.
    """
    return nn.functional.cross_entropy(scores, y, reduction="none")


def default_loss_fn(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """The training loss :func:`quant.train.loss_fn` (mean cross-entropy of the scores)."""
    from .train import loss_fn

    return loss_fn(model, x, y)


def probe_params(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The weight tensors probed, named as in the manifest (``fc1``, ``fc2``, ...; a
    convolutional network's ``conv1``, ..., one 4-D kernel tensor per conv2d layer)."""
    linears = getattr(model, "linears", None)
    if linears is not None:
        names = getattr(model, "layer_names", None) or [f"fc{i + 1}"
                                                        for i in range(len(linears))]
        return [(name, lin.weight) for name, lin in zip(names, linears)]
    return [(n.removesuffix(".weight"), p) for n, p in model.named_parameters()
            if p.dim() >= 2]


def _rademacher(shape: torch.Size, gen: torch.Generator, like: Tensor) -> Tensor:
    r = torch.randint(0, 2, tuple(shape), generator=gen, dtype=torch.int8)
    return (r.to(like.dtype) * 2 - 1).to(like.device)


def layer_traces(model: nn.Module, batches: Sequence[tuple[Tensor, Tensor]], *,
                 method: str = "hutchinson", loss_fn: LossFn | None = None,
                 output_loss: OutputLoss | None = None, max_probes: int = 200,
                 min_probes: int = 16, rel_tol: float = 0.05, seed: int = 0,
                 progress: bool = True, diagonal: bool = False
                 ) -> list[TraceEstimate] | tuple[list[TraceEstimate], list[np.ndarray]]:
    """Estimate each layer's Hessian trace of the loss over ``batches``.

    Parameters
    ----------
    model : nn.Module
        A :class:`quant.model.SpikingMLP` (or any module with ``.linears``, else every
        parameter of dim >= 2 is a "layer").
    batches : sequence of (x, y)
        The data the loss is averaged over (e.g. 512 encoded training samples). Their
        graphs are kept between probes, so memory grows with the total sample count.
    method : {"hutchinson", "gauss_newton"} (``"fisher"`` is an alias of the latter)
    loss_fn : ``(model, x, y) -> scalar`` (Hutchinson), default the training loss.
    output_loss : ``(scores, y) -> per-sample loss`` (Gauss-Newton), default
        cross-entropy of the scores (see :func:`default_output_loss`).
    max_probes, min_probes, rel_tol :
        Stop when at least ``min_probes`` probes were drawn and every layer has
        ``stderr/|trace| < rel_tol`` or ``|trace| + 2·stderr < rel_tol · max |trace|``
        (see :func:`_converged`), or after ``max_probes``.
    seed : probe generator seed (results are deterministic for a given seed).
    progress : show a tqdm bar on stderr.
    diagonal : also return each layer's estimated Hessian *diagonal* (same probes:
        ``mean(v ⊙ Hv)`` for Hutchinson, ``mean(u ⊙ u)/N`` for Gauss-Newton), arrays of
        the weights' shapes.

    Returns
    -------
    list of TraceEstimate, one per layer, in order (and the diagonals when asked).
    """
    method = _method(method)
    if not batches:
        raise InputError("layer_traces: no data batches given")
    _check_probes(max_probes, min_probes, rel_tol)
    check_seed(seed)
    if max_probes < min_probes:
        raise InputError(f"must be >= min_probes ({min_probes}), not {max_probes}",
                         param="max_probes")
    named = probe_params(model)
    params = [p for _, p in named]
    saved_flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    gen = torch.Generator().manual_seed(int(seed))
    n_total = sum(int(x.shape[0]) for x, _ in batches)
    samples: list[list[float]] = [[] for _ in params]
    diag_sum = [torch.zeros_like(p, dtype=torch.float64) for p in params] if diagonal else None
    try:
        if method == "hutchinson":
            step = _hutchinson_setup(model, batches, params, loss_fn or default_loss_fn,
                                     n_total)
        else:
            step = _ggn_setup(model, batches, params, output_loss or default_output_loss,
                              n_total)
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=max_probes, desc=f"hessian {method}", unit="probe",
                       file=sys.stderr, leave=False)
        for k in range(max_probes):
            for i, (lst, z) in enumerate(zip(samples, step(gen))):
                lst.append(float(z.sum()))
                if diag_sum is not None:
                    diag_sum[i] += z.detach().double()
            if bar is not None:
                bar.update(1)
            if k + 1 >= min_probes and _converged(samples, rel_tol):
                break
        if bar is not None:
            bar.close()
    finally:
        for p, f in zip(model.parameters(), saved_flags):
            p.requires_grad_(f)
    out = []
    for (name, p), z in zip(named, samples):
        arr = np.asarray(z, dtype=np.float64)
        out.append(TraceEstimate(name=name, trace=float(arr.mean()),
                                 stderr=float(arr.std(ddof=1) / math.sqrt(arr.size)),
                                 n_params=int(p.numel()), probes=int(arr.size),
                                 method=method))
    if diag_sum is not None:
        n_probes = len(samples[0])
        return out, [(d / n_probes).numpy() for d in diag_sum]
    return out


def _method(method: str) -> str:
    method = _ALIASES.get(method, method)
    if method not in METHODS:
        raise InputError(f"must be one of {', '.join(METHODS)} (or 'fisher'), not {method!r}",
                         param="method")
    return method


def _check_probes(max_probes: int, min_probes: int, rel_tol: float) -> None:
    for name, v in (("max_probes", max_probes), ("min_probes", min_probes)):
        if not is_int(v) or v < 2:
            raise InputError(f"must be an integer >= 2, not {v!r}", param=name)
    if not (isinstance(rel_tol, (int, float)) and rel_tol > 0):
        raise InputError(f"must be > 0, not {rel_tol!r}", param="rel_tol")


def _converged(samples: list[list[float]], rel_tol: float) -> bool:
    """Every layer resolved: ``se/|mean| < rel_tol``, or (with two or more layers) known
    to be small, ``|mean| + 2·se < rel_tol · max_j |mean_j|`` (its 95% bound is below
    ``rel_tol`` of the largest layer's trace, so more probes cannot change which layers
    dominate; a trace near zero never reaches a relative precision)."""
    stats = []
    for z in samples:
        arr = np.asarray(z)
        stats.append((abs(arr.mean()), arr.std(ddof=1) / math.sqrt(arr.size)))
    top = max(m for m, _ in stats)
    for m, se in stats:
        precise = m > 0 and se / m < rel_tol
        small = len(stats) > 1 and m + 2.0 * se < rel_tol * top
        if not (precise or small):
            return False
    return True


def _hutchinson_setup(model: nn.Module, batches, params: list[Tensor], loss_fn: LossFn,
                      n_total: int):
    """Build every batch's gradient graph once; return ``gen -> [v_l ⊙ (Hv)_l]``."""
    grads = []
    for x, y in batches:
        w = x.shape[0] / n_total
        loss = loss_fn(model, x, y) * w
        g = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        grads.append([gi if gi is not None else torch.zeros_like(p)
                      for gi, p in zip(g, params)])

    def step(gen: torch.Generator) -> list[float]:
        vs = [_rademacher(p.shape, gen, p) for p in params]
        hv = [torch.zeros_like(p) for p in params]
        for g in grads:
            active = [i for i, gi in enumerate(g) if gi.requires_grad]
            if not active:
                continue
            h = torch.autograd.grad([g[i] for i in active], params,
                                    grad_outputs=[vs[i] for i in active],
                                    retain_graph=True, allow_unused=True)
            for i, hi in enumerate(h):
                if hi is not None:
                    hv[i] += hi
        return [v * h for v, h in zip(vs, hv)]

    return step


def _output_hessian_sqrt(scores: Tensor, y: Tensor, output_loss: OutputLoss) -> Tensor:
    """``H_n^{1/2}`` (B, C, C) of each sample's loss w.r.t. its scores (PSD part).

    For the default cross-entropy this is exact ``diag(p) - p pᵀ``; for any other loss
    the per-sample Hessian is computed by autograd and its negative eigenvalues are
    dropped (the Gauss-Newton matrix keeps only the PSD part of the output curvature).
    """
    z = scores.detach().double().requires_grad_(True)
    C = z.shape[1]
    loss = output_loss(z, y).sum()
    (g,) = torch.autograd.grad(loss, z, create_graph=True)
    rows = []
    for c in range(C):
        (hc,) = torch.autograd.grad(g[:, c].sum(), z, retain_graph=True, allow_unused=True)
        rows.append(torch.zeros_like(z) if hc is None else hc)
    H = torch.stack(rows, dim=1)  # (B, C, C), per-sample since samples are independent
    H = 0.5 * (H + H.transpose(1, 2))
    evals, evecs = torch.linalg.eigh(H)
    evals = evals.clamp_min(0.0).sqrt()
    return (evecs * evals.unsqueeze(1)) @ evecs.transpose(1, 2)


def _ggn_setup(model: nn.Module, batches, params: list[Tensor], output_loss: OutputLoss,
               n_total: int):
    """Forward every batch once; return ``gen -> [(Σ_n J_nᵀ r_n)_l² / N]`` (per weight)."""
    outs = []
    for x, y in batches:
        scores = model(x)
        sqrt_h = _output_hessian_sqrt(scores, y, output_loss).to(scores.dtype)
        outs.append((scores, sqrt_h))

    def step(gen: torch.Generator) -> list[float]:
        acc = [torch.zeros_like(p) for p in params]
        for scores, sqrt_h in outs:
            eps = _rademacher(scores.shape, gen, scores)
            r = torch.einsum("bij,bj->bi", sqrt_h, eps)
            if not scores.requires_grad:
                continue
            g = torch.autograd.grad(scores, params, grad_outputs=r, retain_graph=True,
                                    allow_unused=True)
            for i, gi in enumerate(g):
                if gi is not None:
                    acc[i] += gi
        return [a * a / n_total for a in acc]

    return step


# ---------------------------------------------------------------------- files
def save_traces(path: str | Path, traces: Sequence[TraceEstimate] | dict[str, Sequence[
        TraceEstimate]], *, meta: dict[str, Any] | None = None) -> None:
    """Write traces to JSON atomically (``RUN/hessian.json``).

    ``traces`` is one method's list, or ``{method: list}`` for several. The file holds
    ``{"format": "spikeforge.hessian", "version": 1, "methods": {method: [layer...]},
    "meta": {...}}``.
    """
    if not isinstance(traces, dict):
        traces = list(traces)
        if not traces:
            raise ValueError("save_traces: no traces")
        traces = {traces[0].method: traces}
    doc = {
        "format": "spikeforge.hessian",
        "version": 1,
        "methods": {m: [t.as_dict() for t in ts] for m, ts in traces.items()},
        "meta": meta or {},
    }
    with atomic_path(Path(path)) as tmp:
        Path(tmp).write_text(json.dumps(doc, indent=2) + "\n")


def load_traces(path: str | Path, method: str | None = None
                ) -> dict[str, list[TraceEstimate]] | list[TraceEstimate]:
    """Read ``hessian.json``: ``{method: [TraceEstimate]}``, or one method's list.

    Raises
    ------
    pysim.errors.InputError
        Missing or malformed file, or ``method`` absent from it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such Hessian trace file")
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != "spikeforge.hessian":
            raise ValueError("not a spikeforge.hessian file")
        out = {m: [TraceEstimate.from_dict(d) for d in ts] for m, ts in doc["methods"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: malformed Hessian trace file ({exc})") from None
    if method is None:
        return out
    method = _ALIASES.get(method, method)
    if method not in out:
        raise InputError(f"{path}: no {method!r} traces (has {', '.join(out) or 'none'})")
    return out[method]


# ---------------------------------------------------------------------- runs
def check_trace_options(methods: str | Sequence[str] = _H.method, *, samples: int = _H.samples,
                        max_probes: int = _H.probes, min_probes: int = _H.min_probes,
                        rel_tol: float = _H.tol) -> list[str]:
    """The checks of :func:`traces_for_run`'s options (InputError naming the parameter),
    with no run needed; returns the methods as a list."""
    if isinstance(methods, str):
        methods = METHODS if methods == "both" else (methods,)
    methods = [_ALIASES.get(m, m) for m in methods]
    for m in methods:
        if m not in METHODS:
            raise InputError(f"must be one of {', '.join(METHODS)} or both, not {m!r}",
                             param="methods")
    if not is_int(samples) or samples < 2:
        raise InputError(f"must be an integer >= 2, not {samples!r}", param="samples")
    _check_probes(max_probes, min_probes, rel_tol)
    return methods


def traces_for_run(run: Any, methods: str | Sequence[str] = _H.method, *,
                   samples: int = _H.samples, batch_size: int = 512,
                   max_probes: int = _H.probes, min_probes: int = _H.min_probes,
                   rel_tol: float = _H.tol, seed: int = _H.seed, recompute: bool = False,
                   progress: bool = True) -> dict[str, list[TraceEstimate]]:
    """Traces of a trained run, cached in ``RUN/hessian.json``.

    ``run`` is a run directory or a :class:`quant.train.Run`. ``methods`` is one method,
    ``"both"`` (Hutchinson and Gauss-Newton) or a sequence of methods. The loss is
    averaged over the first ``samples`` training samples, encoded as in the run's first
    epoch. Methods already in ``hessian.json`` are reused unless ``recompute``; new ones
    are merged into the file (written atomically). Defaults:
    :class:`quant.config.HessianConfig` (``max_probes`` is its ``probes``, ``rel_tol``
    its ``tol``); ``min_probes`` is capped at ``max_probes``.

    Raises
    ------
    InputError
        A bad value (``param`` names the parameter) or an unreadable run.
    """
    from .train import load_run

    methods = check_trace_options(methods, samples=samples, max_probes=max_probes,
                                  min_probes=min_probes, rel_tol=rel_tol)
    min_probes = min(min_probes, max_probes)
    if not hasattr(run, "model"):
        run = load_run(run)
    path = Path(run.run_dir) / "hessian.json"
    stored: dict[str, list[TraceEstimate]] = {}
    meta: dict[str, Any] = {}
    if path.is_file():
        stored = load_traces(path)  # type: ignore[assignment]
        meta = json.loads(path.read_text()).get("meta", {})
    todo = [m for m in methods if recompute or m not in stored]
    if todo:
        spikes, labels = run.train_spikes(samples)
        x = torch.as_tensor(np.asarray(spikes), dtype=torch.float32)
        y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        batches = [(x[i:i + batch_size], y[i:i + batch_size])
                   for i in range(0, x.shape[0], batch_size)]
        model = run.model
        model.eval()
        for m in todo:
            stored[m] = layer_traces(model, batches, method=m, max_probes=max_probes,
                                     min_probes=min_probes, rel_tol=rel_tol, seed=seed,
                                     progress=progress)
            meta[m] = {"samples": int(x.shape[0]), "batch_size": batch_size, "seed": seed,
                       "max_probes": max_probes, "min_probes": min_probes,
                       "rel_tol": rel_tol, "data": "train[:samples], epoch-0 encoding"}
        save_traces(path, stored, meta=meta)
    return {m: stored[m] for m in methods}
