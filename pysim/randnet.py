"""Random integer networks and spike trains, for tests, benchmarks and demos."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .network import IntLayer, IntNetwork, Readout, ResetMode

__all__ = ["random_network", "random_spikes"]


def random_network(
    rng: np.random.Generator,
    sizes: Sequence[int],
    *,
    timesteps: int = 8,
    weight_bits: int | Sequence[int] = 4,
    state_bits: int | Sequence[int] = 12,
    leak_shift: int | None | Sequence[int | None] = 3,
    reset: str | Sequence[str] = "zero",
    bias: bool = False,
    readout: str = "spike_count",
    threshold_scale: float = 0.5,
) -> IntNetwork:
    """Build a random network ``sizes[0]-sizes[1]-...`` with weights spread over their range.

    Thresholds are drawn around ``threshold_scale`` times a typical input current so the
    network actually spikes; every other choice is taken as given (scalar or per layer).
    """
    n = len(sizes) - 1

    def per_layer(v, i):
        if isinstance(v, (list, tuple)):
            return v[i]
        return v

    layers = []
    for i in range(n):
        wb = per_layer(weight_bits, i)
        sb = per_layer(state_bits, i)
        lo, hi = -(1 << (wb - 1)), (1 << (wb - 1)) - 1
        w = rng.integers(lo, hi + 1, size=(sizes[i + 1], sizes[i]))
        typical = max(1.0, np.sqrt(sizes[i] * 0.3) * (hi + 1) * 0.6)
        th_max = (1 << (sb - 1)) - 1
        th = int(np.clip(round(threshold_scale * typical * rng.uniform(0.5, 1.5)), 1, th_max))
        k = per_layer(leak_shift, i)
        if k is not None:
            k = int(min(k, sb - 1))
        b = None
        if bias:
            bmax = min((1 << (sb - 1)) - 1, th)
            b = rng.integers(-bmax, bmax + 1, size=sizes[i + 1])
        layers.append(IntLayer(
            name=f"fc{i + 1}", weight=w, weight_bits=wb, state_bits=sb, threshold=th,
            leak_shift=k, reset=ResetMode(per_layer(reset, i)), bias=b,
        ))
    return IntNetwork(layers=tuple(layers), timesteps=timesteps, readout=Readout(readout))


def random_spikes(rng: np.random.Generator, n: int, timesteps: int, size: int,
                  rate: float = 0.2) -> np.ndarray:
    """Bernoulli spike trains, uint8 (n, timesteps, size)."""
    return (rng.random((n, timesteps, size)) < rate).astype(np.uint8)
