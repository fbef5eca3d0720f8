"""Membrane (and weight) block RAM efficiency per layer and family, against its lower bounds.

For every network, neuron layer and family (iCE40 UP5K, ECP5, Xilinx 7) the table gives,
from the hardware plan and the exact block RAM model (:mod:`cost.resources`, the same
mapping Yosys' ``memory_libmap`` makes): neurons x state bits (the data), the blocks the
membrane RAM takes, the two lower bounds of :func:`cost.resources.membrane_floor`

``bits floor``   ``ceil(neurons x state bits / block bits)``: no layout takes fewer;
``shape floor``  the fewest blocks of any one legal read-write mode of the family's
                 block RAM holding ``ceil(N / U)`` words of ``U x state bits``, over every
                 packing ``U`` the plan may choose (1..8 neurons, words of at most 108 bits),

and allocated / data bits beside bits floor / data bits. Where the allocation equals the
bits floor, the ratio is the block granularity and no packing does better; where it
equals the shape floor but not the bits floor, only words wider than the plan's 108 bits
(or mixed modes) would. Network totals sum the layers whose membranes are in block RAM
(a small dense layer's membranes live in LUT-RAM or flip-flops on ECP5 / Xilinx).

Networks: built-in geometries of the trained MNIST conv net (``1x28x28-12c5-sp2-32c5-sp2-10``,
weight bits 8/3/5, state bits 15/12/14) and of the trained digits conv net
(``1x8x8-16c3-sp2-10``, 3/3, 9/11) (random weights: the memories depend only on the
shapes and widths), the conv grid of ``scripts/fit_resource_model.py``, and
``--random N`` random conv nets; ``--net DIR`` adds saved networks (e.g. the trained
ones themselves, to check they give the same figures).

example: python scripts/bram_efficiency.py --md bram_eff.md --out bram_eff.json
         python scripts/bram_efficiency.py --net RUN/net --random 0
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import Bench, Table

import pysim
from cost.resources import estimate_network, memory_floor
from hwplan import plan_network

TARGETS = ("ice40-up5k", "ecp5-25k", "xc7")
FAMILY = {"ice40-up5k": "iCE40", "ecp5-25k": "ECP5", "xc7": "Xilinx 7"}

# (name, arch, weight bits per neuron layer, state bits per neuron layer)
BUILTIN: list[tuple[str, str, Any, Any]] = [
    ("mnist-conv (trained geometry)", "1x28x28-12c5-sp2-32c5-sp2-10", [8, 3, 5], [15, 12, 14]),
    ("digits-conv (trained geometry)", "1x8x8-16c3-sp2-10", [3, 3], [9, 11]),
]


def grid_networks() -> list[tuple[str, pysim.IntNetwork]]:
    """The conv grid of the resource-model fit (training and held-out)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fit_resource_model as F
    return [(f"{c[0]} {c[1]}", F.make_net(c)) for c in F.CONV_TRAIN + F.CONV_HELDOUT]


def random_arch(rng: np.random.Generator) -> tuple[str, int]:
    """A random conv architecture string and a state width."""
    c = int(rng.integers(1, 4))
    h = int(rng.choice([8, 10, 12, 14, 16, 20, 24, 28]))
    parts, size = [f"{c}x{h}x{h}"], h
    for _ in range(int(rng.integers(1, 3))):
        k = int(rng.choice([3, 5])) if size >= 7 else 3
        if size - k + 1 < 2:
            break
        parts.append(f"{int(rng.choice([2, 4, 6, 8, 12, 16, 24, 32]))}c{k}")
        size = size - k + 1
        if size >= 4 and rng.random() < 0.7:
            parts.append("sp2")
            size //= 2
    parts.append(str(int(rng.integers(4, 11))))
    return "-".join(parts), int(rng.integers(6, 17))


def networks(args: Any) -> list[tuple[str, pysim.IntNetwork]]:
    """Every network of the run, named."""
    out = []
    for name, arch, wb, sb in BUILTIN:
        out.append((name, pysim.random_conv_network(np.random.default_rng(0), arch,
                                                    weight_bits=wb, state_bits=sb)))
    for d in args.net:
        out.append((f"{Path(d).name} ({Path(d).parent.name})", pysim.load_network(d)))
    if not args.no_grid:
        out += grid_networks()
    rng = np.random.default_rng(args.seed)
    for i in range(args.random):
        arch, sb = random_arch(rng)
        out.append((f"r{i:02d} {arch} sb{sb}",
                    pysim.random_conv_network(rng, arch, state_bits=sb)))
    return out


def rows_of(name: str, net: pysim.IntNetwork) -> tuple[list[dict], list[dict]]:
    """Per-layer membrane rows and per-family totals (membrane and weight) of one net."""
    plan = plan_network(net)
    layers, totals = [], []
    for t in TARGETS:
        est = estimate_network(plan, target=t)
        tot = {"network": name, "family": FAMILY[t], "mem_data": 0, "mem_alloc": 0,
               "mem_bits_floor": 0, "mem_shape_floor": 0, "w_data": 0, "w_alloc": 0,
               "w_bits_floor": 0, "block_bits": 0}
        for lay, lp in zip(est.layers, plan.layers):
            f = lay.membrane_floor
            units = lay.membrane_bram_units
            row = {"network": name, "layer": lay.name, "kind": lay.kind,
                   "family": FAMILY[t], "neurons": lp.out_features,
                   "state_bits": lp.state_bits, "data_bits": lay.membrane_bits_total,
                   "packing": getattr(lp, "membrane_units", 1),
                   "units": units if f else None,
                   "bits_floor": f.bits_floor if f else None,
                   "shape_floor": f.shape_floor if f else None,
                   "ratio": f.ratio(units) if f else None,
                   "bits_floor_ratio": f.bits_floor_ratio if f else None,
                   "shape_floor_ratio": f.shape_floor_ratio if f else None,
                   "plan_floor": (memory_floor(lp.out_features, lp.state_bits, t,
                                               packings=(getattr(lp, "membrane_units", 1),))
                                  .shape_floor if f else None)}
            row["verdict"] = verdict(units, f, row["plan_floor"])
            layers.append(row)
            if f is not None:
                tot["block_bits"] = f.block_bits
                tot["mem_data"] += f.data_bits
                tot["mem_alloc"] += units
                tot["mem_bits_floor"] += f.bits_floor
                tot["mem_shape_floor"] += f.shape_floor
            wf = lay.weight_floor
            if wf is not None:
                tot["block_bits"] = wf.block_bits
                tot["w_data"] += wf.data_bits
                tot["w_alloc"] += lay.weight_bram_units
                tot["w_bits_floor"] += wf.bits_floor
        bb = tot["block_bits"]
        tot["mem_ratio"] = tot["mem_alloc"] * bb / tot["mem_data"] if tot["mem_data"] else None
        tot["mem_floor_ratio"] = (tot["mem_bits_floor"] * bb / tot["mem_data"]
                                  if tot["mem_data"] else None)
        tot["w_ratio"] = tot["w_alloc"] * bb / tot["w_data"] if tot["w_data"] else None
        tot["w_floor_ratio"] = (tot["w_bits_floor"] * bb / tot["w_data"]
                                if tot["w_data"] else None)
        totals.append(tot)
    return layers, totals


def verdict(units: int, f: Any, plan_floor: int | None) -> str:
    """Where an allocation stands against its floors: at the bits floor (the block
    granularity); at the shape floor (the modes' shapes and write-enable granularity);
    above it, at the fewest blocks of the plan's packing (the plan's ``U``, chosen once
    for every family, is not this family's best); above that (Yosys' memory_libmap
    trades a block for fewer read multiplexers)."""
    if f is None:
        return "not in block RAM"
    if units == f.bits_floor:
        return "bits floor (granularity)"
    if units == f.shape_floor:
        return "shape floor (mode shapes)"
    if units == plan_floor:
        return f"shape floor +{units - f.shape_floor} (plan's U)"
    return f"shape floor +{units - f.shape_floor} (Yosys: fewer muxes)"


def packing_scan() -> tuple[list[dict], Table]:
    """The plan's packing ``U`` (chosen once, for 18-Kbit blocks) against each family's
    own best, over whole-map membrane RAMs of ``O x P x P`` neurons (O in 2..32, P in
    4..28) and state widths 6..16, with the exact block RAM model: the blocks of the
    plan's choice, of each family's best ``U`` (words of at most the plan's
    ``MAX_MEMBRANE_WORD_BITS``), and of the best ``U <= 8`` without the word cap."""
    from cost.resources import map_membrane
    from hwplan.conv import (
        MAX_MEMBRANE_UNITS,
        MAX_MEMBRANE_WORD_BITS,
        max_membrane_units,
        membrane_units,
    )
    from pysim.util import ceil_div

    def blocks(n: int, sb: int, u: int, t: str) -> int:
        m = map_membrane(max(2, ceil_div(n, u)), u * sb, t)
        return m.block.units if m.block else 0

    ns = sorted({o * p * p for o in (2, 4, 6, 8, 12, 16, 24, 32) for p in range(4, 29)})
    cases = [(n, sb) for n in ns for sb in range(6, 17)]
    out = []
    for t in TARGETS:
        tot = {"family": FAMILY[t], "cases": len(cases), "plan": 0, "best72": 0, "best": 0,
               "plan_not_best": 0, "pareto": 0}
        for n, sb in cases:
            u0 = membrane_units(n, sb)
            top = max_membrane_units(sb)
            c = {u: blocks(n, sb, u, t) for u in range(1, MAX_MEMBRANE_UNITS + 1)}
            tot["plan"] += c[u0]
            tot["best72"] += min(c[u] for u in range(1, top + 1))
            tot["best"] += min(c.values())
            tot["plan_not_best"] += c[u0] > min(c[u] for u in range(1, top + 1))
        out.append(tot)
    # Pareto: a U <= the cap no worse on any family and better on one
    par = 0
    for n, sb in cases:
        u0 = membrane_units(n, sb)
        top = max_membrane_units(sb)
        v = {u: tuple(blocks(n, sb, u, t) for t in TARGETS) for u in range(1, top + 1)}
        par += any(all(a <= b for a, b in zip(v[u], v[u0])) and v[u] != v[u0] for u in v)
    for tot in out:
        tot["pareto"] = par
    tab = Table(["family", "cases", "blocks, plan's U", f"each family's best U (<= {MAX_MEMBRANE_WORD_BITS} bits)",
                 "best U <= 8 (any width)", "cases plan's U not the family's best"],
                [(r["family"], r["cases"], r["plan"], r["best72"], r["best"],
                  r["plan_not_best"]) for r in out], align="lrrrrr",
                title="Packing choice: the plan's U against each family's best (membrane "
                      "RAMs of O x P x P neurons, state bits 6..16; exact model)",
                notes=[(f"{par} of {len(cases)} cases have a U (<= {MAX_MEMBRANE_WORD_BITS} bits) no "
                        "worse on any "
                        "family and better on one.")])
    return out, tab


def synth_check(nets: list[tuple[str, pysim.IntNetwork]], targets: list[str], jobs: int,
                bench: Bench) -> tuple[list[dict], Table]:
    """Synthesize each network for each target (Yosys) and compare its block RAMs with the
    model's (the sum of the weight, membrane, accumulator and FIFO mappings above), and
    list the memories Yosys' memory_libmap mapped and to what (its log)."""
    import concurrent.futures as cf
    import re
    import tempfile

    from cost.synth import synthesize
    from hdl import emit_verilog

    jobs_list = []
    for name, net in nets:
        design = emit_verilog(net)
        for t in targets:
            jobs_list.append((name, design, t))

    def run(item: tuple) -> dict:
        name, design, t = item
        with tempfile.TemporaryDirectory(prefix="bram-eff-") as tmp:
            res = synthesize(design.verilog, top=design.top, target=t, workdir=Path(tmp))
            log = Path(res.log).read_text() if res.log else ""
        mapped = sorted(set(re.findall(r"mapping memory \S+?\.(\S+) via (\S+)", log)))
        est = estimate_network(design.plan, target=t)
        bench.progress(f"{name} {t}: Yosys {res.bram_units} block RAMs, model "
                       f"{est.bram_units} ({res.seconds:.0f} s)")
        return {"network": name, "family": FAMILY[t], "yosys_units": res.bram_units,
                "model_units": est.bram_units, "luts": res.luts, "luts_model": est.luts,
                "ffs": res.ffs, "ffs_model": est.ffs,
                "membrane_units_model": sum(lay.membrane_bram_units for lay in est.layers),
                "mapped_memories": [f"{m} ({c})" for m, c in mapped]}

    with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        out = list(ex.map(run, jobs_list))
    tab = Table(["network", "family", "Yosys block RAMs", "model", "membrane (model)", "LUT",
                 "model", "FF", "model", "memories mapped (memory_libmap)"],
                [(r["network"], r["family"], r["yosys_units"], r["model_units"],
                  r["membrane_units_model"], r["luts"], r["luts_model"], r["ffs"],
                  r["ffs_model"], ", ".join(r["mapped_memories"])) for r in out],
                align="llrrrrrrrl",
                title="Synthesis check (Yosys, block RAMs in the family's unit)")
    return out, tab


def _r(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    bench = Bench("bram_efficiency", __doc__)
    ap = bench.parser(seed=0)
    ap.add_argument("--net", action="append", default=[], metavar="DIR",
                    help="a saved network directory to add (repeatable)")
    ap.add_argument("--random", type=int, default=12, help="random conv nets (default 12)")
    ap.add_argument("--no-grid", action="store_true",
                    help="leave out the resource-model fit's conv grid")
    ap.add_argument("--scan", action="store_true",
                    help="also scan the plan's packing choice against each family's best")
    ap.add_argument("--synth", default="", metavar="TARGETS",
                    help="also synthesize the built-in and --net networks for these targets "
                         "(e.g. ice40-up5k,xc7) and compare the block RAMs with Yosys")
    ap.add_argument("--jobs", type=int, default=1, help="parallel synthesis runs (--synth)")
    args = bench.parse(ap, argv)
    layers, totals = [], []
    for name, net in networks(args):
        lr, tr = rows_of(name, net)
        layers += lr
        totals += tr
    bench.progress(f"{len(totals) // len(TARGETS)} networks, {len(layers)} layer rows")
    t_layers = Table(
        ["network", "layer", "family", "neurons x bits", "U", "blocks", "bits floor",
         "shape floor", "alloc/data", "bits floor/data", "verdict"],
        [(r["network"], r["layer"], r["family"], f"{r['neurons']} x {r['state_bits']}",
          r["packing"], r["units"], r["bits_floor"], r["shape_floor"], _r(r["ratio"]),
          _r(r["bits_floor_ratio"]), r["verdict"]) for r in layers],
        align="lll" + "r" * 7 + "l",
        title="Membrane RAM per layer (blocks in the family's unit: iCE40 4 Kbit, ECP5 / "
              "Xilinx 18 Kbit)")
    t_tot = Table(
        ["network", "family", "membrane blocks", "bits floor", "shape floor", "alloc/data",
         "bits floor/data", "weight blocks", "bits floor", "alloc/data", "bits floor/data"],
        [(r["network"], r["family"], r["mem_alloc"], r["mem_bits_floor"],
          r["mem_shape_floor"], _r(r["mem_ratio"]), _r(r["mem_floor_ratio"]), r["w_alloc"],
          r["w_bits_floor"], _r(r["w_ratio"]), _r(r["w_floor_ratio"])) for r in totals],
        align="ll" + "r" * 9, title="Network totals (membrane RAMs in block RAM; weight ROMs)")
    inb = [r for r in layers if r["units"] is not None]
    summary = {"layers": len(layers), "in_block_ram": len(inb),
               "at_bits_floor": sum(r["units"] == r["bits_floor"] for r in inb),
               "at_shape_floor": sum(r["bits_floor"] < r["units"] == r["shape_floor"]
                                     for r in inb),
               "plan_packing": sum(r["units"] > r["shape_floor"] and r["units"] == r["plan_floor"]
                                   for r in inb),
               "yosys_muxes": sum(r["units"] > r["shape_floor"] and r["units"] != r["plan_floor"]
                                  for r in inb)}
    t_layers.notes.append(
        f"{summary['in_block_ram']} layer x family rows in block RAM: "
        f"{summary['at_bits_floor']} at the bits floor, {summary['at_shape_floor']} at the "
        f"shape floor above it, {summary['plan_packing']} above it by the plan's U, "
        f"{summary['yosys_muxes']} by Yosys' choice of fewer multiplexers.")
    tables = [t_tot, t_layers]
    results = {"layers": layers, "totals": totals, "summary": summary}
    if args.scan:
        results["packing_scan"], tab = packing_scan()
        tables.append(tab)
    if args.synth:
        named = synth_networks(args)
        results["synth"], tab = synth_check(named, [t.strip() for t in args.synth.split(",")
                                                    if t.strip()], args.jobs, bench)
        tables.append(tab)
    bench.finish(results, tables)
    return 0


def synth_networks(args: Any) -> list[tuple[str, pysim.IntNetwork]]:
    """The networks of the synthesis check: the ``--net`` ones, else the built-in ones."""
    nets = networks(argparse.Namespace(**{**vars(args), "no_grid": True, "random": 0}))
    return nets[len(BUILTIN):] if args.net else nets


if __name__ == "__main__":
    sys.exit(main())
