"""hdl: the Amaranth hardware generator for integer spiking networks.

Public API: the components :class:`SynapseMemory`, :class:`NeuronCore`, :class:`Layer`,
:class:`Network`; :func:`default_lanes`; :func:`emit_verilog` / :func:`generate` and
:class:`GeneratedDesign`. Synthesis and estimation live apart, in the ``cost``
package; the geometry of a design comes from the hardware plan (``hwplan``).
"""
from __future__ import annotations

from .generate import GeneratedDesign, emit_verilog, generate, portmap
from .layer import Layer, default_update_units, event_layout
from .network import Network, default_lanes, resolve_lanes
from .neuron import NeuronCore, accumulator_bits, accumulator_range, synaptic_bits, synaptic_range
from .synapse import SynapseMemory, pack_weights

__all__ = [
    "GeneratedDesign",
    "Layer",
    "Network",
    "NeuronCore",
    "SynapseMemory",
    "accumulator_bits",
    "accumulator_range",
    "default_lanes",
    "default_update_units",
    "emit_verilog",
    "event_layout",
    "generate",
    "pack_weights",
    "portmap",
    "resolve_lanes",
    "synaptic_bits",
    "synaptic_range",
]
