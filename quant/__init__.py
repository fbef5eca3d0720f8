"""quant: the PyTorch frontend, from a dataset to a verified integer network.

It trains dense and convolutional spiking networks, measures how sensitive each layer is to quantization,
chooses per-layer weight widths under a memory budget, fine-tunes with fake
quantization and exports the integer network the golden model (:mod:`pysim`) and the
hardware (:mod:`hdl`) run. Submodules:

* :mod:`quant.data`, :mod:`quant.mnist` — datasets (scikit-learn digits, MNIST from
  IDX files or the fetch cache) as float pixels in [0, 1];
* :mod:`quant.encoding` — rate (Bernoulli) and deterministic spike codes, and spike
  files (docs/data.md);
* :mod:`quant.neurons`, :mod:`quant.model` — the simplified LIF neuron and
  :class:`SpikingMLP` in float, fake-quant and integer mode (docs/semantics.md);
* :mod:`quant.convnet` — :class:`SpikingConvNet`, conv2d + sum-pool + dense layers with
  the same modes and interface (architectures: :func:`quant.config.network_arch`);
* :mod:`quant.train` — BPTT training with surrogate gradients, run directories;
* :mod:`quant.hessian` — per-layer Hessian traces (Hutchinson, Gauss-Newton);
* :mod:`quant.allocate` — the sensitivity table Ω and the exact MILP bit allocation;
* :mod:`quant.qat` — the weight quantizer, calibration (scales, thresholds, state
  widths) and quantization-aware fine-tuning;
* :mod:`quant.export` — export to :class:`pysim.IntNetwork`, the torch-vs-golden check
  and :func:`quantize_run`, the whole quantization of a run;
* :mod:`quant.stats` — the paired McNemar test;
* :mod:`quant.config` — every default above, importable without torch.

The names below are loaded on first use: ``import quant`` imports neither torch nor
any submodule, because the command line imports :mod:`quant.config` (for its
``--help`` defaults) on every call, including ``spikeforge check``, and importing torch
takes over a second. The functions ``quant.train.train``, ``quant.export.export`` and
``quant.allocate.allocate`` share their module's name and are used from their module.

Errors: bad input raises :class:`pysim.errors.InputError` naming the library's own
parameter (``param="bits"``); the CLI and the flow show it as their option or config key.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> submodule that defines it
_EXPORTS = {
    "AllocateConfig": "config",
    "HessianConfig": "config",
    "QuantizeConfig": "config",
    "TrainConfig": "config",
    "parse_arch": "config",
    "network_arch": "config",
    "SpikingConvNet": "convnet",
    "Dataset": "data",
    "load_dataset": "data",
    "fetch_mnist": "mnist",
    "encode": "encoding",
    "encode_dataset": "encoding",
    "iter_encoded": "encoding",
    "save_encoded": "encoding",
    "SimplifiedLIF": "neurons",
    "LayerQuant": "model",
    "SpikingMLP": "model",
    "Run": "train",
    "TrainResult": "train",
    "evaluate": "train",
    "load_run": "train",
    "loss_fn": "train",
    "predict": "train",
    "TraceEstimate": "hessian",
    "layer_traces": "hessian",
    "load_traces": "hessian",
    "traces_for_run": "hessian",
    "Allocation": "allocate",
    "allocate_for_run": "allocate",
    "budget_from_avg_bits": "allocate",
    "choose_traces": "allocate",
    "sensitivity_table": "allocate",
    "calibrate": "qat",
    "qat_finetune": "qat",
    "quantize_weight": "qat",
    "QuantizeResult": "export",
    "integer_mode_check": "export",
    "model_from_network": "export",
    "quantize_run": "export",
    "mcnemar": "stats",
}

__all__ = [
    "AllocateConfig",
    "Allocation",
    "Dataset",
    "HessianConfig",
    "LayerQuant",
    "QuantizeConfig",
    "QuantizeResult",
    "Run",
    "SimplifiedLIF",
    "SpikingConvNet",
    "SpikingMLP",
    "TraceEstimate",
    "TrainConfig",
    "TrainResult",
    "allocate_for_run",
    "budget_from_avg_bits",
    "calibrate",
    "choose_traces",
    "encode",
    "encode_dataset",
    "evaluate",
    "fetch_mnist",
    "integer_mode_check",
    "iter_encoded",
    "layer_traces",
    "load_dataset",
    "load_run",
    "load_traces",
    "loss_fn",
    "mcnemar",
    "model_from_network",
    "network_arch",
    "parse_arch",
    "predict",
    "qat_finetune",
    "quantize_run",
    "quantize_weight",
    "save_encoded",
    "sensitivity_table",
    "traces_for_run",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .allocate import (
        Allocation,
        allocate_for_run,
        budget_from_avg_bits,
        choose_traces,
        sensitivity_table,
    )
    from .config import (
        AllocateConfig,
        HessianConfig,
        QuantizeConfig,
        TrainConfig,
        network_arch,
        parse_arch,
    )
    from .convnet import SpikingConvNet
    from .data import Dataset, load_dataset
    from .encoding import encode, encode_dataset, iter_encoded, save_encoded
    from .export import QuantizeResult, integer_mode_check, model_from_network, quantize_run
    from .hessian import TraceEstimate, layer_traces, load_traces, traces_for_run
    from .mnist import fetch_mnist
    from .model import LayerQuant, SpikingMLP
    from .neurons import SimplifiedLIF
    from .qat import calibrate, qat_finetune, quantize_weight
    from .stats import mcnemar
    from .train import Run, TrainResult, evaluate, load_run, loss_fn, predict
