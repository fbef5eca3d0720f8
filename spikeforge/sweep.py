"""Seeded sweeps of allocations: budgets x methods x seeds, each point a QAT fine-tune
scored by the golden model, run as Ray tasks (or serially), cached and resumable.

A *point* is (budget, method, seed). The driver solves every point's allocation (cheap:
the sensitivities and the membrane profile are cached in the run directory), then each
distinct evaluation — (weight widths, state widths, seed) — runs once as a task:

1. the run's float model is calibrated at those widths (scales, thresholds; state widths
   forced when the allocation chose them, else measured as ``quantize`` does);
2. ``epochs`` of QAT (STE, clamp) on the run's training batches, the data order and
   input spikes drawn from the seed (seed 0 is the order ``spikeforge quantize`` uses);
3. export to the integer network, golden model (``pysim.simulate``) on the run's test
   spikes: accuracy and per-sample correctness (for paired tests).

An evaluation's result is cached in ``OUT/points/<key>.json``, ``key`` a hash of all its
inputs (the run's model and config, widths, seed, QAT settings, test samples), so an
interrupted sweep resumes and a re-run skips finished points. A task computes with one
torch thread (``threads``), so Ray and a serial loop give identical results.

Ray: a local Ray with ``workers`` CPUs is started by default (no setup); ``address``
joins a running cluster (``ray start --head`` on one node, ``ray start --address`` on the
others; nothing of spikeforge installed there). Everything a task needs travels with the
sweep, so the nodes need neither this repository nor the run's files nor its dataset:
the packages a task imports (:data:`TASK_PACKAGES`) go as the job's ``py_modules``, and
the run (``run.json``, ``model.pt``) and its loaded dataset go once into the cluster's
object store (:func:`run_payload`). An address that does not answer is refused in one
line.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pysim.atomic import make_dir
from pysim.errors import InputError
from quant.config import AllocateConfig, QuantizeConfig

__all__ = [
    "BASELINES",
    "METHODS",
    "MKL_CBWR",
    "SENSITIVITIES",
    "TASK_PACKAGES",
    "UNITS",
    "SweepConfig",
    "SweepPoint",
    "check_address",
    "evaluate_point",
    "plan_points",
    "plot_sweep",
    "ray_runtime_env",
    "run_payload",
    "run_sweep",
    "summarize",
]

_A, _Q = AllocateConfig(), QuantizeConfig()
SENSITIVITIES = ("auto", "hutchinson", "gauss_newton", "measured")
"""Methods that are the MILP optimum of a sensitivity."""
BASELINES = ("uniform", "random", "reversed")
"""Baselines (computed on the sweep's reference sensitivity)."""
METHODS = SENSITIVITIES + BASELINES
UNITS = ("avg_bits", "budget_bits", "bram")
"""What the budgets are: average bits (per weight, or per stored value with scope "all"),
total bits, or block RAMs of ``target``."""
POINT_VERSION = 1


MAX_SEEDS = 10_000
"""Most QAT seeds per sweep point (``seeds``, ``random_seeds``)."""


@dataclass(frozen=True)
class SweepConfig:
    """Everything a sweep depends on.

    Attributes
    ----------
    budgets : the budgets, in ``unit``
    unit : "avg_bits", "budget_bits" or "bram"
    methods : allocation methods (:data:`METHODS`)
    seeds : QAT seeds per point (0..seeds-1)
    random_seeds : seeds of the random baseline (its allocation is drawn from the seed);
        None: ``seeds``
    reference : the sensitivity the baselines use (None: the first sensitivity in
        ``methods``, else "auto")
    epochs, lr : QAT epochs and learning rate per point
    qat_batches : at most this many training batches per QAT epoch (None: all)
    test_samples : score on the first N test samples (None: all)
    calib_samples : training samples of the calibration
    candidates : weight widths
    scope, state_policy, target : of the cost-aware allocation (see quant.allocate)
    uniform_bits : extra uniform points at these widths (every layer, any budget)
    threads : torch threads per task
    targets : estimate every point's network on these targets too (the calibrated
        resource model of ``cost``: LUTs, FFs, block RAMs; no synthesis run)
    """

    budgets: tuple[float, ...] = (2.5, 3.0, 4.0)
    unit: str = "avg_bits"
    methods: tuple[str, ...] = ("auto", "uniform", "random", "reversed")
    seeds: int = 3
    random_seeds: int | None = None
    reference: str | None = None
    epochs: int = 1
    lr: float = _Q.lr
    qat_batches: int | None = None
    test_samples: int | None = None
    calib_samples: int = _Q.calib_samples
    candidates: tuple[int, ...] = _A.candidates
    scope: str = _A.budget_scope
    state_policy: str = _A.state_policy
    target: str = _A.target
    uniform_bits: tuple[int, ...] = ()
    threads: int = 1
    targets: tuple[str, ...] = ()

    def validate(self) -> SweepConfig:
        """Check every field (InputError naming it); return self."""
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise InputError(f"unknown method {bad[0] if bad else ''!r}: choose from "
                             f"{', '.join(METHODS)}", param="methods")
        if self.unit not in UNITS:
            raise InputError(f"must be one of {', '.join(UNITS)}, not {self.unit!r}",
                             param="unit")
        if self.unit == "bram" or self.targets:
            from cost.targets import get_target
            get_target(self.target, param="target")
            for t in self.targets:
                get_target(t)
        for name in ("seeds", "epochs", "threads", "calib_samples", "random_seeds",
                     "qat_batches", "test_samples"):
            v = getattr(self, name)
            if v is None and name in ("random_seeds", "qat_batches", "test_samples"):
                continue
            lo = 0 if name == "epochs" else 1
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise InputError(f"must be an integer >= {lo}, not {v!r}", param=name)
            if name in ("seeds", "random_seeds") and v > MAX_SEEDS:
                # (every point is a QAT run: more seeds than this is a typo, and the
                # points are enumerated up front)
                raise InputError(f"must be at most {MAX_SEEDS} seeds per point, not {v}",
                                 param=name)
        if not self.budgets and not self.uniform_bits:
            raise InputError("no budget given", param="budgets")
        for b in self.budgets:
            if not (isinstance(b, (int, float)) and math.isfinite(b) and b >= 0):
                raise InputError(f"every budget must be a number >= 0, not {b!r}",
                                 param="budgets")
        from quant.allocate import check_candidates

        cands = check_candidates(self.candidates)
        for ub in self.uniform_bits:
            if ub not in cands:
                raise InputError(f"uniform width {ub} is not a candidate ({list(cands)})",
                                 param="uniform_bits")
        if self.reference is not None and self.reference not in SENSITIVITIES:
            raise InputError(f"must be one of {', '.join(SENSITIVITIES)}, not "
                             f"{self.reference!r}", param="reference")
        return self

    @property
    def reference_method(self) -> str:
        """The sensitivity of the baselines."""
        if self.reference is not None:
            return self.reference
        return next((m for m in self.methods if m in SENSITIVITIES), "auto")

    @property
    def problem_unit(self) -> str:
        """The allocation problem's cost unit."""
        if self.unit == "bram":
            return "bram"
        return "weight_bits" if self.scope == "weights" else "memory_bits"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class SweepPoint:
    """One (budget, method, seed) of a sweep with its allocation and, once run, result."""

    budget: float | None
    method: str
    seed: int
    bits: list[int]
    state_bits: list[int] | None
    cost: float
    weight_bits: int
    memory_bits: int | None
    objective: float
    key: str = ""
    result: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the per-sample correctness left out)."""
        d = asdict(self)
        d["result"] = {k: v for k, v in self.result.items() if k != "correct"}
        return d


# --------------------------------------------------------------------------- planning
def _run_digest(run_dir: Path) -> str:
    h = hashlib.sha256()
    for name in ("run.json", "model.pt"):
        p = run_dir / name
        if p.is_file():
            h.update(name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def plan_points(run_dir: str | os.PathLike[str], cfg: SweepConfig, *,
                progress: bool = True) -> list[SweepPoint]:
    """Every point of the sweep with its allocation (no fine-tuning yet).

    A budget below what every allocation needs is refused (InputError, naming the
    minimum); a baseline whose allocation does not exist at a budget is skipped.
    """
    from quant.allocate import problem_budget, problem_for_run

    cfg.validate()
    run_dir = Path(run_dir)
    probs: dict[str, Any] = {}

    def problem(method: str) -> Any:
        if method not in probs:
            try:
                probs[method] = problem_for_run(
                    run_dir, candidates=cfg.candidates, method=method, progress=progress,
                    unit=cfg.problem_unit, target=cfg.target, budget_scope=cfg.scope,
                    state_policy=cfg.state_policy, profile_samples=cfg.calib_samples)
            except InputError as exc:
                raise exc.renamed({"budget_scope": "scope"}) from None
        return probs[method]

    def budget_of(prob: Any, b: float) -> float:
        kw = {"avg_bits": float(b)} if cfg.unit == "avg_bits" else (
            {"budget_bits": int(b)} if cfg.unit == "budget_bits" else {"budget_bram": int(b)})
        return problem_budget(prob, **kw)

    points = []
    n_random = cfg.random_seeds or cfg.seeds
    ref = problem(cfg.reference_method)
    for b in cfg.budgets:
        budget = budget_of(ref, b)
        if budget < ref.min_cost - 1e-9:
            raise ref._min_error(budget).renamed({"budget_bits": "budgets",
                                                  "budget_bram": "budgets"})
        for method in cfg.methods:
            seeds = range(n_random if method == "random" else cfg.seeds)
            for seed in seeds:
                if method in SENSITIVITIES:
                    p = problem(method)
                    alloc = p.solve(budget, kind=p.meta.get("kind", "hessian"))
                elif method == "uniform":
                    alloc = ref.uniform(budget)
                elif method == "reversed":
                    alloc = ref.reversed(budget)
                else:
                    alloc = ref.random(budget, seed=seed)
                points.append(_point(b, method, seed, alloc))
    for ub in cfg.uniform_bits:
        sub = ref.restrict(lambda i, o, ub=ub: o[0] == int(ub))
        if sub is None:
            raise InputError(f"uniform width {ub} is not a candidate", param="uniform_bits")
        for seed in range(cfg.seeds):
            a = sub.solve(sum(float(c.max()) for c in sub.cost), kind="uniform")
            a = ref.make([ref.options[i].index(o) for i, o in
                          enumerate(zip(a.bits, a.state_bits))], a.budget, "uniform")
            points.append(_point(None, f"uniform{int(ub)}", seed, a))
    digest = _run_digest(run_dir)
    for p in points:
        p.key = point_key(digest, p, cfg)
    return points


def _point(budget: float | None, method: str, seed: int, alloc: Any) -> SweepPoint:
    states = alloc.state_bits
    if states is not None and all(w == 0 for w in states):
        states = None  # the calibration measures the state widths (weight-bit budgets)
    return SweepPoint(budget=None if budget is None else float(budget), method=method,
                      seed=int(seed), bits=[int(b) for b in alloc.bits],
                      state_bits=None if states is None else [int(w) for w in states],
                      cost=float(alloc.used), weight_bits=int(alloc.used_bits),
                      memory_bits=alloc.memory_bits, objective=float(alloc.objective))


def point_key(run_digest: str, p: SweepPoint, cfg: SweepConfig) -> str:
    """Hash of an evaluation's inputs (the cache key)."""
    spec = {"v": POINT_VERSION, "run": run_digest, "bits": p.bits, "state_bits": p.state_bits,
            "seed": p.seed, "epochs": cfg.epochs, "lr": cfg.lr, "qat_batches": cfg.qat_batches,
            "test_samples": cfg.test_samples, "calib_samples": cfg.calib_samples,
            "threads": cfg.threads}
    if cfg.targets:
        spec["targets"] = list(cfg.targets)
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


# --------------------------------------------------------------------------- one point
_RUNS: dict[str, Any] = {}
RUN_FILES = ("run.json", "model.pt")
"""The files of a training run a task loads (the float model and its config)."""


def run_payload(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """What a task on another machine needs of a run: its files and its loaded dataset.

    ``{"digest", "files": {name: bytes}, "dataset": quant.data.Dataset}``; a worker given
    it (:func:`evaluate_point`'s ``payload``) writes the files to a private temporary
    directory and uses the dataset as it is, so neither the run directory nor the
    dataset's path has to exist on the worker's node.
    """
    from quant.train import load_run

    d = Path(run_dir)
    run = load_run(d)
    return {"digest": _run_digest(d), "files": {n: (d / n).read_bytes() for n in RUN_FILES},
            "dataset": run.dataset()}


def _payload_run(payload: dict[str, Any]) -> Any:
    """The run of a payload: its files written to a temporary directory, loaded (into
    memory: a task reads nothing of the directory afterwards) and the directory removed."""
    import shutil
    import tempfile

    from quant.train import load_run

    tmp = Path(tempfile.mkdtemp(prefix="spikeforge-run-"))
    try:
        for name, data in payload["files"].items():
            (tmp / name).write_bytes(data)
        run = load_run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    run._dataset = payload["dataset"]
    return run


def _loaded(run_dir: str, calib_samples: int, test_samples: int | None,
            payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run, its calibration and test spikes, loaded once per process."""
    where = run_dir if payload is None else f"payload:{payload['digest']}"
    key = f"{where}|{calib_samples}|{test_samples}"
    if key not in _RUNS:
        from quant.train import evaluate, load_run

        run = load_run(run_dir) if payload is None else _payload_run(payload)
        test_x, test_y = run.test_spikes()
        if test_samples is not None:
            test_x, test_y = test_x[:test_samples], test_y[:test_samples]
        calib_x, _ = run.train_spikes(calib_samples)
        _RUNS.clear()
        _RUNS[key] = {"run": run, "test_x": test_x, "test_y": np.asarray(test_y),
                      "calib_x": calib_x,
                      "float_accuracy": evaluate(run.model, test_x, test_y)}
    return _RUNS[key]


def evaluate_point(task: dict[str, Any], payload: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """Fine-tune and score one evaluation (a task's body; see the module docstring).

    ``task`` holds ``run``, ``bits``, ``state_bits`` (or None), ``seed``, ``epochs``,
    ``lr``, ``qat_batches``, ``test_samples``, ``calib_samples``, ``threads``. With a
    ``payload`` (:func:`run_payload`) the run comes from it and ``task["run"]`` is not
    read: the result is the same.
    Returns accuracy, float accuracy, the exported widths and memory, seconds and the
    per-sample correctness (``correct``, packed bits in base64).
    """
    import torch

    from pysim import simulate
    from quant.export import export
    from quant.qat import calibrate, qat_finetune

    t0 = time.perf_counter()
    torch.set_num_threads(int(task["threads"]))
    d = _loaded(str(task["run"]), int(task["calib_samples"]), task["test_samples"], payload)
    run = d["run"]
    model = copy.deepcopy(run.model)
    seed = int(task["seed"])
    torch.manual_seed(run.cfg.seed + 7919 * seed)
    calibrate(model, list(task["bits"]), d["calib_x"], method=_Q.method, headroom=_Q.headroom,
              state_bits=task["state_bits"])
    limit = task["qat_batches"]
    offset = 1000 + 100_003 * seed  # seed 0: the epochs spikeforge quantize uses

    def batches(e: int):
        it = run.train_batches(offset + e)
        return it if limit is None else itertools.islice(it, int(limit))

    qat_finetune(model, batches, epochs=int(task["epochs"]), lr=float(task["lr"]),
                 progress=False)
    net = export(model)
    preds = simulate(net, d["test_x"]).predictions
    ok = preds == d["test_y"]
    hw = {}
    for name in task.get("targets") or ():
        from cost.resources import estimate_network

        e = estimate_network(net, target=name)
        hw[name] = {"luts": e.luts, "ffs": e.ffs, "bram_units": e.bram_units,
                    "bram_bits": e.bram_bits, "fits": e.fits()}
    return {
        **({"estimate": hw} if hw else {}),
        "accuracy": float(ok.mean()), "float_accuracy": float(d["float_accuracy"]),
        "bits": [layer.weight_bits for layer in net.neuron_layers],
        "state_bits": [layer.state_bits for layer in net.neuron_layers],
        "weight_memory_bits": int(net.weight_memory_bits),
        "membrane_bits": int(net.membrane_memory_bits),
        "samples": int(ok.size), "seconds": time.perf_counter() - t0,
        "correct": base64.b64encode(np.packbits(ok).tobytes()).decode(),
    }


def correct_of(result: dict[str, Any]) -> np.ndarray:
    """The per-sample correctness of a result (unpacked)."""
    raw = np.frombuffer(base64.b64decode(result["correct"]), dtype=np.uint8)
    return np.unpackbits(raw)[: int(result["samples"])].astype(bool)


# --------------------------------------------------------------------------- Ray
def check_address(address: str, timeout: float = 5.0) -> None:
    """Refuse (InputError, one line) a Ray address nothing answers on.

    ``address`` is ``host:port`` or ``ray://host:port``; "auto" and "local" are Ray's
    own and pass.
    """
    if address in ("auto", "local"):
        return
    a = address.split("://", 1)[-1]
    host, _, port = a.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"{address!r} is not a Ray address like host:6379 or "
                         "ray://host:10001", param="address")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise InputError(f"no Ray cluster answers at {address} ({exc.strerror or exc})",
                         param="address") from None


MKL_CBWR = "AUTO,STRICT"
"""MKL's conditional numerical reproducibility mode for the tasks: with it, MKL's float
results do not depend on the number of threads (measured: a dense fine-tune with one and
with two torch threads otherwise differed in one test image of 10,000; with it they
agree), so a point gives the same result in a one-thread Ray worker and in a process with
more threads. Set in every Ray worker's environment; a process that runs points itself
must have it in its environment before its first MKL call (``scripts/bench_allocation.py``
sets it first thing)."""

TASK_PACKAGES = ("quant", "pysim", "hwplan", "cost", "spikeforge")
"""The packages a task imports; a cluster job ships them (``py_modules``)."""


def ray_runtime_env(address: str | None) -> dict[str, Any]:
    """The Ray job's runtime environment: one thread per BLAS/OpenMP pool in every
    worker; on this machine the repository on ``PYTHONPATH``, on a cluster
    (``address``) the packages themselves as ``py_modules``."""
    root = Path(__file__).resolve().parents[1]
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_CBWR": os.environ.get("MKL_CBWR", MKL_CBWR)}
    if address is None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
        return {"env_vars": env}
    return {"env_vars": env, "py_modules": [str(root / m) for m in TASK_PACKAGES]}


def _ray_start(workers: int, address: str | None) -> Any:
    import ray

    if ray.is_initialized():
        return ray
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if address is None:
        ray.init(num_cpus=int(workers), include_dashboard=False, log_to_driver=False,
                 object_store_memory=200 * 1024 * 1024, configure_logging=False,
                 runtime_env=ray_runtime_env(None))
    else:
        check_address(address)
        ray.init(address=address, log_to_driver=False, configure_logging=False,
                 runtime_env=ray_runtime_env(address))
    return ray


def _run_tasks(tasks: list[dict[str, Any]], *, serial: bool, workers: int,
               address: str | None, done: Callable[[dict[str, Any], dict[str, Any]], None]
               ) -> None:
    if serial:
        for t in tasks:
            done(t, evaluate_point(t))
        return
    ray = _ray_start(workers, address)
    remote = ray.remote(num_cpus=1, max_retries=1)(evaluate_point)
    if address is None:  # the workers share this machine's files
        refs = {remote.remote(t): t for t in tasks}
    else:  # one copy of the run and its data in the object store, for every node
        runs = {t["run"] for t in tasks}
        shipped = {r: ray.put(run_payload(r)) for r in runs}
        refs = {remote.remote(t, shipped[t["run"]]): t for t in tasks}
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for r in ready:
            done(refs[r], ray.get(r))


def run_sweep(run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
              cfg: SweepConfig, *, serial: bool = False, workers: int = 2,
              address: str | None = None, progress: bool = True,
              shutdown: bool = True) -> dict[str, Any]:
    """Plan, run (cached) and summarize a sweep; write ``OUT/sweep.json`` and the plot.

    ``serial`` runs the points in this process (no Ray); else a local Ray with
    ``workers`` CPUs, or the cluster at ``address``. Returns the summary
    (:func:`summarize`) with ``points``, ``table``, ``tests``, ``ran``, ``cached`` and
    ``seconds``.
    """
    from tqdm import tqdm

    from pysim import atomic_path

    t0 = time.perf_counter()
    if address is not None:
        check_address(address)
    if not serial and (not isinstance(workers, int) or workers < 1):
        raise InputError(f"must be an integer >= 1, not {workers!r}", param="workers")
    out = Path(out_dir)
    cache = out / "points"
    points = plan_points(run_dir, cfg, progress=progress)  # refuses a bad run or budget
    make_dir(cache)
    results: dict[str, dict[str, Any]] = {}
    todo: dict[str, dict[str, Any]] = {}
    for p in points:
        f = cache / f"{p.key}.json"
        if p.key in results or p.key in todo:
            continue
        if f.is_file():
            try:
                results[p.key] = json.loads(f.read_text())
                continue
            except ValueError:
                pass
        todo[p.key] = {"key": p.key, "run": str(Path(run_dir).resolve()), "bits": p.bits,
                       "state_bits": p.state_bits, "seed": p.seed, "epochs": cfg.epochs,
                       "lr": cfg.lr, "qat_batches": cfg.qat_batches,
                       "test_samples": cfg.test_samples, "calib_samples": cfg.calib_samples,
                       "threads": cfg.threads, "targets": list(cfg.targets)}
    cached = len(results)
    bar = tqdm(total=len(todo), desc=f"sweep ({cached} cached)", disable=not progress,
               unit="point", file=sys.stderr)

    def done(task: dict[str, Any], res: dict[str, Any]) -> None:
        results[task["key"]] = res
        with atomic_path(cache / f"{task['key']}.json") as tmp:
            Path(tmp).write_text(json.dumps(res) + "\n")
        bar.update(1)

    try:
        _run_tasks(list(todo.values()), serial=serial, workers=workers, address=address,
                   done=done)
    finally:
        bar.close()
        if not serial and shutdown:
            import ray
            if ray.is_initialized():
                ray.shutdown()
    for p in points:
        p.result = results[p.key]
    summary = summarize(points, cfg)
    summary.update({"ran": len(todo), "cached": cached,
                    "seconds": time.perf_counter() - t0, "config": cfg.as_dict(),
                    "run": str(run_dir)})
    with atomic_path(out / "sweep.json") as tmp:
        Path(tmp).write_text(json.dumps(_jsonable(summary), indent=1) + "\n")
    img = plot_sweep(summary, out / "sweep.png")
    summary["plot"] = img
    return summary


def _jsonable(obj: Any) -> Any:
    from pysim.util import to_jsonable

    def clean(o: Any) -> Any:
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o
    return clean(to_jsonable(obj))


# --------------------------------------------------------------------------- summary
def summarize(points: Sequence[SweepPoint], cfg: SweepConfig) -> dict[str, Any]:
    """The table (mean accuracy and 95% interval over seeds per budget and method) and
    the paired tests of each method against the first sensitivity method at each budget
    (paired t over seeds; McNemar on the per-sample correctness pooled over seeds)."""
    from quant.stats import mcnemar, mean_ci, paired_t

    groups: dict[tuple[Any, str], list[SweepPoint]] = {}
    for p in points:
        groups.setdefault((p.budget, p.method), []).append(p)
    table = []
    for (budget, method), ps in groups.items():
        accs = [p.result["accuracy"] for p in ps]
        ci = mean_ci(accs)
        table.append({
            "budget": budget, "method": method, "seeds": len(ps),
            "accuracy_mean": ci["mean"], "accuracy_ci": ci["half"],
            "accuracy_lo": ci["lo"], "accuracy_hi": ci["hi"], "accuracies": accs,
            "allocations": sorted({_alloc_label(p) for p in ps}),
            "cost_mean": float(np.mean([p.cost for p in ps])),
            "weight_bits_mean": float(np.mean([p.weight_bits for p in ps])),
            "memory_bits_mean": float(np.mean([p.memory_bits if p.memory_bits is not None
                                               else p.result.get("weight_memory_bits", 0)
                                               + p.result.get("membrane_bits", 0)
                                               for p in ps])),
            "float_accuracy": ps[0].result.get("float_accuracy"),
        })
    main = next((m for m in cfg.methods if m in SENSITIVITIES), None)
    tests = []
    if main is not None:
        for budget in dict.fromkeys(p.budget for p in points if p.budget is not None):
            a = {p.seed: p for p in groups.get((budget, main), [])}
            for method in cfg.methods:
                if method == main or (budget, method) not in groups:
                    continue
                b = {p.seed: p for p in groups[(budget, method)]}
                seeds = sorted(set(a) & set(b))
                if not seeds:
                    continue
                t = paired_t([a[s].result["accuracy"] for s in seeds],
                             [b[s].result["accuracy"] for s in seeds])
                pooled = mcnemar(np.concatenate([correct_of(a[s].result) for s in seeds]),
                                 np.concatenate([correct_of(b[s].result) for s in seeds]))
                tests.append({"budget": budget, "a": main, "b": method, "seeds": seeds,
                              "diff": t["diff"], "diff_lo": t["lo"], "diff_hi": t["hi"],
                              "p_paired_t": t["p_value"], "mcnemar_pooled": pooled})
    return {"points": [p.as_dict() for p in points], "table": table, "tests": tests,
            "unit": cfg.unit, "main_method": main}


def _alloc_label(p: SweepPoint) -> str:
    s = "-".join(map(str, p.bits))
    if p.state_bits is not None:
        s += " / " + "-".join(map(str, p.state_bits))
    return s


def format_sweep(summary: dict[str, Any]) -> str:
    """The sweep's table and tests as plain text."""
    from .output import format_table

    unit = {"avg_bits": "avg bits", "budget_bits": "bits", "bram": "BRAM"}.get(
        summary.get("unit"), "budget")
    rows = []
    for r in summary["table"]:
        ci = r["accuracy_ci"]
        acc = f"{100 * r['accuracy_mean']:.2f}" + (
            f" ± {100 * ci:.2f}" if ci is not None and math.isfinite(ci) else "")
        rows.append(["-" if r["budget"] is None else f"{r['budget']:g}", r["method"],
                     r["seeds"], acc, f"{r['cost_mean']:.4g}", "; ".join(r["allocations"])])
    lines = [format_table([f"budget ({unit})", "method", "seeds", "accuracy % (95% CI)",
                           "cost", "weight bits / state bits"], rows, align="llrrrl")]
    if summary.get("tests"):
        trows = []
        for t in summary["tests"]:
            trows.append([f"{t['budget']:g}", f"{t['a']} - {t['b']}",
                          f"{100 * t['diff']:+.2f}", _p(t["p_paired_t"]),
                          f"{t['mcnemar_pooled']['a_only']}/{t['mcnemar_pooled']['b_only']}",
                          _p(t["mcnemar_pooled"]["p_value"])])
        lines += ["paired tests (same seeds):",
                  format_table(["budget", "methods", "diff (points)", "p (paired t)",
                                "only a / only b", "p (McNemar, pooled)"], trows,
                               align="llrrrr")]
    return "\n".join(lines)


def _p(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3g}"


def plot_sweep(summary: dict[str, Any], path: str | os.PathLike[str]) -> str | None:
    """Pareto plot: mean accuracy (95% interval over seeds) vs cost, one line per method."""
    rows = [r for r in summary["table"]]
    if not rows:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = summary.get("unit")
    xlabel = {"bram": "block RAMs used", "budget_bits": "memory (kbit)",
              "avg_bits": "memory (kbit)"}.get(unit, "cost")
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    methods = list(dict.fromkeys(r["method"] for r in rows if r["budget"] is not None))
    for i, m in enumerate(methods):
        rs = sorted((r for r in rows if r["method"] == m and r["budget"] is not None),
                    key=lambda r: r["budget"])
        x = [r["cost_mean"] if unit == "bram" else r["cost_mean"] / 1024 for r in rs]
        y = [100 * r["accuracy_mean"] for r in rs]
        e = [0 if r["accuracy_ci"] is None or not math.isfinite(r["accuracy_ci"])
             else 100 * r["accuracy_ci"] for r in rs]
        ax.errorbar(np.asarray(x) * (1 + 0.006 * (i - len(methods) / 2)), y, yerr=e,
                    fmt="o-", ms=4, capsize=3, label=m, color=f"C{i}")
    extra = [r for r in rows if r["budget"] is None]
    for r in extra:
        x = r["cost_mean"] if unit == "bram" else r["cost_mean"] / 1024
        e = 0 if r["accuracy_ci"] is None or not math.isfinite(r["accuracy_ci"]) \
            else 100 * r["accuracy_ci"]
        ax.errorbar([x], [100 * r["accuracy_mean"]], yerr=[e], fmt="s", ms=4, capsize=3,
                    color="gray")
        ax.annotate(r["method"], (x, 100 * r["accuracy_mean"]), fontsize=7)
    f = rows[0].get("float_accuracy")
    if f is not None:
        ax.axhline(100 * f, color="gray", lw=0.8, ls="--", label="float32")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%), mean ± 95% CI")
    ax.set_title("Accuracy vs memory cost over seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
