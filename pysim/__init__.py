"""pysim: the integer network format and the bit-accurate NumPy golden model.

NumPy only; never imports torch. It defines what a spikeforge network means.
"""
from __future__ import annotations

from .arch import ArchSpec, LayerSpec, parse_arch
from .atomic import atomic_dir, atomic_path
from .errors import CheckFailed, InputError, ManifestError, ToolMissing
from .golden import SimResult, layer_step, pool_counts, predict_from, simulate, synaptic_input
from .network import (
    FORMAT,
    FORMAT_VERSION,
    LAYER_TYPES,
    STATE_BITS_RANGE,
    SUPPORTED_VERSIONS,
    WEIGHT_BITS_RANGE,
    Conv2dLayer,
    DenseLayer,
    IntLayer,
    IntNetwork,
    Layer,
    LayerKind,
    NeuronLayer,
    Readout,
    ResetMode,
    SumPool2dLayer,
    conv_output_hw,
    load_network,
    save_network,
    to_int_array,
)
from .precision import IntPrecision
from .randnet import random_conv_network, random_network, random_spikes
from .spikes import SpikeData, load_result, load_spikes, save_result, save_spikes

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LAYER_TYPES",
    "STATE_BITS_RANGE",
    "SUPPORTED_VERSIONS",
    "WEIGHT_BITS_RANGE",
    "ArchSpec",
    "CheckFailed",
    "Conv2dLayer",
    "DenseLayer",
    "InputError",
    "IntLayer",
    "IntNetwork",
    "IntPrecision",
    "Layer",
    "LayerKind",
    "LayerSpec",
    "ManifestError",
    "NeuronLayer",
    "Readout",
    "ResetMode",
    "SimResult",
    "SpikeData",
    "SumPool2dLayer",
    "ToolMissing",
    "atomic_dir",
    "atomic_path",
    "conv_output_hw",
    "layer_step",
    "load_network",
    "load_result",
    "load_spikes",
    "parse_arch",
    "pool_counts",
    "predict_from",
    "random_conv_network",
    "random_network",
    "random_spikes",
    "save_network",
    "save_result",
    "save_spikes",
    "simulate",
    "synaptic_input",
    "to_int_array",
]
