"""Paired statistics for comparing classifiers and allocations.

* :func:`mcnemar`: exact McNemar test on paired per-sample correctness of two classifiers;
* :func:`mean_ci`: mean and Student-t confidence interval over seeds;
* :func:`paired_t`: paired t-test of two methods' per-seed accuracies (same seeds);
* :func:`spearman_ci`: Spearman's rank correlation with a Fisher-z confidence interval.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["mcnemar", "mean_ci", "paired_t", "spearman_ci"]


def mcnemar(a_ok: np.ndarray, b_ok: np.ndarray) -> dict[str, Any]:
    """Exact McNemar test on paired correctness of classifiers A and B.

    ``a_only`` = samples A classifies correctly and B not, ``b_only`` = the reverse; the
    p-value is the exact two-sided binomial test of ``a_only`` out of ``a_only + b_only``
    at 1/2 (1.0 when the two never disagree).
    """
    from scipy.stats import binomtest

    a_ok = np.asarray(a_ok, dtype=bool)
    b_ok = np.asarray(b_ok, dtype=bool)
    if a_ok.shape != b_ok.shape:
        raise ValueError(f"paired arrays differ in shape: {a_ok.shape} vs {b_ok.shape}")
    a_only = int(np.sum(a_ok & ~b_ok))
    b_only = int(np.sum(~a_ok & b_ok))
    n = a_only + b_only
    p = 1.0 if n == 0 else float(binomtest(a_only, n, 0.5).pvalue)
    return {"a_only": a_only, "b_only": b_only, "p_value": p, "samples": int(a_ok.size)}


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Mean of ``values`` with its Student-t interval at ``level``.

    Returns ``mean``, ``half`` (half-width; NaN for fewer than 2 values), ``lo``, ``hi``,
    ``sd`` (sample standard deviation) and ``n``.
    """
    from scipy.stats import t

    v = np.asarray(values, dtype=np.float64)
    n = int(v.size)
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    m = float(v.mean())
    if n < 2:
        return {"mean": m, "half": math.nan, "lo": math.nan, "hi": math.nan, "sd": math.nan,
                "n": n}
    sd = float(v.std(ddof=1))
    half = float(t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n))
    return {"mean": m, "half": half, "lo": m - half, "hi": m + half, "sd": sd, "n": n}


def paired_t(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Paired t-test of ``a - b`` (e.g. two methods' accuracies at the same seeds).

    Returns ``diff`` (mean of a - b) with its interval (``lo``, ``hi``), ``p_value``
    (two-sided; 1.0 when every difference is 0, NaN for fewer than 2 pairs) and ``n``.
    """
    from scipy.stats import ttest_rel

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    d = a - b
    ci = mean_ci(d, level)
    if d.size < 2:
        p = math.nan
    elif np.all(d == d[0]):
        p = 1.0 if d[0] == 0 else 0.0
    else:
        p = float(ttest_rel(a, b).pvalue)
    return {"diff": ci["mean"], "lo": ci["lo"], "hi": ci["hi"], "p_value": p, "n": int(d.size)}


def spearman_ci(x: Sequence[float], y: Sequence[float], level: float = 0.95
                ) -> dict[str, Any]:
    """Spearman's ρ of ``x`` and ``y`` with a Fisher-z interval at ``level``.

    The interval uses ``z = atanh(ρ)`` with standard error ``sqrt(1.06 / (n - 3))``
    (Fieller, Hartley & Pearson 1957); NaN when ``n <= 3``. ``p_value`` is scipy's.
    """
    from scipy.stats import norm, spearmanr

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = int(x.size)
    if n != y.size or n < 2:
        raise ValueError("spearman_ci needs two sequences of the same length >= 2")
    res = spearmanr(x, y)
    rho = float(res.statistic if hasattr(res, "statistic") else res[0])
    p = float(res.pvalue if hasattr(res, "pvalue") else res[1])
    if n <= 3 or not math.isfinite(rho):
        lo = hi = math.nan
    else:
        z = math.atanh(max(-0.999999, min(0.999999, rho)))
        se = math.sqrt(1.06 / (n - 3))
        q = float(norm.ppf(0.5 + level / 2))
        lo, hi = math.tanh(z - q * se), math.tanh(z + q * se)
    return {"rho": rho, "lo": lo, "hi": hi, "p_value": p, "n": n}
