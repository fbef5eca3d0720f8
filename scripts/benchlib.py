"""The shared harness of the benchmark scripts in ``scripts/``.

Every script builds its command line with :meth:`Bench.parser`, so the same flags mean the
same thing everywhere:

``--out FILE.json``  write the results as JSON: the command line, date, machine (cores,
                     Python, versions of numpy/torch/... where imported, load average,
                     git commit) and the script's own results (see :func:`envelope`);
``--md FILE.md``     write the result table(s) as Markdown;
``--quick``          a small, fast setting (what it shrinks is in each script's ``--help``;
                     only where a script has one);
``--seed N``         the random seed (only where a script draws from one seed; the
                     default is the seed the documented figures were measured with).

Tables go to stdout as plain text (:func:`spikeforge.output.format_table`), progress goes
to stderr. Speed and memory are reported as ratios against a baseline measured in the
same process (:func:`ratio`, :func:`alternating_best`); a benchmark never asserts on time.

Usage::

    bench = Bench("bench_golden", __doc__)
    ap = bench.parser(quick="200 samples, 1 repeat", seed=0)
    ap.add_argument("--samples", type=int, default=1000)
    args = bench.parse(ap, argv)
    bench.progress("timing ...")
    bench.finish({"ratio": r}, [Table(["model", "samples/s"], rows)])
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from spikeforge.output import format_table, to_jsonable

__all__ = [
    "ROOT", "Bench", "Table", "alternating_best", "envelope", "load_results",
    "machine_info", "markdown_table", "ratio", "write_json", "write_markdown",
]

FORMAT = "spikeforge.bench"
_VERSIONED = ("numpy", "scipy", "torch", "snntorch", "threadpoolctl", "amaranth", "cocotb")


# --------------------------------------------------------------------------- tables
@dataclass
class Table:
    """One result table: headers, rows of cells, ``align`` ('l'/'r' per column)."""

    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    align: str | None = None
    title: str | None = None
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        """Plain text (``spikeforge.output.format_table``), title and notes around it."""
        parts = [self.title] if self.title else []
        parts.append(format_table(self.headers, self.rows, self.align))
        parts += self.notes
        return "\n".join(parts)

    def markdown(self) -> str:
        """The same table in Markdown, the title as a paragraph above it."""
        parts = [self.title, ""] if self.title else []
        parts.append(markdown_table(self.headers, self.rows, self.align))
        if self.notes:
            parts += [""] + self.notes
        return "\n".join(parts)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return "-" if v is None else str(v)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                   align: str | None = None) -> str:
    """A Markdown (GFM) table; ``align`` as in ``format_table`` (default: first column
    left, the others right). ``|`` inside cells is escaped, ``None`` prints as ``-``."""
    n = len(headers)
    align = align or "l" + "r" * (n - 1)
    if len(align) != n:
        raise ValueError(f"align {align!r} has {len(align)} columns, headers {n}")

    def line(cells: Sequence[Any]) -> str:
        if len(cells) != n:
            raise ValueError(f"row of {len(cells)} cells, headers have {n}: {cells!r}")
        return "| " + " | ".join(_cell(c).replace("|", "\\|") for c in cells) + " |"

    sep = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


# --------------------------------------------------------------------------- JSON
def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
                             check=False, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def machine_info() -> dict[str, Any]:
    """Cores, Python, platform, load average and the versions of the numerical packages
    this process has imported (numpy, torch, ...; a package not imported is not listed)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "cores": os.cpu_count(), "usable_cores": usable,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(), "machine": platform.machine(),
    }
    try:
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        pass
    for name in _VERSIONED:
        mod = sys.modules.get(name)
        if mod is not None:
            info[name] = getattr(mod, "__version__", None) or getattr(mod, "version", None)
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
    for var in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY"):
        if var in os.environ:
            info[var] = os.environ[var]
    return to_jsonable(info)


def envelope(benchmark: str, results: Any, *, command: str | None = None,
             settings: dict[str, Any] | None = None,
             seconds: float | None = None) -> dict[str, Any]:
    """The JSON document every script writes: metadata, then ``results`` as the script
    produced them (the part a consumer reads; see :func:`load_results`)."""
    doc: dict[str, Any] = {
        "format": FORMAT, "benchmark": benchmark,
        "command": command if command is not None else shlex.join(
            ["python", *sys.argv]),
        "date": _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "machine": machine_info(),
    }
    if settings is not None:
        doc["settings"] = settings
    if seconds is not None:
        doc["seconds"] = seconds
    doc["results"] = results
    return to_jsonable(doc)


def write_json(path: str | os.PathLike, doc: Any) -> Path:
    """Write ``doc`` as indented JSON (NumPy values converted), atomically, parents made.
    Non-finite floats are written as ``NaN``/``Infinity`` (Python's JSON reads them)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(to_jsonable(doc), indent=2, default=str) + "\n")
    tmp.replace(p)
    return p


def load_results(path: str | os.PathLike) -> Any:
    """The ``results`` of a JSON file :func:`write_json` wrote (a file written before the
    harness existed, without the envelope, is returned whole)."""
    doc = json.loads(Path(path).read_text())
    if isinstance(doc, dict) and doc.get("format") == FORMAT and "results" in doc:
        return doc["results"]
    return doc


def write_markdown(path: str | os.PathLike, text: str) -> Path:
    """Write Markdown text (a final newline added), parents made."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text.rstrip("\n") + "\n")
    return p


# --------------------------------------------------------------------------- measuring
def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def alternating_best(fns: Sequence[Callable[[], Any]], repeats: int) -> list[float]:
    """Best wall time of each function over ``repeats`` rounds that alternate between them
    (a load change on a shared machine hits all of them alike)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


# --------------------------------------------------------------------------- the harness
class Bench:
    """One benchmark run: the common command line, progress on stderr, the outputs."""

    def __init__(self, name: str, doc: str | None = None):
        self.name = name
        self.doc = doc or ""
        self.t0 = time.perf_counter()
        self.args: argparse.Namespace | None = None
        self.command: str | None = None

    def parser(self, *, quick: str | None = None, seed: int | None = None,
               out: str | os.PathLike | None = None, md: str | os.PathLike | None = None,
               description: str | None = None) -> argparse.ArgumentParser:
        """An ``ArgumentParser`` with the common flags. ``quick``: help text of what
        ``--quick`` shrinks (no ``--quick`` without it); ``seed``: default of ``--seed``
        (no ``--seed`` when None); ``out``/``md``: defaults of ``--out``/``--md``."""
        ap = argparse.ArgumentParser(
            prog=f"{self.name}.py", description=description or self.doc,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        g = ap.add_argument_group("common benchmark options (scripts/benchlib.py)")
        g.add_argument("--out", "--json", dest="out", metavar="FILE.json",
                       type=Path, default=None if out is None else Path(out),
                       help="write the results as JSON (with command, date, machine)"
                       + (f"; default {out}" if out is not None else ""))
        g.add_argument("--md", metavar="FILE.md", type=Path,
                       default=None if md is None else Path(md),
                       help="write the result table(s) as Markdown"
                       + (f"; default {md}" if md is not None else ""))
        if quick is not None:
            g.add_argument("--quick", action="store_true", help=f"small, fast run: {quick}")
        if seed is not None:
            g.add_argument("--seed", type=int, default=seed,
                           help=f"random seed (default {seed}, as the documented figures)")
        return ap

    def parse(self, ap: argparse.ArgumentParser,
              argv: Sequence[str] | None = None) -> argparse.Namespace:
        """Parse ``argv`` (default ``sys.argv[1:]``) and remember the command line."""
        argv = list(sys.argv[1:] if argv is None else argv)
        self.args = ap.parse_args(argv)
        self.command = shlex.join(["python", f"scripts/{self.name}.py", *argv])
        return self.args

    def elapsed(self) -> float:
        """Seconds since this harness was created."""
        return time.perf_counter() - self.t0

    def progress(self, msg: str) -> None:
        """One progress line on stderr, with the elapsed time."""
        print(f"[{self.name} {self.elapsed():7.1f}s] {msg}", file=sys.stderr, flush=True)

    def settings(self) -> dict[str, Any]:
        """The parsed arguments as a JSON-able dict."""
        return {} if self.args is None else to_jsonable(vars(self.args))

    def envelope(self, results: Any) -> dict[str, Any]:
        """:func:`envelope` with this run's command, settings and elapsed time."""
        return envelope(self.name, results, command=self.command, settings=self.settings(),
                        seconds=self.elapsed())

    def write_json(self, results: Any, path: str | os.PathLike | None = None) -> Path | None:
        """Write the JSON document to ``path`` (default ``--out``; nothing when unset)."""
        path = path if path is not None else getattr(self.args, "out", None)
        if path is None:
            return None
        p = write_json(path, self.envelope(results))
        self.progress(f"wrote {p}")
        return p

    def write_md(self, text: str, path: str | os.PathLike | None = None) -> Path | None:
        """Write Markdown to ``path`` (default ``--md``; nothing when unset)."""
        path = path if path is not None else getattr(self.args, "md", None)
        if path is None:
            return None
        p = write_markdown(path, text)
        self.progress(f"wrote {p}")
        return p

    def markdown(self, tables: Sequence[Table], header: str | None = None) -> str:
        """The Markdown document of ``tables`` (a heading and the command line first)."""
        parts = [header or f"# {self.name}", "", f"`{self.command}`", ""]
        for t in tables:
            parts += [t.markdown(), ""]
        return "\n".join(parts)

    def finish(self, results: Any, tables: Sequence[Table] = (), *,
               markdown: str | None = None, intro: str | None = None) -> dict[str, Any]:
        """Print ``tables`` (plain text, ``intro`` line first), write ``--out`` JSON and
        ``--md`` Markdown (``markdown`` if given, else the tables); return the document."""
        if intro:
            print(intro)
        for i, t in enumerate(tables):
            if i:
                print()
            print(t.text())
        sys.stdout.flush()
        self.write_json(results)
        if getattr(self.args, "md", None) is not None:
            self.write_md(markdown if markdown is not None else self.markdown(tables))
        return self.envelope(results)
