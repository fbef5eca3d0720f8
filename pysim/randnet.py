"""Random integer networks and spike trains, for tests, benchmarks and demos."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .arch import ArchSpec, LayerSpec, parse_arch
from .network import (
    Conv2dLayer,
    IntLayer,
    IntNetwork,
    LayerKind,
    Readout,
    ResetMode,
    SumPool2dLayer,
)

__all__ = ["random_conv_network", "random_network", "random_spikes"]


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


def random_conv_network(
    rng: np.random.Generator,
    arch: str | ArchSpec | tuple[Sequence[int], Sequence[LayerSpec]],
    *,
    timesteps: int = 8,
    weight_bits: int | Sequence[int] = 4,
    state_bits: int | Sequence[int] = 12,
    leak_shift: int | None | Sequence[int | None] = 3,
    reset: str | Sequence[str] = "zero",
    bias: bool = False,
    readout: str = "spike_count",
    threshold_scale: float = 0.5,
    pool_stride: int | None = None,
) -> IntNetwork:
    """Build a random network from an architecture (e.g. ``"1x28x28-8c5-sp2-16c5-sp2-10"``).

    ``arch`` is an architecture string (:func:`pysim.arch.parse_arch`), an
    :class:`~pysim.arch.ArchSpec`, or ``(input_shape, [LayerSpec, ...])`` (which also allows
    non-tiling pools: ``LayerSpec(kind="sumpool2d", kernel=3,
    stride=2)``). ``pool_stride`` overrides every pool's stride. Per-layer options
    (scalars or sequences) count the layers with neurons only. Layers are named
    ``conv<i>``, ``pool<i>``, ``fc<i>`` (numbered from 1 over all layers).

    Thresholds are drawn around ``threshold_scale`` times a typical input current (the
    standard deviation of ``Σ W x`` for network inputs active 30% of the time and hidden
    spikes 10%, with sum-pool counts as inputs after a pool), so the network actually spikes.
    """
    if isinstance(arch, tuple):
        spec = ArchSpec(tuple(arch[0]), tuple(arch[1]))
    else:
        spec = parse_arch(arch)

    def per_layer(v, i):
        if isinstance(v, (list, tuple)):
            return v[i]
        return v

    layers: list = []
    shape = tuple(spec.input_shape)
    rate = 0.3  # assumed activity of the current layer's spike inputs (as random_network)
    x_sq = rate  # E[x^2] of the current layer's inputs
    ni = 0
    for li, ls in enumerate(spec.layers):
        kind = LayerKind(ls.kind)
        if kind is LayerKind.SUMPOOL2D:
            stride = ls.stride if pool_stride is None else pool_stride
            pool = SumPool2dLayer(name=f"pool{li + 1}", in_shape=shape, kernel=ls.kernel,
                                  stride=stride)
            layers.append(pool)
            kk = pool.max_count
            x_sq = kk * rate * (1 - rate) + (kk * rate) ** 2
            shape = pool.out_shape
            continue
        wb = per_layer(weight_bits, ni)
        sb = per_layer(state_bits, ni)
        lo, hi = -(1 << (wb - 1)), (1 << (wb - 1)) - 1
        if kind is LayerKind.CONV2D:
            wshape: tuple[int, ...] = (ls.size, shape[0], ls.kernel, ls.kernel)
            n_bias = ls.size
        else:
            wshape = (ls.size, int(np.prod(shape)))
            n_bias = ls.size
        w = rng.integers(lo, hi + 1, size=wshape)
        fan_in = int(np.prod(wshape[1:]))
        typical = max(1.0, np.sqrt(fan_in * x_sq) * (hi + 1) * 0.6)
        th_max = (1 << (sb - 1)) - 1
        th = int(np.clip(round(threshold_scale * typical * rng.uniform(0.5, 1.5)), 1, th_max))
        k = per_layer(leak_shift, ni)
        if k is not None:
            k = int(min(k, sb - 1))
        b = None
        if bias:
            bmax = min((1 << (sb - 1)) - 1, th)
            b = rng.integers(-bmax, bmax + 1, size=n_bias)
        common = {"weight": w, "weight_bits": wb, "state_bits": sb, "threshold": th,
                  "leak_shift": k, "reset": ResetMode(per_layer(reset, ni)), "bias": b}
        if kind is LayerKind.CONV2D:
            layer = Conv2dLayer(name=f"conv{li + 1}", in_shape=shape, stride=ls.stride,
                                padding=ls.padding, **common)
        else:
            layer = IntLayer(name=f"fc{li + 1}", **common)
        layers.append(layer)
        shape = layer.out_shape
        rate = x_sq = 0.1  # hidden layers fire less than the input
        ni += 1
    return IntNetwork(layers=tuple(layers), timesteps=timesteps, readout=Readout(readout),
                      input_shape=tuple(spec.input_shape))
