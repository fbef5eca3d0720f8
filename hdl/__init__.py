"""hdl: the Amaranth hardware generator for integer spiking networks.

Public API: the components :class:`SynapseMemory`, :class:`NeuronCore`, :class:`Layer`,
:class:`Network`; :func:`default_lanes`; :func:`emit_verilog` / :func:`generate` and
:class:`GeneratedDesign`. Synthesis and estimation live in ``hdl.synth``,
``hdl.resources`` and ``hdl.targets``.
"""
from __future__ import annotations

from .generate import GeneratedDesign, emit_verilog, generate, portmap
from .layer import Layer, event_layout
from .network import Network, default_lanes, resolve_lanes
from .neuron import NeuronCore, Op, accumulator_bits, accumulator_range
from .synapse import SynapseMemory, pack_weights

__all__ = [
    "GeneratedDesign", "Layer", "Network", "NeuronCore", "Op", "SynapseMemory",
    "accumulator_bits", "accumulator_range", "default_lanes", "emit_verilog",
    "event_layout", "generate", "pack_weights", "portmap", "resolve_lanes",
]
