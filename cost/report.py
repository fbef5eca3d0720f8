"""The ``estimate`` report: the Markdown table, the PNG plots and ``estimate.json``.

Kept apart from the estimation itself (:mod:`cost.estimate`), which computes figures and
writes nothing but through :func:`write_outputs`.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pysim.util import to_jsonable

if TYPE_CHECKING:
    from .estimate import EstimateReport

__all__ = ["FLOOR_NOTE", "MEMORY_HEADERS", "SUMMARY_HEADERS", "efficiency_cell", "memory_rows",
           "report_markdown", "summary_rows", "write_outputs"]


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def summary_rows(report: EstimateReport) -> list[list[Any]]:
    """Rows of the per-target table: source, LUT, FF, carry, BRAM, bits, Fmax, latency."""
    rows = []
    for te in report.targets:
        m = te.model
        rows.append([te.target, "model", m.luts, m.ffs, "-", m.bram_units, m.bram_bits,
                     "-", "-", "yes" if m.fits() else "NO"])
        s = te.synth
        if s is not None:
            lat = report.latency_us(te.target)
            rows.append([te.target, "yosys" + ("+nextpnr" if s.fmax_mhz else ""), s.luts,
                         s.ffs, s.carry, s.bram_units, s.bram_bits,
                         None if s.fmax_mhz is None else round(s.fmax_mhz, 1),
                         None if lat is None else round(lat, 1),
                         "-" if s.fits is None else ("yes" if s.fits else "NO")])
    return rows


MEMORY_HEADERS = ["target", "layer", "kind", "weight BRAM", "weight eff", "membrane BRAM",
                  "membrane eff", "acc BRAM"]

FLOOR_NOTE = ("eff = allocated bits / data bits (weights x weight bits; neurons x state "
              "bits); granularity floor = ceil(data bits / block bits) blocks / data bits, "
              "what no layout of the data in the family's blocks gets below (where eff "
              "equals it, the excess is the block granularity, not the packing).")
"""What the efficiency cells of :func:`memory_rows` mean (printed under the table)."""


def efficiency_cell(ratio: float | None, floor: float | None) -> str:
    """``"1.500 (granularity floor 1.500)"``: allocated / data bits and its lower bound
    (:attr:`cost.resources.BramFloor.bits_floor_ratio`); ``"-"`` without block RAM."""
    if ratio is None:
        return "-"
    return f"{ratio:.3f}" if floor is None else f"{ratio:.3f} (granularity floor {floor:.3f})"


def memory_rows(report: EstimateReport) -> list[list[Any]]:
    """Block RAM per target and layer, weight and membrane memory apart (model figures,
    exact): units, and allocated bits / data bits (weights x weight bits; neurons x state
    bits, "-" when the membranes are not in block RAM) with its granularity floor
    (:func:`efficiency_cell`); after each target's layers an ``(all)`` row: the sums, and
    the efficiencies over the memories in block RAM."""
    rows = []
    for te in report.targets:
        for lay in te.model.layers:
            wr = lay.bram_ratio if lay.weight_bram_units else None
            rows.append([te.target, lay.name, lay.kind, lay.weight_bram_units,
                         efficiency_cell(wr, lay.weight_floor_ratio),
                         lay.membrane_bram_units,
                         efficiency_cell(lay.membrane_ratio, lay.membrane_floor_ratio),
                         lay.accumulator_bram_units])
        m = te.model
        rows.append([te.target, "(all)", "-", sum(ly.weight_bram_units for ly in m.layers),
                     efficiency_cell(m.weight_ratio, m.weight_floor_ratio),
                     sum(ly.membrane_bram_units for ly in m.layers),
                     efficiency_cell(m.membrane_ratio, m.membrane_floor_ratio),
                     sum(ly.accumulator_bram_units for ly in m.layers)])
    return rows


SUMMARY_HEADERS = ["target", "source", "LUT", "FF", "carry", "BRAM", "BRAM bits", "Fmax MHz",
                   "latency us", "fits"]


def report_markdown(report: EstimateReport, plots: Sequence[str] = ()) -> str:
    """The Markdown report."""
    net = report.network
    lines = [
        "# Resource estimate",
        "",
        (f"Network {'-'.join(str(s) for s in net['sizes'])}, T = {net['timesteps']}, weight "
         f"bits {', '.join(str(lay['weight_bits']) for lay in net['layers'])}, lanes "
         f"{', '.join(f'{k}={v}' for k, v in report.lanes.items())}."),
        "",
        *([(f"Design: `{report.design['verilog']}`, SHA-256 `{report.design['sha256']}` "
           "(the Verilog synthesized and costed here)."), ""] if report.design else
          ["Design: planned from the network (model only, no Verilog).", ""]),
        ("Figures marked *yosys* are Yosys 0.70 synthesis (`synth_ice40`, `synth_ecp5`, "
         "`synth_xilinx -family xc7`) of the generated Verilog (debug taps kept as ports); "
         "Fmax is nextpnr's (iCE40/ECP5 only). *model* rows are the analytic model "
         "(block RAM computed exactly, LUT/FF fitted). On ECP5 a LUT count includes two "
         "LUT4 per CCU2C carry cell. BRAM is counted in the family's smallest block "
         "(iCE40 4 Kbit, ECP5 18 Kbit, Xilinx RAMB18)."),
        "",
        "| " + " | ".join(SUMMARY_HEADERS) + " |",
        "|" + "---|" * len(SUMMARY_HEADERS),
    ]
    for row in summary_rows(report):
        lines.append("| " + " | ".join(_fmt(c) for c in row) + " |")
    cyc = report.cycles
    lines += ["", (f"Cycles per sample (the plan's event-driven bound, {cyc['source']}, {cyc['samples']} "
                   f"samples): {cyc['per_sample']:.0f} (max {cyc['max']})."), ""]
    lines += ["## Block RAM per layer", "",
              "| target | layer | synapse memory | primitive | count | allocated / weight bits |",
              "|---|---|---|---|---|---|"]
    for te in report.targets:
        for lay in te.model.layers:
            s = lay.synapse
            lines.append(f"| {te.target} | {lay.name} | {s.depth}x{s.width} | "
                         f"{s.cell} {s.shape[0]}x{s.shape[1]} | {s.count} | "
                         f"{lay.bram_ratio:.3f} |")
    lines += ["", "## Block RAM by memory (weights and membranes apart)", "",
              "| " + " | ".join(MEMORY_HEADERS) + " |", "|" + "---|" * len(MEMORY_HEADERS)]
    for row in memory_rows(report):
        lines.append("| " + " | ".join(_fmt(c) for c in row) + " |")
    lines += ["", FLOOR_NOTE]
    if report.sweep:
        lines += ["", ("## Sweep over uniform weight widths (model; generator default lanes "
                       "unless --lanes)"), "",
                  ("| bits | weight bits | " + " | ".join(
                      f"{t.target} LUT | {t.target} BRAM" for t in report.targets) + " |"),
                  "|---|---|" + "---|---|" * len(report.targets)]
        first = report.sweep[report.targets[0].target]
        for i, row in enumerate(first):
            cells = []
            for t in report.targets:
                d = report.sweep[t.target][i]
                cells += [str(d["luts"]), str(d["bram_units"])]
            lines.append(f"| {row['bits']} | {row['weight_memory_bits']} | "
                         + " | ".join(cells) + " |")
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _plot_sweep(report: EstimateReport, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tnames = [t.target for t in report.targets]
    layers = [lay["name"] for lay in report.network["layers"]]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for tn in tnames:
        pts = report.sweep[tn]
        bits = [p["bits"] for p in pts]
        for ln in layers:
            axes[0].plot(bits, [p["layers"][ln]["luts"] for p in pts],
                         marker="o", label=f"{tn} {ln}")
            axes[1].plot(bits, [p["layers"][ln]["bram_units"] for p in pts],
                         marker="o", label=f"{tn} {ln}")
            axes[2].plot(bits, [p["layers"][ln]["bram_ratio"] for p in pts],
                         marker="o", label=f"{tn} {ln}")
    axes[0].set_title("LUTs per layer (model)")
    axes[1].set_title("block RAMs per layer (exact)")
    axes[2].set_title("BRAM bits allocated / weight bits")
    for ax in axes:
        ax.set_xlabel("weight bits (uniform)")
        ax.grid(alpha=0.3)
    axes[2].axhline(1.25, color="k", ls="--", lw=0.8)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_memory(report: EstimateReport, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = report.network["layers"]
    names = [lay["name"] for lay in layers] + ["total"]
    n_w = [lay["weight_memory_bits"] / lay["weight_bits"] for lay in layers]
    f32 = [w * 32 for w in n_w] + [sum(n_w) * 32]
    b8 = [w * 8 for w in n_w] + [sum(n_w) * 8]
    mixed = [lay["weight_memory_bits"] for lay in layers] + [report.network["weight_memory_bits"]]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7, 3.8))
    wdt = 0.2
    ax.bar(x - 1.5 * wdt, f32, wdt, label="float32")
    ax.bar(x - 0.5 * wdt, b8, wdt, label="8-bit")
    ax.bar(x + 0.5 * wdt, mixed, wdt, label="this network (mixed)")
    te = report.targets[0]
    alloc = [lay.bram_bits for lay in te.model.layers]
    ax.bar(x + 1.5 * wdt, alloc + [sum(alloc)], wdt, label=f"BRAM allocated ({te.target})")
    ax.set_xticks(x, names)
    ax.set_yscale("log")
    ax.set_ylabel("bits")
    ax.set_title("weight memory")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(report: EstimateReport, out_dir: Path) -> dict[str, str]:
    """Write estimate.json, report.md and plots into ``out_dir``; nothing on error.

    Everything is written into a staging directory beside ``out_dir`` first and moved
    in only when complete.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.estimate.", dir=out_dir.parent))
    try:
        plots = ["memory_bits.png"]
        _plot_memory(report, stage / "memory_bits.png")
        if report.sweep:
            _plot_sweep(report, stage / "resources_vs_bits.png")
            plots.append("resources_vs_bits.png")
        (stage / "report.md").write_text(report_markdown(report, plots))
        files = {"json": "estimate.json", "report": "report.md",
                 **{p.split(".")[0]: p for p in plots}}
        data = report.as_dict()
        data["files"] = files
        (stage / "estimate.json").write_text(json.dumps(to_jsonable(data, nan=None), indent=1) + "\n")
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in ["estimate.json", "report.md", *plots]:
            os.replace(stage / f, out_dir / f)
        return files
    finally:
        shutil.rmtree(stage, ignore_errors=True)

