"""Integer export: a fake-quant SpikingMLP -> pysim.IntNetwork, and ``quantize_run``.

The float -> int boundary is crossed in one place, :func:`export`, through
:func:`pysim.to_int_array`, which refuses any value that is not whole or not in range
and names the layer and tensor.

Why the export is exact: in fake-quant mode every layer of
:class:`quant.model.SpikingMLP` computes, in float32, the integer recurrence of
docs/semantics.md ("One step") on whole numbers (weights ``round(clip(W/s))``, bias ``round(b/s)``,
floor-shift leak, clamp, ``u >= θ_int``); all of them stay below 2^24 in magnitude (the
state width is at most 24 bits here, sums of 0/1 inputs times weights are bounded by
``in_features · 2^(bits-1)``), so float32 holds them exactly and each operation's result is
the integer result. The exported constants are those same whole numbers, so the golden
model computes the same spikes. :meth:`SpikingMLP.run_integer` repeats the computation
on int64 tensors and :func:`integer_mode_check` compares it to :func:`pysim.simulate`
on every spike and prediction; :func:`quantize_run` refuses to write a manifest that
fails the check.
"""
from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pysim import (
    STATE_BITS_RANGE,
    WEIGHT_BITS_RANGE,
    IntLayer,
    IntNetwork,
    IntPrecision,
    SpikeData,
    atomic_dir,
    save_network,
    save_spikes,
    simulate,
    to_int_array,
)
from pysim.errors import CheckFailed, InputError
from pysim.util import check_int, is_int

from .config import AllocateConfig, QuantizeConfig
from .model import LayerQuant, SpikingMLP

__all__ = ["MAX_STATE_BITS_FLOAT_EXACT", "QuantizeResult", "check_bits", "export",
           "integer_mode_check", "layer_names", "memory_table", "model_from_network",
           "quantize_run", "resolve_bits"]

MAX_STATE_BITS_FLOAT_EXACT = 24
"""Widest membrane the fake-quant float32 path computes exactly (all values below 2^24)."""
_Q, _A = QuantizeConfig(), AllocateConfig()


def layer_name(i: int) -> str:
    """Manifest name of layer ``i`` (0-based) of a dense network: ``fc1``, ``fc2``, ..."""
    return f"fc{i + 1}"


def layer_names(model: Any) -> list[str]:
    """Manifest names of a model's neuron layers (``fc1``.. dense; ``conv1``, ``fc5``.. of
    a :class:`quant.convnet.SpikingConvNet`)."""
    names = getattr(model, "layer_names", None)
    return list(names) if names else [layer_name(i) for i in range(len(model.linears))]


def export(model: SpikingMLP, bits: Sequence[int] | None = None,
           state_bits: Sequence[int] | None = None, *,
           meta: dict[str, Any] | None = None) -> IntNetwork:
    """Export a fake-quant model as a validated :class:`pysim.IntNetwork`.

    Parameters
    ----------
    model : SpikingMLP in fake-quant mode (after :func:`quant.qat.calibrate`)
    bits, state_bits : optional, checked against the model's quantization when given
    meta : free-form provenance for the manifest

    Raises
    ------
    ValueError
        The model is not in fake-quant mode or the given widths disagree with it.
    pysim.ManifestError
        A value is not whole or out of range (names layer and tensor).
    """
    if model.quant is None:
        raise ValueError("export needs a model in fake-quant mode (quant.qat.calibrate)")
    names = layer_names(model)
    layers = []
    for i, q in enumerate(model.quant):
        name = names[i]
        if bits is not None and int(bits[i]) != q.bits:
            raise ValueError(f"layer {name}: bits {bits[i]} but the model is quantized "
                             f"to {q.bits}")
        if state_bits is not None and int(state_bits[i]) != q.state_bits:
            raise ValueError(f"layer {name}: state_bits {state_bits[i]} but the model "
                             f"clamps at {q.state_bits}")
        if q.state_bits is None:
            raise ValueError(f"layer {name}: no state width chosen")
        w = to_int_array(model.int_weight(i).detach().double().numpy(), IntPrecision(q.bits),
                         f"layer {name!r}: tensor 'weight'")
        b = model.int_bias(i)
        if b is not None:
            b = to_int_array(b.detach().double().numpy(), IntPrecision(q.state_bits),
                             f"layer {name!r}: tensor 'bias'")
        layers.append({"name": name, "weight": w, "weight_bits": q.bits,
                       "state_bits": q.state_bits, "threshold": int(q.threshold),
                       "leak_shift": model.leak_shifts[i], "reset": model.reset, "bias": b})
    if hasattr(model, "spec"):  # a SpikingConvNet: conv2d, sum-pool and dense layers
        return _conv_network(model, layers, meta)
    return IntNetwork(layers=tuple(IntLayer(**d) for d in layers), timesteps=model.timesteps,
                      readout=model.readout, meta=dict(meta or {}))


def _conv_network(model: Any, neuron_layers: list[dict[str, Any]],
                  meta: dict[str, Any] | None) -> IntNetwork:
    """The version 2 network of a fake-quant SpikingConvNet (``neuron_layers``: every
    neuron layer's whole-number constants, in order)."""
    from pysim import Conv2dLayer, SumPool2dLayer

    layers: list[Any] = []
    it = iter(neuron_layers)
    for a in model.spec:
        if a.kind == "sumpool2d":
            layers.append(SumPool2dLayer(name=a.name, in_shape=tuple(a.in_shape),
                                         kernel=a.kernel, stride=a.stride))
        elif a.kind == "conv2d":
            layers.append(Conv2dLayer(in_shape=tuple(a.in_shape), stride=a.stride,
                                      padding=a.padding, **next(it)))
        else:
            layers.append(IntLayer(**next(it)))
    return IntNetwork(layers=tuple(layers), timesteps=model.timesteps, readout=model.readout,
                      meta=dict(meta or {}), input_shape=tuple(model.input_shape))


def model_from_network(net: IntNetwork) -> SpikingMLP:
    """A SpikingMLP in fake-quant mode whose integer constants are exactly ``net``'s.

    Scales are 1, so ``round(clip(W / 1)) = W_int``; used to run a manifest in torch
    integer mode (and in the fake-quant float path) for checks.
    """
    if not net.is_dense:
        return _conv_model_from_network(net)
    resets = {layer.reset.value for layer in net.layers}
    if len(resets) != 1:
        raise InputError("torch integer mode needs one reset mode for all layers, "
                         f"the manifest mixes {sorted(resets)}")
    sizes = [net.input_size] + [layer.out_features for layer in net.layers]
    has_bias = any(layer.has_bias for layer in net.layers)
    model = SpikingMLP(sizes, timesteps=net.timesteps,
                       leak_shift=[layer.leak_shift for layer in net.layers],
                       reset=resets.pop(), readout=net.readout.value, bias=has_bias)
    quant = []
    with torch.no_grad():
        for lin, layer in zip(model.linears, net.layers):
            lin.weight.copy_(torch.from_numpy(layer.weight.astype(np.float32)))
            if lin.bias is not None:
                b = layer.bias if layer.bias is not None else np.zeros(layer.out_features)
                lin.bias.copy_(torch.from_numpy(np.asarray(b, np.float32)))
            quant.append(LayerQuant(bits=layer.weight_bits, scale=1.0,
                                    threshold=layer.threshold, state_bits=layer.state_bits))
    model.set_quant(quant)
    model.eval()
    return model


def _conv_model_from_network(net: IntNetwork) -> Any:
    """:func:`model_from_network` for a version 2 network (conv2d, sum-pool, dense)."""
    from .config import ArchLayer
    from .convnet import SpikingConvNet

    neuron_layers = net.neuron_layers
    resets = {layer.reset.value for layer in neuron_layers}
    if len(resets) != 1:
        raise InputError("torch integer mode needs one reset mode for all layers, "
                         f"the manifest mixes {sorted(resets)}")
    spec = []
    for layer in net.layers:
        kind = layer.kind.value
        if kind == "dense":
            spec.append(ArchLayer(str(layer.out_features), kind, layer.name,
                                  tuple(layer.in_shape), tuple(layer.out_shape),
                                  size=layer.out_features))
        elif kind == "conv2d":
            spec.append(ArchLayer("", kind, layer.name, tuple(layer.in_shape),
                                  tuple(layer.out_shape), size=layer.out_channels,
                                  kernel=layer.kernel, stride=layer.stride,
                                  padding=layer.padding))
        else:
            spec.append(ArchLayer("", kind, layer.name, tuple(layer.in_shape),
                                  tuple(layer.out_shape), kernel=layer.kernel,
                                  stride=layer.stride))
    has_bias = any(layer.has_bias for layer in neuron_layers)
    model = SpikingConvNet(spec, timesteps=net.timesteps,
                           leak_shift=[layer.leak_shift for layer in neuron_layers],
                           reset=resets.pop(), readout=net.readout.value, bias=has_bias)
    quant = []
    with torch.no_grad():
        for mod, layer in zip(model.linears, neuron_layers):
            mod.weight.copy_(torch.from_numpy(layer.weight.astype(np.float32)))
            if mod.bias is not None:
                b = layer.bias if layer.bias is not None else np.zeros(mod.bias.shape[0])
                mod.bias.copy_(torch.from_numpy(np.asarray(b, np.float32)))
            quant.append(LayerQuant(bits=layer.weight_bits, scale=1.0,
                                    threshold=layer.threshold, state_bits=layer.state_bits))
    model.set_quant(quant)
    model.eval()
    return model


def integer_mode_check(run_dir: str | os.PathLike[str] | None, net: IntNetwork,
                       spikes: np.ndarray, *, model: SpikingMLP | None = None
                       ) -> dict[str, Any]:
    """Compare torch integer mode with the golden model on every spike and prediction.

    ``model`` (a fake-quant SpikingMLP) is checked when given, else a model rebuilt from
    ``net`` (:func:`model_from_network`); ``run_dir`` is accepted for the flow's call
    signature and not needed. Also checks the fake-quant float forward's predictions.

    Returns
    -------
    dict with ``mismatches`` (spikes + predictions that differ, 0 when exact),
    ``spike_mismatches``, ``prediction_mismatches``, ``fake_quant_prediction_mismatches``,
    ``samples``, ``spikes_compared``.
    """
    return _check(net, spikes, model)[0]


def _check(net: IntNetwork, spikes: np.ndarray, model: SpikingMLP | None
           ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    if model is None:
        model = model_from_network(net)
    gold = simulate(net, spikes)
    mine = model.run_integer(spikes)
    spike_mis = 0
    compared = 0
    for layer, s in zip(net.neuron_layers, mine.spikes):
        g = gold.spikes[layer.name]
        spike_mis += int(np.count_nonzero(g != s)) if g.shape == s.shape else int(g.size)
        compared += int(g.size)
    pred_mis = int(np.count_nonzero(gold.predictions != mine.predictions))
    from .train import predict

    fq = predict(model, spikes).numpy()
    fq_mis = int(np.count_nonzero(fq != gold.predictions))
    return {"mismatches": spike_mis + pred_mis + fq_mis, "spike_mismatches": spike_mis,
            "prediction_mismatches": pred_mis, "fake_quant_prediction_mismatches": fq_mis,
            "samples": len(spikes), "spikes_compared": compared}, gold.predictions, \
        mine.predictions


def check_bits(bits: Sequence[int] | int, n_layers: int) -> list[int]:
    """Explicit weight widths as a list of ``n_layers`` ints.

    ``bits`` is one width for every layer or one per layer, each in
    :data:`pysim.WEIGHT_BITS_RANGE`. Raises InputError (``param="bits"``) otherwise.
    """
    if is_int(bits):
        bits = [bits]
    if isinstance(bits, (str, bytes)) or not isinstance(bits, Sequence):
        raise InputError(f"must be an integer or a list of integers, not {bits!r}",
                         param="bits")
    widths = [check_int(b, *WEIGHT_BITS_RANGE, "every width", InputError.for_param("bits"))
              for b in bits]
    if len(widths) == 1 and n_layers > 1:
        widths = widths * n_layers
    if len(widths) != n_layers:
        raise InputError(f"{len(widths)} widths given for a network of {n_layers} layers",
                         param="bits")
    return widths


def resolve_bits(run_dir: str | os.PathLike[str], n_layers: int, *,
                 bits: Sequence[int] | int | None = None, avg_bits: float | None = None,
                 budget_bits: int | None = None, n_weights: int | None = None,
                 progress: bool = True, policy: str = QuantizeConfig.policy,
                 budget_bram: int | None = None, target: str | None = None,
                 budget_scope: str = _A.budget_scope, state_policy: str = _A.state_policy
                 ) -> tuple[list[int], dict[str, Any]]:
    """The weight widths to use: explicit ``bits``, else the Hessian allocation for the budget.

    Returns ``(bits, allocation_meta)``. Raises InputError (one line, ``param`` the
    parameter at fault) for bad widths (:func:`check_bits`), more than one or none of
    ``bits``, ``avg_bits``, ``budget_bits``, ``budget_bram``, or a budget below what the
    narrowest widths need. ``policy`` is the allocation's sensitivity source
    (``allocate_for_run``'s ``method``: auto, hutchinson, gauss_newton or measured).

    Cost-aware budgets (``budget_bram`` block RAMs of ``target``, ``budget_scope="all"``,
    or a ``state_policy`` other than "auto"): :func:`quant.allocate.allocate_for_run`
    chooses weight and state widths together; the meta then carries ``state_bits``.
    """
    given = sum(v is not None for v in (bits, avg_bits, budget_bits, budget_bram))
    if given != 1:
        raise InputError("quantize: give exactly one of bits, avg_bits, budget_bits, "
                         "budget_bram")
    if bits is not None:
        widths = check_bits(bits, n_layers)
        return widths, {"kind": "given", "bits": widths}
    if budget_bram is not None or budget_scope != "weights" or state_policy != "auto":
        from .allocate import allocate_for_run

        try:
            alloc = allocate_for_run(run_dir, avg_bits=avg_bits, budget_bits=budget_bits,
                                     method=policy, progress=progress,
                                     budget_bram=budget_bram, target=target or _A.target,
                                     budget_scope=budget_scope, state_policy=state_policy)
        except InputError as exc:
            raise exc.renamed({"method": "policy"}) from None
        return [int(b) for b in alloc.bits], alloc.as_dict()
    if avg_bits is not None and not (math.isfinite(avg_bits) and avg_bits >= 2):
        raise InputError(f"{avg_bits} is below 2 bits per weight, the narrowest width "
                         "(2-bit everywhere needs an average of 2)", param="avg_bits")
    if budget_bits is not None and n_weights is not None and budget_bits < 2 * n_weights:
        raise InputError(f"{budget_bits} is below what 2-bit weights everywhere need "
                         f"({2 * n_weights} bits for {n_weights} weights)", param="budget_bits")
    from .allocate import allocate_for_run

    try:
        alloc = allocate_for_run(run_dir, avg_bits=avg_bits, budget_bits=budget_bits,
                                 method=policy, progress=progress)
    except InputError as exc:  # allocate_for_run's "method" is this function's "policy"
        raise exc.renamed({"method": "policy"}) from None
    return [int(b) for b in alloc.bits], alloc.as_dict()


@dataclass
class QuantizeResult:
    """What :func:`quantize_run` produced."""

    net: IntNetwork
    out_dir: Path
    bits: list[int]
    float_accuracy: float
    ptq_accuracy: float
    qat_accuracy: float
    integer_accuracy: float
    golden_accuracy: float
    check: dict[str, Any]
    seconds: float
    model: SpikingMLP | None = field(default=None, repr=False)
    predictions: np.ndarray | None = field(default=None, repr=False)
    """The golden model's prediction of every test sample (for paired tests)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (memory: weights, membranes, per layer and in total)."""
        net = self.net
        return {"out_dir": str(self.out_dir), "bits": self.bits,
                "float_accuracy": self.float_accuracy, "ptq_accuracy": self.ptq_accuracy,
                "qat_accuracy": self.qat_accuracy, "integer_accuracy": self.integer_accuracy,
                "golden_accuracy": self.golden_accuracy,
                "weight_memory_bits": net.weight_memory_bits,
                "percent_of_float32": 100.0 * net.weight_memory_bits / (32 * net.n_weights),
                "membrane_memory_bits": net.membrane_memory_bits,
                "total_memory_bits": net.weight_memory_bits + net.membrane_memory_bits,
                "state_bits": [layer.state_bits for layer in net.neuron_layers],
                "layers": memory_table(net),
                "mismatches": self.check["mismatches"], "seconds": self.seconds}


def memory_table(net: IntNetwork) -> list[dict[str, Any]]:
    """Per neuron layer: name, kind, weights, weight bits, neurons, membrane bits.

    A conv2d layer holds one membrane per output position, so its ``membrane_bits``
    (neurons · state_bits) can rival its ``weight_memory_bits`` (O·C·KH·KW · bits).
    """
    return [{"name": layer.name, "kind": layer.kind.value, "n_weights": layer.n_weights,
             "weight_bits": layer.weight_bits, "weight_memory_bits": layer.weight_memory_bits,
             "n_neurons": layer.n_neurons, "state_bits": layer.state_bits,
             "membrane_memory_bits": layer.membrane_memory_bits}
            for layer in net.neuron_layers]


def quantize_run(run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                 bits: Sequence[int] | int | None = None, avg_bits: float | None = None,
                 budget_bits: int | None = None, epochs: int = _Q.epochs, lr: float = _Q.lr,
                 method: str = _Q.method, headroom: int = _Q.headroom,
                 state_bits: Sequence[int | None] | int | None = None,
                 calib_samples: int = _Q.calib_samples, progress: bool = True,
                 write: bool = True, policy: str = _Q.policy,
                 budget_bram: int | None = None, target: str | None = None,
                 budget_scope: str = _A.budget_scope,
                 state_policy: str = _A.state_policy) -> QuantizeResult:
    """Quantize a trained run: allocate, calibrate, QAT, export, check, write.

    Steps: widths (explicit, or the Hessian-aware allocation for the budget); per-layer scales
    (``method``, snapped so thresholds are whole) and state widths from the accumulator
    range over ``calib_samples`` training samples (+``headroom`` bits); ``epochs`` of QAT
    (STE, clamp at the state width); export to integers; torch integer mode and the
    golden model on the whole encoded test set (must agree on every spike and
    prediction, else :class:`pysim.CheckFailed`); write ``out_dir`` atomically: the
    manifest (``network.json``, ``weights.npz``) and ``test_spikes.npz``. ``policy``: the
    allocation's sensitivity source for a budget (:func:`resolve_bits`); ``budget_bram``
    (block RAMs of ``target``), ``budget_scope`` and ``state_policy`` make the budget
    cost-aware (weight and state widths chosen together by
    :func:`quant.allocate.allocate_for_run`; its state widths are used unless
    ``state_bits`` is given).

    Defaults: :class:`quant.config.QuantizeConfig`. ``bits`` is one width for all layers
    or one per layer; ``state_bits`` forces membrane widths (one for all layers or one
    per layer, None entries measured), each in 2..24.

    Raises
    ------
    InputError
        Missing run, bad widths or budget (one line; ``param`` names the parameter).
    CheckFailed
        Integer mode and golden model disagree (nothing is written).
    """
    from .qat import calibrate, qat_finetune
    from .train import evaluate, load_run

    if not is_int(epochs) or epochs < 0:
        raise InputError(f"must be an integer >= 0, not {epochs!r}", param="epochs")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (
            math.isfinite(lr) and lr > 0):
        raise InputError(f"must be a positive number, not {lr!r}", param="lr")
    check_int(headroom, 0, STATE_BITS_RANGE[1], "headroom", InputError.for_param("headroom"))
    check_int(calib_samples, 1, 1 << 40, "calib_samples", InputError.for_param("calib_samples"))
    _check_state_bits(state_bits)
    from .allocate import BUDGET_SCOPES, METHODS, STATE_POLICIES

    # (checked even when fixed bits make them moot, so a typo never passes silently)
    for name, value, choices in (("policy", policy, METHODS),
                                 ("state_policy", state_policy, STATE_POLICIES),
                                 ("budget_scope", budget_scope, BUDGET_SCOPES)):
        if value not in choices:
            raise InputError(f"must be one of {', '.join(choices)}, not {value!r}", param=name)
    t0 = time.perf_counter()
    run = load_run(run_dir)
    model = run.model
    if model.neuron != "lif":
        raise InputError(f"{run_dir}: only simplified-LIF runs can be quantized")
    n_layers = len(model.linears)
    n_weights = sum(lin.weight.numel() for lin in model.linears)
    names = layer_names(model)
    bits_list, alloc_meta = resolve_bits(run_dir, n_layers, bits=bits, avg_bits=avg_bits,
                                         budget_bits=budget_bits, n_weights=n_weights,
                                         progress=progress, policy=policy,
                                         budget_bram=budget_bram, target=target,
                                         budget_scope=budget_scope,
                                         state_policy=state_policy)
    chosen = alloc_meta.get("state_bits")
    if state_bits is None and chosen and all(chosen):
        state_bits = [int(v) for v in chosen]
    cfg = run.cfg
    from .train import _set_threads

    _set_threads(cfg.threads, model=model)
    test_x, test_y = run.test_spikes()
    float_acc = evaluate(model, test_x, test_y)
    calib_x, _ = run.train_spikes(calib_samples)
    torch.manual_seed(cfg.seed)
    quant, choices = calibrate(model, bits_list, calib_x, method=method, headroom=headroom,
                               state_bits=state_bits)
    for q in quant:
        if q.state_bits > MAX_STATE_BITS_FLOAT_EXACT:
            raise InputError(f"state width {q.state_bits} exceeds {MAX_STATE_BITS_FLOAT_EXACT} "
                             "bits (fake-quant float32 would not be exact)")
    ptq_acc = evaluate(model, test_x, test_y)
    qat = qat_finetune(model, lambda e: run.train_batches(1000 + e), epochs=epochs, lr=lr,
                       progress=progress)
    # no fine-tuning leaves the model as it was: its accuracy is the PTQ accuracy
    qat_acc = ptq_acc if epochs == 0 else evaluate(model, test_x, test_y)
    meta: dict[str, Any] = {
        "generator": "spikeforge quantize",
        "run": Path(run_dir).name,
        "dataset": cfg.dataset,
        "arch": cfg.arch,
        "encoding": {"method": cfg.encoding, "timesteps": cfg.timesteps, "seed": cfg.seed,
                     "gain": cfg.gain},
        "float_accuracy": float_acc,
        "ptq_accuracy": ptq_acc,
        "qat_accuracy": qat_acc,
        "qat_epochs": epochs,
        "qat_lr": lr,
        "quantizer": method,
        "allocation": alloc_meta,
        "scales": [q.scale for q in quant],
        "clips": [q.clip for q in quant],
        "float_threshold": model.threshold,
        "state_width": [c.as_dict() for c in choices],
        "leak": [{"layer": names[i], "leak_shift": k,
                  "reason": "kept from training (the float model was trained with "
                            f"alpha = 1 - 2^-{k})" if k is not None else "no leak in training"}
                 for i, k in enumerate(model.leak_shifts)],
        "qat_history": qat.history,
        "n_test": len(test_y),
    }
    traces = _read_traces(Path(run_dir))
    if traces is not None:
        meta["hessian"] = traces
    net = export(model, meta=meta)
    check, preds, int_preds = _check(net, test_x, model)
    int_acc = float(np.mean(int_preds == test_y))
    gold_acc = float(np.mean(preds == test_y))
    if check["mismatches"]:
        raise CheckFailed(f"torch integer mode differs from the golden model on "
                          f"{check['spike_mismatches']} spikes, "
                          f"{check['prediction_mismatches']} predictions")
    meta.update({"quantized_accuracy": gold_acc, "integer_mode_accuracy": int_acc,
                 "golden_accuracy": gold_acc, "integer_check": check})
    net = net.replace(meta=meta)
    out = Path(out_dir)
    if write:
        with atomic_dir(out) as tmp:
            save_network(net, tmp)
            save_spikes(tmp / "test_spikes.npz", SpikeData(test_x, test_y))
    return QuantizeResult(net=net, out_dir=out, bits=bits_list, float_accuracy=float_acc,
                          ptq_accuracy=ptq_acc, qat_accuracy=qat_acc, integer_accuracy=int_acc,
                          golden_accuracy=gold_acc, check=check,
                          seconds=time.perf_counter() - t0, model=model, predictions=preds)


def _check_state_bits(state_bits: Sequence[int | None] | int | None) -> None:
    values = state_bits if isinstance(state_bits, (list, tuple)) else [state_bits]
    for v in values:
        if v is not None:
            check_int(v, STATE_BITS_RANGE[0], MAX_STATE_BITS_FLOAT_EXACT, "every state width",
                      InputError.for_param("state_bits"))


def _read_traces(run_dir: Path) -> dict[str, Any] | None:
    for p in (run_dir / "hessian.json", run_dir.parent / "hessian.json"):
        if p.is_file():
            try:
                return json.loads(p.read_text(encoding="utf-8"))
            except ValueError:
                return None
    return None
