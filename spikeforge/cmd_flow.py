"""``spikeforge flow``: everything, from the dataset to a verified, costed design and a report."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .output import emit, format_table

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``flow`` to the CLI."""
    p = sub.add_parser(
        "flow", help="train, quantize, generate, verify, estimate and report in one go",
        description="Run the whole flow: train a spiking network, measure per-layer Hessian "
                    "traces, allocate bits under a memory budget, fine-tune and export the "
                    "integer network, check torch integer mode against the golden model, "
                    "generate Verilog, verify it in Verilator, estimate resources, and write "
                    "RUN/report.md. Stages whose inputs are unchanged are skipped, so an "
                    "interrupted flow resumes. Flags override the config file.",
        epilog="examples:\n  spikeforge flow -o runs/digits\n"
               "  spikeforge flow --dataset mnist --arch 784-400-200-10 --budget 3.0 "
               "-o runs/mnist\n  spikeforge flow --config my.toml -o runs/x",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="run directory (default: runs/<dataset>)")
    p.add_argument("--config", type=Path, help="TOML file with any of the flow's knobs")
    p.add_argument("--dataset", choices=["digits", "mnist"], help="dataset (default digits)")
    p.add_argument("--data", help="MNIST files (IDX directory or .npz); default: the fetch cache")
    p.add_argument("--arch", help="layer sizes, e.g. 64-128-10")
    p.add_argument("--epochs", type=int, help="training epochs")
    p.add_argument("--timesteps", type=int, help="timesteps T")
    p.add_argument("--budget", type=float, metavar="AVG_BITS",
                   help="weight-memory budget in average bits per weight (default 3.0)")
    p.add_argument("--samples", type=int, help="test samples verified in the RTL simulator")
    p.add_argument("--sim", choices=["verilator", "icarus"], help="RTL simulator")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any config key (TOML value syntax), repeatable")
    p.add_argument("--stages", help="comma-separated stages to run (with what they need)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_flow)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from .config import parse_set
    o: dict[str, Any] = {}
    if args.dataset:
        o["train.dataset"] = args.dataset
        if args.arch is None and args.dataset == "mnist":
            o["train.arch"] = "784-400-200-10"
    if args.data:
        o["train.data_path"] = args.data
    if args.arch:
        o["train.arch"] = args.arch
    if args.epochs is not None:
        o["train.epochs"] = args.epochs
    if args.timesteps is not None:
        o["train.timesteps"] = args.timesteps
    if args.budget is not None:
        o["quantize.avg_bits"] = args.budget
    if args.samples is not None:
        o["verify.samples"] = args.samples
    if args.sim:
        o["verify.simulator"] = args.sim
    for item in args.set:
        o.update(parse_set(item))
    return o


def run_flow(args: argparse.Namespace) -> int:
    """Run (or resume) the flow and print the stage table."""
    from .config import load_config
    from .flow import Flow

    config = load_config(args.config, _overrides(args))
    run = args.output or Path("runs") / config["train"]["dataset"]
    stages = None if args.stages is None else [s.strip() for s in args.stages.split(",")]
    flow = Flow(config, run, progress=not args.quiet)
    records = flow.run_all(stages)
    rows = [[r.name, r.status, f"{r.seconds:.1f}",
             "-" if r.cpu_seconds is None else f"{r.cpu_seconds:.1f}"] for r in records]
    text = format_table(["stage", "status", "seconds", "cpu seconds"], rows, align="llrr")
    report = run / "report.md"
    text += f"\n\nrun directory: {run}" + (f"\nreport: {report}" if report.exists() else "")
    emit(args, text, {"run": str(run), "stages": [r.__dict__ for r in records]})
    return 0
