"""Resources and Fmax of the ``axis`` wrapper against the bare core (Yosys + nextpnr).

Synthesizes, places and routes a network twice for one target: the bare core (its debug
taps dropped from the pins, as in the estimates) and the same core inside the AXI4-Stream
/ AXI-Lite wrapper (``generate --wrap axis``); reports LUTs, FFs, block RAMs and Fmax
and the wrapper's overhead (targets: <= 10% LUTs, Fmax within 5%).

    python scripts/bench_wrapper_overhead.py NET [--target ecp5-25k] --out F.json --md F.md
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Bench, Table, ratio


def main(argv: list[str] | None = None) -> int:
    bench = Bench("bench_wrapper_overhead", __doc__)
    ap = bench.parser()
    ap.add_argument("net", type=Path, help="manifest directory")
    ap.add_argument("--target", default="ecp5-25k")
    ap.add_argument("--workdir", type=Path, default=None)
    args = bench.parse(ap, argv)

    import hdl
    from cost.synth import synthesize
    from pysim import load_network

    net = load_network(args.net)
    core = hdl.emit_verilog(net)
    wrapped = hdl.emit_verilog(net, wrap="axis")
    taps = [t[k]["name"] for t in core.portmap["taps"] for k in ("valid", "index", "last")]
    rows, results = [], {}
    for name, design, drop in (("core", core, taps), ("axis wrapper", wrapped, [])):
        bench.progress(f"synthesizing {name} for {args.target}")
        work = None if args.workdir is None else args.workdir / name.replace(" ", "_")
        r = synthesize(design.verilog, top=design.top, target=args.target, pnr=True,
                       drop_ports=drop, workdir=work)
        results[name] = r.as_dict()
        rows.append([name, r.luts, r.ffs, r.bram_count, r.fmax_mhz, round(r.seconds, 1)])
    c, w = results["core"], results["axis wrapper"]
    over = {"luts": ratio(w["luts"] - c["luts"], c["luts"]),
            "ffs": ratio(w["ffs"] - c["ffs"], c["ffs"]),
            "fmax": ratio(w["fmax_mhz"], c["fmax_mhz"]) if c["fmax_mhz"] else None}
    rows.append(["overhead", f"{100 * over['luts']:+.1f}%", f"{100 * over['ffs']:+.1f}%",
                 w["bram_count"] - c["bram_count"],
                 f"{100 * (over['fmax'] - 1):+.1f}%" if over["fmax"] else "-", ""])
    table = Table(["design", "LUTs", "FFs", "BRAM", "Fmax MHz", "seconds"], rows,
                  title=f"{args.net.name} on {args.target}")
    bench.finish({"net": str(args.net), "target": args.target, "results": results,
                  "overhead": over}, [table])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
