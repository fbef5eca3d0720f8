"""Spiking neuron models in torch: the simplified single-state LIF and the DECOLLE LIF.

Both are written as whole-sequence modules: they take the synaptic input of every time
step at once (the layer's matrix product does not depend on its own state, so it is done
for all steps in one BLAS call by :class:`quant.model.SpikingMLP`) and run the membrane
recurrence over time with elementwise operations.

The Heaviside step that makes a spike has zero gradient almost everywhere; training
replaces its derivative by a *surrogate* (:class:`SpikeFn`): the forward pass is the exact
step ``H(v) = 1 if v >= 0``, the backward pass uses the fast-sigmoid derivative
``1 / (1 + slope·|v|)^2`` (Zenke & Ganguli's SuperSpike, snnTorch's ``fast_sigmoid``) or
the arctan derivative ``1 / (1 + (π/2·slope·v)^2)``.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .config import RESETS

__all__ = ["RESETS", "SURROGATES", "DecolleLIF", "LIFSequence", "SimplifiedLIF", "SpikeFn",
           "lif_sequence", "spike"]

SURROGATES = ("fast_sigmoid", "arctan")


class SpikeFn(torch.autograd.Function):
    """Heaviside forward (``v >= 0`` -> 1), surrogate derivative backward."""

    @staticmethod
    def forward(ctx, v: Tensor, slope: float, kind: int) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(v)
        ctx.slope = slope
        ctx.kind = kind
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (v,) = ctx.saved_tensors
        if ctx.kind == 0:
            d = 1.0 / (1.0 + ctx.slope * v.abs()) ** 2
        else:
            d = 1.0 / (1.0 + (math.pi / 2 * ctx.slope * v) ** 2)
        return grad * d, None, None


def _surrogate_grad(v: Tensor, slope: float, kind: int) -> Tensor:
    if kind == 0:
        return 1.0 / (1.0 + slope * v.abs()) ** 2
    return 1.0 / (1.0 + (math.pi / 2 * slope * v) ** 2)


class LIFSequence(torch.autograd.Function):
    """The whole simplified-LIF recurrence as one autograd node (fused BPTT).

    Forward runs the ``T`` steps without building a graph and saves only the membrane
    ``U`` (B, T, N): the spikes are recomputed from it (``S = U >= θ``). Backward runs the
    exact chain rule of the recurrence backwards in time. Compared with letting autograd
    record each step, this stores one tensor per step instead of three and skips the
    per-op graph bookkeeping (see ``scripts/bench_train.py``).

    First-order only: its backward is not differentiable again, so double backward
    (Hessian-vector products) must use the step-by-step path (``SimplifiedLIF.fused =
    False``, the default outside :func:`quant.model.fused_bptt`).

    Forward, per step (``integer=False``)::

        r = u·(1-s)  |  u - θ·s       (no reset when not ``fires``)
        d = α·r
        u = clamp(d + I[t], lo, hi)   (no clamp when lo is None)
        s = H((u - θ)·g)              (g: the surrogate's input scale)

    With ``integer=True`` the leak is the floor shift ``d = r - floor(r / 2^k)`` (for whole
    numbers, exactly the integer hardware), whose straight-through derivative is ``α``.
    The clamp passes gradient where it did not saturate; the spike uses the surrogate
    derivative ``g·σ'((u - θ)·g)``.
    """

    @staticmethod
    def forward(ctx, current: Tensor, alpha: float, shift: int | None, threshold: float,
                reset_zero: bool, fires: bool, lo: float | None, hi: float | None,
                gscale: float, slope: float, kind: int):  # type: ignore[override]
        B, T, N = current.shape
        u = current.new_zeros(B, N)
        s = current.new_zeros(B, N)
        us = current.new_empty(B, T, N)
        ss = current.new_empty(B, T, N)
        sat = None if lo is None else torch.zeros(B, T, N, dtype=torch.bool)
        div = float(1 << shift) if shift is not None else None
        for t in range(T):
            if not fires:
                r = u
            elif reset_zero:
                r = u * (1.0 - s)
            else:
                r = u - threshold * s
            if div is not None:
                d = r - torch.floor(r / div)
            elif alpha != 1.0:
                d = alpha * r
            else:
                d = r
            a = d + current[:, t]
            if lo is not None:
                u = torch.clamp(a, lo, hi)
                sat[:, t] = (a < lo) | (a > hi)
            else:
                u = a
            if fires:
                s = (u >= threshold).to(u.dtype)
            us[:, t] = u
            ss[:, t] = s
        ctx.save_for_backward(us, sat) if sat is not None else ctx.save_for_backward(us)
        ctx.params = (alpha, threshold, reset_zero, fires, gscale, slope, kind)
        return ss, u

    @staticmethod
    def backward(ctx, g_s: Tensor, g_ulast: Tensor):  # type: ignore[override]
        saved = ctx.saved_tensors
        us = saved[0]
        sat = saved[1] if len(saved) > 1 else None
        alpha, threshold, reset_zero, fires, gscale, slope, kind = ctx.params
        B, T, N = us.shape
        g_cur = torch.empty_like(us)
        g_r_next = us.new_zeros(B, N)   # dL/dr[t+1]
        for t in range(T - 1, -1, -1):
            u = us[:, t]
            g_u = g_ulast.clone() if t == T - 1 and g_ulast is not None else us.new_zeros(B, N)
            if fires:
                s = (u >= threshold).to(u.dtype)
                g_st = g_s[:, t] if g_s is not None else 0.0
                if t < T - 1:
                    # r[t+1] = u·(1-s) (zero) or u - θ·s (subtract)
                    g_st = g_st + g_r_next * (-u if reset_zero else -threshold)
                    g_u = g_u + g_r_next * ((1.0 - s) if reset_zero else 1.0)
                g_u = g_u + g_st * gscale * _surrogate_grad((u - threshold) * gscale, slope,
                                                               kind)
            elif t < T - 1:
                g_u = g_u + g_r_next
            if sat is not None:
                g_u = g_u.masked_fill(sat[:, t], 0.0)
            g_cur[:, t] = g_u
            g_r_next = alpha * g_u
        return g_cur, None, None, None, None, None, None, None, None, None, None


def lif_sequence(current: Tensor, *, alpha: float, shift: int | None = None,
                 threshold: float, reset: str = "zero", fires: bool = True,
                 lo: float | None = None, hi: float | None = None, gscale: float = 1.0,
                 slope: float = 5.0, surrogate: str = "fast_sigmoid") -> tuple[Tensor, Tensor]:
    """Run :class:`LIFSequence` on ``current`` (B, T, N); return spikes (B, T, N), last u."""
    return LIFSequence.apply(current, float(alpha), shift, float(threshold), reset == "zero",
                             bool(fires), lo, hi, float(gscale), float(slope),
                             SURROGATES.index(surrogate))


def spike(v: Tensor, slope: float = 5.0, surrogate: str = "fast_sigmoid") -> Tensor:
    """Return ``H(v)`` (1 where ``v >= 0``) with a surrogate gradient of the given slope."""
    return SpikeFn.apply(v, float(slope), SURROGATES.index(surrogate))


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}, not {value!r}")
    return value


def leak_factor(leak_shift: int | None) -> float:
    """Return ``α = 1 - 2^-k`` for a leak shift ``k`` (1.0 without leak)."""
    return 1.0 if leak_shift is None else 1.0 - 2.0 ** (-int(leak_shift))


class SimplifiedLIF(nn.Module):
    """The simplified single-state LIF neuron (Lui & Neftci 2021; docs/semantics.md, "One step").

    One state per neuron, the membrane ``U``. With ``I[t] = W·x[t] + b`` the layer's
    synaptic input at step ``t`` and all state zero before ``t = 0``::

        R[t] = U[t-1] · (1 - S[t-1])        reset "zero"
        R[t] = U[t-1] - θ · S[t-1]          reset "subtract"
        U[t] = α · R[t] + I[t]              α = 1 - 2^-k (α = 1 without leak)
        S[t] = H(U[t] - θ)                  surrogate gradient in the backward pass

    The reset applies at the *start* of step ``t+1`` to a neuron that fired at ``t``: the
    membrane ``U[t]`` that crossed the threshold stays visible for step ``t`` (this is
    the order of the integer hardware, so the float, fake-quant and integer models share
    one recurrence). The spike ``S[t-1]`` inside the reset is not detached: gradients flow
    through the reset as well as through the output spikes.

    Parameters
    ----------
    leak_shift : int or None
        ``k`` (``α = 1 - 2^-k``), or None for a perfect integrator.
    threshold : float
        ``θ`` > 0.
    reset : {"zero", "subtract"}
    fires : bool
        False for a membrane-readout output layer: it never fires nor resets.
    slope, surrogate : surrogate-gradient parameters (see :func:`spike`).
    """

    def __init__(self, *, leak_shift: int | None = 3, threshold: float = 1.0,
                 reset: str = "zero", fires: bool = True, slope: float = 5.0,
                 surrogate: str = "fast_sigmoid") -> None:
        super().__init__()
        self.reset = _check_choice(reset, RESETS, "reset")
        self.surrogate = _check_choice(surrogate, SURROGATES, "surrogate")
        if leak_shift is not None and (not isinstance(leak_shift, int) or leak_shift < 1):
            raise ValueError(f"leak_shift must be an integer >= 1 or None, not {leak_shift!r}")
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, not {threshold!r}")
        self.leak_shift = leak_shift
        self.alpha = leak_factor(leak_shift)
        self.threshold = float(threshold)
        self.fires = bool(fires)
        self.slope = float(slope)
        # The fused node is first-order only (its backward is not itself differentiable),
        # so it is off by default and switched on by the training loops
        # (quant.model.fused_bptt); Hessian-vector products use the step-by-step graph.
        self.fused = False

    def state_numel(self, batch: int, in_features: int, out_features: int) -> int:
        """Number of state values carried from one step to the next (``U`` only)."""
        return batch * out_features

    def forward(self, current: Tensor, *, record: list[Tensor] | None = None
                ) -> tuple[Tensor, Tensor]:
        """Run the recurrence over ``current`` (B, T, N); return spikes and last membrane.

        Uses the fused :class:`LIFSequence` (one autograd node) unless ``record`` (a list
        that receives every step's membrane) is given or ``self.fused`` is False; both
        paths compute the same values and gradients (tested).
        """
        if record is None and self.fused:
            return lif_sequence(current, alpha=self.alpha, threshold=self.threshold,
                                reset=self.reset, fires=self.fires, slope=self.slope,
                                surrogate=self.surrogate)
        B, T, N = current.shape
        u = current.new_zeros(B, N)
        s = current.new_zeros(B, N)
        out = []
        for t in range(T):
            if self.fires:
                r = u * (1.0 - s) if self.reset == "zero" else u - self.threshold * s
            else:
                r = u
            u = self.alpha * r + current[:, t] if self.alpha != 1.0 else r + current[:, t]
            if record is not None:
                record.append(u)
            if self.fires:
                s = spike(u - self.threshold, self.slope, self.surrogate)
            out.append(s)
        return torch.stack(out, dim=1), u


class DecolleLIF(nn.Module):
    """The four-state DECOLLE LIF neuron (Kaiser, Mostafa & Neftci 2020), for comparison.

    State: presynaptic traces ``P`` and ``Q`` (one per *input*), a refractory trace ``R``
    and the spikes ``S`` (one per neuron). With ``x[t]`` the input spikes and all state
    zero before ``t = 0``, as in the DECOLLE reference code (``LIFLayer``)::

        Q[t] = β · Q[t-1] + (1 - β) · τ_s · x[t]
        P[t] = α · P[t-1] + (1 - α) · τ_m · Q[t-1]
        R[t] = γ · R[t-1] - (1 - γ) · w_rp · S[t-1]      refractory (reset) trace
        U[t] = W · P[t] + b + R[t]
        S[t] = H(U[t] - θ)

    ``τ_m = 1/(1-α)``, ``τ_s = 1/(1-β)`` normalize the traces. The membrane is not a state:
    it is recomputed from ``P`` and ``R``; the "reset" is the refractory trace fed by the
    previous step's spike. Because the weight multiplies the *trace* ``P`` (not the
    spikes), this neuron needs the input layer's traces at every step, four state tensors
    in all, which is what the simplified LIF removes.

    This module applies ``W`` itself (it needs ``P``, not ``x``); pass the ``nn.Linear``.
    """

    def __init__(self, *, alpha: float = 0.9, beta: float = 0.85, gamma: float = 0.65,
                 w_rp: float = 1.0, threshold: float = 1.0, fires: bool = True,
                 slope: float = 5.0, surrogate: str = "fast_sigmoid") -> None:
        super().__init__()
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.tau_m = 1.0 / (1.0 - self.alpha)
        self.tau_s = 1.0 / (1.0 - self.beta)
        self.w_rp = float(w_rp)
        self.threshold = float(threshold)
        self.fires = bool(fires)
        self.slope = float(slope)
        self.surrogate = _check_choice(surrogate, SURROGATES, "surrogate")

    def state_numel(self, batch: int, in_features: int, out_features: int) -> int:
        """Number of state values carried between steps (``P``, ``Q``, ``R``, ``S``)."""
        return batch * (2 * in_features + 2 * out_features)

    def forward(self, x: Tensor, linear: Callable[[Tensor], Tensor], *,
                record: list[Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """Run over input spikes ``x`` (B, T, in); return spikes (B, T, out), last membrane."""
        B, T, n_in = x.shape
        q = x.new_zeros(B, n_in)
        p = x.new_zeros(B, n_in)
        r: Tensor | None = None
        s: Tensor | None = None
        out = []
        u = None
        for t in range(T):
            p = self.alpha * p + (1 - self.alpha) * self.tau_m * q
            q = self.beta * q + (1 - self.beta) * self.tau_s * x[:, t]
            cur = linear(p)
            if r is None:
                r = torch.zeros_like(cur)
                s = torch.zeros_like(cur)
            if self.fires:
                r = self.gamma * r - (1 - self.gamma) * self.w_rp * s
            u = cur + r
            if record is not None:
                record.append(u)
            if self.fires:
                s = spike(u - self.threshold, self.slope, self.surrogate)
            out.append(s)
        return torch.stack(out, dim=1), u
