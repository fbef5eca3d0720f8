"""``spikeforge sweep``: seeded allocation sweeps, cached points, Ray == serial, statistics."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pysim.errors import InputError
from spikeforge.cli import main


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from quant.train import TrainConfig, train

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("srun") / "run"
    train(TrainConfig(dataset="digits", arch="64-20-10", timesteps=4, epochs=3,
                      limit_train=256, limit_test=60, seed=0), out, progress=False)
    yield out
    torch.set_num_threads(n)


def _cfg(**kw):
    from spikeforge.sweep import SweepConfig

    base = {"budgets": (2.5, 4.0), "methods": ("gauss_newton", "uniform", "random", "reversed"),
                "seeds": 2, "epochs": 1, "qat_batches": 2, "candidates": (2, 3, 4, 8), "calib_samples": 64}
    return SweepConfig(**{**base, **kw})


def _strip(points):
    return [{**p, "result": {k: v for k, v in p["result"].items() if k != "seconds"}}
            for p in points]


def test_sweep_serial_points_cached_and_resumed(trained_run, tmp_path):
    from spikeforge.sweep import run_sweep

    cfg = _cfg()
    first = run_sweep(trained_run, tmp_path / "sw", cfg, serial=True, progress=False)
    assert len(first["points"]) == 2 * 4 * 2
    distinct = {p["key"] for p in first["points"]}
    assert first["ran"] == len(distinct) and first["cached"] == 0
    assert len(list((tmp_path / "sw" / "points").glob("*.json"))) == len(distinct)
    again = run_sweep(trained_run, tmp_path / "sw", cfg, serial=True, progress=False)
    assert again["ran"] == 0 and again["cached"] == len(distinct)
    assert _strip(again["points"]) == _strip(first["points"])
    assert (tmp_path / "sw" / "sweep.png").stat().st_size > 1000
    # a seed changes the fine-tune; the same (bits, seed) is one evaluation
    by = {(p["budget"], p["method"], p["seed"]): p for p in first["points"]}
    assert by[(2.5, "gauss_newton", 0)]["key"] != by[(2.5, "gauss_newton", 1)]["key"]
    for row in first["table"]:
        accs = row["accuracies"]
        assert row["accuracy_mean"] == pytest.approx(np.mean(accs))
        assert row["seeds"] == 2
    tests = [t for t in first["tests"] if t["budget"] == 2.5]
    assert {t["b"] for t in tests} == {"uniform", "random", "reversed"}


def test_sweep_matches_a_serial_run_on_ray(trained_run, tmp_path):
    pytest.importorskip("ray")
    from spikeforge.sweep import run_sweep

    cfg = _cfg(budgets=(3.0,), methods=("gauss_newton", "uniform"), seeds=2)
    serial = run_sweep(trained_run, tmp_path / "a", cfg, serial=True, progress=False)
    ray = run_sweep(trained_run, tmp_path / "b", cfg, workers=2, progress=False)
    assert ray["ran"] == serial["ran"] > 0
    assert _strip(ray["points"]) == _strip(serial["points"])


def test_sweep_bram_budgets_with_membranes(trained_run, tmp_path):
    from spikeforge.sweep import run_sweep

    cfg = _cfg(budgets=(2,), unit="bram", scope="all", target="ecp5-25k",
               methods=("gauss_newton", "uniform"), seeds=1, epochs=0)
    s = run_sweep(trained_run, tmp_path / "sw", cfg, serial=True, progress=False)
    for p in s["points"]:
        assert p["cost"] <= 2 and p["state_bits"] is not None
        assert p["result"]["state_bits"] == p["state_bits"]
        assert p["result"]["bits"] == p["bits"]


def test_sweep_cli_table_json_and_bad_input(trained_run, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["sweep", str(trained_run), "-o", str(out), "--budgets", "3", "--methods",
                 "gauss_newton,uniform", "--seeds", "1", "--epochs", "0", "--candidates",
                 "2,3,4,8", "--serial", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["ran"] >= 1 and {r["method"] for r in d["table"]} == {"gauss_newton", "uniform"}
    assert (out / "sweep.json").is_file()
    for argv, msg in [
        (["--methods", "gauss_newton,best"], "--methods: unknown method 'best'"),
        (["--unit", "bram", "--target", "nope"], "--target: unknown target 'nope'"),
        (["--budgets", "1.0", "--serial"], "--budgets: no allocation fits"),
        (["--budgets", "1.0", "--serial"], "the minimum is"),
        (["--unit", "bram", "--target", "ecp5-25k", "--budgets", "0", "--serial"],
         "the minimum is"),
        (["--address", "127.0.0.1:1"], "--address: no Ray cluster answers at 127.0.0.1:1"),
        (["--address", "nonsense"], "--address: 'nonsense' is not a Ray address"),
    ]:
        assert main(["sweep", str(trained_run), "-o", str(tmp_path / "bad"), "--candidates",
                     "2,3,4,8", "--quiet", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "bad" / "sweep.json").exists()


def test_sweep_config_refuses_bad_fields():
    from spikeforge.sweep import SweepConfig

    with pytest.raises(InputError) as e:
        SweepConfig(seeds=0).validate()
    assert e.value.param == "seeds"
    with pytest.raises(InputError) as e:
        SweepConfig(unit="luts").validate()
    assert e.value.param == "unit"


def test_quant_stats_intervals_and_paired_tests():
    from scipy import stats

    from quant.stats import mean_ci, paired_t, spearman_ci

    v = [0.91, 0.93, 0.92, 0.95]
    ci = mean_ci(v)
    lo, hi = stats.t.interval(0.95, 3, loc=np.mean(v), scale=stats.sem(v))
    assert ci["lo"] == pytest.approx(lo) and ci["hi"] == pytest.approx(hi)
    assert math.isnan(mean_ci([0.5])["half"])
    a, b = [0.9, 0.92, 0.95], [0.89, 0.90, 0.94]
    t = paired_t(a, b)
    assert t["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert t["diff"] == pytest.approx(np.mean(np.subtract(a, b)))
    assert paired_t([1, 2], [1, 2])["p_value"] == 1.0
    x = np.arange(20.0)
    s = spearman_ci(x, x ** 3)
    assert s["rho"] == pytest.approx(1.0) and s["hi"] <= 1.0
    s = spearman_ci(x, np.sin(x))
    assert s["lo"] < s["rho"] < s["hi"]
