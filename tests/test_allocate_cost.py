"""Cost-aware allocation: weight and state widths together under weight-bit, memory-bit
and block-RAM budgets (``quant.allocate.AllocationProblem``)."""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from pysim.errors import InputError
from quant.allocate import (
    LayerShape,
    MembraneProfile,
    _layer_bram,
    build_problem,
)
from spikeforge.cli import main

CANDS = (2, 3, 4, 8)


def _profile(L: int = 2) -> MembraneProfile:
    """A synthetic membrane profile: clamp error falls off with the state width."""
    clamp = []
    for i in range(L):
        row = []
        for k, b in enumerate(CANDS):
            peak_bits = 6 + b  # wider weights, bigger integer membranes
            row.append({w: (0.0 if w >= peak_bits else 4.0 ** (peak_bits - w) * (i + 1))
                        for w in range(2, 25)})
        clamp.append(row)
    return MembraneProfile(
        layers=[f"fc{i + 1}" for i in range(L)], candidates=CANDS, samples=10,
        scale=[[2.0 ** -b for b in CANDS] for _ in range(L)],
        threshold=[[4] * len(CANDS) for _ in range(L)],
        peak=[[(1 << (5 + b)) - 1 for b in CANDS] for _ in range(L)],
        clamp=clamp, input_rate=[0.2, 0.1][:L], headroom=1)


def _tables(L: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    errors = np.array([[4.0 ** -k * (10 + i) for k in range(len(CANDS))] for i in range(L)])
    per_param = np.array([1.0, 5.0][:L])
    return per_param[:, None] * errors, errors, per_param


SHAPES = [LayerShape("fc1", "dense", 1000, 100), LayerShape("fc2", "dense", 200, 10)]


def _brute(prob, budget):
    best = None
    om = prob.omega()
    for idx in itertools.product(*[range(len(o)) for o in prob.options]):
        cost = sum(prob.cost[i][j] for i, j in enumerate(idx))
        if cost > budget:
            continue
        val = sum(om[i][j] for i, j in enumerate(idx))
        if best is None or val < best - 1e-15:
            best = val
    return best


@pytest.mark.parametrize("scope", ["weights", "all"])
def test_allocate_cost_milp_is_exact_over_joint_options(scope):
    omega, errors, pp = _tables()
    prob = build_problem(SHAPES, CANDS, weight_omega=omega, weight_error=errors,
                         per_param=pp, unit="memory_bits" if scope == "all" else "weight_bits",
                         scope=scope, state_policy="priced", profile=_profile())
    assert prob.state_policy == "priced"
    for frac in (0.0, 0.2, 0.5, 1.0):
        budget = prob.min_cost + frac * (sum(c.max() for c in prob.cost) - prob.min_cost)
        a = prob.solve(budget)
        assert a.used <= budget + 1e-9
        assert a.objective == pytest.approx(_brute(prob, budget), rel=1e-9, abs=1e-15)
        assert len(a.state_bits) == 2 and all(w >= 2 for w in a.state_bits)
        want = sum(s.n_weights * b + (s.n_neurons * w if scope == "all" else 0)
                   for s, b, w in zip(SHAPES, a.bits, a.state_bits))
        assert a.used == want
        assert a.objective == pytest.approx(sum(a.objective_parts.values()))


def test_allocate_cost_clamp_priced_narrows_state_only_when_worth_it():
    omega, errors, pp = _tables()
    prob = build_problem(SHAPES, CANDS, weight_omega=omega, weight_error=errors,
                         per_param=pp, unit="memory_bits", scope="all",
                         state_policy="priced", profile=_profile())
    loose = prob.solve(sum(c.max() for c in prob.cost))
    # unlimited memory: no clamp at all, the cheapest clamp-free state width
    assert loose.objective_parts["clamp"] == 0.0
    assert loose.state_bits == [6 + b for b in loose.bits]
    tight = prob.solve(prob.min_cost)
    assert tight.bits == [2, 2]
    assert tight.used == prob.min_cost


def test_allocate_cost_measured_state_widths_follow_the_calibration_rule():
    omega, errors, pp = _tables()
    prof = _profile()
    prob = build_problem(SHAPES, CANDS, weight_omega=omega, weight_error=errors,
                         per_param=pp, unit="memory_bits", scope="all",
                         state_policy="measured", profile=prof)
    assert all(len(o) == len(CANDS) for o in prob.options)
    a = prob.solve(sum(c.max() for c in prob.cost))
    for i, (b, w) in enumerate(zip(a.bits, a.state_bits)):
        assert w == prof.measured_state_bits(i, CANDS.index(b))


def test_allocate_cost_budget_below_minimum_names_the_minimum():
    omega, errors, pp = _tables()
    prob = build_problem(SHAPES, CANDS, weight_omega=omega, weight_error=errors,
                         per_param=pp, unit="weight_bits")
    with pytest.raises(InputError, match=r"the minimum is 2400") as e:
        prob.solve(2399)
    assert e.value.param == "budget_bits"


def test_allocate_cost_baselines_respect_the_budget():
    omega, errors, pp = _tables()
    prob = build_problem(SHAPES, CANDS, weight_omega=omega, weight_error=errors,
                         per_param=pp, unit="memory_bits", scope="all",
                         state_policy="priced", profile=_profile())
    budget = prob.min_cost * 1.8
    opt = prob.solve(budget)
    uni = prob.uniform(budget)
    rev = prob.reversed(budget)
    rnd = prob.random(budget, seed=3)
    for a in (uni, rev, rnd):
        assert a.used <= budget and a.objective >= opt.objective - 1e-15
    assert len(set(uni.bits)) == 1
    assert rnd.meta["seed"] == 3 and prob.random(budget, seed=3).bits == rnd.bits
    # the reversed baseline swaps the sensitivities of the two layers
    assert rev.meta["reversed_per_param"] == [5.0, 1.0]


def test_allocate_cost_layer_without_plan_counted_in_bits_and_noted():
    omega, errors, pp = _tables()
    shapes = [LayerShape("conv1", "conv2d", 400, 2000), SHAPES[1]]
    prob = build_problem(shapes, CANDS, weight_omega=omega, weight_error=errors,
                         per_param=pp, unit="bram", scope="all", state_policy="measured",
                         profile=_profile(), target="ecp5-25k",
                         bram_cost=lambda i, b, w: 1)
    from cost.targets import get_target
    block = get_target("ecp5-25k").bram_block_bits
    for (b, w), c in zip(prob.options[0], prob.cost[0]):
        assert c == math.ceil((400 * b + 2000 * w) / block)
    assert all(c == 1 for c in prob.cost[1])
    assert any("conv1" in n and "no hardware plan" in n for n in prob.notes)


@pytest.mark.parametrize("target", ["ecp5-25k", "ice40-up5k", "xc7"])
def test_allocate_cost_bram_matches_the_resource_estimate(target):
    from cost.resources import estimate_network
    from pysim import IntLayer, IntNetwork

    rng = np.random.default_rng(0)
    for b, w in ((2, 9), (4, 12), (8, 16)):
        wi = rng.integers(-(1 << (b - 1)), 1 << (b - 1), size=(200, 300))
        layer = IntLayer(name="fc1", weight=wi, weight_bits=b, state_bits=w, threshold=5,
                         leak_shift=3)
        est = estimate_network(IntNetwork(layers=(layer,), timesteps=4), target=target)
        got_all = _layer_bram(wi, b, w, 5, 3, "zero", None, True, target, "all", "fc1")
        got_w = _layer_bram(wi, b, w, 5, 3, "zero", None, True, target, "weights",
                                  "fc1")
        assert got_all == est.bram_units
        assert got_w == est.layers[0].synapse.units


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from quant.train import TrainConfig, train

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("crun") / "run"
    train(TrainConfig(dataset="digits", arch="64-24-10", timesteps=4, epochs=3,
                      limit_train=256, limit_test=48, seed=0), out, progress=False)
    yield out
    torch.set_num_threads(n)


def test_allocate_cost_for_run_default_is_the_weight_only_milp(trained_run):
    from quant.allocate import allocate, allocate_for_run, run_sensitivity

    a = allocate_for_run(trained_run, avg_bits=3.0, candidates=CANDS,
                         method="gauss_newton", samples=32, max_probes=8, progress=False)
    sens = run_sensitivity(trained_run, CANDS, method="gauss_newton", samples=32,
                           max_probes=8, progress=False)
    b = allocate(sens["omega"], a.n_params, CANDS, budget_bits=a.budget_bits)
    assert a.bits == b.bits and a.state_bits is None
    assert not (trained_run / "membranes.json").exists()


def test_allocate_cost_for_run_bram_and_memory_budgets(trained_run):
    from quant.allocate import allocate_for_run

    kw = {"candidates": CANDS, "method": "gauss_newton", "samples": 32, "max_probes": 8,
              "progress": False}
    a = allocate_for_run(trained_run, budget_bram=2, target="ecp5-25k", **kw)
    assert a.unit == "bram" and a.used <= 2 and len(a.state_bits) == 2
    prof = json.loads((trained_run / "membranes.json").read_text())
    assert len(prof) == 1
    m = allocate_for_run(trained_run, avg_bits=3.0, budget_scope="all", **kw)
    n_values = 64 * 24 + 24 * 10 + 24 + 10
    assert m.unit == "memory_bits" and m.used <= math.floor(3.0 * n_values)
    assert m.memory_bits == m.used
    with pytest.raises(InputError, match="minimum"):
        allocate_for_run(trained_run, budget_bram=0, target="ecp5-25k", **kw)


def test_allocate_cost_cli_and_quantize_use_the_chosen_state_widths(trained_run, tmp_path,
                                                                   capsys):
    from pysim import load_network

    assert main(["allocate", str(trained_run), "--budget-bram", "2", "--target", "ecp5-25k",
                 "--budget-scope", "all", "--method", "gauss_newton", "--candidates",
                 "2,3,4,8", "--samples", "32", "--json"]) == 0
    alloc = json.loads(capsys.readouterr().out)["allocation"]
    assert alloc["unit"] == "bram" and alloc["used"] <= 2
    out = tmp_path / "net"
    assert main(["quantize", str(trained_run), "--budget-bits", "6000", "--budget-scope",
                 "all", "--policy", "gauss_newton", "--epochs", "0", "--quiet",
                 "-o", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    net = load_network(out)
    ca = d["cost_allocation"]
    assert [la.weight_bits for la in net.layers] == ca["bits"]
    assert [la.state_bits for la in net.layers] == ca["state_bits"]
    assert ca["memory_bits"] <= 6000


@pytest.mark.parametrize("argv, msg", [
    (["--budget-bram", "2", "--target", "nope"], "--target: unknown target 'nope'"),
    (["--budget-bram", "0", "--target", "ecp5-25k"], "--budget-bram: no allocation fits"),
    (["--budget-bits", "10", "--budget-scope", "all"], "the minimum is"),
    (["--avg-bits", "3", "--budget-scope", "most"], "--budget-scope: must be one of"),
    (["--avg-bits", "3", "--state-widths", "x", "--budget-scope", "all"],
     "--state-widths: must be one of"),
])
def test_allocate_cost_cli_bad_input_exit_2(trained_run, capsys, argv, msg):
    assert main(["allocate", str(trained_run), "--method", "gauss_newton", "--samples", "32",
                 *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1


def test_allocate_cost_quantize_run_takes_a_bram_budget_natively(trained_run, tmp_path):
    from quant.allocate import allocate_for_run
    from quant.export import quantize_run

    a = allocate_for_run(trained_run, budget_bram=2, target="ecp5-25k", budget_scope="all",
                         method="gauss_newton", progress=False)
    q = quantize_run(trained_run, tmp_path / "net", budget_bram=2, target="ecp5-25k",
                     budget_scope="all", policy="gauss_newton", epochs=0, progress=False,
                     write=False)
    # the same allocation code: weight and state widths as allocate_for_run chose them
    assert q.bits == list(a.bits)
    assert [la.state_bits for la in q.net.neuron_layers] == list(a.state_bits)
    meta = q.net.meta["allocation"]
    assert meta["unit"] == "bram" and meta["used"] <= 2 and meta["target"] == "ecp5-25k"


@pytest.mark.parametrize("argv, msg", [
    (["--budget-bram", "2", "--target", "nope"], "--target: unknown target 'nope'"),
    (["--budget-bram", "0", "--target", "ecp5-25k"], "the minimum is"),
    (["--budget-bram", "2", "--policy", "magic"], "--policy: must be one of"),
])
def test_allocate_cost_quantize_cli_bad_budget_exit_2(trained_run, tmp_path, capsys, argv,
                                                      msg):
    assert main(["quantize", str(trained_run), "--epochs", "0", "--quiet",
                 "-o", str(tmp_path / "net"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1
    assert not (tmp_path / "net").exists()


@pytest.mark.parametrize("target", ["ecp5-25k", "ice40-up5k"])
def test_allocate_cost_conv_bram_matches_the_resource_estimate(target):
    from types import SimpleNamespace

    from cost.resources import estimate_network
    from pysim import Conv2dLayer, IntLayer, IntNetwork, SumPool2dLayer

    rng = np.random.default_rng(1)
    pool = SimpleNamespace(name="pool2", in_shape=(6, 12, 12), kernel=2, stride=2)
    for b, w in ((2, 9), (4, 12), (8, 16)):
        wc = rng.integers(-(1 << (b - 1)), 1 << (b - 1), size=(6, 1, 5, 5))
        wd = rng.integers(-(1 << (b - 1)), 1 << (b - 1), size=(10, 6 * 6 * 6))
        conv = Conv2dLayer(name="conv1", in_shape=(1, 16, 16), weight=wc, weight_bits=b,
                           state_bits=w, threshold=5, leak_shift=3)
        sp = SumPool2dLayer(name="pool2", in_shape=(6, 12, 12), kernel=(2, 2))
        fc = IntLayer(name="fc3", weight=wd, weight_bits=b, state_bits=w, threshold=5,
                      leak_shift=3)
        est = estimate_network(IntNetwork(layers=(conv, sp, fc), timesteps=4,
                                          input_shape=(1, 16, 16)), target=target)
        got = [_layer_bram(wc, b, w, 5, 3, "zero", None, True, target, "all", "conv1",
                           {"kind": "conv2d", "in_shape": (1, 16, 16), "stride": 1,
                            "padding": 0, "pool": None}),
               _layer_bram(wd, b, w, 5, 3, "zero", None, True, target, "all", "fc3",
                           {"kind": "dense", "pool": pool})]
        assert sum(got) == est.bram_units
        assert [lay.synapse.units for lay in est.layers] == [
            _layer_bram(wc, b, w, 5, 3, "zero", None, True, target, "weights", "conv1",
                        {"kind": "conv2d", "in_shape": (1, 16, 16), "stride": 1,
                         "padding": 0, "pool": None}),
            _layer_bram(wd, b, w, 5, 3, "zero", None, True, target, "weights", "fc3",
                        {"kind": "dense", "pool": pool})]
