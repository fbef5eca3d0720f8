"""The bit-accurate golden model: what an integer network computes.

Every other stage is checked against :func:`simulate`. It is vectorized over a batch of
samples and over time where the semantics allow:

* the synaptic input of a layer does not depend on the layer's own state, so it is
  computed for all samples and all steps at once as one matrix product: ``x @ W.T`` for a
  dense layer, and for a conv2d layer the same product on the im2col matrix (every
  ``C·KH·KW`` input window of the zero-padded map, at the layer's stride, is one
  column; the weights reshaped to ``(O, C·KH·KW)``), one large product per batch chunk
  (the chunk bounds memory);
* a sum-pool is ``KH·KW`` integer additions of strided slices of the map, in an
  unsigned integer type that holds ``KH·KW`` (its inputs are spikes, so the count is at
  most ``KH·KW``): exact by construction;
* the membrane recurrence (reset, leak, clamp, fire) is then a loop over ``T`` steps of
  elementwise integer operations on every neuron at once.

Why the products are exact: the product is done in floating point through BLAS **only
when every partial sum is provably an exactly representable integer**. A layer's inputs
are spikes (0/1) or, after a sum-pool, counts ``0 <= x <= KH·KW`` of that pool (``x_max``),
and one neuron sums ``fan_in`` products (``in_features`` for dense, ``C·KH·KW`` for
conv2d; zero padding only removes terms). Every product and every partial sum, in any
order BLAS adds them, is therefore an integer with
``|Σ| <= fan_in · x_max · max|W|``. When that bound is below 2^24 float32 represents every
such integer, so each addition is exact; below 2^53 float64 does; otherwise an int64
product is used. The recurrence runs in int32 when
``3·2^(B-1) + fan_in · x_max · 2^(weight_bits-1) < 2^31`` (every intermediate of a step
provably fits) and in int64 otherwise.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .network import (
    Conv2dLayer,
    IntNetwork,
    LayerKind,
    ManifestError,
    NeuronLayer,
    Readout,
    ResetMode,
    SumPool2dLayer,
)

__all__ = ["SimResult", "layer_step", "pool_counts", "predict_from", "simulate",
           "synaptic_input"]

_F32_EXACT = 1 << 24
_F64_EXACT = 1 << 53
_IM2COL_CHUNK = 1 << 20
"""Elements of one im2col block (4-8 MB: the block stays in the last-level cache between
its fill and its product, ~13% faster than 32 MB blocks)."""


@dataclass(frozen=True)
class SimResult:
    """Golden-model outputs for a batch of N samples.

    Only layers with neurons (dense, conv2d) appear; a sum-pool has no spikes.
    Outputs of a map layer are flattened channel-major (``i = c·H·W + y·W + x``).

    Attributes
    ----------
    predictions : int64 (N,)
    spikes : dict layer name -> uint8 (N, T, n_neurons)
    membranes : dict layer name -> int32 (N, T, n_neurons), or None without trace
    """

    predictions: np.ndarray
    spikes: dict[str, np.ndarray]
    membranes: dict[str, np.ndarray] | None = None


def _float_type(bound: int) -> type | None:
    return np.float32 if bound < _F32_EXACT else np.float64 if bound < _F64_EXACT else None


def _each(pool: ThreadPoolExecutor | None, fn: Callable[[object], None],
          items: Iterable[object]) -> None:
    """``fn`` on every item, on the pool's threads when there is one. The items write
    disjoint slices of their outputs and NumPy releases the GIL inside its loops, so the
    result is the same whatever the order (exact integers)."""
    if pool is None:
        for it in items:
            fn(it)
    else:
        for _ in pool.map(fn, items):
            pass


def synaptic_input(layer: NeuronLayer, x: np.ndarray, dtype: type = np.int64,
                   x_max: int = 1, pool: ThreadPoolExecutor | None = None) -> np.ndarray:
    """Return every neuron's ``Σ W · x`` exactly, shape ``x.shape[:-1] + (n_neurons,)``.

    ``x`` holds the layer's flattened inputs (last axis ``in_size``): 0/1 spikes, or counts
    ``0..x_max`` after a sum-pool. Dense: ``Σ_j W[i, j] x[..., j]``; conv2d: the zero-padded
    cross-correlation, outputs flattened channel-major. See the module docstring for why
    the float paths are exact.
    """
    w = layer.weight
    bound = layer.fan_in * max(1, int(x_max)) * max(1, int(np.abs(w).max()))
    ftype = _float_type(bound)
    if layer.kind is LayerKind.CONV2D:
        return _conv_input(layer, x, dtype, ftype, pool)
    if ftype is None:  # pragma: no cover - needs > 2^37 inputs
        acc = x.reshape(-1, layer.in_features).astype(np.int64) @ w.T
    else:
        flat = x.reshape(-1, layer.in_features)
        if flat.dtype != ftype:
            flat = flat.astype(ftype)
        acc = flat @ w.T.astype(ftype)
    return acc.astype(dtype).reshape(x.shape[:-1] + (layer.out_features,))


def _conv_input(layer: Conv2dLayer, x: np.ndarray, dtype: type, ftype: type | None,
                pool: ThreadPoolExecutor | None = None) -> np.ndarray:
    """im2col + one large matrix product per batch chunk, on an exact type (``ftype`` or
    int64).

    The im2col block is laid out (C·KH·KW, b·OH·OW): the chunk's ``b`` samples side by
    side, so ``W (O, C·KH·KW) @ block`` is a single GEMM whose long dimension is
    ``b·OH·OW`` (``b`` small products, one per sample, spend their time in BLAS call
    overhead). The (O, b, OH·OW) result is written channel-major per sample by one
    transposing copy. Chunks are independent (each writes its own samples), so with a
    ``pool`` they run on its threads, each with its own block.
    """
    lead = x.shape[:-1]
    C, H, W = layer.in_shape
    O, OH, OW = layer.out_shape
    KH, KW = layer.kernel
    SH, SW = layer.stride
    PH, PW = layer.padding
    K, P = C * KH * KW, OH * OW
    ctype = np.int64 if ftype is None else ftype
    B = int(np.prod(lead, dtype=np.int64))
    xm = x.reshape(B, C, H, W)
    wmat = layer.weight.reshape(O, K).astype(ctype)
    out = np.empty((B, O, P), dtype)
    chunk = max(1, _IM2COL_CHUNK // (P * K))

    def run(b0: int) -> None:
        xb = xm[b0:b0 + chunk].transpose(1, 0, 2, 3)  # (C, b, H, W), a view
        b = xb.shape[1]
        if PH or PW:
            xb = np.pad(xb, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
        block = np.empty((C, KH, KW, b, OH, OW), ctype)
        for i in range(KH):  # one strided copy per kernel offset (i, j)
            for j in range(KW):
                block[:, i, j] = xb[:, :, i:i + SH * (OH - 1) + 1:SH,
                                    j:j + SW * (OW - 1) + 1:SW]
        prod = wmat @ block.reshape(K, b * P)
        np.copyto(out[b0:b0 + b], prod.reshape(O, b, P).transpose(1, 0, 2), casting="unsafe")

    _each(pool, run, range(0, B, chunk))
    return out.reshape(lead + (O * P,))


def pool_counts(layer: SumPool2dLayer, x: np.ndarray) -> np.ndarray:
    """Sum-pool counts of 0/1 inputs ``x`` (last axis ``in_size``), flattened channel-major.

    Returns an unsigned integer array ``x.shape[:-1] + (out_size,)`` holding
    ``p[c, y, x] = Σ_{i<KH, j<KW} x[c, y·SH + i, x·SW + j]`` (at most ``KH·KW``).
    """
    lead = x.shape[:-1]
    C, H, W = layer.in_shape
    _, OH, OW = layer.out_shape
    KH, KW = layer.kernel
    SH, SW = layer.stride
    m = layer.max_count
    cdt = np.uint8 if m <= 0xFF else np.uint16 if m <= 0xFFFF else np.uint32
    xm = x.reshape(-1, C, H, W)
    if xm.dtype != cdt:
        xm = xm.astype(cdt)
    out = np.zeros((xm.shape[0], C, OH, OW), cdt)
    for i in range(KH):
        for j in range(KW):
            out += xm[:, :, i:i + SH * (OH - 1) + 1:SH, j:j + SW * (OW - 1) + 1:SW]
    return out.reshape(lead + (C * OH * OW,))


def _work_dtype(layer: NeuronLayer, x_max: int = 1) -> type:
    """int32 when every intermediate of a step provably fits, else int64.

    |d| <= 2^(B-1) (a leaked, reset membrane never grows), |b| < 2^(B-1),
    |Σ W x| <= fan_in * x_max * 2^(weight_bits-1); subtract-reset adds at most θ < 2^(B-1).
    """
    bound = (3 << (layer.state_bits - 1)) + layer.fan_in * x_max * (1 << (layer.weight_bits - 1))
    return np.int32 if bound < (1 << 31) else np.int64


def layer_step(
    layer: NeuronLayer, u_prev: np.ndarray, s_prev: np.ndarray, current: np.ndarray,
    fires: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Advance one step: reset, leak, add input current and bias, clamp, fire.

    Parameters
    ----------
    u_prev, s_prev : int64 arrays (..., n_neurons)
        Membrane and spikes of the previous step (flattened channel-major for conv2d).
    current : int64 array (..., n_neurons)
        The synaptic input (:func:`synaptic_input`) for this step.
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
    bias = layer.neuron_bias()
    if bias is not None:
        a = a + bias
    p = layer.state_precision
    u = np.clip(a, p.min, p.max)
    s = (u >= layer.threshold).astype(np.int64) if fires else np.zeros_like(u)
    return u, s


_BLOCK = 1 << 15
"""Neurons per block of the recurrence: the unit the threads share out; a block's state
and scratch stay in the core's cache across the ``T`` steps (measured: the same CPU time
as whole-layer steps on an idle machine, from 2^14 neurons up)."""


def _run_layer(layer: NeuronLayer, current: np.ndarray, fires: bool, trace: bool,
               pool: ThreadPoolExecutor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The membrane recurrence over T steps.

    ``current`` is (T, N, out) and its last slice is overwritten with the final membrane
    when ``trace`` is False. Neurons are independent, so the flat (N·out) neuron axis is
    cut into blocks of :data:`_BLOCK` and each block runs all ``T`` steps (the blocks on
    the ``pool``'s threads when given).
    Returns spikes (T, N, out) uint8 and membranes (T, N, out) int32 (``trace``) or
    ``current``.
    """
    T, N, out = current.shape
    M = N * out
    bias = layer.neuron_bias()
    if bias is not None:
        bias = np.broadcast_to(bias.astype(current.dtype), (N, out)).reshape(M)
    s_all = np.zeros((T, N, out), np.uint8)
    u_all = np.empty((T, N, out), np.int32) if trace else current
    cur, spk, mem = current.reshape(T, M), s_all.reshape(T, M), u_all.reshape(T, M)

    def run(a: int) -> None:
        b = min(M, a + _BLOCK)
        _run_block(layer, cur[:, a:b], spk[:, a:b], mem[:, a:b], fires,
                   None if bias is None else bias[a:b], trace)

    _each(pool, run, range(0, M, _BLOCK))
    return s_all, u_all


def _run_block(layer: NeuronLayer, cur: np.ndarray, spk: np.ndarray, mem: np.ndarray,
               fires: bool, bias: np.ndarray | None, trace: bool) -> None:
    """:func:`_run_layer` on one block: ``cur`` (T, n) input, ``spk`` (T, n) uint8 spikes
    out, ``mem`` (T, n) membranes out (every step with ``trace``, else the last only)."""
    T, n = cur.shape
    p = layer.state_precision
    theta, k = layer.threshold, layer.leak_shift
    zero = layer.reset is ResetMode.ZERO
    u = np.zeros(n, cur.dtype)
    tmp = np.empty_like(u)
    s = np.zeros(n, np.bool_)
    lo, hi = cur.dtype.type(p.min), cur.dtype.type(p.max)
    for t in range(T):
        if fires and t:
            if zero:
                np.copyto(u, 0, where=s)
            else:
                np.subtract(u, theta, out=u, where=s)
        if k is not None:
            np.right_shift(u, k, out=tmp)  # arithmetic shift: floor(u / 2^k)
            u -= tmp
        u += cur[t]
        if bias is not None:
            u += bias
        np.maximum(u, lo, out=u)  # the clamp, as two ufuncs (np.clip's wrapper costs more
        np.minimum(u, hi, out=u)  # per call than a block's pass)
        if fires:
            s = spk[t].view(np.bool_)  # 0/1 written in place as the spike output
            np.greater_equal(u, theta, out=s)
        if trace or t == T - 1:
            mem[t] = u


def predict_from(net: IntNetwork, last_spikes: np.ndarray, last_membrane: np.ndarray
                 ) -> np.ndarray:
    """Apply the readout to the last layer's spikes (N, T, out) / final membrane (N, out)."""
    if net.readout is Readout.SPIKE_COUNT:
        score = last_spikes.sum(axis=1)
    else:
        score = last_membrane
    return np.argmax(score, axis=-1).astype(np.int64)  # argmax: ties to the lowest index


def simulate(net: IntNetwork, spikes: np.ndarray, trace: bool = False,
             threads: int = 1) -> SimResult:
    """Run the golden model on a batch of input spike trains.

    Parameters
    ----------
    net : IntNetwork
    spikes : array (N, T, input_size) of 0/1 (bool or any integer dtype)
        A map input ``[C, H, W]`` is flattened channel-major (``input_size = C·H·W``).
    trace : bool
        Also return every neuron layer's membrane at every step.
    threads : int
        Python threads over the conv2d im2col chunks (copies and their products) and the
        recurrence's neuron blocks. The result does not depend on it. With ``threads >
        1`` give the BLAS library one thread (``OPENBLAS_NUM_THREADS=1`` or threadpoolctl):
        its own threads then only compete with these (on a loaded 2-core machine, BLAS
        threads that spin between calls made the model 5x slower).

    Returns
    -------
    SimResult
    """
    if not (isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1):
        raise InputError(f"must be an integer >= 1, not {threads!r}", param="threads")
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            return _simulate(net, spikes, trace, pool)
    return _simulate(net, spikes, trace, None)


def _simulate(net: IntNetwork, spikes: np.ndarray, trace: bool,
              pool: ThreadPoolExecutor | None) -> SimResult:
    x = np.asarray(spikes)
    expected = ("N", net.timesteps, net.input_size)
    if x.ndim != 3 or x.shape[1] != net.timesteps or x.shape[2] != net.input_size:
        raise ManifestError(f"spikes: shape {x.shape} does not match (N, T, input_size) = "
                            f"{expected}")
    N = x.shape[0]
    out_spikes: dict[str, np.ndarray] = {}
    membranes: dict[str, np.ndarray] | None = {} if trace else None
    # Time-major (T, N, features) so that each step's slice is contiguous.
    # A dense first layer's input goes straight to float32 (one pass) for the BLAS
    # product; conv2d and sum-pool convert per chunk from uint8.
    first = net.layers[0]
    in_type = np.float32 if first.kind is LayerKind.DENSE else np.uint8
    layer_in = np.ascontiguousarray(x.transpose(1, 0, 2), dtype=in_type)
    x_max = 1
    u = np.zeros((N, net.output_size), np.int64)
    last = len(net.layers) - 1
    for li, layer in enumerate(net.layers):
        if not layer.has_neurons:
            layer_in = pool_counts(layer, layer_in)
            x_max = layer.max_count
            continue
        fires = not (net.readout is Readout.MEMBRANE and li == last)
        dtype = _work_dtype(layer, x_max)
        current = synaptic_input(layer, layer_in, dtype, x_max, pool)  # (T, N, out)
        s_all, u_all = _run_layer(layer, current, fires, trace, pool)
        out_spikes[layer.name] = s_all.transpose(1, 0, 2)
        if membranes is not None:
            membranes[layer.name] = u_all.transpose(1, 0, 2)
        layer_in = s_all
        x_max = 1
        u = u_all[-1] if trace else current[-1]
    preds = predict_from(net, out_spikes[net.layers[-1].name], u)
    return SimResult(predictions=preds, spikes=out_spikes, membranes=membranes)
