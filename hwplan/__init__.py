"""hwplan: the hardware plan, the one source of every geometric and timing fact of a design.

Pure Python (NumPy, pysim): the generator (``hdl``), the cost model (``cost``), the
testbenches (``sim``) and the reports read the plan; none derives lanes, groups, rows,
widths, memory shapes or cycle formulas on its own. See :mod:`hwplan.plan`.
"""
from __future__ import annotations

from .design import GeneratedDesign, load_design
from .plan import (
    BANK_WORDS,
    DEEP_ROWS,
    DEFAULT_GROUPS,
    DEFAULT_WORD_BITS,
    LAYER_KINDS,
    MAX_ACC_BITS,
    MAX_LANES,
    MAX_NEURONS,
    MAX_TIMESTEPS,
    MAX_WORD_BITS,
    NOMINAL_INPUT_RATE,
    PLAN_FORMAT,
    PLAN_VERSION,
    CorePlan,
    DenseLayerPlan,
    HardwarePlan,
    MemoryPlan,
    SynapsePlan,
    accumulator_bits,
    accumulator_range,
    bank_depths,
    check_realizable,
    core_plan,
    default_lanes,
    default_update_units,
    dense_layer_plan,
    network_digest,
    pack_bias_words,
    pack_synapse_words,
    plan_network,
    prediction_bits,
    resolve_lanes,
    synapse_plan,
    synaptic_bits,
    synaptic_range,
)

__all__ = [
    "BANK_WORDS",
    "DEEP_ROWS",
    "DEFAULT_GROUPS",
    "DEFAULT_WORD_BITS",
    "LAYER_KINDS",
    "MAX_ACC_BITS",
    "MAX_LANES",
    "MAX_NEURONS",
    "MAX_TIMESTEPS",
    "MAX_WORD_BITS",
    "NOMINAL_INPUT_RATE",
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "CorePlan",
    "DenseLayerPlan",
    "GeneratedDesign",
    "HardwarePlan",
    "MemoryPlan",
    "SynapsePlan",
    "accumulator_bits",
    "accumulator_range",
    "bank_depths",
    "check_realizable",
    "core_plan",
    "default_lanes",
    "default_update_units",
    "dense_layer_plan",
    "load_design",
    "network_digest",
    "pack_bias_words",
    "pack_synapse_words",
    "plan_network",
    "prediction_bits",
    "resolve_lanes",
    "synapse_plan",
    "synaptic_bits",
    "synaptic_range",
]

from . import conv as _conv  # noqa: F401  (registers the conv2d plan entry)
from .conv import (
    Conv2dLayerPlan,
    PoolPlan,
    conv_layer_plan,
    pack_conv_weight_words,
    pool_plan,
)

__all__ += ["Conv2dLayerPlan", "PoolPlan", "conv_layer_plan", "pack_conv_weight_words",
            "pool_plan"]
