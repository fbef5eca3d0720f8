"""Coverage of a verification batch: which corners of the integer semantics it exercised.

Counted on the golden model's trace of the same inputs the RTL was compared on (the RTL
matched it spike for spike, so the RTL went through the same corners): membranes at
their clamp bounds (saturation), resets of each kind (zero / subtract) that happened,
samples whose prediction was decided by a tie (lowest index wins), samples without any
output spike. A sweep that never saturates or never resets says so in its report.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from pysim import IntNetwork, Readout, simulate

__all__ = ["golden_coverage"]


def golden_coverage(net: IntNetwork, spikes: np.ndarray) -> dict[str, Any]:
    """Corner counts of ``net`` on ``spikes`` (N, T, in); see the module docstring."""
    res = simulate(net, spikes, trace=True)
    assert res.membranes is not None
    sat_hi = sat_lo = 0
    resets = {"zero": 0, "subtract": 0}
    per_layer = {}
    last_layer = net.layers[-1]
    for layer in net.neuron_layers:   # sum-pools hold no state
        u = res.membranes[layer.name]
        hi, lo = (1 << (layer.state_bits - 1)) - 1, -(1 << (layer.state_bits - 1))
        h, lw = int((u == hi).sum()), int((u == lo).sum())
        fires = not (net.readout is Readout.MEMBRANE and layer is last_layer)
        r = int(res.spikes[layer.name][:, :-1].sum()) if fires else 0
        resets[layer.reset.value] += r
        sat_hi, sat_lo = sat_hi + h, sat_lo + lw
        per_layer[layer.name] = {"at_upper_clamp": h, "at_lower_clamp": lw,
                                 f"resets_{layer.reset.value}": r}
    last = net.layers[-1].name
    score = (res.membranes[last][:, -1] if net.readout is Readout.MEMBRANE
             else res.spikes[last].sum(axis=1))
    top = score.max(axis=1, keepdims=True)
    ties = int(((score == top).sum(axis=1) > 1).sum())
    silent = int((res.spikes[last].sum(axis=(1, 2)) == 0).sum())
    return {"at_upper_clamp": sat_hi, "at_lower_clamp": sat_lo,
            "resets_zero": resets["zero"], "resets_subtract": resets["subtract"],
            "argmax_ties": ties, "samples_without_output_spikes": silent,
            "layers": per_layer}
