"""Verify a design generated with ``--wrap axis`` through its AXI interfaces (cocotbext-axi).

:func:`verify_axis_design` builds the wrapped Verilog with Verilator (the design itself
is the simulation top; cocotb drives the clock), runs :mod:`sim.tb_axis` with random
valid gaps on the input stream and random backpressure on the output stream, and
compares every result packet (prediction, flags, every class score) with the golden
model. Phases: ``stream`` (the samples), ``malformed`` (every input error the checker
detects, each followed by a good sample), ``control`` (registers, interrupt, ENABLE,
soft reset and reset mid-sample, a sample offered while busy).
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwplan import GeneratedDesign
from pysim import IntNetwork, save_network
from pysim.errors import CheckFailed, InputError

from .runner import (
    _MAKE_FIX,
    CONFIG_ENV,
    _env,
    _runtime_cache,
    _store_runtime,
    _tail,
    _verilator_runner,
)
from .tools import simulator_env

__all__ = ["PHASES", "AxisResult", "build_axis", "run_axis", "verify_axis_design"]

PHASES = ("stream", "malformed", "control", "reload")
_TB_MODULE = "sim.tb_axis"


@dataclass(frozen=True)
class AxisResult:
    """Outcome of one wrapper verification run.

    ``mismatches`` counts every packet or register that differed from the expectation
    (0 = pass); ``cases`` names each checked behaviour (True = as specified);
    ``coverage`` counts input stall cycles, output backpressure cycles, merged
    duplicates and resets.
    """

    samples: int
    mismatches: int
    first_mismatch: str | None
    stream_matched: int
    cases: dict[str, bool]
    coverage: dict[str, int]
    sim_seconds: float
    build_seconds: float
    gap: float
    backpressure: float
    verilog_sha256: str | None = None
    phases: tuple[str, ...] = field(default=("stream",))
    reload_matched: int | None = None

    @property
    def passed(self) -> bool:
        return self.mismatches == 0 and all(self.cases.values())

    def as_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "mismatches": self.mismatches,
                "passed": self.passed, "first_mismatch": self.first_mismatch,
                "stream_matched": self.stream_matched, "cases": dict(self.cases),
                "coverage": dict(self.coverage), "sim_seconds": self.sim_seconds,
                "build_seconds": self.build_seconds, "gap": self.gap,
                "backpressure": self.backpressure, "phases": list(self.phases),
                "verilog_sha256": self.verilog_sha256, "wrap": "axis",
                "reload_matched": self.reload_matched}


@dataclass(frozen=True)
class AxisBuild:
    build_dir: Path
    top: str
    portmap: dict[str, Any]
    seconds: float


def build_axis(design: GeneratedDesign, build_dir: Path) -> AxisBuild:
    """Compile a wrapped design with Verilator (cocotb's runner)."""
    if "wrapper" not in design.portmap:
        raise InputError("the design has no wrapper (generate it with --wrap axis)",
                         param="design")
    env = {**simulator_env("verilator"), **_MAKE_FIX}
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    src = build_dir / f"{design.top}.v"
    src.write_text(design.verilog)
    (build_dir / "portmap.json").write_text(json.dumps(design.portmap, indent=2))
    args = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "fast", "--x-initial",
            "fast", "-O3"]
    cache = _runtime_cache(env, args)
    log = build_dir / "build.log"
    t0 = time.perf_counter()
    with _env(env):
        runner = _verilator_runner(public_all=True, cache=cache)
        try:
            runner.build(sources=[src], hdl_toplevel=design.top, build_dir=build_dir / "sim",
                         build_args=args, timescale=("1ns", "1ps"), log_file=log,
                         always=True)
        except (RuntimeError, SystemExit) as exc:
            raise CheckFailed(f"verilator could not build the design: {_tail(log)} "
                              f"(log: {log})") from exc
        if cache is not None:
            _store_runtime(cache, build_dir / "sim")
    return AxisBuild(build_dir=build_dir, top=design.top, portmap=design.portmap,
                     seconds=time.perf_counter() - t0)


def run_axis(build: AxisBuild, net: IntNetwork, spikes: np.ndarray, run_dir: Path, *,
             phases: tuple[str, ...] = ("stream",), gap: float = 0.3,
             backpressure: float = 0.3, seed: int = 0, dup_every: int = 0,
             reload: IntNetwork | None = None) -> AxisResult:
    """Run :mod:`sim.tb_axis` on a built wrapped design.

    ``reload`` (with the ``reload`` phase): a network that differs from ``net`` only in
    its weights, biases and thresholds; the testbench loads them through the weight window and checks every
    sample against its golden model.
    """
    bad = [p for p in phases if p not in PHASES]
    if bad:
        raise InputError(f"unknown phase {bad[0]!r}: choose from {', '.join(PHASES)}",
                         param="phases")
    for name, v in (("gap", gap), ("backpressure", backpressure)):
        if not 0 <= v < 1:
            raise InputError(f"must be a probability in [0, 1), not {v}", param=name)
    x = np.asarray(spikes)
    if x.ndim != 3 or x.shape[1:] != (net.timesteps, net.input_size) or x.shape[0] < 1:
        raise InputError(f"spikes: shape {x.shape} does not match (N >= 1, {net.timesteps}, "
                         f"{net.input_size})")
    run_dir = Path(run_dir).resolve()
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    save_network(net, run_dir / "network")
    if "reload" in phases:
        from hwplan.wrapper import same_but_parameters

        if reload is None or not same_but_parameters(net, reload):
            raise InputError("the reload phase needs a network that differs from the "
                             "design's only in its weights, biases and thresholds",
                             param="reload")
        save_network(reload, run_dir / "reload")
    np.savez(run_dir / "spikes.npz", spikes=x.astype(np.uint8))
    from hwplan import HardwarePlan

    plan = HardwarePlan.from_dict(build.portmap["plan"])
    # per sample: the core's worst case plus the packet and slack for the gaps
    timeout = int(3 * plan.worst_case_cycles() / max(1e-3, 1 - max(gap, backpressure))) \
        + 20_000
    cfg = {"network": str(run_dir / "network"), "spikes": str(run_dir / "spikes.npz"),
           "portmap": str(build.build_dir / "portmap.json"), "phases": list(phases),
           "gap": gap, "backpressure": backpressure, "seed": seed, "timeout": timeout,
           "dup_every": dup_every, "result_json": str(run_dir / "result.json"),
           "reload": str(run_dir / "reload")}
    (run_dir / "config.json").write_text(json.dumps(cfg, indent=2))
    extra = {CONFIG_ENV: str(run_dir / "config.json"),
             "COCOTB_REWRITE_ASSERTION_FILES": "tb_axis.py", "COCOTB_LOG_LEVEL": "WARNING"}
    from cocotb_tools.runner import get_runner

    log = run_dir / "sim.log"
    with _env(simulator_env("verilator")):
        try:
            get_runner("verilator").test(
                test_module=_TB_MODULE, hdl_toplevel=build.top, hdl_toplevel_lang="verilog",
                build_dir=build.build_dir / "sim", test_dir=run_dir, extra_env=extra,
                seed=seed, log_file=log, timescale=("1ns", "1ps"))
        except (RuntimeError, SystemExit):
            pass  # judged from the result file
    res_path = run_dir / "result.json"
    if not res_path.is_file():
        raise CheckFailed(f"verilator testbench produced no result: {_tail(log)} "
                          f"(log: {log})")
    res = json.loads(res_path.read_text())
    if res.get("error"):
        raise CheckFailed(f"testbench error: {res['error']} (log: {log})")
    return AxisResult(samples=int(res["samples"]), mismatches=int(res["mismatches"]),
                      first_mismatch=res["first_mismatch"],
                      stream_matched=int(res["stream_matched"]), cases=res["cases"],
                      coverage=res["coverage"], sim_seconds=float(res["sim_seconds"]),
                      build_seconds=build.seconds, gap=gap, backpressure=backpressure,
                      phases=tuple(phases), reload_matched=res.get("reload_matched"))


def verify_axis_design(net: IntNetwork, design: GeneratedDesign, spikes: np.ndarray, *,
                       samples: int | None = None, build_dir: Path | None = None,
                       phases: tuple[str, ...] = ("stream",), gap: float = 0.3,
                       backpressure: float = 0.3, seed: int = 0, dup_every: int = 0,
                       reload: IntNetwork | None = None) -> AxisResult:
    """Build a wrapped design and verify it through its AXI interfaces (module docstring)."""
    x = np.asarray(spikes)
    if samples is not None:
        if samples < 1:
            raise InputError(f"must be >= 1, not {samples}", param="samples")
        x = x[:samples]
    design.plan.check_network(net, where=str(design.path or "design"))
    simulator_env("verilator")
    tmp = None
    if build_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="spikeforge-axis-")
        build_dir = Path(tmp.name)
    try:
        build = build_axis(design, Path(build_dir) / "axis-build")
        res = run_axis(build, net, x, Path(build_dir) / "axis-run", phases=phases, gap=gap,
                       backpressure=backpressure, seed=seed, dup_every=dup_every,
                       reload=reload)
        from dataclasses import replace

        return replace(res, verilog_sha256=design.sha256)
    finally:
        if tmp is not None:
            tmp.cleanup()
