"""The ``spikeforge`` command line: a thin layer over the library.

Each group of subcommands lives in its own module (``cmd_*.py``) exposing
``register(subparsers)``; a subcommand sets ``func`` (``args -> exit status``).

Exit status (docs/architecture.md, "Errors and exit statuses"): 0 success; 1 a check
that failed; 2 bad input or usage, with one line on stderr and no traceback.

Library errors name the library's parameter (``InputError(..., param="bits")``, see
:mod:`pysim.errors`); :func:`main` shows it as the subcommand's option: ``foo_bar`` is
``--foo-bar`` when the subcommand has that option, and :data:`PARAM_FLAGS` lists the
parameters whose option is named differently.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator, Sequence

from . import __version__
from .errors import CheckFailed, InputError, UsageError

__all__ = ["PARAM_FLAGS", "build_parser", "main", "param_flags"]

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
    "spikeforge.cmd_nir",       # import, export (NIR)
    "spikeforge.cmd_sweep",     # sweep
    "spikeforge.cmd_board",     # board, board run
)

# subcommand -> library parameter -> option, where the option's name is not the
# parameter's (``foo_bar`` -> ``--foo-bar`` needs no entry). None: the subcommand names
# its parameters itself (the flow shows config keys), no translation here.
PARAM_FLAGS: dict[str, dict[str, str] | None] = {
    "train": {"data_path": "--data"},
    "quantize": {"method": "--quantizer"},
    "hessian": {"methods": "--method", "max_probes": "--probes", "rel_tol": "--tol"},
    "data info": {"name": "dataset", "path": "--data"},
    "data encode": {"name": "dataset", "path": "--data", "limit_test": "--limit",
                    "limit_train": "--limit"},
    "estimate": {"targets": "--target", "freq_mhz": "--freq"},
    "verify": {"simulator": "--sim"},
    "flow": None,
}


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # "spikeforge: error: <message>" for the top level, "spikeforge: error:
        # spikeforge generate: <message>" for a subcommand (main() adds the prefix)
        raise UsageError(message if self.prog == "spikeforge" else f"{self.prog}: {message}")


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
        importlib.import_module(modname).register(sub)
    for name, leaf in _leaf_parsers(sub):
        leaf.set_defaults(param_flags=param_flags(leaf, PARAM_FLAGS.get(name, {})))
    return parser


def _leaf_parsers(sub: argparse._SubParsersAction, prefix: str = ""
                  ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """``("data encode", parser)`` for every subcommand that runs something."""
    for name, p in sub.choices.items():
        nested = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            for n in nested:
                yield from _leaf_parsers(n, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", p


def param_flags(parser: argparse.ArgumentParser, explicit: dict[str, str] | None
                ) -> dict[str, str]:
    """Library parameter -> option of one subcommand.

    Every option ``--foo-bar`` (argparse ``dest`` ``foo_bar``) stands for the parameter
    ``foo_bar``; ``explicit`` adds or overrides entries (a parameter shown as another
    option, or as a positional argument's name). ``explicit=None``: no translation.
    """
    if explicit is None:
        return {}
    flags = {}
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and action.dest not in ("help", "version"):
            flags[action.dest] = max(longs, key=len)
    return {**flags, **explicit}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spikeforge`` console script; returns the exit status."""
    # OpenMP threads that spin while waiting made 2-thread training up to 10x slower than
    # one thread on a busy 2-core machine (MNIST 784-400-200-10: 82 s vs 7.8 s for 6400
    # samples); passive waiting removes that. Set before any command loads torch (none
    # does at import time); a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        status = args.func(args)
        return int(status or 0)
    except InputError as exc:
        exc = exc.renamed(getattr(args, "param_flags", None) or {})
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
