"""pysim: the integer network format and the bit-accurate NumPy golden model.

NumPy only; never imports torch. It defines what a spikeforge network means.
"""
from __future__ import annotations

from .atomic import atomic_dir, atomic_path
from .errors import CheckFailed, InputError, ManifestError, ToolMissing
from .golden import SimResult, layer_step, predict_from, simulate, synaptic_input
from .network import (
    FORMAT,
    FORMAT_VERSION,
    STATE_BITS_RANGE,
    WEIGHT_BITS_RANGE,
    IntLayer,
    IntNetwork,
    Readout,
    ResetMode,
    load_network,
    save_network,
    to_int_array,
)
from .precision import IntPrecision
from .randnet import random_network, random_spikes
from .spikes import SpikeData, load_result, load_spikes, save_result, save_spikes

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "STATE_BITS_RANGE",
    "WEIGHT_BITS_RANGE",
    "CheckFailed",
    "InputError",
    "IntLayer",
    "IntNetwork",
    "IntPrecision",
    "ManifestError",
    "Readout",
    "ResetMode",
    "SimResult",
    "SpikeData",
    "ToolMissing",
    "atomic_dir",
    "atomic_path",
    "layer_step",
    "load_network",
    "load_result",
    "load_spikes",
    "predict_from",
    "random_network",
    "random_spikes",
    "save_network",
    "save_result",
    "save_spikes",
    "simulate",
    "synaptic_input",
    "to_int_array",
]
