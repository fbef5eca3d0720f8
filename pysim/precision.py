"""Integer precision as a value: a width and a signedness with its range."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["IntPrecision"]


@dataclass(frozen=True)
class IntPrecision:
    """A fixed-width integer type (two's complement when signed).

    Parameters
    ----------
    width : int
        Number of bits, >= 1 (>= 2 when signed).
    signed : bool
        Two's complement when True, plain binary when False.
    """

    width: int
    signed: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or isinstance(self.width, bool):
            raise TypeError(f"Width must be an integer, not {self.width!r}")
        lowest = 2 if self.signed else 1
        if self.width < lowest or self.width > 64:
            raise ValueError(f"Width must be an integer between {lowest} and 64, not {self.width}")

    @property
    def min(self) -> int:
        """Smallest representable value."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        """Largest representable value."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def contains(self, values: np.ndarray | int) -> bool:
        """Return True when every value lies in ``[min, max]``."""
        arr = np.asarray(values)
        if arr.size == 0:
            return True
        return bool(arr.min() >= self.min and arr.max() <= self.max)

    def clamp(self, values: np.ndarray) -> np.ndarray:
        """Saturate ``values`` to ``[min, max]``."""
        return np.clip(values, self.min, self.max)

    def __str__(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.width}"
