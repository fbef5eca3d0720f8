"""hdl: the Amaranth hardware generator for integer spiking networks.

Public API: the components :class:`SynapseMemory`, :class:`NeuronCore`, :class:`Layer`,
:class:`Network`; :func:`emit_verilog` / :func:`generate`, :func:`load_design` and
:class:`GeneratedDesign`. Synthesis and estimation live apart, in the ``cost``
package; the geometry of a design comes from the hardware plan (``hwplan``).
"""
from __future__ import annotations

from .generate import GeneratedDesign, emit_verilog, generate, load_design, portmap
from .layer import Layer, event_layout
from .network import Network
from .neuron import NeuronCore
from .synapse import SynapseMemory

__all__ = [
    "GeneratedDesign",
    "Layer",
    "Network",
    "NeuronCore",
    "SynapseMemory",
    "emit_verilog",
    "event_layout",
    "generate",
    "load_design",
    "portmap",
]
