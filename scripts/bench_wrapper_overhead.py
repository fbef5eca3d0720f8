"""Resources and Fmax of the ``axis`` wrapper against the bare core (Yosys + nextpnr).

Synthesizes, places and routes a network for one target: the bare core (its debug taps
dropped from the pins, as in the estimates) and the same core inside the AXI4-Stream /
AXI-Lite wrapper (``generate --wrap axis``) in each option variant (``--variants``):
``default``, ``full`` (default + RESULT/ABORTED, ``--result-registers``),
``no-counters`` (without SAMPLES/CYCLES),
``no-dedup`` (without the duplicate check), ``minimal`` (without both), ``taps``
(default + per-layer taps), ``writable`` (default + the weight window). Reports LUTs, FFs,
block RAMs and Fmax and each variant's overhead over the core (targets: <= 10% LUTs,
Fmax within 5%).

Every design is mapped with the same LUT mapper (``--lut-mapper``, default ``abc9``), so
the LUT counts compare; ``--seeds 1,2,3`` places each design with several nextpnr seeds
and reports the median Fmax (a single seed's Fmax varies by several percent).

abc9 maps the flattened design as a whole, so the core's own logic can come out a few
percent larger or smaller inside the wrapper with no change to its RTL. Each wrapped
design's LUTs are therefore also split (:func:`cost.attribution.attribute_luts`) into
the wrapper's own (feeding only wrapper registers and ports), the core's and the shared
ones; "core re-mapped" is the core's and the shared LUTs minus the bare core's, the part
of the overhead that is the mapper's doing. ``--abc9-delay PS`` maps every design for a
fixed delay target (``abc9 -D``) instead, which keeps the core's mapping from depending
on the wrapper's depth (the Fmax columns then belong to that mapping).

    python scripts/bench_wrapper_overhead.py NET [--target ecp5-25k] [--seeds 1,2,3]
        [--variants default,minimal] [--no-pnr] [--plot F.png] --out F.json --md F.md
"""
from __future__ import annotations

import hashlib
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Bench, Table, ratio

VARIANTS = {
    "default": {},
    "no-counters": {"counters": False},
    "no-dedup": {"check_duplicates": False},
    "minimal": {"counters": False, "check_duplicates": False},
    "full": {"result_registers": True},
    "taps": {"taps": True},
    "writable": {"_writable": True},
}


def main(argv: list[str] | None = None) -> int:
    bench = Bench("bench_wrapper_overhead", __doc__)
    ap = bench.parser()
    ap.add_argument("net", type=Path, help="manifest directory")
    ap.add_argument("--target", default="ecp5-25k")
    ap.add_argument("--variants", default="default,minimal",
                    help=f"comma-separated, from {', '.join(VARIANTS)}")
    ap.add_argument("--seeds", default="1", help="nextpnr seeds, comma-separated")
    ap.add_argument("--lut-mapper", default="abc9", choices=("abc9", "abc", "auto"))
    ap.add_argument("--no-pnr", action="store_true", help="Yosys only (no Fmax)")
    ap.add_argument("--abc9-delay", type=int, default=None, metavar="PS",
                    help="map with abc9 -D PS (ECP5; default: abc9's own delay target)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the runs here; unchanged designs are reused from it")
    ap.add_argument("--plot", type=Path, default=None, metavar="FILE.png",
                    help="write the wrapper's own LUTs by part (and the core's re-mapping) "
                         "of every variant as a PNG")
    args = bench.parse(ap, argv)

    import hdl
    from cost.attribution import attribute_luts
    from cost.synth import _pnr, synthesize
    from cost.targets import get_target
    from hdl.axis import LUT_PARTS
    from pysim import load_network

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        ap.error(f"unknown variant {bad[0]!r}")
    seeds = [int(s) for s in args.seeds.split(",")] if not args.no_pnr else [1]
    net = load_network(args.net)
    core = hdl.emit_verilog(net)
    taps = [t[k]["name"] for t in core.portmap["taps"] for k in ("valid", "index", "last")]
    designs = [("core", core, taps)]
    for v in variants:
        opts = dict(VARIANTS[v])
        writable = bool(opts.pop("_writable", False))
        designs.append((v, hdl.emit_verilog(net, wrap="axis", writable_weights=writable,
                                            wrap_options=opts), []))
    results: dict[str, dict] = {}
    tmp = tempfile.TemporaryDirectory(prefix="spikeforge-wrapper-bench-")
    root = args.workdir or Path(tmp.name)
    for name, design, drop in designs:
        work = root / name
        # --workdir keeps every run: a design whose Verilog, target, mapper and seeds are
        # unchanged is taken from there instead of being synthesized again
        key = hashlib.sha256("\n".join([design.verilog, args.target, args.lut_mapper,
                                         ",".join(map(str, seeds)), str(args.no_pnr),
                                         ",".join(drop), str(args.abc9_delay),
                                         "attribution-parts"]).encode()).hexdigest()
        cached = work / "bench_result.json"
        if args.workdir and cached.exists():
            old = json.loads(cached.read_text())
            if old.get("key") == key:
                bench.progress(f"{name}: unchanged, reusing {cached}")
                results[name] = old["result"]
                if name != "core":  # (the parts' names may have changed since)
                    results[name]["attribution"] = attribute_luts(
                        work / "netlist.json", design.top, parts=LUT_PARTS).as_dict()
                continue
        bench.progress(f"synthesizing {name} for {args.target} (seed {seeds[0]})")
        r = synthesize(design.verilog, top=design.top, target=args.target,
                       pnr=not args.no_pnr, drop_ports=drop, workdir=work, seed=seeds[0],
                       lut_mapper=args.lut_mapper, netlist=True,
                       abc9_delay_ps=args.abc9_delay).as_dict()
        if name != "core":
            r["attribution"] = attribute_luts(work / "netlist.json", design.top,
                                              parts=LUT_PARTS).as_dict()
        fmaxes = [r["fmax_mhz"]] if r.get("fmax_mhz") else []
        for seed in seeds[1:]:
            # the same netlist placed and routed again with another seed
            bench.progress(f"placing {name} again (seed {seed})")
            fmax, _, _, _ = _pnr(get_target(args.target), work, freq_mhz=None, seed=seed,
                                 timeout=1800.0)
            if fmax:
                fmaxes.append(round(fmax, 2))
        results[name] = {**r, "fmax_by_seed": fmaxes,
                         "fmax_median": statistics.median(fmaxes) if fmaxes else None}
        if args.workdir:
            cached.write_text(json.dumps({"key": key, "result": results[name]}, default=str))
    tmp.cleanup()
    c = results["core"]
    rows = []
    overhead = {}
    for name, _, _ in designs:
        r = results[name]
        fm = r["fmax_median"]
        row = [name, r["luts"], r["ffs"], r["bram_count"], r["lutram"],
               round(fm, 1) if fm else "-",
               " / ".join(f"{f:.1f}" for f in r["fmax_by_seed"]) or "-"]
        if name == "core":
            row += ["", "", "", ""]
        else:
            lut = ratio(r["luts"] - c["luts"], c["luts"])
            fr = ratio(fm, c["fmax_median"]) if fm and c["fmax_median"] else None
            overhead[name] = {"luts": lut, "ffs": ratio(r["ffs"] - c["ffs"], c["ffs"]),
                              "bram": r["bram_count"] - c["bram_count"], "fmax": fr}
            a = r["attribution"]
            remapped = a["core"] + a["shared"] - c["luts"]
            overhead[name]["wrapper_own_luts"] = a["wrapper"]
            overhead[name]["core_remapped_luts"] = remapped
            row += [f"{100 * lut:+.1f}%", f"{100 * (fr - 1):+.1f}%" if fr else "-",
                    a["wrapper"], f"{remapped:+d}"]
        rows.append(row)
    table = Table(["design", "LUTs", "FFs", "BRAM", "LUTRAM", "Fmax MHz (median)",
                   "Fmax by seed", "LUT overhead", "Fmax change", "wrapper's own LUTs",
                   "core re-mapped"], rows,
                  title=f"{args.net.name} on {args.target} ({args.lut_mapper}"
                        + (f" -D {args.abc9_delay}" if args.abc9_delay else "") + ")")
    names = [n for n, _, _ in designs if n != "core"]
    part_names = list(dict.fromkeys([*LUT_PARTS, "(several)", "(other)"]))
    parts = Table(["part (registers and ports it feeds)", *names],
                  [[p, *(results[n]["attribution"]["parts"].get(p, 0) for n in names)]
                   for p in part_names
                   if any(results[n]["attribution"]["parts"].get(p) for n in names)]
                  + [["wrapper's own, total", *(results[n]["attribution"]["wrapper"]
                                                for n in names)]],
                  title="where the wrapper's own LUTs go")
    if args.plot:
        _plot(args.plot, names, results, c["luts"], part_names)
        bench.progress(f"wrote {args.plot}")
    bench.finish({"net": str(args.net), "target": args.target, "seeds": seeds,
                  "lut_mapper": args.lut_mapper, "abc9_delay_ps": args.abc9_delay,
                  "results": results, "overhead": overhead}, [table, parts])
    return 0


def _plot(path: Path, names: list[str], results: dict, core_luts: int,
          part_names: list[str]) -> None:
    """One bar per wrapper variant: its own LUTs stacked by part, the core's re-mapping
    as a hatched segment (left of zero when the mapper saved LUTs in the core), and the
    10%-of-the-core target as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.55 * len(names)))
    colors = plt.get_cmap("tab10").colors
    for y, n in enumerate(names):
        a = results[n]["attribution"]
        left = 0
        for i, p in enumerate(part_names):
            v = a["parts"].get(p, 0)
            if v:
                ax.barh(y, v, left=left, color=colors[i % 10],
                        label=p if y == 0 or p not in ax.get_legend_handles_labels()[1]
                        else None)
                left += v
        remap = a["core"] + a["shared"] - core_luts
        ax.barh(y, remap, left=left if remap >= 0 else 0, color="none",
                edgecolor="black", hatch="//",
                label="core re-mapped" if y == 0 else None)
    ax.axvline(0.1 * core_luts, color="red", ls="--",
               label=f"10% of the core ({0.1 * core_luts:.0f} LUTs)")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel(f"LUTs over the bare core ({core_luts} LUTs)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3)
    ax.set_title("Where the wrapper's LUTs go")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
