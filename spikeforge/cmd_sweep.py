"""``spikeforge sweep``: budgets x allocation methods x seeds, each a QAT fine-tune scored by
the golden model, run as Ray tasks (``spikeforge.sweep``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from quant.config import AllocateConfig

from .output import emit
from .sweep import METHODS, UNITS, SweepConfig

__all__ = ["register", "run_sweep_cmd"]

_A, _S = AllocateConfig(), SweepConfig()


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``sweep`` to the CLI."""
    p = sub.add_parser(
        "sweep", help="seeded sweep of allocations (budgets x methods x seeds) on Ray",
        description="For every budget, allocation method and seed: allocate (the MILP "
                    "optimum of a sensitivity, or the uniform, random or reversed "
                    "baseline), fine-tune with QAT from that seed and score the golden "
                    "model on the test set. Points run as Ray tasks (a local Ray with "
                    "--workers CPUs, or the cluster at --address), each cached in "
                    "OUT/points by a key of its inputs, so a re-run skips finished points. "
                    "Writes OUT/sweep.json (points, the table of mean accuracy with its "
                    "95% interval over seeds, paired tests against the first sensitivity "
                    "method at each budget) and OUT/sweep.png.",
        epilog="example: spikeforge sweep runs/digits/train -o runs/digits/sweep "
               "--budgets 2.5,3,4 --methods gauss_newton,uniform,random,reversed --seeds 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", type=Path, help="run directory written by 'spikeforge train'")
    p.add_argument("-o", "--output", type=Path, required=True, help="sweep directory")
    p.add_argument("--budgets", default=",".join(f"{b:g}" for b in _S.budgets),
                   help="budgets in --unit, comma-separated (default "
                        f"{','.join(f'{b:g}' for b in _S.budgets)})")
    p.add_argument("--unit", default=_S.unit,
                   help=f"{', '.join(UNITS)} (block RAMs of --target); default {_S.unit}")
    p.add_argument("--methods", default=",".join(_S.methods),
                   help=f"comma-separated, from {', '.join(METHODS)} (default "
                        f"{','.join(_S.methods)})")
    p.add_argument("--seeds", type=int, default=_S.seeds,
                   help=f"QAT seeds per point (default {_S.seeds})")
    p.add_argument("--epochs", type=int, default=_S.epochs,
                   help=f"QAT epochs per point (default {_S.epochs})")
    p.add_argument("--qat-batches", type=int, default=None,
                   help="at most N training batches per QAT epoch (default: all)")
    p.add_argument("--test-samples", type=int, default=None,
                   help="score on the first N test samples (default: all)")
    p.add_argument("--calib-samples", type=int, default=_S.calib_samples,
                   help="training samples of each point's calibration (default "
                        f"{_S.calib_samples})")
    cands = ",".join(map(str, _A.candidates))
    p.add_argument("--candidates", default=cands,
                   help=f"candidate weight widths (default {cands})")
    from .cmd_hessian import add_budget_flags

    add_budget_flags(p)
    p.add_argument("--targets", default=None,
                   help="also estimate every point on these targets (calibrated model)")
    p.add_argument("--workers", type=int, default=2,
                   help="CPUs of the local Ray (default 2; one torch thread each)")
    p.add_argument("--address", default=None,
                   help="a running Ray cluster (host:6379 or ray://host:10001)")
    p.add_argument("--serial", action="store_true", help="run the points in this process")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_sweep_cmd)


def run_sweep_cmd(args: argparse.Namespace) -> int:
    """Run the sweep, print its table and tests."""
    from pysim.errors import InputError

    from .config import parse_float_list, parse_int_list
    from .sweep import format_sweep, run_sweep

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    targets = tuple(t.strip() for t in (args.targets or "").split(",") if t.strip())
    cfg = SweepConfig(
        budgets=tuple(parse_float_list(args.budgets, "--budgets")), unit=args.unit,
        methods=methods, seeds=args.seeds, epochs=args.epochs, qat_batches=args.qat_batches,
        test_samples=args.test_samples, calib_samples=args.calib_samples,
        candidates=tuple(sorted(set(parse_int_list(args.candidates, "--candidates")))),
        scope=args.budget_scope, state_policy=args.state_widths, target=args.target,
        targets=targets)
    try:
        cfg.validate()
        summary = run_sweep(args.run, args.output, cfg, serial=args.serial,
                            workers=args.workers, address=args.address,
                            progress=not (args.quiet or args.json))
    except InputError as exc:
        raise exc.renamed({"state_policy": "state_widths", "scope": "budget_scope",
                           "budgets": "budgets"}) from None
    head = (f"{args.run}: {len(summary['points'])} points ({summary['ran']} run, "
            f"{summary['cached']} cached) in {summary['seconds']:.1f} s -> "
            f"{args.output / 'sweep.json'}, {summary.get('plot')}")
    from .sweep import _jsonable

    data = _jsonable(summary)
    emit(args, head + "\n" + format_sweep(summary), data)
    return 0
