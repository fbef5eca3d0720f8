from __future__ import annotations

import numpy as np
import pytest

from quant.stats import mcnemar


def test_mcnemar_counts_and_symmetry():
    a = np.array([1, 1, 1, 0, 0, 1], bool)
    b = np.array([1, 0, 0, 1, 0, 1], bool)
    r = mcnemar(a, b)
    assert (r["a_only"], r["b_only"], r["samples"]) == (2, 1, 6)
    assert r["p_value"] == pytest.approx(1.0)
    assert mcnemar(b, a)["p_value"] == pytest.approx(r["p_value"])


def test_mcnemar_detects_a_real_difference():
    a = np.ones(100, bool)
    b = np.ones(100, bool)
    b[:20] = False
    r = mcnemar(a, b)
    assert r["a_only"] == 20 and r["p_value"] < 1e-5  # 0.5^20 * 2


def test_mcnemar_identical_is_one():
    a = np.array([1, 0, 1], bool)
    assert mcnemar(a, a)["p_value"] == 1.0


def test_mcnemar_wrong_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        mcnemar(np.ones(3, bool), np.ones(4, bool))
