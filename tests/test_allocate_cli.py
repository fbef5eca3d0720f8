"""``spikeforge hessian`` / ``spikeforge allocate`` on a tiny trained run, and bad input."""
from __future__ import annotations

import json

import pytest

from spikeforge.cli import main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from quant.train import TrainConfig, train

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("hrun") / "run"
    train(TrainConfig(dataset="digits", arch="64-12-10", timesteps=4, epochs=1,
                      limit_train=128, limit_test=64, seed=0), out, progress=False)
    yield out
    torch.set_num_threads(n)


def test_allocate_cli_hessian_both_writes_json(tiny_run, capsys):
    rc = main(["hessian", str(tiny_run), "--method", "both", "--probes", "6",
               "--min-probes", "3", "--samples", "32", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["methods"]) == {"hutchinson", "gauss_newton"}
    doc = json.loads((tiny_run / "hessian.json").read_text())
    assert doc["format"] == "spikeforge.hessian"
    for m in ("hutchinson", "gauss_newton"):
        layers = doc["methods"][m]
        assert [t["name"] for t in layers] == ["fc1", "fc2"]
        assert [t["n_params"] for t in layers] == [64 * 12, 12 * 10]
        assert all(3 <= t["probes"] <= 6 for t in layers)
    assert all(t["trace"] >= 0 for t in doc["methods"]["gauss_newton"])


def test_allocate_cli_allocate_and_pareto(tiny_run, capsys):
    main(["hessian", str(tiny_run), "--method", "both", "--probes", "6", "--min-probes", "3",
          "--samples", "32", "--json"])
    capsys.readouterr()
    rc = main(["allocate", str(tiny_run), "--avg-bits", "3", "--method", "gauss_newton",
               "--candidates", "2,3,4,8", "--pareto", "2,3,8", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    a = out["allocation"]
    assert a["candidates"] == [2, 3, 4, 8] and len(a["bits"]) == 2
    assert a["used_bits"] <= a["budget_bits"] == 3 * (64 * 12 + 12 * 10)
    assert a["meta"]["source"] == "gauss_newton"
    objs = [p["objective"] for p in out["pareto"]]
    assert objs[0] >= objs[1] >= objs[2]
    assert out["pareto"][-1]["bits"] == [8, 8]
    rc = main(["allocate", str(tiny_run), "--budget-bits", "5000", "--method", "gauss_newton"])
    assert rc == 0 and "bits [" in capsys.readouterr().out


def test_allocate_cli_budget_below_minimum_exit_2(tiny_run, capsys):
    rc = main(["allocate", str(tiny_run), "--budget-bits", "100"])
    err = capsys.readouterr().err
    assert rc == 2 and "below the minimum" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("cmd", [["hessian"], ["allocate", "--avg-bits", "3"]])
def test_allocate_cli_missing_run_exit_2(tmp_path, capsys, cmd):
    rc = main([cmd[0], str(tmp_path / "nope"), *cmd[1:]])
    err = capsys.readouterr().err
    assert rc == 2 and "no such run directory" in err and len(err.strip().splitlines()) == 1


def test_allocate_cli_wrong_candidates_exit_2(tiny_run, capsys):
    rc = main(["allocate", str(tiny_run), "--avg-bits", "3", "--candidates", "1,4"])
    assert rc == 2 and "--candidates" in capsys.readouterr().err


def test_allocate_cli_needs_a_budget(tiny_run, capsys):
    rc = main(["allocate", str(tiny_run)])
    assert rc == 2 and "one of the arguments" in capsys.readouterr().err


def test_allocate_for_run_api_reuses_cached_traces(tiny_run):
    from pysim.errors import InputError
    from quant.allocate import allocate_for_run
    from quant.hessian import load_traces, traces_for_run

    first = traces_for_run(tiny_run, ("gauss_newton",), samples=16, max_probes=4,
                           min_probes=2, recompute=True, progress=False)
    again = traces_for_run(tiny_run, ("gauss_newton",), samples=16, max_probes=50,
                           progress=False)  # cached: not recomputed
    assert again == first == {"gauss_newton": load_traces(tiny_run / "hessian.json",
                                                          "gauss_newton")}
    a = allocate_for_run(tiny_run, avg_bits=2.5, candidates=(2, 3, 4), method="gauss_newton",
                         progress=False)
    assert a.average_bits <= 2.5 and a.meta["source"] == "gauss_newton"
    assert "quantize_weight" in a.meta["quantizer"]
    with pytest.raises(InputError, match="exactly one"):
        allocate_for_run(tiny_run, avg_bits=3, budget_bits=3000)
    with pytest.raises(InputError, match="below the minimum"):
        allocate_for_run(tiny_run, avg_bits=1.5, method="gauss_newton")


@pytest.mark.parametrize("argv, msg", [
    (["--avg-bits", "3", "--method", "best"], "--method: must be one of"),
    (["--budget-bram", "4", "--target", "nope"], "--target: unknown target 'nope'"),
    (["--budget-bram", "0", "--target", "ecp5-25k", "--method", "gauss_newton"],
     "the minimum is"),
])
def test_allocate_cli_bad_method_target_budget_exit_2(tiny_run, capsys, argv, msg):
    rc = main(["allocate", str(tiny_run), "--samples", "32", "--json", *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and msg in err and len(err.splitlines()) == 1, err


def test_allocate_cli_hutchinson_negative_trace_falls_back_per_layer(tiny_run, capsys):
    main(["hessian", str(tiny_run), "--method", "both", "--probes", "6", "--min-probes", "3",
          "--samples", "32", "--json"])
    capsys.readouterr()
    path = tiny_run / "hessian.json"
    saved = path.read_text()
    doc = json.loads(saved)
    hut = doc["methods"]["hutchinson"]
    gn = doc["methods"]["gauss_newton"]
    hut[0].update(trace=-5.0, stderr=0.5)  # fc1 significantly negative
    hut[1].update(trace=abs(hut[1]["trace"]) + 1.0, stderr=0.01)  # fc2 positive, significant
    path.write_text(json.dumps(doc))
    try:
        with pytest.warns(UserWarning, match="fc1"):
            rc = main(["allocate", str(tiny_run), "--avg-bits", "3", "--method", "hutchinson",
                       "--candidates", "2,3,4,8", "--json"])
        assert rc == 0
        meta = json.loads(capsys.readouterr().out)["allocation"]["meta"]
        assert meta["source"] == "hutchinson" and list(meta["fallback"]) == ["fc1"]
        scale = hut[1]["trace"] / gn[1]["trace"]
        assert meta["fallback"]["fc1"]["used"] == pytest.approx(scale * gn[0]["trace"])
        assert [t["trace"] for t in meta["traces"]][1] == hut[1]["trace"]
    finally:
        path.write_text(saved)
