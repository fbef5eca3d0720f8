"""``spikeforge estimate``: FPGA resources and timing of a network per target."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .errors import InputError, ToolMissing
from .output import emit, format_table

__all__ = ["register", "run_estimate"]

from cost.estimate import DEFAULT_JOBS
from cost.targets import DEFAULT_TARGETS, TARGETS

_TARGET_HELP = ", ".join(TARGETS)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``estimate`` to the CLI."""
    p = sub.add_parser(
        "estimate", help="FPGA resources, Fmax and latency per target (Yosys/nextpnr + model)",
        description="Synthesize the generated Verilog with Yosys for each target (LUT, FF, "
                    "carry, block RAM, LUT-RAM, DSP), optionally place and route with "
                    "nextpnr (Fmax, fit), and evaluate the analytic model (block RAM "
                    "exact, LUT/FF fitted). Writes DIR/estimate.json, DIR/report.md and "
                    f"PNG plots. Targets: {_TARGET_HELP}. The model needs no Amaranth; "
                    "synthesis costs the design directory given with --design (the files "
                    "'generate' wrote, named by their SHA-256 in the report), or a design "
                    "generated in memory.",
        epilog="example: spikeforge estimate runs/digits/net --target ice40-up5k,ecp5-25k,xc7 "
               "--sweep-bits 2,3,4,6,8 -o runs/digits/estimate",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("net", type=Path, help="manifest directory")
    p.add_argument("--target", "-t", default=",".join(DEFAULT_TARGETS),
                   help=f"comma-separated targets ({_TARGET_HELP}); default: "
                        f"{','.join(DEFAULT_TARGETS)}")
    p.add_argument("--pnr", action="store_true",
                   help="also place and route (nextpnr; iCE40/ECP5) for Fmax and fit")
    p.add_argument("--model-only", action="store_true",
                   help="analytic model only, no synthesis (answers in under a second)")
    p.add_argument("--sweep-bits", default=None,
                   help="uniform weight widths to sweep, e.g. 2,3,4,6,8 (model figures)")
    p.add_argument("--lanes", default=None,
                   help="lanes per layer: N for all, or fc1=8,fc2=4 (default: generator's; "
                        "not with --design)")
    p.add_argument("--design", type=Path, default=None,
                   help="a design directory written by 'spikeforge generate': synthesize "
                        "and cost exactly those files (default: generate in memory)")
    p.add_argument("--jobs", type=int, default=DEFAULT_JOBS,
                   help=f"parallel synthesis runs (default {DEFAULT_JOBS})")
    p.add_argument("--freq", type=float, default=None,
                   help="nextpnr clock constraint in MHz (default per target)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output directory (estimate.json, report.md, plots)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_estimate)



def parse_bits(spec: str | None) -> list[int] | None:
    """Parse ``--sweep-bits 2,3,4``."""
    if spec is None:
        return None
    try:
        bits = [int(b) for b in spec.split(",") if b.strip()]
    except ValueError:
        raise InputError(f"--sweep-bits: expected integers like 2,3,4,6,8, not {spec!r}"
                         ) from None
    if not bits or any(not 2 <= b <= 16 for b in bits):
        raise InputError(f"--sweep-bits: widths must be 2..16, not {spec!r}")
    return bits


def run_estimate(args: argparse.Namespace) -> int:
    """Estimate resources of a network on the chosen targets."""
    from cost.estimate import estimate
    from cost.report import SUMMARY_HEADERS, summary_rows
    from cost.targets import parse_targets
    from hwplan import load_design
    from pysim import load_network

    from .cmd_hw import parse_lanes

    parse_targets(args.target)  # bad names fail before anything slow
    lanes = parse_lanes(args.lanes)
    bits = parse_bits(args.sweep_bits)
    if args.jobs < 1:
        raise InputError(f"--jobs: must be at least 1, not {args.jobs}")
    if args.design is not None and lanes is not None:
        raise InputError("--lanes: the design directory fixes the lanes; drop --lanes")
    net = load_network(args.net)
    design = None
    if args.design is not None:
        design = load_design(args.design, net)
    elif not args.model_only:
        try:
            import hdl  # only synthesis of a design generated here needs the generator
        except ImportError as exc:
            raise ToolMissing(f"synthesis needs the generated Verilog and the generator "
                              f"cannot be imported ({exc}); give --design DIR (a "
                              f"'spikeforge generate' directory) or --model-only") from None
        design = hdl.emit_verilog(net, lanes=lanes)
        lanes = None
    spikes = _test_spikes(args.net, net)
    report = estimate(net, targets=args.target, design=design, pnr=args.pnr,
                      model_only=args.model_only, sweep_bits=bits, lanes=lanes,
                      out_dir=args.output, progress=not args.json, spikes=spikes,
                      jobs=args.jobs, freq_mhz=args.freq)
    table = format_table(SUMMARY_HEADERS, summary_rows(report), align="llrrrrrrrl")
    cyc = report.cycles
    lines = [f"{args.net}: {'-'.join(str(s) for s in report.network['sizes'])}, lanes "
             + ", ".join(f"{k}={v}" for k, v in report.lanes.items())
             + f", {cyc['per_sample']:.0f} cycles/sample ({cyc['source']})"]
    if report.design:
        lines.append(f"design: {report.design['verilog']} sha256 {report.design['sha256']}")
    lines.append(table)
    from cost.report import MEMORY_HEADERS, memory_rows
    lines.append(format_table(MEMORY_HEADERS, memory_rows(report), align="lllrrrrr"))
    if report.files and args.output is not None:
        lines.append(f"wrote {', '.join(str(args.output / f) for f in report.files.values())}")
    data: dict[str, Any] = report.as_dict()
    emit(args, "\n".join(lines), data)
    return 0


def _test_spikes(net_dir: Path, net: Any) -> Any:
    """The manifest's test spike trains (first 64), if present and valid, else None."""
    path = net_dir / "test_spikes.npz"
    if not path.is_file():
        return None
    from pysim import load_spikes
    try:
        return load_spikes(path, net).spikes[:64]
    except InputError:
        return None
