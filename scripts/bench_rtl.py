#!/usr/bin/env python
"""RTL verification throughput: samples/s through cocotb + Verilator, against a baseline.

For a digits-size (64-128-10) and an MNIST-size (784-256-10, T=16) random network with a
realistic input rate, builds the generated design and runs a batch with

* ``buffered``  the default testbench: Verilog wrapper drives the input stream from a file
  and logs the taps; cocotb awaits only the end of the batch; only the wrapper's status
  ports are public to VPI;
* ``public``    the same wrapper, but built the cocotb-default way (every signal public);
* ``percycle``  the baseline: the plain cocotb testbench (Clock + driver and monitors
  awaiting every clock edge), in the same process.

Reports build time, samples/s (simulation wall time; and end to end: simulator process,
golden model, checker), cycles/sample vs the event-driven bound, and speed-ups over the
baseline. Every run must match the golden model (0 mismatches) or the script fails.

example: python scripts/bench_rtl.py --out bench_rtl.json [--md bench_rtl.md]
         python scripts/bench_rtl.py --quick     # digits only, 20 + 4 samples
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import Bench, Table

import hdl
from pysim import random_network, random_spikes
from sim import build_design, run_samples
from sim.runner import _env

CASES = {
    "digits": {"sizes": [64, 128, 10], "timesteps": 16},
    "mnist": {"sizes": [784, 256, 10], "timesteps": 16},
}


def run_case(name: str, cfg: dict, samples: dict[str, int], rate: float, work: Path,
             lanes: int | None, modes: list[str], seed: int = 2021,
             bench: Bench | None = None) -> list[dict]:
    rng = np.random.default_rng(seed)
    net = random_network(rng, cfg["sizes"], timesteps=cfg["timesteps"], weight_bits=[6, 4],
                         state_bits=12)
    n_max = max(samples.values())
    x = random_spikes(rng, n_max, net.timesteps, net.input_size, rate)
    t0 = time.perf_counter()
    design = hdl.emit_verilog(net, lanes=lanes)
    gen_s = time.perf_counter() - t0
    rows = []
    for mode in modes:
        env = {"SPIKEFORGE_TB_PUBLIC_ALL": "1"} if mode == "public" else {}
        tb_mode = "percycle" if mode == "percycle" else "buffered"
        with _env(env):
            build = build_design(design.verilog, design.portmap, work / name / mode,
                                 mode=tb_mode)
        n = samples[mode]
        t0 = time.perf_counter()
        res = run_samples(build, net, x[:n], work / name / f"run-{mode}")
        e2e = time.perf_counter() - t0
        if res.mismatches:
            raise SystemExit(f"{name}/{mode}: {res.mismatches} mismatches: {res.first_mismatch}")
        row = {
            "case": name, "sizes": cfg["sizes"], "timesteps": cfg["timesteps"],
            "input_rate": rate, "mode": mode, "samples": n, "lanes": design.lanes,
            "generate_seconds": gen_s, "build_seconds": res.build_seconds,
            "sim_seconds": res.sim_seconds, "samples_per_second": res.samples_per_second,
            "end_to_end_seconds": e2e, "end_to_end_samples_per_second": n / e2e,
            "cycles_per_sample": res.cycles_per_sample, "cycle_bound": res.cycle_bound,
            "bound_ratio": res.bound_ratio,
            "cycles_per_second": res.cycles_per_sample * res.samples_per_second,
            "mismatches": res.mismatches,
        }
        rows.append(row)
        msg = (f"{name:6s} {mode:8s} {n:5d} samples  {row['samples_per_second']:9.2f} "
               f"samples/s  build {row['build_seconds']:.1f} s")
        if bench is not None:
            bench.progress(msg)
        else:
            print("  " + msg, file=sys.stderr)
    base = next((r for r in rows if r["mode"] == "percycle"), None)
    for r in rows:
        r["speedup_vs_percycle"] = (r["samples_per_second"] / base["samples_per_second"]
                                    if base else None)
    return rows


def main(argv: list[str] | None = None) -> int:
    bench = Bench("bench_rtl", __doc__)
    ap = bench.parser(quick="digits only, 20 buffered / 4 per-cycle samples", seed=2021)
    ap.add_argument("--cases", default="digits,mnist", help="comma list of: digits, mnist")
    ap.add_argument("--samples", type=int, default=300, help="samples per buffered run")
    ap.add_argument("--baseline-samples", type=int, default=None,
                    help="samples per per-cycle run (default: 40 digits, 4 mnist)")
    ap.add_argument("--rate", type=float, default=0.15, help="input spike probability")
    ap.add_argument("--lanes", type=int, default=None, help="lanes for every layer "
                    "(default: the generator's default)")
    ap.add_argument("--modes", default="buffered,public,percycle")
    ap.add_argument("--work", type=Path, default=None, help="build directory (default: tmp)")
    args = bench.parse(ap, argv)
    if args.quick:
        args.cases, args.samples = "digits", min(args.samples, 20)
        args.baseline_samples = args.baseline_samples or 4
    modes = args.modes.split(",")
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-rtl-")
        args.work = Path(tmp.name)
    rows: list[dict] = []
    for name in args.cases.split(","):
        base_n = args.baseline_samples or (40 if name == "digits" else 4)
        samples = {"buffered": args.samples, "public": args.samples, "percycle": base_n}
        rows += run_case(name, CASES[name], samples, args.rate, args.work, args.lanes, modes,
                         seed=args.seed, bench=bench)
    table = Table(
        ["case", "mode", "samples", "build_s", "samples/s", "e2e samples/s", "Mcycles/s",
         "cycles/sample", "bound", "ratio", "speedup"],
        [[r["case"], r["mode"], r["samples"], round(r["build_seconds"], 1),
          round(r["samples_per_second"], 2), round(r["end_to_end_samples_per_second"], 2),
          round(r["cycles_per_second"] / 1e6, 3), round(r["cycles_per_sample"]),
          round(r["cycle_bound"]), round(r["bound_ratio"], 4),
          None if r["speedup_vs_percycle"] is None else round(r["speedup_vs_percycle"], 1)]
         for r in rows], align="llrrrrrrrrr")
    bench.finish({"benchmark": "rtl_verification_throughput", "rows": rows}, [table])
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
