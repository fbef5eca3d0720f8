"""Small helpers every stage shares: integer checks, bit widths, JSON conversion.

NumPy only. One implementation of each, so the IR, the generator, the cost model and
the CLI agree on what "an integer between 2 and 16" or "the width of an index" means.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ceil_div",
    "ceil_log2",
    "check_int",
    "index_bits",
    "is_int",
    "json_default",
    "read_npz",
    "signed_bits_for",
    "to_jsonable",
]


def is_int(value: Any) -> bool:
    """True for a Python or NumPy integer that is not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(value: Any, lo: int, hi: int, what: str,
              error: type[Exception] | None = None) -> int:
    """Return ``value`` as an int in ``[lo, hi]`` or raise.

    The message reads ``"<what> must be an integer between <lo> and <hi>, not <value>"``.
    With ``error`` unset a wrong type raises :class:`TypeError` and a wrong value
    :class:`ValueError` (the Amaranth convention of the generator's components); with
    ``error`` given, that exception is raised in both cases (e.g. ``ManifestError``).
    """
    if not is_int(value):
        raise (error or TypeError)(f"{what} must be an integer between {lo} and {hi}, "
                                   f"not {value!r}")
    value = int(value)
    if not lo <= value <= hi:
        raise (error or ValueError)(f"{what} must be an integer between {lo} and {hi}, "
                                    f"not {value}")
    return value


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for integers (``b >= 1``)."""
    return -(-int(a) // int(b))


def ceil_log2(n: int) -> int:
    """Smallest ``w`` with ``2**w >= n`` (0 for ``n <= 1``)."""
    return (int(n) - 1).bit_length() if n > 1 else 0


def index_bits(n: int) -> int:
    """Width of an index into ``n`` items: ``max(1, ceil(log2(n)))``."""
    return max(1, ceil_log2(n))


def signed_bits_for(lo: int, hi: int) -> int:
    """Smallest two's complement width holding every integer in ``[lo, hi]`` (at least 2)."""
    bits = 2
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def json_default(obj: Any) -> Any:
    """``json.dumps(default=...)`` for NumPy scalars and arrays and paths."""
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "__fspath__"):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def to_jsonable(obj: Any, *, nan: Any = float("nan")) -> Any:
    """``obj`` with NumPy scalars/arrays, tuples and paths turned into plain JSON types.

    Dict keys become strings. ``nan`` replaces float NaNs (pass ``None`` for strict JSON).
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, nan=nan) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, nan=nan) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), nan=nan)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return nan if math.isnan(v) else v
    if isinstance(obj, (np.integer, np.bool_, Path)) or hasattr(obj, "__fspath__"):
        return json_default(obj)
    return obj


def json_roundtrip(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (keys sorted): for comparing metadata."""
    return json.loads(json.dumps(obj, default=json_default, sort_keys=True))


def read_npz(path: str | os.PathLike[str], error: type[Exception] = ValueError
             ) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive ``path``, or ``error`` with one line naming the
    file and what is wrong with it (missing, a ``.npy`` array, not a zip archive, a damaged
    or pickled member). Pickles are never loaded."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        try:
            with open(path, "rb") as f:
                magic = f.read(6)
        except OSError as exc:
            raise error(f"{path}: cannot be read ({' '.join(str(exc).split())})") from None
        what = "it is a .npy array" if magic == b"\x93NUMPY" else "not a zip archive"
        raise error(f"{path}: cannot be read as .npz ({what})")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise error(f"{path}: cannot be read as .npz ({' '.join(str(exc).split())})"
                    ) from None
