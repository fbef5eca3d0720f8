"""Spike encoding of pixel intensities in [0, 1] into binary spike trains (NumPy only).

Two codes turn a sample ``x`` (F features in [0, 1]) into ``s[t, j]`` in {0, 1} for
``t = 0 .. T-1``. Both start from the firing probability ``p = clip(gain * x, 0, 1)``
(computed in float64).

``"rate"`` (Bernoulli / Poisson-like)
    ``s[t, j] = 1  iff  U[t, j] < p[j]``, with ``U = rng.random((T, F))`` (float64 in
    [0, 1)) drawn from ``rng = np.random.default_rng([seed, i])`` where ``i`` is the
    sample's index in its dataset split. One independent stream per sample makes the
    code of a sample depend only on ``(seed, i, x_i)``: the same whatever the batch size,
    order or subset it is encoded in. ``p = 0`` never fires, ``p = 1`` always fires.
``"deterministic"`` (sigma-delta / regular intervals)
    An accumulator starting at ``v = 1/2`` adds ``p`` each step and fires (subtracting 1)
    when ``v >= 1``. Computed exactly in closed form: with
    ``n(t) = floor((t + 1) * p + 1/2)`` spikes emitted up to and including step t
    (``n(-1) = 0``), ``s[t] = n(t) - n(t-1)``. A pixel fires ``round_half_up(p * T)``
    times, spread evenly; no randomness (``seed`` is ignored).

Whole datasets do not fit in memory once encoded (MNIST training: 60000 x 25 x 784
bytes = 1.2 GB), so training loops use :func:`iter_encoded`, which encodes batch by batch
and gives exactly the spikes :func:`encode` would.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from pysim.errors import InputError
from pysim.spikes import SpikeData, save_spikes
from pysim.util import is_int

if TYPE_CHECKING:
    from .data import Dataset

__all__ = ["METHODS", "encode", "encode_dataset", "iter_encoded", "save_encoded"]

METHODS = ("rate", "deterministic")
"""Encoding methods :func:`encode` knows."""


def _check_params(timesteps: int, method: str, seed: int, gain: float) -> None:
    if method not in METHODS:
        raise InputError(f"unknown encoding method {method!r}: choose one of "
                         f"{', '.join(METHODS)}")
    if not is_int(timesteps) or timesteps < 1:
        raise InputError(f"timesteps must be an integer >= 1, not {timesteps!r}")
    if not is_int(seed) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, not {seed!r}")
    if isinstance(gain, bool) or not isinstance(gain, (int, float, np.integer, np.floating)) \
            or not np.isfinite(gain) or gain < 0:
        raise InputError(f"gain must be a finite number >= 0, not {gain!r}")


def _check_x(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise InputError(f"encode: x must have shape (N, F), not {x.shape}")
    if x.size and x.dtype.kind not in "fiub":
        raise InputError(f"encode: x must hold numbers in [0, 1], not dtype {x.dtype}")
    if x.size:
        if not np.isfinite(x).all():
            raise InputError("encode: x holds NaN or infinite values; values must lie "
                             "in [0, 1]")
        lo, hi = x.min(), x.max()
        if lo < 0 or hi > 1:
            raise InputError(f"encode: x values must lie in [0, 1], found {lo:g}..{hi:g}")
    return x


def _sample_ids(n: int, sample_ids: int | np.ndarray | None) -> np.ndarray:
    if sample_ids is None:
        return np.arange(n, dtype=np.int64)
    if is_int(sample_ids):
        if sample_ids < 0:
            raise InputError(f"sample_ids offset must be >= 0, not {sample_ids}")
        return np.arange(int(sample_ids), int(sample_ids) + n, dtype=np.int64)
    ids = np.asarray(sample_ids)
    if ids.shape != (n,) or (ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0)):
        raise InputError(f"sample_ids must be {n} non-negative integers, not "
                         f"{ids.dtype} {ids.shape}")
    return ids.astype(np.int64)


def encode(
    x: np.ndarray,
    timesteps: int,
    method: str = "rate",
    seed: int = 0,
    *,
    gain: float = 1.0,
    sample_ids: int | np.ndarray | None = None,
) -> np.ndarray:
    """Encode samples ``x`` (N, F) in [0, 1] as spike trains, uint8 (N, T, F).

    Parameters
    ----------
    x : np.ndarray
        (N, F) intensities in [0, 1].
    timesteps : int
        T >= 1.
    method : str
        ``"rate"`` or ``"deterministic"`` (see the module docstring for the exact codes).
    seed : int
        Seed of the rate code (>= 0); the deterministic code ignores it.
    gain : float
        Scales intensities before clipping to [0, 1]: ``p = clip(gain * x, 0, 1)``.
    sample_ids : int or array of int, optional
        The index of each row in its dataset split, which keys its random stream:
        None means ``0 .. N-1``; an int k means ``k .. k+N-1`` (a batch that starts at
        row k); an array gives each row's index (a shuffled batch).

    Returns
    -------
    np.ndarray
        uint8 (N, T, F), values 0/1.

    Raises
    ------
    InputError
        Unknown method, ``timesteps < 1``, negative seed or gain, values outside [0, 1].
    """
    _check_params(timesteps, method, seed, gain)
    x = _check_x(x)
    n, f = x.shape
    t_steps = int(timesteps)
    p = np.clip(float(gain) * x.astype(np.float64), 0.0, 1.0)
    out = np.empty((n, t_steps, f), dtype=np.uint8)
    if method == "rate":
        ids = _sample_ids(n, sample_ids)
        for row in range(n):
            rng = np.random.default_rng([int(seed), int(ids[row])])
            np.less(rng.random((t_steps, f)), p[row], out=out[row], casting="unsafe")
    else:
        steps = np.arange(1, t_steps + 1, dtype=np.float64)[:, None]  # (T, 1)
        for start in range(0, n, 64):  # small float64 temporaries (cache-friendly)
            pb = p[start:start + 64, None, :]  # (B, 1, F)
            counts = np.floor(steps * pb + 0.5)  # n(t), (B, T, F)
            out[start:start + 64, 0] = counts[:, 0]
            out[start:start + 64, 1:] = counts[:, 1:] - counts[:, :-1]
    return out


def iter_encoded(
    x: np.ndarray,
    y: np.ndarray | None,
    timesteps: int,
    method: str = "rate",
    seed: int = 0,
    batch_size: int = 256,
    *,
    gain: float = 1.0,
    order: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yield ``(spikes uint8 (B, T, F), labels int64 (B,) or None)`` batch by batch.

    Each sample is encoded with its row index in ``x`` as its stream key, so the
    concatenated output equals ``encode(x[order], ..., sample_ids=order)`` for any
    ``batch_size``; with ``order=None`` it equals ``encode(x, ...)``.

    Parameters
    ----------
    order : array of int, optional
        Rows of ``x`` to visit, in this order (e.g. a permutation for shuffling).
    """
    _check_params(timesteps, method, seed, gain)
    if not is_int(batch_size) or batch_size < 1:
        raise InputError(f"batch_size must be an integer >= 1, not {batch_size!r}")
    x = _check_x(x)
    n = x.shape[0]
    if y is not None:
        y = np.asarray(y)
        if y.shape != (n,):
            raise InputError(f"labels must have shape ({n},) to match x, not {y.shape}")
    if order is None:
        idx = None
        total = n
    else:
        idx = np.asarray(order)
        if idx.ndim != 1 or (idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0
                                           or idx.max() >= n)):
            raise InputError(f"order must be a 1-D array of row indices in 0..{n - 1}")
        idx = idx.astype(np.int64)
        total = idx.shape[0]
    for start in range(0, total, int(batch_size)):
        stop = min(start + int(batch_size), total)
        if idx is None:
            xb = x[start:stop]
            ids: int | np.ndarray = start
            yb = None if y is None else y[start:stop].astype(np.int64)
        else:
            ids = idx[start:stop]
            xb = x[ids]
            yb = None if y is None else y[ids].astype(np.int64)
        yield encode(xb, timesteps, method, seed, gain=gain, sample_ids=ids), yb


def encode_dataset(
    ds: Dataset,
    timesteps: int,
    method: str = "rate",
    seed: int = 0,
    split: str = "test",
    *,
    gain: float = 1.0,
    limit: int | None = None,
) -> SpikeData:
    """Encode one split of a dataset (optionally its first ``limit`` samples) with labels.

    The first ``limit`` samples get exactly the spikes they get in the full encoding.
    """
    x, y = ds.split(split)
    if limit is not None:
        if not is_int(limit) or limit < 1:
            raise InputError(f"limit must be a positive integer, not {limit!r}")
        x, y = x[:limit], y[:limit]
    return SpikeData(encode(x, timesteps, method, seed, gain=gain), y)


def save_encoded(
    path: str | os.PathLike[str],
    ds: Dataset,
    timesteps: int,
    method: str = "rate",
    seed: int = 0,
    split: str = "test",
    *,
    gain: float = 1.0,
    limit: int | None = None,
) -> SpikeData:
    """Encode a split (see :func:`encode_dataset`) and write it as a spike file
    (docs/manifest.md, "Spike files": ``spikes`` uint8 (N, T, F) and ``labels``),
    atomically; return what was written."""
    data = encode_dataset(ds, timesteps, method, seed, split, gain=gain, limit=limit)
    save_spikes(path, data)
    return data
