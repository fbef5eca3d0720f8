"""Membrane (and weight) block RAM efficiency per layer and family, against its lower bounds.

For every network, neuron layer and family (iCE40 UP5K, ECP5, Xilinx 7) the table gives,
from the hardware plan and the exact block RAM model (:mod:`cost.resources`, the same
mapping Yosys' ``memory_libmap`` makes): neurons x state bits (the data), the blocks the
membrane RAM takes, the two lower bounds of :func:`cost.resources.membrane_floor`

``bits floor``   ``ceil(neurons x state bits / block bits)``: no layout takes fewer;
``shape floor``  the fewest blocks of any one legal read-write mode of the family's
                 block RAM holding ``ceil(N / U)`` words of ``U x state bits``, over every
                 packing ``U`` the plan may choose (1..8 neurons, words of at most 72 bits),

and allocated / data bits beside bits floor / data bits. Where the allocation equals the
bits floor, the ratio is the block granularity and no packing does better; where it
equals the shape floor but not the bits floor, only words wider than the plan's 72 bits
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
    packing = [r for r in layers if r["units"] is not None and r["units"] > r["shape_floor"]]
    over = [r for r in layers if r["units"] is not None and r["units"] > r["bits_floor"]]
    summary = {"layers": len(layers),
               "in_block_ram": sum(r["units"] is not None for r in layers),
               "at_bits_floor": sum(r["units"] is not None and r["units"] == r["bits_floor"]
                                    for r in layers),
               "above_bits_floor": len(over), "above_shape_floor": len(packing)}
    t_layers.notes.append(
        f"{summary['in_block_ram']} layer x family rows in block RAM: "
        f"{summary['at_bits_floor']} at the bits floor, {summary['above_bits_floor']} above "
        f"it, {summary['above_shape_floor']} above the shape floor (a packing the plan "
        f"could improve).")
    bench.finish({"layers": layers, "totals": totals, "summary": summary}, [t_tot, t_layers])
    return 0


if __name__ == "__main__":
    sys.exit(main())
