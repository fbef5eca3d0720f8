"""Convolutional spiking networks in torch: conv2d, sum-pool and dense layers.

:class:`SpikingConvNet` is the convolutional counterpart of
:class:`quant.model.SpikingMLP`, built from an architecture string such as
``"1x28x28-8c5-sp2-16c5-sp2-10"`` (:func:`quant.config.network_arch`). It has the same
three modes and the same interface (``linears``, ``neurons``, ``set_quant``,
``int_weight``, ``int_bias``, ``run``, ``run_integer``, ``config``), so training, the
Hessian traces, the allocation, calibration, QAT and the export treat both alike:

* every layer with neurons (``nn.Conv2d`` or ``nn.Linear``, listed in ``linears`` and
  named as in the manifest by ``layer_names``) is followed by a
  :class:`quant.neurons.SimplifiedLIF`;
* a sum-pool has no parameters and no neurons: at every step it sums the spikes of each
  ``K×K`` window (``avg_pool2d`` with ``divisor_override=1``, an exact sum of 0/1 values)
  and the next layer's synapses multiply weights by these counts in the same step
  (docs/semantics.md, "sumpool2d").

Layout: spikes and currents are ``(B, T, N)`` with a map flattened channel-major
(``i = c·H·W + y·W + x``, torch's ``reshape`` of ``(C, H, W)``), the layout of spike
files and of the golden model. The synaptic input of a conv layer does not depend on the
layer's own state, so the convolution runs once on all ``B·T`` maps of a batch (one
``conv2d`` call of batch ``B·T``), and the membrane recurrence then runs over time on the
flattened neurons (the fused BPTT node of :mod:`quant.neurons` during training).

Fake-quant mode computes in integer units as for dense layers: weights
``round(clip(W/s))``, one bias ``round(b/s)`` per output channel, the floor-shift leak, the
clamp at the state width, ``u >= θ_int``. A conv2d of whole numbers below 2^24 is exact in
float32 for any summation order; the result is also rounded (forward only, the gradient
passes straight through) so that a convolution algorithm with a transform (Winograd, FFT)
could not move it off the integer. Integer mode (:meth:`SpikingConvNet.run_integer`)
convolves in float32 where every partial sum of the bound ``fan_in · x_max · max|W|`` is
below 2^24 (float64 below 2^53; the golden model's rule), rounds, and runs the recurrence
on int64 tensors.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import READOUTS, ArchLayer, network_arch
from .model import (
    FakeQuantLayers,
    IntRun,
    LayerQuant,
    RunOutput,
    integer_neuron_sequence,
    quant_neuron_sequence,
)
from .neurons import RESETS, SURROGATES, SimplifiedLIF

__all__ = ["SpikingConvNet", "arch_string"]


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def arch_string(input_shape: Sequence[int], layers: Sequence[ArchLayer]) -> str:
    """The architecture string of ``layers`` (square kernels, tiling pools only)."""
    return "-".join(["x".join(str(d) for d in input_shape)] + [a.token for a in layers])


class SpikingConvNet(FakeQuantLayers, nn.Module):
    """A spiking network of conv2d, sum-pool and dense layers (simplified LIF neurons).

    Parameters
    ----------
    arch : str or list of :class:`quant.config.ArchLayer`
        e.g. ``"1x8x8-16c3-sp2-10"``; checked by :func:`quant.config.network_arch`.
    timesteps, leak_shift, reset, readout, threshold, bias, slope, surrogate, init_gain :
        as for :class:`quant.model.SpikingMLP`; ``leak_shift`` (one value, or one per
        layer with neurons); ``bias`` gives conv layers one bias per output channel.

    Attributes
    ----------
    spec : the layers (:class:`~quant.config.ArchLayer`), pools included
    linears : nn.ModuleList of the ``nn.Conv2d`` / ``nn.Linear`` of the neuron layers
    neurons : nn.ModuleList of :class:`SimplifiedLIF`, one per neuron layer
    layer_names : manifest names of the neuron layers (``conv1``, ``fc5``, ...)
    sizes : input size and every neuron layer's flattened output size
    quant : list of LayerQuant or None (fake-quant mode when set)
    """

    neuron = "lif"

    def __init__(self, arch: str | Sequence[ArchLayer], *, timesteps: int,
                 leak_shift: int | None | Sequence[int | None] = 3, reset: str = "zero",
                 readout: str = "spike_count", threshold: float = 1.0, bias: bool = False,
                 slope: float = 5.0, surrogate: str = "fast_sigmoid", init_gain: float = 1.0,
                 neuron: str = "lif") -> None:
        super().__init__()
        spec = network_arch(arch) if isinstance(arch, str) else list(arch)
        if not spec:
            raise ValueError("a network needs at least one layer")
        if neuron != "lif":
            raise ValueError("convolutional networks use the simplified LIF ('lif') only")
        if not isinstance(timesteps, int) or timesteps < 1:
            raise ValueError(f"timesteps must be a positive integer, not {timesteps!r}")
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, not {reset!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, not {readout!r}")
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}, not {surrogate!r}")
        neuron_layers = [a for a in spec if a.has_neurons]
        n = len(neuron_layers)
        if isinstance(leak_shift, (list, tuple)):
            if len(leak_shift) != n:
                raise ValueError(f"leak_shift: {len(leak_shift)} values for {n} layers")
            leaks = [None if k is None else int(k) for k in leak_shift]
        else:
            leaks = [None if leak_shift is None else int(leak_shift)] * n
        self.spec = spec
        self.input_shape = tuple(int(d) for d in spec[0].in_shape)
        self.arch = arch if isinstance(arch, str) else arch_string(self.input_shape, spec)
        self.timesteps = timesteps
        self.leak_shifts = leaks
        self.reset = reset
        self.readout = readout
        self.threshold = float(threshold)
        self.has_bias = bool(bias)
        self.layer_names = [a.name for a in neuron_layers]
        self.sizes = [math.prod(self.input_shape)] + [math.prod(a.out_shape)
                                                       for a in neuron_layers]
        self.linears = nn.ModuleList()
        self.neurons = nn.ModuleList()
        # per spec entry: index into linears (neuron layers) or None (pool)
        self._index: list[int | None] = []
        for a in spec:
            if not a.has_neurons:
                self._index.append(None)
                continue
            i = len(self.linears)
            if a.kind == "conv2d":
                mod: nn.Module = nn.Conv2d(a.in_shape[0], a.size, _pair(a.kernel),
                                           stride=_pair(a.stride), padding=_pair(a.padding),
                                           bias=self.has_bias)
            else:
                mod = nn.Linear(math.prod(a.in_shape), a.size, bias=self.has_bias)
            if init_gain != 1.0:
                with torch.no_grad():
                    mod.weight.mul_(init_gain)
            self.linears.append(mod)
            fires = not (readout == "membrane" and i == n - 1)
            self.neurons.append(SimplifiedLIF(leak_shift=leaks[i], threshold=threshold,
                                              reset=reset, fires=fires, slope=slope,
                                              surrogate=surrogate))
            self._index.append(i)
        if not spec[-1].has_neurons:
            raise ValueError("the last layer must have neurons (dense or conv2d)")
        self.quant: list[LayerQuant] | None = None

    # ------------------------------------------------------------------ quant state
    def set_quant(self, quant: Sequence[LayerQuant] | None) -> None:
        """Fake-quant mode with one :class:`LayerQuant` per neuron layer (None: float)."""
        if quant is not None:
            quant = list(quant)
            if len(quant) != len(self.linears):
                raise ValueError(f"{len(quant)} LayerQuant for {len(self.linears)} layers")
        self.quant = quant

    # ------------------------------------------------------------------ synapses
    @staticmethod
    def _maps(h: Tensor, shape: tuple[int, ...]) -> Tensor:
        """Inputs (B, T, in) as a (B·T, C, H, W) batch of maps (a view)."""
        return h.reshape(-1, *shape)

    @staticmethod
    def _unmaps(y: Tensor, B: int, T: int) -> Tensor:
        """A (B·T, ...) batch back to (B, T, N), flattened channel-major."""
        return y.reshape(B, T, -1)

    def _pool(self, a: ArchLayer, h: Tensor) -> Tensor:
        B, T = h.shape[:2]
        p = F.avg_pool2d(self._maps(h, a.in_shape), _pair(a.kernel), _pair(a.stride),
                         divisor_override=1)
        return self._unmaps(p, B, T)

    def _current(self, a: ArchLayer, mod: nn.Module, h: Tensor, weight: Tensor,
                 bias: Tensor | None) -> Tensor:
        """The synaptic input (B, T, N) of one neuron layer for inputs ``h`` (B, T, in)."""
        B, T = h.shape[:2]
        if a.kind == "conv2d":
            c = F.conv2d(self._maps(h, a.in_shape), weight, bias, stride=mod.stride,
                         padding=mod.padding)
            return self._unmaps(c, B, T)
        return F.linear(h, weight, bias)

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor) -> Tensor:
        """Scores (B, classes) usable as logits for input spikes ``x`` (B, T, C·H·W)."""
        return self.run(x).scores

    def run(self, x: Tensor, *, record: bool = False, accum: bool = False) -> RunOutput:
        """Forward pass returning scores, every neuron layer's spikes, optionally membranes.

        Same contract as :meth:`quant.model.SpikingMLP.run`; spikes are (B, T, N) per
        neuron layer (pools have none).
        """
        if x.dim() != 3 or x.shape[2] != self.sizes[0]:
            raise ValueError(f"input must have shape (B, T, {self.sizes[0]}), "
                             f"not {tuple(x.shape)}")
        h = x
        spikes: list[Tensor] = []
        mems: list[Tensor] | None = [] if record else None
        ranges: list[tuple[float, float]] | None = [] if accum else None
        u_last: Tensor | None = None
        for a, i in zip(self.spec, self._index):
            if i is None:
                h = self._pool(a, h)
                continue
            mod, neu = self.linears[i], self.neurons[i]
            rec: list[Tensor] | None = [] if record else None
            if self.quant is not None:
                cur = self._current(a, mod, h, self.int_weight(i), self.int_bias(i))
                if a.kind == "conv2d":  # exact already; guards transform algorithms
                    cur = cur + (torch.round(cur) - cur).detach()
                h, u_last = self._quant_neuron(i, cur, rec, ranges)
            else:
                cur = self._current(a, mod, h, mod.weight, mod.bias)
                h, u_last = neu(cur, record=rec)
            spikes.append(h)
            if mems is not None and rec is not None:
                mems.append(torch.stack(rec, dim=1))
        if self.readout == "spike_count":
            scores = spikes[-1].sum(dim=1)
        else:
            scores = u_last if self.quant is None else u_last * self.quant[-1].scale
        return RunOutput(scores=scores, spikes=spikes, membranes=mems, accum=ranges)

    def _quant_neuron(self, i: int, current: Tensor, rec: list[Tensor] | None,
                      ranges: list[tuple[float, float]] | None) -> tuple[Tensor, Tensor]:
        """The fake-quant recurrence in integer units (as ``SpikingMLP._quant_layer``)."""
        return quant_neuron_sequence(current, self.quant[i], self.neurons[i],  # type: ignore[index]
                                     self.leak_shifts[i], self.reset, rec, ranges)

    # ------------------------------------------------------------------ integer mode
    @torch.no_grad()
    def run_integer(self, spikes: np.ndarray | Tensor, *, trace: bool = False,
                    batch_size: int = 256) -> IntRun:
        """Integer mode: the exported integer recurrence on int64 tensors.

        Synaptic sums are convolutions / products of whole numbers in float32 when every
        partial sum is bounded by ``fan_in · x_max · max|W| < 2^24`` and in float64 when
        below 2^53 (asserted), so exact, then converted to int64; pools are exact sums of 0/1 values; the
        recurrence (reset, arithmetic-shift leak, clamp, compare) is int64. Must agree
        with :func:`pysim.simulate` on every spike.
        """
        if self.quant is None or any(q.state_bits is None for q in self.quant):
            raise ValueError("integer mode needs set_quant() with state_bits on every layer")
        consts = []
        for i, q in enumerate(self.quant):
            w = self.int_weight(i).detach()
            b = self.int_bias(i)
            b = None if b is None else b.detach().to(torch.int64)
            consts.append((w, b, q))
        x_all = torch.as_tensor(np.asarray(spikes))
        n_layers = len(consts)
        preds, spk, mem = [], [[] for _ in consts], [[] for _ in consts]
        for start in range(0, x_all.shape[0], batch_size):
            h = x_all[start:start + batch_size].float()
            u = None
            x_max = 1
            for a, i in zip(self.spec, self._index):
                if i is None:
                    h = self._pool(a, h)
                    x_max = math.prod(_pair(a.kernel))
                    continue
                w, b, q = consts[i]
                mod = self.linears[i]
                fan_in = int(w[0].numel())
                bound = fan_in * x_max * max(1, int(w.abs().max()))
                assert bound < 1 << 53
                # float32 holds every partial sum exactly below 2^24 (as in the golden
                # model), float64 below 2^53
                ftype = torch.float32 if bound < 1 << 24 else torch.float64
                cur = self._current(a, mod, h.to(ftype), w.to(ftype), None)
                current = torch.round(cur).to(torch.int64)
                if b is not None:
                    per = current.shape[2] // b.shape[0]
                    current = current + b.repeat_interleave(per)
                hs, us = integer_neuron_sequence(current, q, self.neurons[i].fires,
                                                 self.leak_shifts[i], self.reset)
                u = us[-1]
                spk[i].append(hs.to(torch.uint8).numpy())
                if trace:
                    mem[i].append(torch.stack(us, dim=1).to(torch.int32).numpy())
                h = hs.float() if i < n_layers - 1 else hs
                x_max = 1
            score = h.sum(dim=1) if self.readout == "spike_count" else u
            preds.append(torch.argmax(score, dim=1).numpy())
        return IntRun(
            predictions=np.concatenate(preds).astype(np.int64),
            spikes=[np.concatenate(s) for s in spk],
            membranes=[np.concatenate(m) for m in mem] if trace else None,
        )

    # ------------------------------------------------------------------ config
    def config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-ready dict (rebuild with ``SpikingConvNet(**cfg)``)."""
        n0 = self.neurons[0]
        return {"arch": self.arch, "timesteps": self.timesteps,
                "leak_shift": list(self.leak_shifts), "reset": self.reset,
                "readout": self.readout, "neuron": "lif", "threshold": self.threshold,
                "bias": self.has_bias, "slope": n0.slope, "surrogate": n0.surrogate}

    def macs_per_step(self) -> int:
        """Multiply-accumulates of one sample's synaptic sums per time step (dense
        equivalent: every weight times every output position)."""
        total = 0
        for a, i in zip(self.spec, self._index):
            if i is not None:
                n = self.linears[i].weight.numel()
                total += n * (a.out_shape[1] * a.out_shape[2] if a.kind == "conv2d" else 1)
        return total
