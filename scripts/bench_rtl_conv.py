#!/usr/bin/env python
"""RTL verification speed of a conv network: images/s per core through cocotb + Verilator.

Builds the network's generated design (or the files of ``--design``) once per clock of
the buffered testbench (``sim.wrapper.CLOCKS``) and verifies the same images on each,
in the same process:

* ``verilog`` the wrapper's own ``always #5`` clock, Verilator ``--timing`` (the
  testbench before issue 12; the baseline);
* ``gpi``     the wrapper's clock an input, toggled by cocotb's GPI clock in C
  (``Clock(..., impl="gpi")``), no ``--timing``;
* ``cpp``     the wrapper's clock toggled by the simulation's C++ main loop
  (``sim/verilator_main.cpp``: cocotb's loop plus the clock), no ``--timing`` (default);
* ``bare``    (not a testbench, the bound) the same Verilog (design + wrapper, its driver,
  monitors and watchdog) under a 20-line C++ main without cocotb or VPI: what evaluating
  the design costs.

Per row: build seconds (wall and CPU of all build processes), simulation wall seconds and
the simulator process's CPU seconds (``time.process_time`` inside it: what one core
spends whatever else the machine runs), images/s of wall time and per CPU-second, and
the ratio to the baseline. Every testbench run must match the golden model (0
mismatches) and all runs must agree on every spike and cycle count, or the script fails.

example: python scripts/bench_rtl_conv.py --net RUN/net --input SPIKES.npz --samples 500 \\
             --out bench_rtl_conv.json --md bench_rtl_conv.md
         python scripts/bench_rtl_conv.py --quick          # a small random conv net
(SPIKES: ``spikeforge data encode mnist --timesteps 8 --limit 500 -o SPIKES.npz``, or the
flow's own ``net/test_spikes.npz``.)
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import Bench, Table, ratio

from pysim import load_network, random_spikes
from sim import build_design, run_samples
from sim.runner import _MAKE_FIX, _children_cpu
from sim.tools import simulator_env
from sim.wrapper import CLOCKS, WRAPPER_TOP, PortMap, wrapper_verilog

BARE_MAIN = r"""
#include "V%(top)s.h"
#include "verilated.h"
#include <cstdio>
#include <ctime>
int main(int argc, char** argv) {
  Verilated::commandArgs(argc, argv);
  auto* top = new V%(top)s;
  top->clk = 0; top->eval();
  unsigned long long cyc = 0;
  std::clock_t c0 = std::clock();
  while (!top->finished && !Verilated::gotFinish()) {
    top->clk = 1; top->eval();
    top->clk = 0; top->eval();
    ++cyc;
  }
  double s = double(std::clock() - c0) / CLOCKS_PER_SEC;
  std::printf("bare cycles %%llu cpu %%.6f samples_done %%u\n", cyc, s, top->samples_done);
  top->final(); delete top; return 0;
}
"""


def _quick_net(seed: int):
    """A small random conv network (``--quick``)."""
    from pysim.randnet import random_conv_network

    return random_conv_network(np.random.default_rng(seed), "1x12x12-4c3-sp2-8c3-10",
                               timesteps=6, weight_bits=4, state_bits=10)


def describe(net) -> str:
    """The network as an ``--arch`` string with its weight bits and T (no path)."""
    parts = ["x".join(map(str, net.input_shape))]
    bits = []
    for la in net.layers:
        kind = type(la).__name__
        if kind == "Conv2dLayer":
            parts.append(f"{la.out_channels}c{la.kernel[0]}")
        elif kind == "SumPool2dLayer":
            parts.append(f"sp{la.kernel[0]}")
            continue
        else:
            parts.append(str(la.out_features))
        bits.append(str(la.weight_bits))
    return f"{'-'.join(parts)}, {'-'.join(bits)} bits, T = {net.timesteps}"


def bare_run(verilog: str, pm: PortMap, run_dir: Path, work: Path, n: int,
             timeout: int) -> dict:
    """Build the design + wrapper under a C++ main without cocotb/VPI and run ``n`` samples
    of the beats the cocotb run wrote (``run_dir/beats.txt``); compare the tap log."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "design.v").write_text(verilog)
    (work / "wrap.v").write_text(wrapper_verilog(pm, clock="cpp"))
    (work / "main.cpp").write_text(BARE_MAIN % {"top": WRAPPER_TOP})
    env = {**os.environ, **simulator_env("verilator"), **_MAKE_FIX}
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", "2", "-Wno-fatal", "-Wno-lint",
           "-Wno-style", "--x-assign", "fast", "--x-initial", "fast", "-O3", "--no-timing",
           "--top-module", WRAPPER_TOP, "--Mdir", "obj", "design.v", "wrap.v", "main.cpp"]
    t0, c0 = time.perf_counter(), _children_cpu()
    out = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"bare build failed: {out.stderr[-2000:]}")
    build_s, build_cpu = time.perf_counter() - t0, _children_cpu() - c0
    log = work / "taps.log"
    t0 = time.perf_counter()
    out = subprocess.run([str(work / "obj" / f"V{WRAPPER_TOP}"),
                          f"+sf_in={run_dir / 'beats.txt'}", f"+sf_log={log}", f"+sf_n={n}",
                          f"+sf_timeout={timeout}"], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    m = re.search(r"bare cycles (\d+) cpu ([0-9.]+) samples_done (\d+)", out.stdout)
    if m is None or int(m.group(3)) != n:
        raise SystemExit(f"bare run failed: {out.stdout} {out.stderr}")
    same = log.read_bytes() == (run_dir / "taps.log").read_bytes()
    if not same:
        raise SystemExit("bare run: its tap log differs from the cocotb testbench's")
    cpu = float(m.group(2))
    return {"clock": "bare", "samples": n, "build_seconds": build_s,
            "build_cpu_seconds": build_cpu, "sim_seconds": wall, "sim_cpu_seconds": cpu,
            "samples_per_second": n / wall, "samples_per_cpu_second": n / cpu,
            "cycles_total": int(m.group(1)), "mismatches": None, "same_log": same}


def main(argv: list[str] | None = None) -> int:
    bench = Bench("bench_rtl_conv", __doc__)
    ap = bench.parser(quick="a small random conv network (1x12x12-4c3-sp2-8c3-10, T = 6), "
                      "40 random images", seed=0)
    ap.add_argument("--net", type=Path, default=None, help="manifest directory")
    ap.add_argument("--design", type=Path, default=None,
                    help="a 'spikeforge generate' directory of NET (default: generate)")
    ap.add_argument("--input", type=Path, default=None,
                    help="spike file (.npz with 'spikes' (N, T, in)); default: NET's "
                    "test_spikes.npz")
    ap.add_argument("--samples", type=int, default=500, help="images per run (default 500)")
    ap.add_argument("--clocks", default="verilog,gpi,cpp,bare",
                    help="comma list of: " + ", ".join(CLOCKS) + ", bare "
                    "(the first is the baseline)")
    ap.add_argument("--work", type=Path, default=None, help="build directory (default: tmp)")
    args = bench.parse(ap, argv)
    clocks = args.clocks.split(",")
    for c in clocks:
        if c not in (*CLOCKS, "bare"):
            ap.error(f"unknown clock {c!r}")
    if args.quick:
        net = _quick_net(args.seed)
        x = random_spikes(np.random.default_rng(args.seed), 40, net.timesteps,
                          net.input_size, 0.3)
        source = "random conv net " + describe(net)
    else:
        if args.net is None:
            ap.error("--net is required (or --quick)")
        net = load_network(args.net)
        spk = args.input or args.net / "test_spikes.npz"
        with np.load(spk) as z:
            x = z["spikes"][:args.samples]
        source = describe(net)
    n = int(x.shape[0])
    if args.design is not None:
        from hwplan import load_design

        design = load_design(args.design, net)
    else:
        import hdl

        design = hdl.emit_verilog(net)
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-rtl-conv-")
        args.work = Path(tmp.name)
    pm = PortMap.from_dict(design.portmap)
    load0 = os.getloadavg()
    rows: list[dict] = []
    ref = None
    last_run: Path | None = None
    timeout = 0
    for clock in clocks:
        if clock == "bare":
            if last_run is None:
                raise SystemExit("'bare' needs a testbench run before it (its beats)")
            bench.progress(f"bare: building and running {n} images")
            rows.append(bare_run(design.verilog, pm, last_run, args.work / "bare", n,
                                 timeout))
            continue
        bench.progress(f"{clock}: building")
        build = build_design(design.verilog, design.portmap, args.work / f"build-{clock}",
                             clock=clock)
        bench.progress(f"{clock}: built in {build.seconds:.1f} s "
                       f"({build.cpu_seconds:.1f} CPU-s); verifying {n} images")
        last_run = args.work / f"run-{clock}"
        res = run_samples(build, net, x, last_run, progress=True)
        timeout = json.loads((last_run / "config.json").read_text())["timeout"]
        if res.mismatches:
            raise SystemExit(f"{clock}: {res.mismatches} mismatches: {res.first_mismatch}")
        if ref is None:
            ref = res
        else:
            same = (np.array_equal(ref.cycles, res.cycles)
                    and all(np.array_equal(ref.rtl_spikes[k], res.rtl_spikes[k])
                            for k in ref.rtl_spikes))
            if not same:
                raise SystemExit(f"{clock}: spikes or cycles differ from {clocks[0]}'s")
        rows.append({
            "clock": clock, "samples": n, "build_seconds": res.build_seconds,
            "build_cpu_seconds": res.build_cpu_seconds, "sim_seconds": res.sim_seconds,
            "sim_cpu_seconds": res.sim_cpu_seconds,
            "samples_per_second": res.samples_per_second,
            "samples_per_cpu_second": res.samples_per_cpu_second,
            "cycles_total": int(res.cycles.sum()), "cycles_per_sample": res.cycles_per_sample,
            "mismatches": res.mismatches,
            "mismatches_by_layer": res.mismatches_by_layer,
            "prediction_mismatches": res.prediction_mismatches,
        })
        bench.progress(f"{clock}: {res.samples_per_cpu_second:.2f} images per CPU-s, "
                       f"{res.samples_per_second:.2f} images/s wall, 0 mismatches")
    load1 = os.getloadavg()
    base = rows[0]
    for r in rows:
        r["cpu_speedup_vs_baseline"] = ratio(r["samples_per_cpu_second"],
                                             base["samples_per_cpu_second"])
        r["wall_speedup_vs_baseline"] = ratio(r["samples_per_second"],
                                              base["samples_per_second"])
        r["mcycles_per_cpu_second"] = r["cycles_total"] / r["sim_cpu_seconds"] / 1e6
    names = {"verilog": "Verilog clock (always #5, --timing)",
             "gpi": "cocotb GPI clock (no --timing)",
             "cpp": "C++ main-loop clock (no --timing)",
             "bare": "bare C++ main, no cocotb (bound)"}
    table = Table(
        ["clock", "images", "build s", "build CPU-s", "sim s", "sim CPU-s", "images/s",
         "images/CPU-s", "Mcycles/CPU-s", "vs baseline (CPU)", "mismatches"],
        [[names[r["clock"]], r["samples"], round(r["build_seconds"], 1),
          round(r["build_cpu_seconds"], 1), round(r["sim_seconds"], 2),
          round(r["sim_cpu_seconds"], 2), round(r["samples_per_second"], 2),
          round(r["samples_per_cpu_second"], 2), round(r["mcycles_per_cpu_second"], 3),
          round(r["cpu_speedup_vs_baseline"], 2),
          "-" if r["mismatches"] is None else r["mismatches"]] for r in rows],
        align="lrrrrrrrrrr")
    intro = (f"{source}: {n} images, {ref.cycles_per_sample:,.0f} cycles per image, "
             f"load average {load0[0]:.2f} -> {load1[0]:.2f}")
    bench.finish({"benchmark": "rtl_verification_conv", "source": source, "samples": n,
                  "cycles_per_sample": ref.cycles_per_sample,
                  "cycle_bound": ref.cycle_bound, "load_average_before": list(load0),
                  "load_average_after": list(load1), "rows": rows},
                 [table], intro=intro,
                 markdown=intro + "\n\n" + table.markdown())
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
