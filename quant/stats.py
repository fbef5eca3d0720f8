"""Paired statistics for comparing two classifiers on the same test samples."""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["mcnemar"]


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
