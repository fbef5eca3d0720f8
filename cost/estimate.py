"""``estimate``: what a network costs on each FPGA target, by synthesis and by the model.

For every target the report holds the analytic model's figures (block RAM exact, LUT/FF
fitted; :mod:`cost.resources`) and, unless ``model_only``, the Yosys synthesis figures of
the generated Verilog (and nextpnr's Fmax with ``pnr``; :mod:`cost.synth`). A sweep over
uniform weight widths shows what fewer bits save per layer (model figures). Latency per
sample is the event-driven cycle bound of the hardware plan, evaluated on spike
trains through the golden model, divided by the clock.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwplan import GeneratedDesign, HardwarePlan, plan_network
from pysim import WEIGHT_BITS_RANGE, IntNetwork, simulate
from pysim.errors import InputError

from .resources import ResourceEstimate, estimate_network
from .synth import SynthResult, check_freq, synthesize
from .targets import Target, parse_targets

__all__ = [
    "DEFAULT_EVENT_RATE",
    "DEFAULT_JOBS",
    "EstimateReport",
    "TargetEstimate",
    "check_options",
    "cycle_bound",
    "estimate",
    "requantize",
    "tap_ports",
]

DEFAULT_JOBS = 2
"""Synthesis runs in parallel by default (this project's machines have 2 cores)."""
DEFAULT_EVENT_RATE = 0.2
"""Input spike probability per channel and step used when no spike trains are given."""


@dataclass(frozen=True)
class TargetEstimate:
    """Model and (optionally) synthesis figures of one network on one target."""

    target: str
    model: ResourceEstimate
    synth: SynthResult | None

    @property
    def fmax_mhz(self) -> float | None:
        """Fmax from place and route, if it ran."""
        return self.synth.fmax_mhz if self.synth else None

    def as_dict(self, cycles_per_sample: float | None = None) -> dict[str, Any]:
        """JSON-ready description: headline figures (synthesis when run, else model),
        then the full model and synthesis records."""
        s, m = self.synth, self.model
        if s is not None:
            head = {"source": "yosys+nextpnr" if s.fmax_mhz else "yosys", "luts": s.luts,
                    "ffs": s.ffs, "carry": s.carry, "bram_count": s.bram_count,
                    "bram_units": s.bram_units, "bram_bits": s.bram_bits,
                    "lutram": s.lutram, "dsp": s.dsp, "fmax_mhz": s.fmax_mhz,
                    "fits": s.fits}
        else:
            head = {"source": "model", "luts": m.luts, "ffs": m.ffs, "carry": None,
                    "bram_count": m.bram_count, "bram_units": m.bram_units,
                    "bram_bits": m.bram_bits, "lutram": None, "dsp": None,
                    "fmax_mhz": None, "fits": m.fits()}
        f = head["fmax_mhz"]
        head["latency_us"] = (cycles_per_sample / f) if (f and cycles_per_sample) else None
        return {"target": self.target, **head, "model": m.as_dict(),
                "synth": s.as_dict() if s else None}


@dataclass(frozen=True)
class EstimateReport:
    """Everything ``spikeforge estimate`` measured for one network."""

    network: dict[str, Any]
    lanes: dict[str, int]
    targets: tuple[TargetEstimate, ...]
    sweep: dict[str, Any] | None
    cycles: dict[str, Any]
    seconds: float
    files: dict[str, str] = field(default_factory=dict)
    design: dict[str, Any] | None = None

    def target(self, name: str) -> TargetEstimate:
        """The estimate for target ``name``."""
        for t in self.targets:
            if t.target == name:
                return t
        raise KeyError(name)

    def latency_us(self, name: str) -> float | None:
        """Latency per sample in µs at the target's place-and-route Fmax (None without)."""
        f = self.target(name).fmax_mhz
        return None if not f else self.cycles["per_sample"] / f

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "format": "spikeforge.estimate", "version": 1,
            "network": self.network, "lanes": self.lanes,
            "cycles": self.cycles,
            "targets": {t.target: t.as_dict(self.cycles["per_sample"]) for t in self.targets},
            "sweep": self.sweep, "seconds": round(self.seconds, 2), "files": self.files,
            "design": self.design,
        }


# --------------------------------------------------------------------------------------

def tap_ports(portmap: Mapping[str, Any]) -> list[str]:
    """Verilog ports of the debug taps in a portmap (for ``synthesize(drop_ports=...)``)."""
    return sorted({t[k]["name"] for t in portmap.get("taps", [])
                   for k in ("valid", "index", "last")})


def requantize(net: IntNetwork, bits: int | Sequence[int]) -> IntNetwork:
    """The same network with every layer's weights rescaled to ``bits`` (resource sweeps).

    Weights are shifted by the width difference (an arithmetic shift right when
    narrowing, left when widening) and clipped to the new range; thresholds are left as
    they are. Meant for cost sweeps, not for accuracy.
    """
    nl = len(net.neuron_layers)
    per = [int(bits)] * nl if isinstance(bits, int) else [int(b) for b in bits]
    if len(per) != nl:
        raise InputError(f"{len(per)} widths for {nl} layers", param="bits")
    layers = []
    it = iter(per)
    for layer in net.layers:
        if not layer.has_neurons:
            layers.append(layer)
            continue
        b = next(it)
        lo, hi = WEIGHT_BITS_RANGE
        if not lo <= b <= hi:
            raise InputError(f"weight width must be {lo}..{hi}, not {b}", param="bits")
        w = np.asarray(layer.weight, dtype=np.int64)
        d = b - layer.weight_bits
        w = w << d if d >= 0 else w >> (-d)
        lo, hi = -(1 << (b - 1)), (1 << (b - 1)) - 1
        layers.append(layer.replace(weight=np.clip(w, lo, hi), weight_bits=b))
    return net.replace(layers=tuple(layers))


def cycle_bound(net: IntNetwork, plan: HardwarePlan, spikes: np.ndarray | None = None,
                *, rate: float = DEFAULT_EVENT_RATE, samples: int = 32,
                seed: int = 0) -> dict[str, Any]:
    """Event-driven cycles per sample (the plan's bound) on real or random spikes.

    The layers' input events are the input spikes and the golden model's spikes of the
    layers before; the per-step formulas are the plan's
    (:meth:`hwplan.HardwarePlan.cycles`).
    """
    if spikes is None:
        rng = np.random.default_rng(seed)
        spikes = (rng.random((samples, net.timesteps, net.input_size)) < rate).astype(np.uint8)
        source = f"random spikes, rate {rate:g}"
    else:
        spikes = np.asarray(spikes)[:samples]
        source = "given spike trains"
    cyc = plan.cycles(spikes, simulate(net, spikes).spikes)
    cyc.pop("bounds")
    return {**cyc, "source": source}


def _network_summary(net: IntNetwork) -> dict[str, Any]:
    return {
        "sizes": [net.input_size] + [layer.out_size for layer in net.neuron_layers],
        "timesteps": net.timesteps,
        "layers": [{"name": layer.name, "in": layer.in_size, "out": layer.out_size,
                    "weight_bits": layer.weight_bits, "state_bits": layer.state_bits,
                    "weight_memory_bits": layer.weight_memory_bits}
                   | ({} if layer.kind.value == "dense" else {"kind": layer.kind.value})
                   for layer in net.neuron_layers],
        "weight_memory_bits": net.weight_memory_bits,
        "float32_bits": net.n_weights * 32,
    }


def _progress(enabled: bool, msg: str) -> None:
    if enabled:
        print(f"estimate: {msg}", file=sys.stderr, flush=True)


def check_options(targets: str | Sequence[str], *, pnr: bool = False, model_only: bool = False,
                  sweep_bits: Sequence[int] | None = None, freq_mhz: float | None = None
                  ) -> tuple[list[Target], list[int] | None]:
    """The checks of :func:`estimate`'s options, with no network needed (InputError naming
    the parameter); returns the targets and the sorted, distinct sweep widths."""
    tlist = parse_targets(targets)
    check_freq(freq_mhz)
    if pnr and model_only:
        raise InputError("place and route needs synthesis, which model_only skips",
                         param="pnr")
    if pnr and all(t.nextpnr is None for t in tlist):
        raise InputError(f"no open place and route for "
                         f"{', '.join(t.name for t in tlist)}; add an iCE40/ECP5 target",
                         param="pnr")
    # With pnr, targets without an open place and route (xc7) are synthesized only.
    if sweep_bits is not None:
        sweep_bits = sorted({int(b) for b in sweep_bits})
        lo, hi = WEIGHT_BITS_RANGE
        if not sweep_bits or not all(lo <= b <= hi for b in sweep_bits):
            raise InputError(f"widths must be integers {lo}..{hi}", param="sweep_bits")
    return tlist, sweep_bits


def estimate(net: IntNetwork, *, targets: str | Sequence[str],
             design: GeneratedDesign | None = None,
             pnr: bool = False, model_only: bool = False,
             sweep_bits: Sequence[int] | None = None,
             lanes: int | Mapping[str, int] | None = None,
             out_dir: str | os.PathLike[str] | None = None, progress: bool = True,
             spikes: np.ndarray | None = None, jobs: int = DEFAULT_JOBS,
             freq_mhz: float | None = None) -> EstimateReport:
    """Estimate the cost of ``net`` on each target (model, and synthesis unless model-only).

    Parameters
    ----------
    net
        The integer network.
    targets
        Target names (``"ice40-up5k,ecp5-25k,xc7"`` or a list).
    design
        The generated design (:func:`hwplan.load_design` of a ``generate`` directory, or
        ``hdl.emit_verilog``): its plan gives every shape, and synthesis runs on its
        Verilog. Required unless ``model_only``; without it the model plans ``net``
        with ``lanes``.
    pnr
        Place and route with nextpnr for Fmax and fit (iCE40/ECP5 targets).
    model_only
        Skip synthesis: analytic model only (well under a second).
    sweep_bits
        Uniform weight widths to sweep (model figures per layer for each width).
    lanes
        Lanes per layer (int, dict by layer, or the generator default); only without a
        design (a design fixes its lanes).
    out_dir
        Write ``estimate.json``, ``report.md`` and PNG plots here (each file atomically).
    progress
        Progress lines on stderr.
    spikes
        Input spike trains (N, T, in) for the cycle count (default: random, rate 0.2).
    jobs
        Synthesis runs in parallel (one per family).
    freq_mhz
        nextpnr clock constraint (default: per target).
    """
    t0 = time.perf_counter()
    tlist, sweep_bits = check_options(targets, pnr=pnr, model_only=model_only,
                                      sweep_bits=sweep_bits, freq_mhz=freq_mhz)
    if design is not None:
        if lanes is not None:
            raise InputError("the design fixes its lanes; give lanes without a design",
                             param="lanes")
        design.plan.check_network(net, where=str(design.path or "design"))
        plan = design.plan
    elif not model_only:
        raise InputError("synthesis needs the generated design (or model_only)",
                         param="design")
    else:
        plan = plan_network(net, lanes)
    synth_results = {} if model_only else _run_synthesis(design, tlist, pnr, jobs, progress,
                                                         freq_mhz)
    tes = []
    for t in tlist:
        model = estimate_network(plan, target=t)
        tes.append(TargetEstimate(target=t.name, model=model, synth=synth_results.get(t.name)))
    sweep = _sweep(net, tlist, plan.lanes if isinstance(lanes, Mapping) else lanes,
                   sweep_bits) if sweep_bits else None
    cycles = cycle_bound(net, plan, spikes)
    info = None if design is None else {
        "top": design.top, "verilog": design.verilog_file, "sha256": design.sha256,
        "path": None if design.path is None else str(design.path)}
    report = EstimateReport(network=_network_summary(net), lanes=plan.lanes,
                            targets=tuple(tes), sweep=sweep, cycles=cycles,
                            seconds=time.perf_counter() - t0, design=info)
    if out_dir is not None:
        from .report import write_outputs
        files = write_outputs(report, Path(out_dir))
        report = dataclasses.replace(report, files=files)
    return report


def _run_synthesis(design: GeneratedDesign, tlist: list[Target], pnr: bool, jobs: int, progress: bool,
                   freq_mhz: float | None) -> dict[str, SynthResult]:
    """Synthesize the design once per target (in parallel), placing and routing where
    asked."""
    # The debug taps stay ports: leaving them dangling (wrapper or ``delete -port``)
    # makes Yosys 0.70's abc9 assert on ECP5; they cost pins, hardly any logic.
    by_family: dict[str, list[Target]] = {}
    for t in tlist:
        by_family.setdefault(t.family, []).append(t)
    results: dict[str, SynthResult] = {}
    tmp = Path(tempfile.mkdtemp(prefix="spikeforge-estimate-"))

    def run(t: Target) -> SynthResult:
        t1 = time.perf_counter()
        _progress(progress, f"synthesizing for {t.name} ...")
        r = synthesize(design.verilog, top=design.top, target=t, workdir=tmp / t.name,
                       pnr=pnr and t.nextpnr is not None, freq_mhz=freq_mhz)
        fm = f", Fmax {r.fmax_mhz:.1f} MHz" if r.fmax_mhz else ""
        _progress(progress, f"{t.name}: LUT {r.luts}, FF {r.ffs}, BRAM {r.bram_count}{fm} "
                            f"({time.perf_counter() - t1:.0f} s)")
        return r

    try:
        # one synthesis per family first; other parts of the family reuse nothing but
        # run in the same pool (P&R differs per part)
        order = [t for fam in by_family.values() for t in fam]
        with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
            futs = {t.name: ex.submit(run, t) for t in order}
            for name, fut in futs.items():
                results[name] = fut.result()
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sweep(net: IntNetwork, tlist: list[Target], lanes: Any,
           bits_list: Sequence[int]) -> dict[str, Any]:
    """Model figures per target and layer for uniform weight widths.

    Returns ``{target: [{"bits", "luts", "ffs", "bram_count", "bram_units", "bram_bits",
    "weight_memory_bits", "source", "layers": {name: {...}}}, ...]}``.
    """
    out: dict[str, Any] = {t.name: [] for t in tlist}
    for b in bits_list:
        qn = requantize(net, b)
        for t in tlist:
            est = estimate_network(qn, target=t, lanes=lanes)
            out[t.name].append({
                "bits": b, "source": "model", "luts": est.luts, "ffs": est.ffs,
                "bram_count": est.bram_count, "bram_units": est.bram_units,
                "bram_bits": est.bram_bits, "weight_memory_bits": qn.weight_memory_bits,
                "lanes": {lay.name: lay.lanes for lay in est.layers},
                "layers": {lay.name: {"luts": round(lay.luts, 1), "ffs": round(lay.ffs, 1),
                                      "bram_units": lay.bram_units,
                                      "synapse_bram_units": lay.synapse.units,
                                      "bram_bits": lay.bram_bits,
                                      "bram_ratio": round(lay.bram_ratio, 4)}
                           for lay in est.layers},
            })
    return out
