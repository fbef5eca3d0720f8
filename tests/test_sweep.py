"""``spikeforge sweep``: seeded allocation sweeps, cached points, Ray == serial, statistics."""
from __future__ import annotations

import json
import math
from pathlib import Path

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


def test_sweep_payload_replaces_the_run_directory(trained_run, tmp_path):
    """A task given the shipped run (files + dataset) needs no run directory or data path
    on its node, and computes the same result."""
    import shutil

    from spikeforge.sweep import _RUNS, evaluate_point, run_payload

    task = {"key": "k", "run": str(trained_run), "bits": [3, 2], "state_bits": None,
            "seed": 1, "epochs": 1, "lr": 1e-3, "qat_batches": 2, "test_samples": None,
            "calib_samples": 64, "threads": 1, "targets": []}
    here = evaluate_point(task)
    copy = tmp_path / "copy"
    shutil.copytree(trained_run, copy)
    payload = run_payload(copy)
    shutil.rmtree(copy)
    _RUNS.clear()
    away = evaluate_point({**task, "run": str(tmp_path / "not-on-this-node")}, payload)
    assert {k: v for k, v in here.items() if k != "seconds"} == \
        {k: v for k, v in away.items() if k != "seconds"}
    assert set(payload["files"]) == {"run.json", "model.pt"}


def test_sweep_cluster_env_ships_the_packages():
    from spikeforge.sweep import TASK_PACKAGES, ray_runtime_env

    local = ray_runtime_env(None)
    assert "py_modules" not in local and "PYTHONPATH" in local["env_vars"]
    far = ray_runtime_env("head:6379")
    assert "PYTHONPATH" not in far["env_vars"]
    names = [m.rsplit("/", 1)[-1] for m in far["py_modules"]]
    assert names == list(TASK_PACKAGES)
    for m in far["py_modules"]:
        assert (Path(m) / "__init__.py").is_file(), m
    # MKL's results must not depend on the thread count (a one-thread worker and a
    # process with more threads then compute the same point)
    assert local["env_vars"]["MKL_CBWR"] == far["env_vars"]["MKL_CBWR"] == "AUTO,STRICT"
    import spikeforge.sweep as sw
    src = Path(sw.__file__).read_text()
    imported = {ln.split()[1].split(".")[0] for ln in src.splitlines()
                if ln.strip().startswith(("from ", "import ")) and "." in ln.split()[1]}
    assert imported & {"quant", "pysim", "hwplan", "cost", "spikeforge", "hdl", "sim"} \
        <= set(TASK_PACKAGES)


@pytest.mark.slow
def test_sweep_on_a_started_cluster_matches_serial(trained_run, tmp_path):
    """``spikeforge sweep --address``: a token-authenticated cluster started apart
    (``ray start --head``, not this repository's PYTHONPATH) runs the sweep with the
    packages and the run shipped to it, and gives the serial results."""
    pytest.importorskip("ray")
    import contextlib
    import os
    import secrets
    import shutil
    import signal
    import socket
    import subprocess
    import sys
    import tempfile
    import time

    from spikeforge.sweep import run_sweep

    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.is_file():
        pytest.skip("the ray command line is not installed beside this Python")
    with socket.socket() as sck:
        sck.bind(("127.0.0.1", 0))
        port = sck.getsockname()[1]
    # the same token on the head and the driver (Ray's documented token authentication);
    # the driver is a fresh process, as a user's would be
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    ray_tmp = tempfile.mkdtemp(prefix="sf-ray-")  # Unix socket paths must stay short
    log = open(tmp_path / "head.log", "wb")  # noqa: SIM115 - closed in finally
    head = subprocess.Popen(
        [str(ray_bin), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={ray_tmp}"],
        env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        for _ in range(240):
            if head.poll() is not None:
                pytest.fail("ray start --head exited: "
                            + (tmp_path / "head.log").read_text(errors="replace")[-800:])
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        time.sleep(3)
        run = tmp_path / "run"
        shutil.copytree(trained_run, run)
        cfg = _cfg(budgets=(3.0,), methods=("gauss_newton", "uniform"), seeds=2)
        serial = run_sweep(run, tmp_path / "a", cfg, serial=True, progress=False)
        root = Path(__file__).resolve().parents[1]
        drv = subprocess.run(
            [sys.executable, "-m", "spikeforge.cli", "sweep", str(run), "-o",
             str(tmp_path / "b"), "--budgets", "3", "--methods", "gauss_newton,uniform",
             "--seeds", "2", "--epochs", "1", "--qat-batches", "2", "--candidates",
             "2,3,4,8", "--calib-samples", "64", "--address", f"127.0.0.1:{port}",
             "--quiet", "--json"],
            env={**env, "PYTHONPATH": str(root)}, cwd=tmp_path, capture_output=True,
            text=True, timeout=600, check=False)
        assert drv.returncode == 0, drv.stderr[-2000:]
        far = json.loads(drv.stdout)
        assert far["ran"] == serial["ran"] > 0
        assert _strip(far["points"]) == json.loads(json.dumps(_strip(serial["points"])))
    finally:  # the head's processes (GCS, raylet, workers) share its process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        time.sleep(2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(ray_tmp, ignore_errors=True)


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


@pytest.mark.parametrize("run,argv,msg", [
    ("RUN", ["--calib-samples", "0"], "--calib-samples: must be an integer >= 1, not 0"),
    ("RUN", ["--test-samples", "-1"], "--test-samples: must be an integer >= 1, not -1"),
    ("RUN", ["--qat-batches", "0"], "--qat-batches: must be an integer >= 1, not 0"),
    ("RUN", ["--seeds", "1000000000"], "--seeds: must be at most 10000 seeds per point"),
    ("RUN", ["--budgets", "1.0"], "--budgets: no allocation fits"),
    ("nope", [], "nope: no such run directory"),
])
def test_sweep_cli_bad_counts_or_run_leave_no_output(trained_run, tmp_path, capsys, run,
                                                    argv, msg):
    """--calib-samples 0 (an OverflowError traceback), --test-samples or --qat-batches
    below 1 (accepted: NaN accuracies, or all batches), and a budget or run refused by
    the planner (it left OUT/points behind): one line, exit 2, no output directory."""
    run_dir = trained_run if run == "RUN" else tmp_path / run
    out = tmp_path / "bad"
    assert main(["sweep", str(run_dir), "-o", str(out), "--methods", "uniform", "--seeds", "1",
                 "--epochs", "0", "--candidates", "2,3,4,8", "--serial", "--quiet",
                 *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikeforge: error: "), err
    assert msg in err, err
    assert not out.exists()


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
