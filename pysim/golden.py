"""The bit-accurate golden model: what an integer network computes.

Every other stage is checked against :func:`simulate`. It is vectorized over a batch of
samples and over time where the semantics allow:

* the synaptic input of a layer, ``Σ_j W[i, j] x[t][j]``, does not depend on the layer's
  own state, so it is computed for all samples and all steps at once as one matrix
  product; the product is done in floating point through BLAS **only when it is exact**:
  inputs are 0/1, so ``|Σ| <= in_features * max|W|``; when that bound is below 2^24
  float32 represents every partial sum exactly (each is an integer below 2^24), below
  2^53 float64 does; otherwise an int64 product is used;
* the membrane recurrence (reset, leak, clamp, fire) is then a loop over ``T`` steps of
  elementwise int64 operations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import IntLayer, IntNetwork, ManifestError, Readout, ResetMode

__all__ = ["SimResult", "layer_step", "predict_from", "simulate", "synaptic_input"]

_F32_EXACT = 1 << 24
_F64_EXACT = 1 << 53


@dataclass(frozen=True)
class SimResult:
    """Golden-model outputs for a batch of N samples.

    Attributes
    ----------
    predictions : int64 (N,)
    spikes : dict layer name -> uint8 (N, T, out_features)
    membranes : dict layer name -> int32 (N, T, out_features), or None without trace
    """

    predictions: np.ndarray
    spikes: dict[str, np.ndarray]
    membranes: dict[str, np.ndarray] | None = None


def synaptic_input(layer: IntLayer, x: np.ndarray, dtype: type = np.int64) -> np.ndarray:
    """Return ``Σ_j W[i, j] x[..., j]`` exactly, shape ``x.shape[:-1] + (out,)``, as ``dtype``.

    ``x`` holds 0/1 values. See the module docstring for why the float paths are exact.
    """
    w = layer.weight
    bound = layer.in_features * max(1, int(np.abs(w).max()))
    ftype = np.float32 if bound < _F32_EXACT else np.float64 if bound < _F64_EXACT else None
    if ftype is None:  # pragma: no cover - needs > 2^37 inputs
        acc = x.reshape(-1, layer.in_features).astype(np.int64) @ w.T
    else:
        flat = x.reshape(-1, layer.in_features)
        if flat.dtype != ftype:
            flat = flat.astype(ftype)
        acc = flat @ w.T.astype(ftype)
    return acc.astype(dtype).reshape(x.shape[:-1] + (layer.out_features,))


def _work_dtype(layer: IntLayer) -> type:
    """int32 when every intermediate of a step provably fits, else int64.

    |d| <= 2^(B-1) (a leaked, reset membrane never grows), |b| < 2^(B-1),
    |Σ W x| <= in_features * 2^(weight_bits-1); subtract-reset adds at most θ < 2^(B-1).
    """
    bound = (3 << (layer.state_bits - 1)) + layer.in_features * (1 << (layer.weight_bits - 1))
    return np.int32 if bound < (1 << 31) else np.int64


def layer_step(
    layer: IntLayer, u_prev: np.ndarray, s_prev: np.ndarray, current: np.ndarray,
    fires: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Advance one step: reset, leak, add input current and bias, clamp, fire.

    Parameters
    ----------
    u_prev, s_prev : int64 arrays (..., out_features)
        Membrane and spikes of the previous step.
    current : int64 array (..., out_features)
        ``Σ_j W[i, j] x[t][j]`` for this step.
    fires : bool
        False for the last layer of a ``membrane`` readout (never fires nor resets).
    """
    if not fires:
        r = u_prev
    elif layer.reset is ResetMode.ZERO:
        r = np.where(s_prev != 0, 0, u_prev)
    else:
        r = u_prev - layer.threshold * s_prev
    d = r if layer.leak_shift is None else r - (r >> layer.leak_shift)
    a = d + current
    if layer.bias is not None:
        a = a + layer.bias
    p = layer.state_precision
    u = np.clip(a, p.min, p.max)
    s = (u >= layer.threshold).astype(np.int64) if fires else np.zeros_like(u)
    return u, s


def _run_layer(layer: IntLayer, current: np.ndarray, fires: bool, trace: bool
               ) -> tuple[np.ndarray, np.ndarray]:
    """The membrane recurrence over T steps, in place on one (N, out) buffer.

    ``current`` is (T, N, out) and is overwritten with the membranes when ``trace`` is
    False (its last slice then holds the final membrane). Returns spikes (T, N, out) uint8
    and membranes (T, N, out) int32 (``trace``) or ``current``.
    """
    T, N, out = current.shape
    p = layer.state_precision
    theta, k = layer.threshold, layer.leak_shift
    u = np.zeros((N, out), current.dtype)
    s = np.zeros((N, out), np.bool_)
    tmp = np.empty_like(u)
    s_all = np.zeros((T, N, out), np.uint8)
    u_all = np.empty((T, N, out), np.int32) if trace else current
    for t in range(T):
        if fires and t:
            if layer.reset is ResetMode.ZERO:
                np.copyto(u, 0, where=s)
            else:
                np.subtract(u, theta, out=u, where=s)
        if k is not None:
            np.right_shift(u, k, out=tmp)  # arithmetic shift: floor(u / 2^k)
            u -= tmp
        u += current[t]
        if layer.bias is not None:
            u += layer.bias.astype(u.dtype)
        np.clip(u, p.min, p.max, out=u)
        if fires:
            np.greater_equal(u, theta, out=s)
            s_all[t] = s
        u_all[t] = u
    return s_all, u_all


def predict_from(net: IntNetwork, last_spikes: np.ndarray, last_membrane: np.ndarray
                 ) -> np.ndarray:
    """Apply the readout to the last layer's spikes (N, T, out) / final membrane (N, out)."""
    if net.readout is Readout.SPIKE_COUNT:
        score = last_spikes.sum(axis=1)
    else:
        score = last_membrane
    return np.argmax(score, axis=-1).astype(np.int64)  # argmax: ties to the lowest index


def simulate(net: IntNetwork, spikes: np.ndarray, trace: bool = False) -> SimResult:
    """Run the golden model on a batch of input spike trains.

    Parameters
    ----------
    net : IntNetwork
    spikes : array (N, T, input_size) of 0/1 (bool or any integer dtype)
    trace : bool
        Also return every layer's membrane at every step.

    Returns
    -------
    SimResult
    """
    x = np.asarray(spikes)
    expected = ("N", net.timesteps, net.input_size)
    if x.ndim != 3 or x.shape[1] != net.timesteps or x.shape[2] != net.input_size:
        raise ManifestError(f"spikes: shape {x.shape} does not match (N, T, input_size) = "
                            f"{expected}")
    N = x.shape[0]
    out_spikes: dict[str, np.ndarray] = {}
    membranes: dict[str, np.ndarray] | None = {} if trace else None
    # Time-major (T, N, features) so that each step's slice is contiguous.
    # The first layer's input goes straight to float32 (one pass) for the BLAS product.
    layer_in = np.ascontiguousarray(x.transpose(1, 0, 2), dtype=np.float32)
    u = np.zeros((N, net.output_size), np.int64)
    for li, layer in enumerate(net.layers):
        fires = not (net.readout is Readout.MEMBRANE and li == len(net.layers) - 1)
        dtype = _work_dtype(layer)
        current = synaptic_input(layer, layer_in, dtype)  # (T, N, out)
        s_all, u_all = _run_layer(layer, current, fires, trace)
        out_spikes[layer.name] = s_all.transpose(1, 0, 2)
        if membranes is not None:
            membranes[layer.name] = u_all.transpose(1, 0, 2)
        layer_in = s_all
        u = u_all[-1] if trace else current[-1]
    preds = predict_from(net, out_spikes[net.layers[-1].name], u)
    return SimResult(predictions=preds, spikes=out_spikes, membranes=membranes)
