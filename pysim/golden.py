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

__all__ = ["SimResult", "simulate", "synaptic_input", "layer_step", "predict_from"]

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


def synaptic_input(layer: IntLayer, x: np.ndarray) -> np.ndarray:
    """Return ``Σ_j W[i, j] x[..., j]`` exactly, as int64 of shape ``x.shape[:-1] + (out,)``.

    ``x`` holds 0/1 values. See the module docstring for why the float paths are exact.
    """
    w = layer.weight
    bound = layer.in_features * max(1, int(np.abs(w).max()))
    flat = x.reshape(-1, layer.in_features)
    if bound < _F32_EXACT:
        acc = flat.astype(np.float32) @ w.T.astype(np.float32)
    elif bound < _F64_EXACT:
        acc = flat.astype(np.float64) @ w.T.astype(np.float64)
    else:  # pragma: no cover - needs > 2^37 inputs
        acc = flat.astype(np.int64) @ w.T
    return acc.astype(np.int64).reshape(x.shape[:-1] + (layer.out_features,))


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
    N, T = x.shape[0], net.timesteps
    out_spikes: dict[str, np.ndarray] = {}
    membranes: dict[str, np.ndarray] | None = {} if trace else None
    layer_in = x.astype(np.uint8, copy=False)
    last_u = np.zeros((N, net.output_size), np.int64)
    for li, layer in enumerate(net.layers):
        fires = not (net.readout is Readout.MEMBRANE and li == len(net.layers) - 1)
        current = synaptic_input(layer, layer_in)  # (N, T, out)
        u = np.zeros((N, layer.out_features), np.int64)
        s = np.zeros((N, layer.out_features), np.int64)
        s_all = np.zeros((N, T, layer.out_features), np.uint8)
        u_all = np.zeros((N, T, layer.out_features), np.int32) if trace else None
        for t in range(T):
            u, s = layer_step(layer, u, s, current[:, t], fires)
            s_all[:, t] = s
            if u_all is not None:
                u_all[:, t] = u
        out_spikes[layer.name] = s_all
        if membranes is not None:
            membranes[layer.name] = u_all
        layer_in = s_all
        last_u = u
    preds = predict_from(net, out_spikes[net.layers[-1].name], last_u)
    return SimResult(predictions=preds, spikes=out_spikes, membranes=membranes)
