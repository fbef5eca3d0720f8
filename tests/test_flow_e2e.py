"""The whole flow on a tiny digits configuration: runs, resumes, skips what is unchanged."""
from __future__ import annotations

import hashlib
import json

import pytest
from toolcheck import need_verilator

from pysim import load_network
from spikeforge.config import load_config
from spikeforge.flow import STAGES, Flow

pytest.importorskip("torch")

TINY = {
    "train.arch": "64-12-10", "train.epochs": 1, "train.timesteps": 4,
    "train.limit_train": 300, "train.limit_test": 40, "train.batch_size": 64,
    "hessian.probes": 4, "hessian.min_probes": 2, "hessian.samples": 32,
    "quantize.epochs": 0, "quantize.avg_bits": 4.0,
    "pareto.avg_bits": [3.0], "pareto.uniform_bits": [4], "pareto.random_seeds": 1,
    "pareto.epochs": 0, "pareto.workers": 1,
    "verify.samples": 4,
    "estimate.model_only": True, "estimate.pnr": False, "estimate.targets": ["ecp5-25k"],
    "estimate.sweep_bits": [2, 4],
}


@pytest.mark.rtl
def test_flow_runs_resumes_and_skips(tmp_path):
    need_verilator()
    run = tmp_path / "run"
    cfg = load_config(None, TINY)
    records = Flow(cfg, run, progress=False).run_all()
    assert [r.name for r in records] == list(STAGES)
    assert all(r.status == "ran" for r in records)
    net = load_network(run / "net")
    assert net.weight_memory_bits <= 4 * net.n_weights
    golden = json.loads((run / "golden_check.json").read_text())
    verify = json.loads((run / "verify.json").read_text())
    assert golden["mismatches"] == 0 and verify["mismatches"] == 0 and verify["samples"] == 4
    report = (run / "report.md").read_text()
    assert "RTL vs golden model | 0 mismatches on 4 samples" in report
    assert (run / "raster.png").stat().st_size > 1000
    # verify and estimate consumed the Verilog the generate stage wrote, named by its hash
    shipped = hashlib.sha256((run / "hw" / "spikeforge_top.v").read_bytes()).hexdigest()
    estimate = json.loads((run / "estimate" / "estimate.json").read_text())
    assert verify["verilog_sha256"] == shipped == estimate["design"]["sha256"]
    assert f"Verilog verified (RTL simulation) | `{shipped}` (the file in hw/)" in report
    assert f"Verilog estimated (synthesis, model) | `{shipped}` (the file in hw/)" in report
    plan = json.loads((run / "hw" / "portmap.json").read_text())["plan"]
    assert [lp["name"] for lp in plan["layers"]] == [la.name for la in net.layers]

    # Nothing changed: every stage is skipped.
    again = Flow(cfg, run, progress=False).run_all()
    assert all(r.status == "cached" for r in again)

    # A verify-only knob reruns verify and what depends on it, nothing upstream.
    cfg2 = load_config(None, {**TINY, "verify.samples": 3})
    third = {r.name: r.status for r in Flow(cfg2, run, progress=False).run_all()}
    assert third["verify"] == "ran" and third["report"] == "ran"
    assert all(third[s] == "cached" for s in ("train", "hessian", "quantize", "generate"))


def test_flow_interrupted_stage_resumes(tmp_path, monkeypatch):
    """A stage killed midway leaves no state entry; the next run redoes only that stage."""
    run = tmp_path / "run"
    cfg = load_config(None, TINY)
    calls = []

    def boom(self):
        calls.append("allocate")
        raise KeyboardInterrupt

    monkeypatch.setattr(Flow, "_stage_allocate", boom)
    with pytest.raises(KeyboardInterrupt):
        Flow(cfg, run, progress=False).run_all(["allocate"])
    state = json.loads((run / "flow_state.json").read_text())
    assert set(state["stages"]) == {"train", "hessian"}
    assert not (run / "allocation.json").exists()
    monkeypatch.undo()
    records = {r.name: r.status for r in Flow(cfg, run, progress=False).run_all(["allocate"])}
    assert records == {"train": "cached", "hessian": "cached", "allocate": "ran"}
    assert json.loads((run / "allocation.json").read_text())["bits"]
    assert not list(run.glob(".*.tmp"))


def test_flow_generator_change_redoes_hardware_stages(tmp_path, monkeypatch):
    """A changed generator source reruns generate (not the frontend) in an old run dir."""
    import spikeforge.flow as flow_mod

    run = tmp_path / "run"
    cfg = load_config(None, TINY)
    first = {r.name: r.status for r in Flow(cfg, run, progress=False).run_all(["generate"])}
    assert first["generate"] == "ran"
    same = {r.name: r.status for r in Flow(cfg, run, progress=False).run_all(["generate"])}
    assert all(status == "cached" for status in same.values())

    real = flow_mod.code_fingerprint
    monkeypatch.setattr(flow_mod, "code_fingerprint",
                        lambda pkgs: real(pkgs) + ("-new" if "hdl" in pkgs else ""))
    after = {r.name: r.status for r in Flow(cfg, run, progress=False).run_all(["generate"])}
    assert after["generate"] == "ran"
    assert all(after[s] == "cached" for s in ("train", "hessian", "allocate", "quantize"))


def test_flow_code_fingerprint_tracks_sources(tmp_path, monkeypatch):
    """The fingerprint changes with a package's source and is stable otherwise."""
    from spikeforge.flow import code_fingerprint

    pkg = tmp_path / "fakegen"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    a = code_fingerprint(("fakegen",))
    assert code_fingerprint(("fakegen",)) == a
    (pkg / "__init__.py").write_text("X = 2\n")
    assert code_fingerprint(("fakegen",)) != a
