"""Validation of generator parameters: one message style for every component.

Messages read ``"Weight width must be an integer between 2 and 16, not 17"``;
:class:`TypeError` for a wrong type, :class:`ValueError` for a wrong value.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pysim.util import ceil_log2, check_int, index_bits, signed_bits_for

__all__ = [
    "ceil_log2",
    "check_bool",
    "check_int",
    "check_int_array",
    "index_bits",
    "signed_bits_for",
]


def check_bool(value: Any, what: str) -> bool:
    """Return ``value`` if it is a bool, else raise :class:`TypeError`."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be a bool, not {value!r}")
    return bool(value)


def check_int_array(value: Any, shape: Sequence[int | None], lo: int, hi: int,
                    what: str) -> np.ndarray:
    """Return ``value`` as an int64 array of ``shape`` (None: any size >= 1) in ``[lo, hi]``."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):  # pragma: no cover - numpy accepts nearly anything
        raise TypeError(f"{what} must be an array of integers, not {value!r}") from None
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what} must be an array of integers, not dtype {arr.dtype}")
    if arr.ndim != len(shape) or any(
        (s is None and n < 1) or (s is not None and n != s) for s, n in zip(shape, arr.shape)
    ):
        parts = ["n" if s is None else str(s) for s in shape]
        want = "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
        raise ValueError(f"{what} must have shape {want}, not {arr.shape}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < lo or arr.max() > hi):
        bad = int(arr.min()) if arr.min() < lo else int(arr.max())
        raise ValueError(f"{what} must hold integers between {lo} and {hi}, not {bad}")
    return arr





def quiet_on_error(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a component's ``__init__`` so a refused construction does not later warn
    "created but never used" (Amaranth's ``UnusedElaboratable``) on top of the error."""

    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except BaseException:
            self._MustUse__silence = True
            raise

    return wrapper
