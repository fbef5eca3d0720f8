"""The end-to-end flow: dataset → trained SNN → Hessian → allocation → QAT + export →
golden check → Verilog → RTL verification → resource estimate → report.

Every stage writes its outputs under the run directory and records, in
``RUN/flow_state.json``, a key made of its configuration and its upstream stages' keys.
A stage whose key is unchanged and whose outputs exist is skipped, so an interrupted
flow resumes where it stopped and a second run with nothing changed does no work. The
hardware stages' keys also hold a fingerprint of the generator and simulator sources
(``CODE_DEPS``), so a run directory made with an older generator is regenerated,
re-verified and re-estimated instead of reporting stale hardware.
Stage outputs are written atomically (staged beside the target, then renamed), and the
state file is updated only after a stage finished, so a kill leaves no corrupt output.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pysim import atomic_path, load_network, load_spikes, simulate
from pysim.atomic import make_dir
from pysim.errors import CheckFailed, InputError
from pysim.util import is_int, to_jsonable

from .config import DEFAULTS, config_to_toml

__all__ = ["CODE_DEPS", "FLOW_VERSION", "HW_STAGES", "STAGES", "STAGE_PARAMS", "Flow",
           "StageRecord", "code_fingerprint"]

FLOW_VERSION = 1

# stage -> (config sections/keys it depends on, upstream stages, outputs relative to RUN)
STAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "train": (("train",), (), ("train/run.json", "train/model.pt")),
    "hessian": (("hessian",), ("train",), ("train/hessian.json",)),
    "allocate": (("quantize",), ("hessian",), ("allocation.json",)),
    "quantize": (("quantize",), ("allocate",), ("net/network.json", "net/weights.npz",
                                                "net/test_spikes.npz")),
    "golden": ((), ("quantize",), ("golden_check.json",)),
    "pareto": (("pareto", "quantize.candidates", "quantize.policy"), ("hessian",),
               ("pareto.json",)),
    "generate": (("verify.lanes",), ("quantize",), ("hw/portmap.json",)),
    "verify": (("verify.samples", "verify.simulator"), ("generate",), ("verify.json",)),
    "estimate": (("estimate",), ("generate",), ("estimate/estimate.json",)),
    "report": ((), ("golden", "pareto", "verify", "estimate"), ("report.md",)),
}

# stage -> library parameter -> the config key it comes from. An InputError a stage
# raises with one of these parameters (``InputError(..., param="bits")``) is shown as
# ``config key 'quantize.bits': ...`` (see pysim.errors).
STAGE_PARAMS: dict[str, dict[str, str]] = {
    "train": {**{k: f"train.{k}" for k in DEFAULTS["train"]},
              "name": "train.dataset", "path": "train.data_path"},
    "hessian": {"methods": "hessian.method", "method": "hessian.method",
                "samples": "hessian.samples", "max_probes": "hessian.probes",
                "min_probes": "hessian.min_probes", "rel_tol": "hessian.tol",
                "seed": "hessian.seed"},
    "allocate": {"bits": "quantize.bits", "avg_bits": "quantize.avg_bits",
                 "budget_bits": "quantize.budget_bits", "candidates": "quantize.candidates",
                 "method": "quantize.policy", "policy": "quantize.policy",
                 "samples": "hessian.samples", "max_probes": "hessian.probes",
                 "budget_bram": "quantize.budget_bram", "target": "quantize.target",
                 "budget_scope": "quantize.budget_scope",
                 "state_policy": "quantize.state_widths"},
    "quantize": {"bits": "quantize.bits", "epochs": "quantize.epochs",
                 "policy": "quantize.policy"},
    "generate": {"lanes": "verify.lanes"},
    "verify": {"samples": "verify.samples", "simulator": "verify.simulator"},
    "estimate": {"targets": "estimate.targets", "pnr": "estimate.pnr",
                 "model_only": "estimate.model_only", "sweep_bits": "estimate.sweep_bits"},
    "pareto": {"avg_bits": "pareto.avg_bits", "uniform_bits": "pareto.uniform_bits",
               "random_seeds": "pareto.random_seeds", "epochs": "pareto.epochs",
               "candidates": "quantize.candidates", "policy": "quantize.policy",
               "seeds": "pareto.seeds", "workers": "pareto.workers",
               "address": "pareto.address"},
}

# Stages whose outputs depend on code beyond their config: the packages whose sources
# (``*.py`` and ``*.json`` files) are fingerprinted into the stage key.
CODE_DEPS: dict[str, tuple[str, ...]] = {
    "generate": ("hwplan", "hdl"),
    "verify": ("sim",),
    "estimate": ("cost",),
}


# The hardware stages: skipped (not failed) for a network the generator does not build yet
# (a convolutional one, until hwplan plans conv2d/sum-pool layers), see Flow.hw_skip_reason.
HW_STAGES = ("generate", "verify", "estimate")


def code_fingerprint(packages: tuple[str, ...]) -> str:
    """A hash of the source files (``*.py``, ``*.json``) of the given top-level packages."""
    h = hashlib.sha256()
    for pkg in packages:
        spec = importlib.util.find_spec(pkg)
        if spec is None or spec.origin is None:
            h.update(f"{pkg}:missing".encode())
            continue
        root = Path(spec.origin).parent
        for f in sorted(root.rglob("*")):
            if f.is_file() and f.suffix in (".py", ".json") and "__pycache__" not in f.parts:
                h.update(f"{pkg}/{f.relative_to(root).as_posix()}\0".encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


@dataclass
class StageRecord:
    """What one stage did in this invocation."""

    name: str
    status: str  # "ran" | "cached" | "skipped"
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)
    cpu_seconds: float | None = None


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished child processes: on
    a shared machine a stage's wall time says how loaded it was, this how much work it
    did (Ray workers count once they have exited)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _hash(obj: Any) -> str:
    text = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def _no_such_data(path: str) -> None:
    raise InputError(f"{path}: no such file or directory", param="data_path")


class Flow:
    """Run (or resume) the whole flow for one configuration in one run directory.

    Parameters
    ----------
    config : dict
        A resolved configuration (:func:`spikeforge.config.load_config`).
    run_dir : path
        Where every stage writes.
    progress : bool
        Show tqdm bars and stage lines on stderr.
    """

    def __init__(self, config: dict[str, dict[str, Any]], run_dir: str | os.PathLike[str], *,
                 progress: bool = True, log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.run = Path(run_dir)
        self.progress = progress
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.state_path = self.run / "flow_state.json"
        self.records: list[StageRecord] = []
        self.keys: dict[str, str] = {}

    # ------------------------------------------------------------------ machinery
    def _cfg_part(self, dotted: str) -> Any:
        section, _, key = dotted.partition(".")
        return self.config[section] if not key else self.config[section][key]

    def stage_key(self, name: str) -> str:
        """The key of stage ``name``: its config and its upstream stages' keys."""
        deps, ups, _ = STAGES[name]
        key = {
            "flow": FLOW_VERSION, "stage": name,
            "config": {d: self._cfg_part(d) for d in deps},
            "upstream": {u: self.keys[u] for u in ups},
        }
        if name in CODE_DEPS:
            key["code"] = code_fingerprint(CODE_DEPS[name])
        return _hash(key)

    def _load_state(self) -> dict[str, Any]:
        if self.state_path.is_file():
            try:
                state = _read_json(self.state_path)
                if isinstance(state, dict) and isinstance(state.get("stages"), dict):
                    return state
            except (json.JSONDecodeError, OSError):
                pass
        return {"flow": FLOW_VERSION, "stages": {}}

    def _save_state(self, state: dict[str, Any]) -> None:
        _write_json(self.state_path, state)

    def run_all(self, stages: list[str] | None = None) -> list[StageRecord]:
        """Run every stage (or the listed ones and what they need), skipping cached ones.

        The whole configuration is checked first (:meth:`check_config`): a bad value is
        refused before the run directory is made or any stage starts.
        """
        wanted = list(STAGES) if stages is None else self._closure(stages)
        self.check_config(wanted)
        data = self.config["train"].get("data_path")
        if "train" in wanted and data is not None and not Path(data).exists():
            # (before the directory and the stage line: it named the path only in the
            # train stage, after '[train] running ...', leaving config.toml behind)
            self._translated("train", lambda: _no_such_data(data))
        make_dir(self.run)
        with atomic_path(self.run / "config.toml") as tmp:
            tmp.write_text(config_to_toml(self.config))
        state = self._load_state()
        for name in wanted:
            key = self.stage_key(name)
            self.keys[name] = key
            skip = self.hw_skip_reason() if name in HW_STAGES else None
            if skip is not None:
                rec = StageRecord(name, "skipped", 0.0, {"skipped": skip})
                state["stages"][name] = {"key": key, "seconds": 0.0, "summary": rec.summary}
                self._save_state(state)
                self._log(f"[{name}] skipped: {skip}")
                self.records.append(rec)
                continue
            prev = state["stages"].get(name, {})
            outputs = [self.run / o for o in STAGES[name][2]]
            if prev.get("key") == key and all(p.exists() for p in outputs):
                rec = StageRecord(name, "cached", float(prev.get("seconds", 0.0)),
                                  prev.get("summary", {}), prev.get("cpu_seconds"))
                self._log(f"[{name}] up to date ({prev.get('seconds', 0.0):.1f} s when run)")
            else:
                self._log(f"[{name}] running ...")
                t0, c0 = time.perf_counter(), _cpu_seconds()
                summary = self._run_stage(name)
                seconds = time.perf_counter() - t0
                cpu = _cpu_seconds() - c0
                rec = StageRecord(name, "ran", seconds, summary or {}, cpu)
                state["stages"][name] = {"key": key, "seconds": seconds, "cpu_seconds": cpu,
                                         "summary": rec.summary}
                self._save_state(state)
                self._log(f"[{name}] done in {seconds:.1f} s")
            self.records.append(rec)
        return self.records

    def check_config(self, wanted: Sequence[str] = tuple(STAGES)) -> None:
        """Check every section's values with the library's own checks, for every stage,
        run or not (the run directory's ``config.toml`` holds them all), so a bad value is
        refused before the first stage rather than when its stage is reached (an
        ``estimate.targets`` typo after the training). What needs the trained network is
        left to its stage: a layer named in ``verify.lanes``, a budget below the
        narrowest allocation. For the stages in ``wanted`` also what costs a lookup: the
        training's memory bound and the Ray address (``pareto.address``).
        """
        from cost.estimate import check_options
        from cost.targets import get_target
        from quant.allocate import check_allocation_options, check_candidates
        from quant.config import check_seed
        from quant.export import check_bits
        from quant.hessian import check_trace_options

        from .pareto import sweep_config

        sizes = self._translated("train", lambda: self._train_config().validate())
        h, q, p = self.config["hessian"], self.config["quantize"], self.config["pareto"]
        v, e = self.config["verify"], self.config["estimate"]

        def hessian() -> None:
            check_trace_options(h["method"], samples=h["samples"], max_probes=h["probes"],
                                min_probes=h["min_probes"], rel_tol=h["tol"])
            check_seed(h["seed"])

        def allocate() -> None:
            check_allocation_options(method=q["policy"], budget_scope=q["budget_scope"],
                                     state_policy=q["state_widths"])
            check_candidates(q["candidates"])
            if q["bits"] is not None:
                check_bits(q["bits"], len(sizes) - 1)
            get_target(q["target"], param="target")

        def verify() -> None:
            if not is_int(v["samples"]) or v["samples"] < 1:
                raise InputError(f"must be an integer >= 1, not {v['samples']!r}",
                                 param="samples")

        self._translated("hessian", hessian)
        self._translated("allocate", allocate)
        def pareto() -> None:
            try:
                sweep_config(avg_bits=p["avg_bits"], uniform_bits=p["uniform_bits"],
                             random_seeds=p["random_seeds"], epochs=p["epochs"],
                             candidates=q["candidates"], policy=q["policy"],
                             seeds=p["seeds"]).validate()
            except InputError as exc:  # (as pareto_sweep renames them)
                raise exc.renamed({"methods": "policy", "budgets": "avg_bits"}) from None

        self._translated("pareto", pareto)
        self._translated("generate", self._lanes)
        self._translated("verify", verify)
        self._translated("estimate", lambda: check_options(
            e["targets"], pnr=e["pnr"] and not e["model_only"], model_only=e["model_only"],
            sweep_bits=e["sweep_bits"]))
        if "train" in wanted:
            from quant.train import check_memory

            # (the bound without the test set: the data is loaded by the stage)
            self._translated("train", lambda: check_memory(self._train_config(), sizes))
        if "pareto" in wanted and p.get("address") is not None:
            from .sweep import check_address

            self._translated("pareto", lambda: check_address(str(p["address"])))

    def _run_stage(self, name: str) -> dict[str, Any]:
        """Run one stage; its InputErrors name the config key a bad value came from."""
        return self._translated(name, getattr(self, f"_stage_{name}"))

    def _translated(self, name: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, its InputErrors naming the config keys of stage ``name``."""
        try:
            return fn()
        except InputError as exc:
            keys = {p: f"config key '{k}'" for p, k in STAGE_PARAMS.get(name, {}).items()}
            shown = exc.renamed(keys)
            if shown is exc:
                raise
            raise shown from None

    def hw_skip_reason(self) -> str | None:
        """Why the hardware stages are skipped for this run's network, or None.

        Only a network beyond version 1 (conv2d or sum-pool layers, a map input) is ever
        skipped, and only when the generator refuses to build it
        (:func:`hwplan.check_realizable`); a dense network's hardware stages always run
        and fail on their own errors as before.
        """
        path = self.run / "net"
        if not (path / "network.json").is_file():
            return None
        net = load_network(path)
        if net.is_dense:
            return None
        from hwplan import check_realizable
        try:
            check_realizable(net)
        except InputError as exc:
            return (f"the hardware generator does not build this network yet "
                    f"({' '.join(str(exc).split())}); the software stages ran")
        return None

    def _closure(self, stages: list[str]) -> list[str]:
        need: set[str] = set()

        def add(s: str) -> None:
            if s not in STAGES:
                raise InputError(f"unknown flow stage {s!r} (stages: {', '.join(STAGES)})")
            if s not in need:
                need.add(s)
                for u in STAGES[s][1]:
                    add(u)

        for s in stages:
            add(s)
        return [s for s in STAGES if s in need]

    # ------------------------------------------------------------------ stages
    def _train_config(self):
        from quant.config import TrainConfig
        return TrainConfig.from_dict(dict(self.config["train"]))

    def _stage_train(self) -> dict[str, Any]:
        from quant.train import train
        cfg = self._train_config()
        cfg.validate()
        result = train(cfg, self.run / "train", progress=self.progress)
        return {"float_accuracy": result.test_accuracy, "epochs": cfg.epochs, "arch": cfg.arch}

    def _stage_hessian(self) -> dict[str, Any]:
        from quant.hessian import traces_for_run
        h = self.config["hessian"]
        res = traces_for_run(self.run / "train", h["method"], samples=h["samples"],
                             max_probes=h["probes"], min_probes=h["min_probes"],
                             rel_tol=h["tol"], seed=h["seed"], recompute=True,
                             progress=self.progress)
        return {"methods": {m: [t.as_dict() for t in ts] for m, ts in res.items()}}

    def _stage_allocate(self) -> dict[str, Any]:
        from quant.allocate import allocate_for_run
        q = self.config["quantize"]
        if q["bits"] is not None:
            from quant.export import check_bits
            n_layers = len(self._train_config().validate()) - 1  # layers with weights
            alloc = {"kind": "fixed", "bits": check_bits(q["bits"], n_layers),
                     "source": "quantize.bits"}
        else:
            bram = q.get("budget_bram")
            a = allocate_for_run(
                self.run / "train",
                avg_bits=None if (q["budget_bits"] or bram is not None) else q["avg_bits"],
                budget_bits=None if bram is not None else q["budget_bits"],
                candidates=tuple(q["candidates"]),
                method=q["policy"], samples=self.config["hessian"]["samples"],
                max_probes=self.config["hessian"]["probes"], progress=self.progress,
                budget_bram=bram, target=q.get("target", "ecp5-25k"),
                budget_scope=q.get("budget_scope", "weights"),
                state_policy=q.get("state_widths", "auto"))
            alloc = {**a.as_dict(), "source": a.meta.get("source", "hessian")}
        _write_json(self.run / "allocation.json", alloc)
        return {"bits": alloc["bits"], "source": alloc["source"]}

    def _stage_quantize(self) -> dict[str, Any]:
        from quant.export import quantize_run
        alloc = _read_json(self.run / "allocation.json")
        states = alloc.get("state_bits")  # chosen by a cost-aware allocation
        res = quantize_run(self.run / "train", self.run / "net", bits=alloc["bits"],
                           epochs=self.config["quantize"]["epochs"], progress=self.progress,
                           state_bits=list(states) if states and all(states) else None)
        return res.as_dict()

    def _stage_golden(self) -> dict[str, Any]:
        """The golden model's test accuracy and the paired float-vs-quantized test.

        Torch integer mode == golden model on every spike and prediction of the test set
        is the quantize stage's check (``quantize_run`` makes it and refuses to write a
        manifest that fails it); this stage reads what quantize recorded (the manifest's
        ``meta["integer_check"]``, written by ``quantize_run``) instead of running it
        again, and computes only what is new: the golden model's accuracy on
        ``net/test_spikes.npz`` and the exact McNemar test of float vs quantized on the
        same samples.
        """
        net = load_network(self.run / "net")
        check = net.meta.get("integer_check")
        if not isinstance(check, dict) or "mismatches" not in check:
            raise InputError(f"{self.run / 'net'}: the manifest records no integer-mode "
                             "check (meta 'integer_check'); run the quantize stage again")
        data = load_spikes(self.run / "net" / "test_spikes.npz", net)
        preds = simulate(net, data.spikes).predictions
        summary = {**check, "golden_accuracy": None}
        if data.labels is not None:
            from quant.stats import mcnemar
            from quant.train import load_run, predict
            float_preds = predict(load_run(self.run / "train").model, data.spikes).numpy()
            float_ok, q_ok = float_preds == data.labels, preds == data.labels
            summary.update({
                "golden_accuracy": float(q_ok.mean()), "float_accuracy": float(float_ok.mean()),
                "mcnemar_float_vs_quantized": mcnemar(float_ok, q_ok)})
        _write_json(self.run / "golden_check.json", summary)
        if check["mismatches"]:
            raise CheckFailed(f"torch integer mode differs from the golden model on "
                              f"{check['mismatches']} spikes/predictions (see "
                              f"{self.run / 'golden_check.json'})")
        return summary

    def _stage_pareto(self) -> dict[str, Any]:
        from .pareto import pareto_sweep
        p = self.config["pareto"]
        q = self.config["quantize"]
        res = pareto_sweep(
            self.run / "train", avg_bits=p["avg_bits"], uniform_bits=p["uniform_bits"],
            random_seeds=p["random_seeds"], epochs=p["epochs"],
            candidates=tuple(q["candidates"]), policy=q["policy"], progress=self.progress,
            seeds=p.get("seeds", 3), workers=p.get("workers", 2), address=p.get("address"),
            out_dir=self.run / "pareto_sweep")
        _write_json(self.run / "pareto.json", res)
        return {"points": len(res["points"]), "seeds": p.get("seeds", 3),
                "evaluations_run": res["sweep"]["ran"],
                "evaluations_cached": res["sweep"]["cached"]}

    def _lanes(self) -> Any:
        from .cmd_hw import parse_lanes
        lanes = self.config["verify"]["lanes"]
        return parse_lanes(None if lanes is None else str(lanes))

    def _stage_generate(self) -> dict[str, Any]:
        import hdl
        net = load_network(self.run / "net")
        design = hdl.generate(net, self.run / "hw", lanes=self._lanes())
        return {"top": design.top, "lanes": design.lanes, "verilog_sha256": design.sha256}

    def _design(self, net: Any) -> Any:
        """The design the generate stage wrote (``RUN/hw``), checked against ``net``."""
        from hwplan import load_design
        return load_design(self.run / "hw", net)

    def _stage_verify(self) -> dict[str, Any]:
        """The RTL of ``RUN/hw`` (what generate wrote) against the golden model."""
        from sim.runner import verify_design
        v = self.config["verify"]
        net = load_network(self.run / "net")
        data = load_spikes(self.run / "net" / "test_spikes.npz", net)
        n = min(v["samples"], data.spikes.shape[0])
        res = verify_design(net, self._design(net), data.spikes[:n], simulator=v["simulator"],
                            build_dir=self.run / "verify_build", progress=self.progress)
        with atomic_path(self.run / "verify_spikes.npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, predictions=res.rtl_predictions,
                     **{f"spikes.{k}": a for k, a in res.rtl_spikes.items()})
        shutil.rmtree(self.run / "verify_build", ignore_errors=True)
        summary = res.as_dict()
        _write_json(self.run / "verify.json", summary)
        if res.mismatches:
            raise CheckFailed(f"RTL differs from the golden model: {res.mismatches} "
                              f"mismatches; first: {res.first_mismatch}")
        return {k: summary[k] for k in ("samples", "mismatches", "cycles_per_sample",
                                        "cycle_bound", "bound_ratio", "samples_per_second",
                                        "verilog_sha256")
                if k in summary}

    def _stage_estimate(self) -> dict[str, Any]:
        from cost.estimate import estimate
        e = self.config["estimate"]
        net = load_network(self.run / "net")
        data = load_spikes(self.run / "net" / "test_spikes.npz", net)
        pnr = e["pnr"] and not e["model_only"]  # model_only: no synthesis, so no P&R either
        rep = estimate(net, targets=e["targets"], design=self._design(net), pnr=pnr,
                       model_only=e["model_only"], sweep_bits=e["sweep_bits"],
                       out_dir=self.run / "estimate", spikes=data.spikes[:256],
                       progress=self.progress)
        out: dict[str, Any] = {"cycles_per_sample": rep.cycles.get("per_sample"),
                               "verilog_sha256": rep.design["sha256"]}
        for t in rep.targets:
            src = t.synth.as_dict() if t.synth else t.model.as_dict()
            out[t.target] = {k: src.get(k) for k in ("luts", "ffs", "bram_count", "fmax_mhz")
                             if k in src}
        return out

    def _stage_report(self) -> dict[str, Any]:
        from .report import write_report
        path = write_report(self.run, self.config)
        return {"report": str(path)}
