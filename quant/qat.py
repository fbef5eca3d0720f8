"""The weight quantizer, calibration (scales, thresholds, state widths) and QAT.

The quantizer
-------------
:func:`quantize_weight` is the project's one weight quantizer (the bit allocator's
sensitivity ``Ω_l(b) = (trace_l / n_l) · ||Q_b(W_l) - W_l||²`` uses it too). A layer's
weights get one scale ``s`` (per layer, symmetric, signed)::

    W_int = clip(round(W / s), -2^(b-1), 2^(b-1) - 1)        W ≈ s · W_int

``method`` chooses ``s``:

* ``"mse"`` (default): ``s`` minimizing ``||s·W_int - W||²`` over a fixed grid of 200
  clip points ``s = c · max|W| / (2^(b-1) - 1)`` with ``c`` in (0, 1]. At 2-3 bits the
  best clip is far below ``max|W|`` (it trades saturating a few large weights for a
  finer step on the many small ones); at 8 bits it is close to max-abs;
* ``"max"``: ``s = max|W| / (2^(b-1) - 1)`` (no clipping; poor at 2-3 bits);
* ``"mean"``: ``s = 1.4 · mean|W|``, so weights below ``0.7 · mean|W|`` round to zero — the
  ternary-network rule (TWN), meant for 2 bits.

Folding the scale into the neuron
---------------------------------
With ``U = s · u`` the float recurrence ``U[t] = α·R[t] + W·x[t] + b`` becomes
``u[t] = α·r[t] + W_int·x[t] + b/s`` and the firing test ``U >= θ`` becomes
``u >= θ/s``. So the integer layer has threshold ``θ_int = θ/s`` and bias
``b_int = round(b/s)``; nothing is multiplied outside the synapse sum. To keep the
threshold exact, :func:`layer_scale` snaps the scale to ``s = θ / θ_int`` with
``θ_int = max(1, round(θ / s_mse))`` (a relative change of at most ``1/(2·θ_int)``).
``α·r`` becomes the floor shift ``r - (r >> k)`` and the membrane is clamped to the
state width; :class:`quant.model.SpikingMLP` in fake-quant mode computes exactly that.

State width
-----------
:func:`calibrate` runs the fake-quant network *without* a clamp on training spikes,
records each layer's accumulator range ``a = d + b + W·x`` (before the clamp) and picks
the smallest signed width holding ``max(|min a|, max a, θ_int, max|b_int|)`` plus
``headroom`` extra bits (default 1: twice the largest value seen). QAT then trains with
that clamp, so saturation on unseen data behaves in training as in hardware.
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pysim import STATE_BITS_RANGE, WEIGHT_BITS_RANGE
from pysim.errors import InputError
from pysim.util import check_int

from .model import LayerQuant, SpikingMLP, fused_bptt

__all__ = ["QUANT_METHODS", "StateChoice", "calibrate", "dequantize", "layer_scale",
           "measure_ranges", "qat_finetune", "quantize_weight", "state_bits_for"]

QUANT_METHODS = ("mse", "max", "mean")
_GRID = np.linspace(1.0 / 200, 1.0, 200)


def _as_numpy(w: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(w, Tensor):
        w = w.detach().cpu().numpy()
    return np.asarray(w, dtype=np.float64)


def _check_bits(bits: int, what: str = "the weight width") -> int:
    return check_int(bits, *WEIGHT_BITS_RANGE, what, InputError.for_param("bits"))


def _qrange(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _quant_with(w: np.ndarray, scale: float, bits: int) -> np.ndarray:
    lo, hi = _qrange(bits)
    return np.clip(np.round(w / scale), lo, hi)


def choose_scale(w: np.ndarray | Tensor, bits: int, method: str = "mse") -> float:
    """The per-layer weight scale ``s`` chosen by ``method`` (see the module docstring)."""
    bits = _check_bits(bits)
    if method not in QUANT_METHODS:
        raise InputError(f"must be one of {', '.join(QUANT_METHODS)}, not {method!r}",
                         param="method")
    a = _as_numpy(w)
    amax = float(np.abs(a).max()) if a.size else 0.0
    if amax == 0.0:
        return 1.0
    qmax = (1 << (bits - 1)) - 1
    if method == "max":
        return amax / qmax
    if method == "mean":
        return 1.4 * float(np.abs(a).mean())
    flat = a.reshape(-1)
    if flat.size > 200_000:  # subsample deterministically for speed on big layers
        flat = flat[:: flat.size // 200_000 + 1]
    best, best_err = amax / qmax, math.inf
    for c in _GRID:
        s = c * amax / qmax
        err = float(np.sum((_quant_with(flat, s, bits) * s - flat) ** 2))
        if err < best_err:
            best, best_err = s, err
    return float(best)


def quantize_weight(w: np.ndarray | Tensor, bits: int, method: str = "mse", *,
                    threshold: float | None = None) -> tuple[np.ndarray, float]:
    """Quantize a weight tensor to signed ``bits``-bit integers with one scale.

    Parameters
    ----------
    w : array or tensor
    bits : int, 2..16
    method : "mse" (default), "max" or "mean" (see the module docstring)
    threshold : float, optional
        The layer's float threshold ``θ``: snap the scale to ``θ / round(θ / s)`` so the
        integer threshold is exact (what :func:`calibrate` and the export use).

    Returns
    -------
    (w_int, scale) : int64 array of ``w``'s shape, and ``s`` with ``w ≈ s · w_int``.
    """
    a = _as_numpy(w)
    s = choose_scale(a, bits, method)
    if threshold is not None:
        s = threshold / max(1, round(threshold / s))
    return _quant_with(a, s, bits).astype(np.int64), float(s)


def dequantize(w_int: np.ndarray, scale: float) -> np.ndarray:
    """``scale · w_int`` as float64."""
    return np.asarray(w_int, dtype=np.float64) * float(scale)


def layer_scale(w: np.ndarray | Tensor, bits: int, threshold: float,
                method: str = "mse") -> tuple[float, int, float]:
    """Return ``(scale, θ_int, clip)`` for one layer: scale snapped so ``θ = s · θ_int``."""
    s0 = choose_scale(w, bits, method)
    th_int = max(1, round(threshold / s0))
    s = threshold / th_int
    return s, th_int, s0 * ((1 << (bits - 1)) - 1)


def state_bits_for(value: int, headroom: int = 1) -> int:
    """Smallest signed width holding ``±value``, plus ``headroom`` bits, within 2..32."""
    need = int(value).bit_length() + 1  # sign bit
    return int(min(32, max(2, need + headroom)))


@dataclass
class StateChoice:
    """Why a layer got its state width."""

    layer: str
    state_bits: int
    accum_min: float
    accum_max: float
    threshold: int
    bias_max: int
    headroom: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


@torch.no_grad()
def measure_ranges(model: SpikingMLP, spikes: np.ndarray, batch_size: int = 512
                   ) -> list[tuple[float, float]]:
    """Per layer, the (min, max) of the accumulator over ``spikes`` in fake-quant mode."""
    lo = [math.inf] * len(model.linears)
    hi = [-math.inf] * len(model.linears)
    for start in range(0, len(spikes), batch_size):
        xb = torch.as_tensor(np.asarray(spikes[start:start + batch_size]), dtype=torch.float32)
        out = model.run(xb, accum=True)
        for i, (a, b) in enumerate(out.accum or []):
            lo[i], hi[i] = min(lo[i], a), max(hi[i], b)
    return list(zip(lo, hi))


def calibrate(model: SpikingMLP, bits: Sequence[int], spikes: np.ndarray, *,
              method: str = "mse", headroom: int = 1,
              state_bits: Sequence[int | None] | int | None = None
              ) -> tuple[list[LayerQuant], list[StateChoice]]:
    """Choose every layer's scale, integer threshold and state width; set fake-quant mode.

    Parameters
    ----------
    model : a float SpikingMLP (simplified LIF)
    bits : weight width per layer
    spikes : training spikes (N, T, in) to measure membrane ranges on
    method : scale method (see :func:`quantize_weight`)
    headroom : extra state bits above the widest value seen
    state_bits : force widths (int for all layers, or per layer; None entries measured)

    Returns
    -------
    (quant, choices) : the LayerQuant list (also set on ``model``) and the reasons.
    """
    bits = [_check_bits(b, "every width") for b in bits]
    n = len(model.linears)
    if len(bits) != n:
        raise InputError(f"{len(bits)} widths given for a network of {n} layers", param="bits")
    forced = [state_bits] * n if not isinstance(state_bits, (list, tuple)) else list(state_bits)
    if len(forced) != n:
        raise InputError(f"{len(forced)} widths given for {n} layers", param="state_bits")
    for v in forced:
        if v is not None:
            check_int(v, *STATE_BITS_RANGE, "every state width",
                      InputError.for_param("state_bits"))
    quant = []
    for i, lin in enumerate(model.linears):
        s, th, clip = layer_scale(lin.weight, bits[i], model.threshold, method)
        quant.append(LayerQuant(bits=bits[i], scale=s, threshold=th, state_bits=None,
                                clip=clip))
    model.set_quant(quant)
    ranges = measure_ranges(model, spikes)
    choices = []
    names = getattr(model, "layer_names", None) or [f"fc{i + 1}" for i in range(n)]
    for i, (q, (amin, amax)) in enumerate(zip(quant, ranges)):
        b = model.int_bias(i)
        bmax = 0 if b is None else int(b.detach().abs().max())
        peak = math.ceil(max(abs(amin), abs(amax), q.threshold, bmax))
        if forced[i] is not None:
            sb = int(forced[i])
            reason = "given"
        else:
            sb = state_bits_for(peak, headroom)
            reason = (f"accumulator range [{amin:.0f}, {amax:.0f}] over {len(spikes)} training "
                      f"samples, threshold {q.threshold}: peak {peak} needs "
                      f"{state_bits_for(peak, 0)} signed bits, +{headroom} headroom")
        if (1 << (sb - 1)) - 1 < q.threshold:
            raise InputError(f"layer {names[i]}: state width {sb} cannot hold threshold "
                             f"{q.threshold}")
        q.state_bits = sb
        choices.append(StateChoice(names[i], sb, amin, amax, q.threshold, bmax,
                                   headroom, reason))
    model.set_quant(quant)
    return quant, choices


@dataclass
class QATResult:
    """History of a QAT fine-tuning."""

    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def qat_finetune(model: SpikingMLP, batches, *, epochs: int, lr: float = 5e-4,
                 eval_data: tuple[np.ndarray, np.ndarray] | None = None,
                 progress: bool = True) -> QATResult:
    """Quantization-aware fine-tuning of a model in fake-quant mode (STE), Adam + cosine.

    Parameters
    ----------
    model : SpikingMLP after :func:`calibrate` (fake-quant mode; scales stay fixed, the
        float weights behind the integer ones are trained)
    batches : callable ``epoch -> iterable of (x, y)`` tensors (e.g. ``Run.train_batches``)
    epochs : number of passes (0: none)
    lr : learning rate
    eval_data : (spikes, labels) scored after each epoch
    """
    from .train import evaluate

    if model.quant is None:
        raise ValueError("qat_finetune needs a model in fake-quant mode (calibrate first)")
    res = QATResult()
    if epochs <= 0:
        return res
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n_steps = None
    step = 0
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        te = time.perf_counter()
        tot, ok, cnt = 0.0, 0, 0
        it = batches(epoch)
        if progress:
            from tqdm import tqdm
            it = tqdm(it, desc=f"qat {epoch + 1}/{epochs}", leave=False, unit="batch",
                      dynamic_ncols=True)
        lrs = []
        for xb, yb in it:
            if n_steps is not None:
                for g in opt.param_groups:
                    g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(step, n_steps) / n_steps))
            lrs.append(opt.param_groups[0]["lr"])
            opt.zero_grad(set_to_none=True)
            with fused_bptt(model):
                scores = model(xb)
                loss = F.cross_entropy(scores, yb)
                loss.backward()
            opt.step()
            step += 1
            tot += float(loss.detach()) * len(yb)
            ok += int((scores.argmax(1) == yb).sum())
            cnt += len(yb)
        if n_steps is None:  # cosine decay over all epochs, known after the first
            n_steps = step * epochs
        rec = {"epoch": epoch + 1, "loss": tot / max(1, cnt), "train_accuracy": ok / max(1, cnt),
               "seconds": time.perf_counter() - te}
        if eval_data is not None:
            rec["test_accuracy"] = evaluate(model, *eval_data)
        res.history.append(rec)
        if progress:
            acc = f" test {100 * rec['test_accuracy']:.2f}%" if eval_data is not None else ""
            print(f"qat epoch {epoch + 1}/{epochs}: loss {rec['loss']:.4f}{acc}",
                  file=sys.stderr)
    model.eval()
    res.seconds = time.perf_counter() - t0
    return res
