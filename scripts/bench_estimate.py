"""Benchmark: FPGA resources, Fmax and latency of digits- and MNIST-size networks.

For each network (digits 64-128-10, MNIST-size 784-256-10; random weights, which is all
resources depend on) at uniform 8/4/2-bit weights and at a mixed allocation, this
generates the Verilog, synthesizes it with Yosys for every target, places and routes
the iCE40/ECP5 targets with nextpnr when the block RAM fits the part, and evaluates
the analytic model. Latency per sample = event-driven cycles (the bound of docs/hardware.md,
*Cycles per timestep*, on random input spikes at a dataset-like rate, through the golden
model) / Fmax.
Prints a table and writes JSON (ratios against the 8-bit run of the same network); the
JSON (``--out``) is rewritten after every network and a re-run resumes from it.

example: python scripts/bench_estimate.py --nets digits,mnist \
             --out runs/bench_estimate/bench_estimate.json --md runs/bench_estimate/table.md
         python scripts/bench_estimate.py --model-only   # timing + model, no synthesis
         python scripts/bench_estimate.py --markdown runs/bench_estimate/bench_estimate.json
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import ROOT, Bench, Table, load_results

import pysim
from cost.estimate import cycle_bound
from cost.resources import estimate_network
from cost.synth import synthesize
from cost.targets import parse_targets
from hdl import emit_verilog

NETS = {
    # name: (sizes, timesteps, input spike rate, mixed allocation)
    "digits": ([64, 128, 10], 16, 0.30, [3, 5]),
    "mnist": ([784, 256, 10], 16, 0.13, [3, 6]),
}
ALLOCS = {"8": 8, "4": 4, "2": 2}

PUBLISHED = [
    {"design": "Spiker+ (Carpegna et al.)", "network": "MNIST", "accuracy": "93.85%",
     "logic": "7,612 logic cells", "bram": "18 BRAM", "latency_us": 780},
    {"design": "Flexi-NeurA", "network": "256-128-10 (MNIST)", "accuracy": "97.23%",
     "logic": "1,623 logic cells", "bram": "7 BRAM", "latency_us": 1100},
]


def run_one(name: str, alloc: str, targets: list, pnr: bool, workroot: Path | None,
            verbose: bool) -> dict[str, Any]:
    """Synthesize (and place) one network at one allocation on every target."""
    sizes, T, rate, mixed = NETS[name]
    bits = mixed if alloc == "mixed" else ALLOCS[alloc]
    net = pysim.random_network(np.random.default_rng(sum(sizes)), sizes, timesteps=T,
                               weight_bits=bits, state_bits=12)
    design = emit_verilog(net)
    cyc = cycle_bound(net, design.plan, rate=rate, samples=32)
    rec: dict[str, Any] = {
        "net": name, "alloc": alloc, "sizes": sizes, "timesteps": T,
        "weight_bits": [layer.weight_bits for layer in net.neuron_layers],
        "weight_memory_bits": net.weight_memory_bits, "lanes": design.lanes,
        "input_rate": rate, "cycles_per_sample": cyc["per_sample"], "cycles": cyc,
        "targets": {},
    }
    for t in targets:
        model = estimate_network(design.plan, target=t)
        do_pnr = pnr and t.nextpnr is not None and model.bram_units <= t.brams
        t0 = time.perf_counter()
        work = None if workroot is None else workroot / f"{name}_{alloc}_{t.name}"
        try:
            r = synthesize(design.verilog, top=design.top, target=t, pnr=do_pnr,
                           workdir=work)
            synth = r.as_dict()
            synth.pop("utilization", None)
            synth["utilization"] = {k: v for k, v in r.utilization.items() if v["used"]}
            err = None
        except pysim.InputError as exc:
            synth, err = None, str(exc)
        entry = {"model": {"luts": model.luts, "ffs": model.ffs,
                           "bram_units": model.bram_units, "bram_bits": model.bram_bits,
                           "fits": model.fits()},
                 "synth": synth, "error": err, "pnr": do_pnr,
                 "bram_ratio": {lay.name: round(lay.bram_ratio, 3) for lay in model.layers}}
        if pnr and t.nextpnr is not None and not do_pnr:
            entry["not_placed"] = (f"needs {model.bram_units} block RAMs, {t.part} has "
                                   f"{t.brams}")
        if synth and synth.get("fmax_mhz"):
            entry["latency_us"] = cyc["per_sample"] / synth["fmax_mhz"]
        rec["targets"][t.name] = entry
        if verbose:
            s = synth or {}
            print(f"  {name} {alloc} {t.name}: LUT {s.get('luts')} FF {s.get('ffs')} "
                  f"BRAM {s.get('bram_units')} Fmax {s.get('fmax_mhz')} "
                  f"({time.perf_counter() - t0:.0f} s){' ERROR ' + err if err else ''}",
                  file=sys.stderr, flush=True)
    return rec


def table(records: list[dict[str, Any]]) -> Table:
    """The results as a table (plain text: ``.text()``)."""
    rows = []
    base: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        if r["alloc"] == "8":
            for tn, e in r["targets"].items():
                if e["synth"]:
                    base[(r["net"], tn)] = e["synth"]
    for r in records:
        for tn, e in r["targets"].items():
            s = e["synth"] or {}
            b = base.get((r["net"], tn))
            lut_ratio = f"{s['luts'] / b['luts']:.2f}" if s and b else "-"
            bram_ratio = (f"{s['bram_units'] / b['bram_units']:.2f}"
                          if s and b and b["bram_units"] else "-")
            fmax = f"{s['fmax_mhz']:.1f}" if s.get("fmax_mhz") else (
                "n/p" if e.get("not_placed") else "-")
            lat = f"{e['latency_us']:.0f}" if e.get("latency_us") else "-"
            rows.append((r["net"], r["alloc"], "/".join(map(str, r["weight_bits"])), tn,
                         s.get("luts"), s.get("ffs"), s.get("bram_units"), fmax,
                         f"{r['cycles_per_sample']:.0f}", lat, lut_ratio, bram_ratio))
    return Table(["net", "alloc", "bits", "target", "LUT", "FF", "BRAM", "Fmax", "cycles",
                  "lat_us", "LUT/8b", "BRAM/8b"], rows, align="llll" + "r" * 8)


def remodel(records: list[dict[str, Any]]) -> None:
    """Re-evaluate the model figures of stored records with the shipped model (in place)."""
    for r in records:
        bits = r["weight_bits"]
        net = pysim.random_network(np.random.default_rng(sum(r["sizes"])), r["sizes"],
                                   timesteps=r["timesteps"], weight_bits=bits, state_bits=12)
        for tn, e in r["targets"].items():
            m = estimate_network(net, target=tn, lanes=r["lanes"])
            e["model"] = {"luts": m.luts, "ffs": m.ffs, "bram_units": m.bram_units,
                          "bram_bits": m.bram_bits, "fits": m.fits()}


def markdown(records: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (synthesis figures; model LUTs in brackets)."""
    lines = [("| network | weight bits | lanes | target | LUT (model) | FF | BRAM (model) | "
              "Fmax MHz | cycles/sample | latency us |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        for tn, e in r["targets"].items():
            s = e["synth"] or {}
            fmax = f"{s['fmax_mhz']:.1f}" if s.get("fmax_mhz") else (
                "not placed: " + e["not_placed"] if e.get("not_placed") else "-")
            if e.get("pnr") and s.get("fits") is False:
                fmax = "does not fit (nextpnr: no ICESTORM_LC left)" if "ICESTORM_LC" in \
                    " ".join(s.get("notes", [])) else "does not fit (nextpnr)"
            if any("abc9" in n for n in s.get("notes", [])):
                fmax += " [abc -lut 4 fallback]"
            lat = f"{e['latency_us']:.0f}" if e.get("latency_us") else "-"
            lines.append(
                f"| {r['net']} {'-'.join(map(str, r['sizes']))} | "
                f"{'/'.join(map(str, r['weight_bits']))} ({r['alloc']}) | "
                f"{'/'.join(str(v) for v in r['lanes'].values())} | {tn} | "
                f"{s.get('luts', '-')} ({e['model']['luts']}) | {s.get('ffs', '-')} | "
                f"{s.get('bram_units', '-')} ({e['model']['bram_units']}) | {fmax} | "
                f"{r['cycles_per_sample']:.0f} | {lat} |")
    return "\n".join(lines)


def model_only_timing(targets: str) -> dict[str, float]:
    """Seconds for ``estimate(..., model_only=True)`` per network (after imports; median of 3)."""
    from cost.estimate import estimate

    out = {}
    for name, (sizes, T, _rate, mixed) in NETS.items():
        net = pysim.random_network(np.random.default_rng(sum(sizes)), sizes, timesteps=T,
                                   weight_bits=mixed, state_bits=12)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            estimate(net, targets=targets, model_only=True, progress=False)
            times.append(time.perf_counter() - t0)
        out[name] = sorted(times)[1]
    return out


def model_only_table(timing: dict[str, float], targets: list, nets: list[str],
                     allocs: list[str]) -> tuple[Table, list[dict[str, Any]]]:
    """The analytic model's figures (no synthesis) of every network/allocation/target."""
    rows, recs = [], []
    for name in nets:
        sizes, T, _rate, mixed = NETS[name]
        for alloc in allocs:
            bits = mixed if alloc == "mixed" else ALLOCS[alloc]
            net = pysim.random_network(np.random.default_rng(sum(sizes)), sizes, timesteps=T,
                                       weight_bits=bits, state_bits=12)
            for t in targets:
                m = estimate_network(net, target=t)
                recs.append({"net": name, "alloc": alloc, "target": t.name, "luts": m.luts,
                             "ffs": m.ffs, "bram_units": m.bram_units,
                             "bram_bits": m.bram_bits, "fits": m.fits()})
                rows.append((name, alloc, "/".join(str(la.weight_bits) for la in net.neuron_layers),
                             t.name, m.luts, m.ffs, m.bram_units, m.fits()))
    tab = Table(["net", "alloc", "bits", "target", "LUT (model)", "FF (model)",
                 "BRAM (model)", "fits"], rows, align="llllrrrl",
                title="model-only estimate, median of 3 in-process calls: " + ", ".join(
                    f"{k} {v * 1000:.0f} ms" for k, v in timing.items()))
    return tab, recs


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    bench = Bench("bench_estimate", __doc__)
    ap = bench.parser(quick="digits only, uniform 8 bits and the mixed allocation, no nextpnr")
    ap.set_defaults(out=None)  # synthesis runs: runs/bench_estimate/bench_estimate.json
    ap.add_argument("--nets", default="digits,mnist")
    ap.add_argument("--allocs", default="8,4,2,mixed")
    ap.add_argument("--targets", default="ice40-up5k,ecp5-25k,xc7")
    ap.add_argument("--no-pnr", action="store_true")
    ap.add_argument("--model-only", action="store_true",
                    help="only time the model-only estimate and print the model's figures")
    ap.add_argument("--keep", action="store_true", help="keep synthesis work dirs in --work")
    ap.add_argument("--work", type=Path, default=None,
                    help="synthesis work dirs with --keep (default: work/ next to --out)")
    ap.add_argument("--markdown", nargs="*", type=Path, default=None,
                    help="only print a Markdown table of these bench JSON files")
    args = bench.parse(ap, argv)
    if args.markdown is not None:
        recs = [r for p in args.markdown for r in load_results(p)["records"]]
        remodel(recs)
        print(markdown(recs))
        bench.write_md(markdown(recs))
        return 0
    if args.quick:
        args.nets, args.allocs, args.no_pnr = "digits", "8,mixed", True
    nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    allocs = [a.strip() for a in args.allocs.split(",") if a.strip()]
    targets = parse_targets(args.targets)
    timing = model_only_timing(args.targets)
    bench.progress("model-only estimate: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in
                                                      timing.items()))
    if args.model_only:
        tab, recs = model_only_table(timing, targets, nets, allocs)
        bench.finish({"model_only_seconds": timing, "model": recs}, [tab])
        return 0
    out_json = args.out = args.out or ROOT / "runs" / "bench_estimate" / "bench_estimate.json"
    records: list[dict[str, Any]] = []
    if out_json.exists():   # resume: keep what was measured with the same settings
        records = load_results(out_json).get("records", [])
    done = {(r["net"], r["alloc"]) for r in records}
    work = args.work or out_json.parent / "work"
    t0 = time.perf_counter()
    results = {"records": records, "published": PUBLISHED, "model_only_seconds": timing}
    for name in nets:
        for alloc in allocs:
            if (name, alloc) in done:
                continue
            bench.progress(f"{name} {alloc} ...")
            records.append(run_one(name, alloc, targets, not args.no_pnr,
                                   work if args.keep else None, True))
            bench.write_json(results)
    bench.finish(results, [table(records)], markdown=markdown(records))
    bench.progress(f"{time.perf_counter() - t0:.0f} s of synthesis")
    return 0


if __name__ == "__main__":
    sys.exit(main())
