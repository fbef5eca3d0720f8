"""cost: what a generated design costs on an FPGA, with or without synthesis.

Apart from the generator: nothing here imports Amaranth. The package reads the
hardware plan (:mod:`hwplan`) for every geometric fact of a design and, when
synthesis runs, the Verilog the generator wrote.

Modules: :mod:`cost.targets` (FPGA parts and their block RAM primitives),
:mod:`cost.synth` (Yosys synthesis and nextpnr place and route of a Verilog file),
:mod:`cost.resources` (the analytic model: block RAM exact, LUT/FF fitted, shipped in
``cost/resource_model.json``), :mod:`cost.estimate` (the ``spikeforge estimate``
computation) and :mod:`cost.report` (its Markdown, plots and JSON).
"""
from __future__ import annotations

from .estimate import EstimateReport, TargetEstimate, estimate, requantize
from .resources import LayerEstimate, MemoryMapping, ResourceEstimate, estimate_network, map_memory
from .targets import TARGETS, Target, get_target, parse_targets

__all__ = [
    "TARGETS",
    "EstimateReport",
    "LayerEstimate",
    "MemoryMapping",
    "ResourceEstimate",
    "Target",
    "TargetEstimate",
    "estimate",
    "estimate_network",
    "get_target",
    "map_memory",
    "parse_targets",
    "requantize",
]
