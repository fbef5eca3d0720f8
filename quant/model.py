"""Dense spiking networks in torch: float training, fake-quant training and integer mode.

:class:`SpikingMLP` is a chain of ``nn.Linear`` layers, each followed by a spiking
neuron (:class:`quant.neurons.SimplifiedLIF` by default). It runs in one of three modes:

* **float** (default): the simplified LIF recurrence of docs/semantics.md ("One step") in float,
  ``U[t] = α·R[t] + W·x[t] + b`` with ``α = 1 - 2^-k``;
* **fake-quant** (after :meth:`SpikingMLP.set_quant`): every layer computes in *integer
  units* of its scale ``s``: weights ``round(clip(W/s))``, bias ``round(b/s)``, threshold
  ``θ_int``, the leak as the floor shift ``r - floor(r / 2^k)``, the membrane clamped to
  ``state_bits``; rounding and flooring pass gradients straight through (STE). Every
  value is a whole number held exactly in float32 (all below 2^24), so the forward pass
  of this mode *is* the integer network;
* **integer** (:meth:`SpikingMLP.run_integer`): the same recurrence on int64 tensors from
  the exported integer constants, used to check the float path and the golden model.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .config import READOUTS, parse_arch
from .neurons import RESETS, SURROGATES, DecolleLIF, SimplifiedLIF, lif_sequence, spike

__all__ = [
    "NEURONS",
    "READOUTS",
    "FakeQuantLayers",
    "IntRun",
    "LayerQuant",
    "RunOutput",
    "SpikingMLP",
    "floor_ste",
    "fused_bptt",
    "integer_neuron_sequence",
    "parse_arch",
    "quant_neuron_sequence",
    "round_ste",
]

NEURONS = ("lif", "decolle")


@contextlib.contextmanager
def fused_bptt(model: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Within the block, simplified-LIF layers use the fused first-order BPTT node.

    :class:`quant.neurons.LIFSequence` computes the same values and gradients as the
    step-by-step graph, faster and with less memory, but cannot be differentiated twice;
    training loops use it, Hessian code must not.
    """
    neurons = [m for m in model.modules() if isinstance(m, SimplifiedLIF)]
    old = [n.fused for n in neurons]
    for n in neurons:
        n.fused = enabled
    try:
        yield
    finally:
        for n, f in zip(neurons, old):
            n.fused = f


def round_ste(x: Tensor) -> Tensor:
    """``round(x)`` forward (half to even, as ``torch.round``), identity gradient."""
    return x + (torch.round(x) - x).detach()


def floor_ste(x: Tensor) -> Tensor:
    """``floor(x)`` forward, identity gradient."""
    return x + (torch.floor(x) - x).detach()


@dataclass
class LayerQuant:
    """One layer's quantization: integer weights are ``round(clip(W / scale))``.

    Attributes
    ----------
    bits : int
        Weight width (signed).
    scale : float
        Weight step ``s``: the float weight ``W ≈ s · W_int``; the membrane in integer
        units is ``U / s``.
    threshold : int
        ``θ_int`` (the float threshold divided by ``s``; the scale is chosen so that this
        is exact, see :func:`quant.qat.layer_scale`).
    state_bits : int or None
        Membrane width ``B`` (signed); None only while measuring ranges (no clamp).
    clip : float
        The clip value the scale came from (``scale · (2^(bits-1) - 1)`` or searched).
    """

    bits: int
    scale: float
    threshold: int
    state_bits: int | None = None
    clip: float = 0.0

    @property
    def wmin(self) -> int:
        """Smallest integer weight."""
        return -(1 << (self.bits - 1))

    @property
    def wmax(self) -> int:
        """Largest integer weight."""
        return (1 << (self.bits - 1)) - 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class RunOutput:
    """What a forward pass produced.

    Attributes
    ----------
    scores : (B, C) logits (spike counts, or final membranes for the membrane readout)
    spikes : per layer (B, T, out)
    membranes : per layer (B, T, out) when recorded, else None
    accum : per layer (min, max) of the pre-clamp accumulator over the batch, when asked
    """

    scores: Tensor
    spikes: list[Tensor]
    membranes: list[Tensor] | None = None
    accum: list[tuple[float, float]] | None = None


@dataclass
class IntRun:
    """Integer-mode outputs, same layout as :class:`pysim.SimResult`."""

    predictions: np.ndarray
    spikes: list[np.ndarray]
    membranes: list[np.ndarray] | None = None


class FakeQuantLayers:
    """The integer view of a model's synaptic layers in fake-quant mode (shared by every
    model kind): ``self.linears[i]`` holds layer ``i``'s float weights, ``self.quant[i]``
    its :class:`LayerQuant`."""

    linears: Any
    quant: Any

    def int_weight(self, i: int) -> Tensor:
        """Layer ``i``'s integer weights ``round(clip(W/s))`` as float, STE gradient."""
        q = self.quant[i]  # type: ignore[index]
        w = self.linears[i].weight / q.scale
        return round_ste(torch.clamp(w, q.wmin, q.wmax))

    def int_bias(self, i: int) -> Tensor | None:
        """Layer ``i``'s integer bias ``round(b/s)`` clipped to the state range, or None (one
        per output channel for a conv2d layer)."""
        b = self.linears[i].bias
        if b is None:
            return None
        q = self.quant[i]  # type: ignore[index]
        b = b / q.scale
        if q.state_bits is not None:
            lim = float(1 << (q.state_bits - 1))
            b = torch.clamp(b, -lim, lim - 1)
        return round_ste(b)


class SpikingMLP(FakeQuantLayers, nn.Module):
    """A dense spiking network ``sizes[0] - sizes[1] - ... - sizes[-1]``.

    Parameters
    ----------
    sizes : sequence of int
        Input size, hidden sizes, number of classes (see :func:`parse_arch`).
    timesteps : int
        ``T``, steps per sample.
    leak_shift : int, None, or a sequence of them (one per layer)
        ``k`` with ``α = 1 - 2^-k``; None for no leak.
    reset : {"zero", "subtract"}
    readout : {"spike_count", "membrane"}
        ``spike_count`` scores each class by its output neuron's spike count;
        ``membrane`` makes the last layer a non-firing integrator scored by its final
        membrane.
    neuron : {"lif", "decolle"}
        ``lif`` is the simplified LIF (the only one that exports to integers);
        ``decolle`` the four-state neuron, for comparisons.
    threshold : float
        ``θ`` of every layer (float model).
    bias : bool
        Give each layer a bias.
    slope, surrogate : surrogate gradient of the spike (see :func:`quant.neurons.spike`).
    init_gain : float
        Multiplies PyTorch's default weight initialization (uniform ±1/sqrt(in)); > 1
        makes the untrained network spike.

    Attributes
    ----------
    linears : nn.ModuleList of nn.Linear, in order.
    neurons : nn.ModuleList of the neuron modules, in order.
    quant : list of LayerQuant or None
        Set by :meth:`set_quant`; switches the forward pass to fake-quant.
    """

    def __init__(self, sizes: Sequence[int], *, timesteps: int,
                 leak_shift: int | None | Sequence[int | None] = 3, reset: str = "zero",
                 readout: str = "spike_count", neuron: str = "lif", threshold: float = 1.0,
                 bias: bool = False, slope: float = 5.0, surrogate: str = "fast_sigmoid",
                 init_gain: float = 1.0) -> None:
        super().__init__()
        sizes = [int(n) for n in sizes]
        if len(sizes) < 2 or any(n < 1 for n in sizes):
            raise ValueError(f"sizes must be at least two positive integers, not {sizes}")
        if not isinstance(timesteps, int) or timesteps < 1:
            raise ValueError(f"timesteps must be a positive integer, not {timesteps!r}")
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, not {reset!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, not {readout!r}")
        if neuron not in NEURONS:
            raise ValueError(f"neuron must be one of {NEURONS}, not {neuron!r}")
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}, not {surrogate!r}")
        n_layers = len(sizes) - 1
        if isinstance(leak_shift, (list, tuple)):
            if len(leak_shift) != n_layers:
                raise ValueError(f"leak_shift: {len(leak_shift)} values for {n_layers} layers")
            leaks = [None if k is None else int(k) for k in leak_shift]
        else:
            leaks = [None if leak_shift is None else int(leak_shift)] * n_layers
        self.sizes = sizes
        self.timesteps = timesteps
        self.leak_shifts = leaks
        self.reset = reset
        self.readout = readout
        self.neuron = neuron
        self.threshold = float(threshold)
        self.has_bias = bool(bias)
        self.linears = nn.ModuleList()
        self.neurons = nn.ModuleList()
        for i in range(n_layers):
            lin = nn.Linear(sizes[i], sizes[i + 1], bias=self.has_bias)
            if init_gain != 1.0:
                with torch.no_grad():
                    lin.weight.mul_(init_gain)
            self.linears.append(lin)
            fires = not (readout == "membrane" and i == n_layers - 1)
            if neuron == "lif":
                self.neurons.append(SimplifiedLIF(leak_shift=leaks[i], threshold=threshold,
                                                  reset=reset, fires=fires, slope=slope,
                                                  surrogate=surrogate))
            else:
                self.neurons.append(DecolleLIF(threshold=threshold, fires=fires, slope=slope,
                                               surrogate=surrogate))
        self.quant: list[LayerQuant] | None = None

    # ------------------------------------------------------------------ quant state
    def set_quant(self, quant: Sequence[LayerQuant] | None) -> None:
        """Switch to fake-quant mode with one :class:`LayerQuant` per layer (None: float)."""
        if quant is not None:
            quant = list(quant)
            if len(quant) != len(self.linears):
                raise ValueError(f"{len(quant)} LayerQuant for {len(self.linears)} layers")
            if self.neuron != "lif":
                raise ValueError("only the simplified LIF ('lif') can be quantized")
        self.quant = quant


    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor) -> Tensor:
        """Scores (B, C) usable as logits for input spikes ``x`` (B, T, in) of 0/1."""
        return self.run(x).scores

    def run(self, x: Tensor, *, record: bool = False, accum: bool = False) -> RunOutput:
        """Forward pass returning scores, every layer's spikes, optionally membranes.

        Parameters
        ----------
        x : (B, T, in) float tensor of 0/1
        record : keep every layer's membrane at every step (float units in float mode,
            integer units in fake-quant mode)
        accum : (fake-quant) also return each layer's pre-clamp accumulator range
        """
        if x.dim() != 3 or x.shape[2] != self.sizes[0]:
            raise ValueError(f"input must have shape (B, T, {self.sizes[0]}), "
                             f"not {tuple(x.shape)}")
        h = x
        spikes: list[Tensor] = []
        mems: list[Tensor] | None = [] if record else None
        ranges: list[tuple[float, float]] | None = [] if accum else None
        u_last: Tensor | None = None
        for i, (lin, neu) in enumerate(zip(self.linears, self.neurons)):
            rec: list[Tensor] | None = [] if record else None
            if self.quant is not None:
                h, u_last = self._quant_layer(i, h, rec, ranges)
            elif self.neuron == "lif":
                h, u_last = neu(lin(h), record=rec)
            else:
                h, u_last = neu(h, lin, record=rec)
            spikes.append(h)
            if mems is not None and rec is not None:
                mems.append(torch.stack(rec, dim=1))
        if self.readout == "spike_count":
            scores = spikes[-1].sum(dim=1)
        else:
            scores = u_last if self.quant is None else u_last * self.quant[-1].scale
        return RunOutput(scores=scores, spikes=spikes, membranes=mems, accum=ranges)

    def _quant_layer(self, i: int, x: Tensor, rec: list[Tensor] | None,
                     ranges: list[tuple[float, float]] | None) -> tuple[Tensor, Tensor]:
        """Fake-quant layer in integer units (see the module docstring)."""
        q = self.quant[i]  # type: ignore[index]
        neu = self.neurons[i]
        current = torch.matmul(x, self.int_weight(i).t())
        b = self.int_bias(i)
        if b is not None:
            current = current + b
        return quant_neuron_sequence(current, q, neu, self.leak_shifts[i], self.reset, rec,
                                     ranges)

    # ------------------------------------------------------------------ integer mode
    @torch.no_grad()
    def run_integer(self, spikes: np.ndarray | Tensor, *, trace: bool = False,
                    batch_size: int = 1024) -> IntRun:
        """Integer mode: the exported integer recurrence on int64 tensors.

        Integer operations only (arithmetic right shift, integer clamp and compare on
        int64), except the synaptic sum of 0/1 spikes times integer weights, done as a
        float64 product because every partial sum is an integer below 2^53 and so exact
        (int64 matmul has no BLAS path); it must agree with :func:`pysim.simulate` on
        every spike.
        """
        if self.quant is None or any(q.state_bits is None for q in self.quant):
            raise ValueError("integer mode needs set_quant() with state_bits on every layer")
        consts = []
        for i, q in enumerate(self.quant):
            w = self.int_weight(i).detach().to(torch.int64)
            b = self.int_bias(i)
            b = None if b is None else b.detach().to(torch.int64)
            consts.append((w, b, q))
        x_all = torch.as_tensor(np.asarray(spikes)).to(torch.int64)
        preds, spk, mem = [], [[] for _ in consts], [[] for _ in consts]
        for start in range(0, x_all.shape[0], batch_size):
            h = x_all[start:start + batch_size]
            u = None
            for i, (w, b, q) in enumerate(consts):
                fires = self.neurons[i].fires
                # Σ_j W[i,j]·x[j] of 0/1 inputs is bounded by in·max|W| < 2^53, so the
                # float64 BLAS product is the exact integer sum (int64 matmul is not BLAS)
                assert w.shape[1] * max(1, int(w.abs().max())) < 1 << 53
                current = torch.matmul(h.double(), w.t().double()).to(torch.int64)
                if b is not None:
                    current = current + b
                h, us = integer_neuron_sequence(current, q, fires, self.leak_shifts[i],
                                                self.reset)
                u = us[-1]
                spk[i].append(h.to(torch.uint8).numpy())
                if trace:
                    mem[i].append(torch.stack(us, dim=1).to(torch.int32).numpy())
            score = h.sum(dim=1) if self.readout == "spike_count" else u
            preds.append(torch.argmax(score, dim=1).numpy())
        return IntRun(
            predictions=np.concatenate(preds).astype(np.int64),
            spikes=[np.concatenate(s) for s in spk],
            membranes=[np.concatenate(m) for m in mem] if trace else None,
        )

    # ------------------------------------------------------------------ config
    def config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-ready dict (rebuild with ``SpikingMLP(**cfg)``)."""
        n0 = self.neurons[0]
        return {"sizes": list(self.sizes), "timesteps": self.timesteps,
                    "leak_shift": list(self.leak_shifts), "reset": self.reset, "readout": self.readout,
                    "neuron": self.neuron, "threshold": self.threshold, "bias": self.has_bias,
                    "slope": n0.slope, "surrogate": n0.surrogate}

    def state_bytes(self, batch: int, dtype_bytes: int = 4) -> int:
        """Bytes of neuron state carried between steps for a batch (all layers)."""
        return dtype_bytes * sum(
            n.state_numel(batch, self.sizes[i], self.sizes[i + 1])
            for i, n in enumerate(self.neurons))


def quant_neuron_sequence(current: Tensor, q: Any, neu: Any, leak_shift: int | None,
                          reset: str, rec: list[Tensor] | None,
                          ranges: list[tuple[float, float]] | None) -> tuple[Tensor, Tensor]:
    """The fake-quant neuron recurrence of one layer in integer units.

    ``current`` (B, T, N) is the layer's synaptic input (plus bias) in integer units; the
    reset, floor-shift leak, clamp to ``q.state_bits`` and fire follow docs/semantics.md
    (*One step*) with straight-through gradients; ``rec`` collects every step's membrane
    and ``ranges`` the range of the unclamped sum (calibration). Shared by every model
    kind (dense and conv layers differ only in how ``current`` is computed).
    Returns the spikes (B, T, N) and the last membrane.
    """
    B, T, N = current.shape
    th = float(q.threshold)
    k = leak_shift
    div = float(1 << k) if k is not None else 0.0
    lo = hi = None
    if q.state_bits is not None:
        lo, hi = -float(1 << (q.state_bits - 1)), float((1 << (q.state_bits - 1)) - 1)
    if rec is None and ranges is None and neu.fused:
        return lif_sequence(current, alpha=neu.alpha, shift=k, threshold=th,
                            reset=reset, fires=neu.fires, lo=lo, hi=hi,
                            gscale=q.scale, slope=neu.slope, surrogate=neu.surrogate)
    u = current.new_zeros(B, N)
    s = current.new_zeros(B, N)
    out = []
    amin, amax = float("inf"), float("-inf")
    for t in range(T):
        if neu.fires:
            r = u * (1.0 - s) if reset == "zero" else u - th * s
        else:
            r = u
        d = r - floor_ste(r / div) if k is not None else r
        a = d + current[:, t]
        if ranges is not None:
            amin = min(amin, float(a.min()))
            amax = max(amax, float(a.max()))
        u = torch.clamp(a, lo, hi) if lo is not None else a
        if rec is not None:
            rec.append(u)
        if neu.fires:
            # sign of q.scale·(u - θ) is the sign of (u - θ): the step is exact
            s = spike((u - th) * q.scale, neu.slope, neu.surrogate)
        out.append(s)
    if ranges is not None:
        ranges.append((amin, amax))
    return torch.stack(out, dim=1), u


def integer_neuron_sequence(current: Tensor, q: Any, fires: bool, leak_shift: int | None,
                            reset: str) -> tuple[Tensor, list[Tensor]]:
    """The exported integer recurrence of one layer on int64 tensors (docs/semantics.md,
    *One step*): reset, arithmetic-shift leak, exact sum, clamp to ``q.state_bits``, fire
    at ``u >= q.threshold``. ``current`` (B, T, N) is the integer synaptic input plus
    bias. Returns the spikes (B, T, N) and every step's membrane. Shared by every model
    kind."""
    Bn, T, N = current.shape
    k = leak_shift
    lo, hi = -(1 << (q.state_bits - 1)), (1 << (q.state_bits - 1)) - 1
    u = torch.zeros(Bn, N, dtype=torch.int64)
    s = torch.zeros(Bn, N, dtype=torch.int64)
    outs, us = [], []
    for t in range(T):
        if not fires:
            r = u
        elif reset == "zero":
            r = u * (1 - s)
        else:
            r = u - q.threshold * s
        d = r - (r >> k) if k is not None else r
        u = torch.clamp(d + current[:, t], lo, hi)
        s = (u >= q.threshold).to(torch.int64) if fires else torch.zeros_like(u)
        outs.append(s)
        us.append(u)
    return torch.stack(outs, dim=1), us
