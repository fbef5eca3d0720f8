"""The run report: ``RUN/report.md`` with PNG plots beside it.

Everything here is read from the files the flow's stages wrote; nothing is recomputed
except the golden model of the one sample drawn in the raster plot.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from cost.report import FLOOR_NOTE, efficiency_cell
from pysim import atomic_path, load_network, load_spikes, simulate

__all__ = ["write_report"]


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight",
                    metadata={"Software": None})
    _plt().close(fig)
    return path.name


def plot_traces(hessian: dict[str, Any], path: Path) -> str | None:
    """Bar chart of per-layer trace/parameter with ±2 stderr, one bar group per method."""
    methods = {k: v for k, v in hessian.get("methods", {}).items() if v}
    if not methods:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    width = 0.8 / len(methods)
    names = None
    for m, (method, layers) in enumerate(methods.items()):
        names = [layer["name"] for layer in layers]
        per = np.array([layer["trace"] / layer["n_params"] for layer in layers])
        err = np.array([2 * layer["stderr"] / layer["n_params"] for layer in layers])
        xs = np.arange(len(layers)) + m * width
        ax.bar(xs, per, width, yerr=err, capsize=3, label=method)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(np.arange(len(names)) + width * (len(methods) - 1) / 2, names)
    ax.set_ylabel("Hessian trace / parameter")
    ax.set_title("Per-layer sensitivity (error bars: ±2 s.e.)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_pareto(points: list[dict[str, Any]], chosen: dict[str, Any] | None, path: Path
                ) -> str | None:
    """Accuracy vs weight memory for Hessian, uniform, random and reversed allocations."""
    if not points:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    styles = {"hessian": ("o-", "C0"), "uniform": ("s--", "C1"), "random": ("x", "C2"),
              "reversed": ("v:", "C3")}
    for kind, (style, color) in styles.items():
        pts = sorted((p for p in points if p["kind"] == kind), key=lambda p: p["avg_bits"])
        if not pts:
            continue
        ci = [100 * (p.get("accuracy_ci") or 0.0) for p in pts]  # seeded sweep: 95% CI
        seeds = max(int(p.get("seeds", 1)) for p in pts)
        ax.errorbar([p["weight_kbits"] for p in pts], [100 * p["accuracy"] for p in pts],
                    yerr=ci if any(ci) else None, fmt=style, color=color, ms=5, capsize=3,
                    label=kind if seeds <= 1 else f"{kind} (mean of {seeds} seeds, 95% CI)")
    if chosen:
        ax.plot([chosen["weight_kbits"]], [100 * chosen["accuracy"]], "*", ms=14, color="gold",
                mec="black", label="flow's network (QAT)")
    if points and "float_accuracy" in points[0]:
        ax.axhline(100 * points[0]["float_accuracy"], color="gray", lw=0.8, ls="--",
                   label="float32")
    ax.set_xlabel("weight memory (kbit)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy vs weight memory")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_raster(net, golden_spikes: dict[str, np.ndarray], rtl_spikes: dict[str, np.ndarray],
                sample: int, path: Path) -> str:
    """One sample's spikes per layer: golden (dots) and RTL (rings) overlaid."""
    plt = _plt()
    layers = net.neuron_layers  # a sum-pool has no spikes of its own
    n = len(layers)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.0), squeeze=False)
    for ax, layer in zip(axes[0], layers):
        g = golden_spikes[layer.name][sample]
        t, i = np.nonzero(g)
        ax.scatter(t, i, s=10, c="C0", label="golden", zorder=2)
        if layer.name in rtl_spikes:
            r = rtl_spikes[layer.name][sample]
            t2, i2 = np.nonzero(r)
            ax.scatter(t2, i2, s=36, facecolors="none", edgecolors="C3", label="RTL", zorder=3)
        ax.set_title(f"{layer.name}: {int(g.sum())} spikes", fontsize=9)
        ax.set_xlabel("timestep")
        ax.set_xlim(-0.5, net.timesteps - 0.5)
        ax.set_ylim(-0.5, layer.out_size - 0.5)
        if layer.kind.value == "conv2d":
            ax.set_ylabel("neuron (c·OH·OW + y·OW + x)", fontsize=7)
    axes[0][0].set_ylabel("neuron")
    axes[0][-1].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"Test sample {sample}: golden model and RTL spikes", fontsize=10)
    return _save(fig, path)


def _fmt(v: Any, spec: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and spec:
        return format(v, spec)
    return str(v)


def write_report(run: str | os.PathLike[str], config: dict[str, Any]) -> Path:
    """Write ``RUN/report.md`` and its PNGs from the stage outputs under ``run``."""
    run = Path(run)
    state = _read(run / "flow_state.json") or {"stages": {}}
    stages = state.get("stages", {})
    net = load_network(run / "net")
    hessian = _read(run / "train" / "hessian.json") or {}
    alloc = _read(run / "allocation.json") or {}
    golden = _read(run / "golden_check.json") or {}
    pareto = (_read(run / "pareto.json") or {}).get("points", [])
    verify = _read(run / "verify.json") or {}
    estimate = _read(run / "estimate" / "estimate.json") or {}

    float_acc = golden.get("float_accuracy", net.meta.get("float_accuracy"))
    q_acc = golden.get("golden_accuracy", net.meta.get("quantized_accuracy"))
    f32_bits = 32 * net.n_weights
    figures: list[tuple[str, str]] = []
    img = plot_traces(hessian, run / "hessian_traces.png")
    if img:
        figures.append(("Per-layer Hessian trace", img))
    chosen = None
    if q_acc is not None:
        chosen = {"weight_kbits": net.weight_memory_bits / 1024, "accuracy": q_acc}
    img = plot_pareto(pareto, chosen, run / "pareto.png")
    if img:
        figures.append(("Accuracy vs weight memory: Hessian, uniform, random, reversed", img))
    for name, title in (("resources_vs_bits.png", "Resources vs bits per family"),
                        ("memory_bits.png", "Weight memory: float32, 8-bit and this network")):
        if (run / "estimate" / name).is_file():  # drawn by the estimate stage
            figures.append((title, f"estimate/{name}"))
    vs = run / "verify_spikes.npz"
    if vs.is_file():
        data = load_spikes(run / "net" / "test_spikes.npz", net)
        with np.load(vs) as z:
            rtl = {k.split(".", 1)[1]: z[k] for k in z.files if k.startswith("spikes.")}
        g = simulate(net, data.spikes[:1])
        img = plot_raster(net, g.spikes, {k: v[:1] for k, v in rtl.items()}, 0,
                          run / "raster.png")
        figures.append(("Spike raster of test sample 0 (golden dots, RTL rings)", img))

    lines = [f"# spikeforge run: {config['train']['dataset']} {config['train']['arch']}", ""]
    lines += ["## Summary", "", "| quantity | value |", "|---|---|"]
    rows = [
        ("float accuracy (test)", _pct(float_acc)),
        ("quantized accuracy (golden model, test)", _pct(q_acc)),
        ("accuracy change, quantized - float", _pct(None if q_acc is None or float_acc is None
                                                    else q_acc - float_acc, signed=True)),
        ("paired test (McNemar, exact)", _mcnemar(golden.get("mcnemar_float_vs_quantized"))),
        ("weight bits per layer", ", ".join(f"{l.name}={l.weight_bits}"
                                            for l in net.neuron_layers)),
        ("state bits per layer", ", ".join(f"{l.name}={l.state_bits}"
                                           for l in net.neuron_layers)),
        ("weight memory", (f"{net.weight_memory_bits:,} bits "
                          f"({100 * net.weight_memory_bits / f32_bits:.1f}% of float32, "
                          f"{100 - 100 * net.weight_memory_bits / f32_bits:.1f}% smaller)")),
        ("average weight bits", f"{net.weight_memory_bits / net.n_weights:.2f}"),
        *_membrane_rows(net),
        ("torch integer mode vs golden model", _mismatch(golden)),
        ("RTL vs golden model", _mismatch(verify)),
        ("cycles per sample (RTL, mean)", _fmt(verify.get("cycles_per_sample"), ".0f")),
        ("event-driven cycle bound (mean)", _fmt(verify.get("cycle_bound"), ".0f")),
        *_design_rows(run, verify, estimate),
    ]
    lines += [f"| {a} | {b} |" for a, b in rows]
    skipped = _skipped_hw(stages)
    if skipped:
        lines += ["", "## Hardware stages skipped", "", skipped]
    lines += ["", "## Memory per layer", ""] + _memory_table(net)
    lines += ["", "## Hardware estimate", ""]
    lines += _estimate_table(estimate, verify.get("cycles_per_sample"))
    lines += ["", "## Wall time per stage", "", "| stage | seconds |", "|---|---|"]
    for name, rec in stages.items():
        lines.append(f"| {name} | {rec.get('seconds', 0.0):.1f} |")
    if alloc:
        lines += ["", "## Bit allocation", "", (f"source: {alloc.get('source', '-')}; "
                  f"bits: {alloc.get('bits')}")]
    for title, name in figures:
        lines += ["", f"## {title}", "", f"![{title}]({name})"]
    lines += ["", ("Accuracies are on the whole test set; the quantized accuracy is the golden "
              "model's on `net/test_spikes.npz`. Hardware figures are Yosys/nextpnr results "
              "or the analytic model calibrated on them (see the estimate report)."), ""]
    path = run / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path


def _membrane_rows(net) -> list[tuple[str, str]]:
    """Membrane memory (one state_bits word per neuron) and weights + membranes."""
    w, m = net.weight_memory_bits, net.membrane_memory_bits
    f32 = 32 * (net.n_weights + net.n_neurons)
    return [("membrane memory", f"{m:,} bits ({net.n_neurons:,} neurons)"),
            ("weights + membranes", (f"{w + m:,} bits ({100 * (w + m) / f32:.1f}% of "
                                     "float32 weights and membranes)"))]


def _memory_table(net) -> list[str]:
    """Per neuron layer: weights and membranes, count and bits."""
    out = [("| layer | kind | weights | weight bits | weight memory (bits) | neurons | "
            "state bits | membrane memory (bits) |"), "|---|---|---|---|---|---|---|---|"]
    for layer in net.neuron_layers:
        out.append(f"| {layer.name} | {layer.kind.value} | {layer.n_weights:,} | "
                   f"{layer.weight_bits} | {layer.weight_memory_bits:,} | "
                   f"{layer.n_neurons:,} | {layer.state_bits} | "
                   f"{layer.membrane_memory_bits:,} |")
    return out


def _skipped_hw(stages: dict[str, Any]) -> str | None:
    """The note for hardware stages the flow skipped (a network the generator does not
    build yet), or None."""
    why = [(name, (rec.get("summary") or {}).get("skipped")) for name, rec in stages.items()
           if (rec.get("summary") or {}).get("skipped")]
    if not why:
        return None
    names = ", ".join(name for name, _ in why)
    return f"{names}: skipped: {why[0][1]}. No Verilog, RTL check or resource estimate."


def _pct(v: Any, signed: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:+.2f} points" if signed else f"{100 * v:.2f}%"


def _mcnemar(m: dict[str, Any] | None) -> str:
    if not m:
        return "-"
    return (f"{m['a_only']} samples right only in float, {m['b_only']} only quantized; "
            f"p = {m['p_value']:.3g}")


def _mismatch(d: dict[str, Any]) -> str:
    if not d or "mismatches" not in d:
        return "-"
    return f"{d['mismatches']} mismatches on {d.get('samples', '?')} samples"


def _design_rows(run: Path, verify: dict[str, Any], estimate: dict[str, Any]
                 ) -> list[tuple[str, str]]:
    """Which Verilog (by SHA-256) was verified and which was estimated, against the file
    the generate stage wrote."""
    pm = _read(run / "hw" / "portmap.json") or {}
    vfile = run / "hw" / f"{pm.get('top', 'spikeforge_top')}.v"
    shipped = hashlib.sha256(vfile.read_bytes()).hexdigest() if vfile.is_file() else None
    name = f"`hw/{vfile.name}`"

    def which(h: str | None) -> str:
        if h is None:
            return "-"
        same = " (the file in hw/)" if h == shipped else " (NOT the file in hw/)"
        return f"`{h}`{same if shipped else ''}"

    return [(f"Verilog {name}, SHA-256", "-" if shipped is None else f"`{shipped}`"),
            ("Verilog verified (RTL simulation)", which(verify.get("verilog_sha256"))),
            ("Verilog estimated (synthesis, model)",
             which((estimate.get("design") or {}).get("sha256")))]


def _estimate_table(estimate: dict[str, Any], rtl_cycles: float | None) -> list[str]:
    """Per-target table; latency = RTL cycles per sample (verify) / place-and-route Fmax."""
    targets = (estimate or {}).get("targets")
    if not targets:
        return ["(no estimate)"]
    out = ["| target | source | LUT | FF | BRAM | BRAM bits | Fmax (MHz) | latency (µs) | fits |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, t in targets.items():
        fits = t.get("fits")
        out.append(f"| {name} | {t.get('source', '-')} | {_fmt(t.get('luts'))} | "
                   f"{_fmt(t.get('ffs'))} | {_fmt(t.get('bram_count'))} | "
                   f"{_fmt(t.get('bram_bits'))} | {_fmt(t.get('fmax_mhz'), '.1f')} | "
                   f"{_latency(t.get('fmax_mhz'), rtl_cycles, t.get('latency_us'))} | "
                   f"{'-' if fits is None else 'yes' if fits else 'NO'} |")
    mem_rows = []
    for name, t in targets.items():
        m = t.get("model") or {}
        for lay in m.get("layers", []):
            if "weight_bram_units" in lay:
                wr = lay.get("bram_ratio") if lay["weight_bram_units"] else None
                mem_rows.append(
                    f"| {name} | {lay['name']} | {lay.get('kind', 'dense')} | "
                    f"{lay['weight_bram_units']} | "
                    f"{efficiency_cell(wr, lay.get('weight_floor_ratio'))} | "
                    f"{lay['membrane_bram_units']} | "
                    f"{efficiency_cell(lay.get('membrane_ratio'), lay.get('membrane_floor_ratio'))} |")
    if mem_rows:
        out += ["", ("Block RAM by memory (model, exact): weight ROM and membrane RAM apart, "
                     "each with allocated bits / data bits. " + FLOOR_NOTE), "",
                ("| target | layer | kind | weight BRAM | weight eff | membrane BRAM | "
                 "membrane eff |"), "|---|---|---|---|---|---|---|", *mem_rows]
    out += ["", ("Latency = cycles per sample measured in RTL simulation / Fmax from nextpnr "
                "(no Fmax without `estimate.pnr = true`). Full estimate: "
                "[estimate/report.md](estimate/report.md).")]
    return out


def _latency(fmax: float | None, rtl_cycles: float | None, fallback: float | None) -> str:
    if fmax and rtl_cycles:
        return f"{rtl_cycles / fmax:.1f}"
    return _fmt(fallback, ".1f")
