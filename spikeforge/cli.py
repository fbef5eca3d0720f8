"""The ``spikeforge`` command line: a thin layer over the library.

Each group of subcommands lives in its own module (``cmd_*.py``) exposing
``register(subparsers)``; a subcommand sets ``func`` (``args -> exit status``).

Exit status (contract §4): 0 success; 1 a check that failed; 2 bad input or usage,
with one line on stderr and no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from . import __version__
from .errors import CheckFailed, InputError, UsageError

__all__ = ["build_parser", "main"]

# Modules that add subcommands, in the order they appear in --help.
COMMAND_MODULES = (
    "spikeforge.cmd_net",       # check, simulate
    "spikeforge.cmd_data",      # data fetch / info
    "spikeforge.cmd_quant",     # train, quantize
    "spikeforge.cmd_hessian",   # hessian, allocate
    "spikeforge.cmd_hw",        # generate, verify
    "spikeforge.cmd_verify",    # verify
    "spikeforge.cmd_estimate",  # estimate
    "spikeforge.cmd_flow",      # flow
)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser with every available subcommand."""
    parser = _Parser(
        prog="spikeforge",
        description="Hessian-aware quantized spiking neural networks, from PyTorch to "
                    "verified Verilog.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'spikeforge COMMAND --help' for each command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"spikeforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for modname in COMMAND_MODULES:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:  # that stage's commands are not installed yet
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spikeforge`` console script; returns the exit status."""
    # OpenMP threads that spin while waiting made 2-thread training up to 10x slower than
    # one thread on a busy 2-core machine (MNIST 784-400-200-10: 82 s vs 7.8 s for 6400
    # samples); passive waiting removes that. Set before any command loads torch (none
    # does at import time); a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        status = args.func(args)
        return int(status or 0)
    except InputError as exc:
        print(f"spikeforge: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except CheckFailed as exc:
        print(f"spikeforge: check failed: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("spikeforge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
