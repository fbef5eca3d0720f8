"""Bit allocation: exact MILP against brute force, budgets, baselines, trace policy."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from pysim.errors import InputError
from quant.allocate import (
    Allocation,
    allocate,
    budget_from_avg_bits,
    choose_traces,
    pareto,
    quant_errors,
    random_allocation,
    reversed_allocation,
    sensitivity_table,
    uniform_allocation,
)
from quant.hessian import TraceEstimate


def _instance(seed: int, L: int = 4, K: int = 4):
    rng = np.random.default_rng(seed)
    cands = sorted(rng.choice(np.arange(2, 9), size=K, replace=False).tolist())
    n = rng.integers(5, 400, size=L).tolist()
    # Ω decreasing in width, layer-dependent scale, as a real table
    omega = rng.uniform(0.1, 10, size=(L, 1)) * np.exp(-0.7 * np.asarray(cands))[None, :]
    omega *= rng.uniform(0.5, 1.5, size=(L, K))
    return omega, n, cands


def _brute(omega, n, cands, budget):
    best = None
    for idx in itertools.product(range(len(cands)), repeat=len(n)):
        used = sum(cands[k] * n[i] for i, k in enumerate(idx))
        if used <= budget:
            obj = sum(omega[i, k] for i, k in enumerate(idx))
            if best is None or obj < best - 1e-12:
                best = obj
    return best


@pytest.mark.parametrize("seed", range(8))
def test_allocate_milp_matches_brute_force(seed):
    omega, n, cands = _instance(seed)
    rng = np.random.default_rng(100 + seed)
    lo, hi = sum(n) * cands[0], sum(n) * cands[-1]
    for budget in rng.integers(lo, hi + 1, size=4):
        a = allocate(omega, n, cands, budget_bits=int(budget))
        assert a.used_bits <= budget
        assert a.used_bits == sum(b * k for b, k in zip(a.bits, n))
        assert a.objective == pytest.approx(_brute(omega, n, cands, budget), rel=1e-9)


def test_allocate_budget_below_minimum_names_it():
    omega, n, cands = _instance(0)
    need = sum(n) * min(cands)
    with pytest.raises(InputError, match=f"below the minimum {need} bits"):
        allocate(omega, n, cands, budget_bits=need - 1)
    a = allocate(omega, n, cands, budget_bits=need)
    assert a.bits == [min(cands)] * len(n)


def test_allocate_pareto_monotone():
    omega, n, cands = _instance(3, L=5, K=5)
    budgets = np.linspace(sum(n) * cands[0], sum(n) * cands[-1], 12).astype(int)
    front = pareto(omega, n, cands, budgets)
    objs = [a.objective for a in front]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(objs))
    assert front[-1].bits == [cands[-1]] * len(n)  # the whole budget buys the widest


def test_allocate_as_dict_and_average_bits():
    omega, n, cands = _instance(1)
    a = allocate(omega, n, cands, budget_bits=budget_from_avg_bits(4.5, n))
    d = a.as_dict()
    assert d["bits"] == a.bits and d["used_bits"] == a.used_bits
    assert d["average_bits"] == pytest.approx(a.used_bits / sum(n)) and a.average_bits <= 4.5
    assert len(d["omega"]) == len(n) and d["candidates"] == list(cands)
    import json
    json.dumps(d)


def test_allocate_wrong_candidates():
    omega, n, _ = _instance(0, K=2)
    with pytest.raises(InputError, match="candidates"):
        allocate(omega, n, [1, 4], budget_bits=10**6)


def test_allocate_random_baseline_feasible_and_deterministic():
    omega, n, cands = _instance(2, L=5)
    budget = budget_from_avg_bits(3.5, n) if min(cands) <= 3 else sum(n) * min(cands) + 50
    a = random_allocation(omega, n, cands, budget_bits=budget, seed=4)
    b = random_allocation(omega, n, cands, budget_bits=budget, seed=4)
    assert a.bits == b.bits and a.kind == "random"
    assert a.used_bits <= budget
    opt = allocate(omega, n, cands, budget_bits=budget)
    assert opt.objective <= a.objective + 1e-12


def test_allocate_reversed_baseline_reverses_ranking():
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(20, 30)), rng.normal(size=(10, 20)) * 0.3,
               rng.normal(size=(4, 10))]
    per_param = np.array([5.0, 0.1, 1.0])
    cands = (2, 4, 8)
    errors = quant_errors(weights, cands)
    n = [w.size for w in weights]
    budget = budget_from_avg_bits(4.0, n)
    rev = reversed_allocation(errors, per_param, n, cands, budget_bits=budget)
    opt = allocate(per_param[:, None] * errors, n, cands, budget_bits=budget)
    assert rev.kind == "reversed"
    assert rev.meta["reversed_per_param"] == [0.1, 5.0, 1.0]
    assert rev.objective >= opt.objective
    assert rev.bits[1] >= opt.bits[1] and rev.bits[0] <= opt.bits[0]


def test_allocate_uniform_scores_under_omega():
    omega, n, cands = _instance(5)
    u = uniform_allocation(omega, n, cands, cands[1])
    assert u.bits == [cands[1]] * len(n)
    assert u.objective == pytest.approx(omega[:, 1].sum())


def test_allocate_sensitivity_table_formula_and_refusals():
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=(6, 5)), rng.normal(size=(3, 6))]
    cands = (2, 3, 8)

    def q(w, b):  # a plain symmetric quantizer, given explicitly
        s = np.abs(w).max() / (2 ** (b - 1) - 1)
        return np.round(w / s).astype(int), s

    om = sensitivity_table(weights, [3.0, 0.5], cands, quantizer=q)
    for i, (w, t) in enumerate(zip(weights, [3.0, 0.5])):
        for k, b in enumerate(cands):
            wi, s = q(w, b)
            assert om[i, k] == pytest.approx(t / w.size * np.sum((wi * s - w) ** 2))
    assert np.all(np.diff(om, axis=1) <= 0)
    with pytest.raises(InputError, match=">= 0"):
        sensitivity_table(weights, [3.0, -1.0], cands, quantizer=q)
    with pytest.raises(InputError, match="not significant"):
        sensitivity_table(weights, [3.0, TraceEstimate("fc2", 1.0, 0.8, 18, 16, "hutchinson")],
                          cands, quantizer=q)


def _te(name, tr, se, method):
    return TraceEstimate(name, tr, se, 100, 50, method)


def test_allocate_choose_traces_policy():
    hut_ok = [_te("fc1", 3.0, 0.2, "hutchinson"), _te("fc2", 1.0, 0.1, "hutchinson")]
    hut_neg = [_te("fc1", -34.8, 4.9, "hutchinson"), _te("fc2", 40.7, 1.2, "hutchinson")]
    hut_flat = [_te("fc1", 0.5, 0.4, "hutchinson"), _te("fc2", 40.7, 1.2, "hutchinson")]
    gn = [_te("fc1", 2.0, 0.1, "gauss_newton"), _te("fc2", 9.0, 0.3, "gauss_newton")]
    t, why = choose_traces(hut_ok, gn)
    assert t == [3.0, 1.0] and why["source"] == "hutchinson"
    t, why = choose_traces(hut_neg, gn)
    assert t == [2.0, 9.0] and why["source"] == "gauss_newton" and "fc1" in why["reason"]
    t, why = choose_traces(hut_flat, gn)
    assert why["source"] == "gauss_newton"
    with pytest.warns(UserWarning, match="fc1"):
        t, why = choose_traces(hut_neg, gn, policy="hutchinson")
    # fc1 (negative) gets its Gauss-Newton trace on Hutchinson's scale (fc2: 40.7 / 9.0)
    assert t == [pytest.approx(2.0 * 40.7 / 9.0), 40.7] and why["source"] == "hutchinson"
    assert list(why["fallback"]) == ["fc1"] and why["scale_layers"] == 1
    with pytest.raises(InputError, match="fc1.*Gauss-Newton"):
        choose_traces(hut_neg, None, policy="hutchinson")
    with pytest.raises(InputError, match="Gauss-Newton"):
        choose_traces(hut_neg, None)
    t, why = choose_traces(hut_ok, gn, policy="gauss_newton")
    assert t == [2.0, 9.0]
    with pytest.raises(InputError, match="policy"):
        choose_traces(hut_ok, gn, policy="magic")


def test_allocate_allocation_dataclass_fields():
    a = Allocation(bits=[2, 8], objective=1.0, budget_bits=100, used_bits=90,
                   omega=np.zeros((2, 2)), candidates=(2, 8), n_params=[5, 10])
    assert a.average_bits == pytest.approx(6.0) and a.percent_of_float32 == pytest.approx(18.75)


def test_allocate_random_fallback_when_draws_infeasible():
    omega, n, cands = _instance(6, L=6)
    budget = sum(n) * min(cands) + min(n)  # almost nothing above the minimum
    a = random_allocation(omega, n, cands, budget_bits=budget, seed=1, tries=1)
    assert a.used_bits <= budget


def test_allocate_hutchinson_fallback_scale_and_floorless():
    from quant.allocate import hutchinson_fallback

    hut = [_te("fc1", 4.0, 0.1, "hutchinson"), _te("fc2", -3.0, 0.4, "hutchinson"),
           _te("fc3", 9.0, 0.2, "hutchinson"), _te("fc4", 0.3, 0.5, "hutchinson")]
    gn = [_te(n, v, 0.1, "gauss_newton") for n, v in
          (("fc1", 1.0), ("fc2", 2.0), ("fc3", 4.0), ("fc4", 0.5))]
    t, meta = hutchinson_fallback(hut, gn)
    r = (4.0 / 1.0 * 9.0 / 4.0) ** 0.5  # geometric mean over the good layers fc1, fc3
    assert meta["scale"] == pytest.approx(r) and set(meta["fallback"]) == {"fc2", "fc4"}
    assert t == [4.0, pytest.approx(2.0 * r), 9.0, pytest.approx(0.5 * r)]
    assert all(v > 0 for v in t)
    # no good layer: plain Gauss-Newton traces (scale 1)
    t, meta = hutchinson_fallback([_te("fc1", -1.0, 0.1, "hutchinson")],
                                  [_te("fc1", 2.0, 0.1, "gauss_newton")])
    assert t == [2.0] and meta["scale"] == 1.0 and meta["scale_layers"] == 0
