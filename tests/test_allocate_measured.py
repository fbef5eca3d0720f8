"""Measured-sensitivity allocation (``method="measured"``) on a tiny trained digits run."""
from __future__ import annotations

import json

import numpy as np
import pytest

from spikeforge.cli import main

CANDS = (2, 3, 4, 8)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from quant.train import TrainConfig, train

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("mrun") / "run"
    train(TrainConfig(dataset="digits", arch="64-24-16-10", timesteps=4, epochs=4,
                      limit_train=512, limit_test=64, seed=0), out, progress=False)
    yield out
    torch.set_num_threads(n)


def test_allocate_measured_sensitivity_shape_sign_and_order(trained_run):
    from quant.allocate import measured_sensitivity
    from quant.train import load_run

    run = load_run(trained_run)
    om = measured_sensitivity(run, CANDS, samples=128, batch_size=64, progress=False)
    assert om.shape == (3, len(CANDS))
    assert np.all(np.isfinite(om)) and np.all(om >= 0)
    # 2 bits hurt at least as much as 8 bits, for every layer, and strictly somewhere
    assert np.all(om[:, 0] >= om[:, -1])
    assert np.any(om[:, 0] > om[:, -1])
    # the float weights are restored: the same table again (deterministic samples)
    again = measured_sensitivity(run, CANDS, samples=128, batch_size=64, progress=False,
                                 recompute=True)
    np.testing.assert_allclose(again, om, rtol=1e-6, atol=1e-9)


def test_allocate_measured_cache_keyed_by_candidates_and_samples(trained_run):
    from quant.allocate import measured_sensitivity

    a = measured_sensitivity(trained_run, CANDS, samples=96, progress=False)
    doc = json.loads((trained_run / "sensitivity.json").read_text())
    key = [k for k in doc if "samples=96" in k and "candidates=2,3,4,8" in k]
    assert len(key) == 1
    entry = doc[key[0]]
    np.testing.assert_allclose(entry["omega"], a)
    np.testing.assert_allclose(np.maximum(entry["loss_increase"], 0), a)  # the clip
    b = measured_sensitivity(trained_run, (2, 3), samples=96, progress=False)
    assert b.shape == (3, 2)
    np.testing.assert_allclose(b, a[:, :2], rtol=1e-6, atol=1e-9)
    assert len(json.loads((trained_run / "sensitivity.json").read_text())) >= 2


def test_allocate_measured_allocation_within_budget(trained_run):
    from quant.allocate import allocate, allocate_for_run, budget_from_avg_bits

    a = allocate_for_run(trained_run, avg_bits=3, candidates=CANDS, method="measured",
                         samples=128, progress=False)
    assert a.kind == "measured" and a.meta["source"] == "measured"
    assert "reason" in a.meta and "quantize_weight" in a.meta["quantizer"]
    assert a.used_bits <= a.budget_bits == budget_from_avg_bits(3, a.n_params)
    assert all(b in CANDS for b in a.bits) and len(a.bits) == 3
    # the MILP is exact on the measured table: no allocation in budget has a smaller ΣΩ
    import itertools

    n = np.asarray(a.n_params)
    best = min(sum(a.omega[i, k] for i, k in enumerate(idx))
               for idx in itertools.product(range(len(CANDS)), repeat=3)
               if sum(n[i] * CANDS[k] for i, k in enumerate(idx)) <= a.budget_bits)
    assert a.objective == pytest.approx(best, rel=1e-9, abs=1e-12)
    assert allocate(a.omega, a.n_params, CANDS, budget_bits=a.budget_bits).bits == a.bits


def test_allocate_measured_pareto_reversed_baseline(trained_run):
    from spikeforge.pareto import pareto_allocations

    allocs = pareto_allocations(trained_run, avg_bits=[2.5, 3.0], uniform_bits=[2],
                                random_seeds=1, candidates=CANDS, policy="measured",
                                progress=False)
    kinds = [a.kind for a in allocs]
    assert kinds.count("measured") == 2 and kinds.count("reversed") == 2
    for a in allocs:
        assert a.used_bits <= a.budget_bits or a.kind == "uniform"
        idx = [CANDS.index(b) for b in a.bits]
        # every allocation is scored under the same measured Ω
        assert a.objective == pytest.approx(sum(allocs[0].omega[i, k]
                                                for i, k in enumerate(idx)))
    for m, r in zip([a for a in allocs if a.kind == "measured"],
                    [a for a in allocs if a.kind == "reversed"]):
        assert m.objective <= r.objective + 1e-12


def test_allocate_measured_cli(trained_run, capsys):
    capsys.readouterr()
    rc = main(["allocate", str(trained_run), "--avg-bits", "3", "--method", "measured",
               "--candidates", "2,3,4,8", "--samples", "128", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    a = out["allocation"]
    assert a["meta"]["source"] == "measured" and a["used_bits"] <= a["budget_bits"]
    rc = main(["allocate", str(trained_run), "--avg-bits", "3", "--method", "measured",
               "--candidates", "2,3,4,8", "--samples", "128"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "Ω from measured" in text and "fc3" in text


@pytest.mark.parametrize("argv", [["--method", "fisher"], ["--method", "measured",
                                                           "--samples", "1"]])
def test_allocate_measured_cli_bad_input_exit_2(trained_run, capsys, argv):
    rc = main(["allocate", str(trained_run), "--avg-bits", "3", *argv])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.strip() and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_allocate_measured_quantize_policy(trained_run, tmp_path, capsys):
    capsys.readouterr()
    rc = main(["quantize", str(trained_run), "--avg-bits", "3", "--policy", "measured",
               "--epochs", "0", "--calib-samples", "64", "--quiet", "-o",
               str(tmp_path / "net"), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["meta"]["allocation"]["meta"]["source"] == "measured"
    assert out["mismatches"] == 0
