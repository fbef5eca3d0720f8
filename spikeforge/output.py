"""Printing results: a short human summary, or the same content as JSON with ``--json``."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from pysim.util import to_jsonable

__all__ = ["emit", "format_table"]


def emit(args: argparse.Namespace, summary: str, data: dict[str, Any]) -> None:
    """Print ``summary`` for people, or ``data`` as JSON when ``args.json`` is set."""
    if getattr(args, "json", False):
        json.dump(to_jsonable(data), sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(summary.rstrip("\n") + "\n")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                 align: str | None = None) -> str:
    """Render a plain-text table; ``align`` is a string of 'l'/'r' per column."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or "l" + "r" * (len(headers) - 1)
    lines = []
    for j, row in enumerate(cells):
        parts = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)]
        lines.append("  ".join(parts).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return "-" if v is None else str(v)
