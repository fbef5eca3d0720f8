"""``spikeforge import``: a NIR graph to a bit-exact integer network.

Two paths (docs/interop.md):

* **exact restore** — a graph written by ``spikeforge export`` carries every integer
  field in its metadata; :func:`import_nir` rebuilds that network exactly
  (:func:`quant.nir_io.restore_network`), no float model involved;
* **quantization** — any other graph is mapped onto float layers
  (:func:`quant.nir_io.parse_graph`), run by the float model (dense graphs: the
  frontend's :class:`quant.model.SpikingMLP`, :func:`spiking_mlp`; every graph:
  :func:`float_run`, float64 torch, dense and conv2d/sum-pool) and quantized layer by
  layer:

  - weight widths: ``weight_bits`` (one, or one per neuron layer), or ``avg_bits`` through
    the MILP of :mod:`quant.allocate` with Hessian (Gauss-Newton) traces when labelled
    ``data`` is given for a dense graph, else the data-free sensitivity
    ``Ω_l(b) = ||Q_b(W_l) − W_l||² / θ_l²`` (weight error in units of the threshold);
  - scale ``s`` per layer from the weights (:func:`quant.qat.layer_scale`, ``mse``),
    snapped so that ``θ/s`` is the whole integer threshold ``θ_int``; ``W_int =
    clip(round(W/s))``, ``b_int = round(b/s)``; with ``calibration`` spikes the scale is
    searched over clip factors, keeping the one whose integer spikes agree best with the
    float model's;
  - leak ``α = 1 − dt/τ`` to the shift ``k`` nearest on ``1 − 2^-k`` (error reported);
  - state width: the widest membrane the integer network reaches on the calibration
    spikes (without them: 128 synthetic Bernoulli(0.2) samples), plus ``headroom`` bits.
"""
from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pysim import (
    STATE_BITS_RANGE,
    WEIGHT_BITS_RANGE,
    Conv2dLayer,
    IntLayer,
    IntNetwork,
    SumPool2dLayer,
    load_spikes,
    random_spikes,
    simulate,
)
from pysim.errors import InputError, ManifestError
from pysim.util import check_int, is_int

from .nir_io import (
    FloatGraph,
    FloatLayer,
    leak_shift_for,
    parse_graph,
    read_graph,
    restore_network,
    spikeforge_header,
)

__all__ = ["CLIP_FACTORS", "ImportResult", "float_run", "import_nir", "quantize_graph",
           "spiking_mlp"]

CLIP_FACTORS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)
"""Scale candidates (times the ``mse`` scale) searched with calibration data."""
SYNTHETIC_SAMPLES = 128
SYNTHETIC_RATE = 0.2
SEARCH_SAMPLES = 256


@dataclass
class ImportResult:
    """What :func:`import_nir` produced."""

    net: IntNetwork
    exact: bool
    """True when the network was restored from spikeforge metadata (no quantization)."""
    report: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"exact_restore": self.exact, "layers": len(self.net.layers),
                "timesteps": self.net.timesteps, "readout": self.net.readout.value,
                "weight_memory_bits": self.net.weight_memory_bits, "seconds": self.seconds,
                **self.report}


# ----------------------------------------------------------------------------- float model
def float_run(fg: FloatGraph, spikes: np.ndarray, *, layers: Sequence[FloatLayer] | None = None
              ) -> tuple[list[np.ndarray], np.ndarray]:
    """Run the float model of ``fg`` (float64) on ``spikes`` (N, T, input_size).

    Returns every neuron layer's spikes (N, T, outputs, uint8) and the predictions.
    ``U[t] = α·R[t] + W·x[t] + b``, ``S[t] = U[t] >= θ``; ``R`` by ``fg.reset``; a
    non-firing last layer is scored by its final membrane.
    """
    import torch
    import torch.nn.functional as F

    layers = list(fg.layers if layers is None else layers)
    x = torch.as_tensor(np.asarray(spikes), dtype=torch.float64)
    N, T = x.shape[0], x.shape[1]
    h = x.reshape(N, T, *fg.input_shape)
    out: list[np.ndarray] = []
    u = None
    with torch.no_grad():
        for layer in layers:
            if layer.kind == "sumpool2d":
                C, H, W = h.shape[2:]
                kh, kw = layer.kernel
                p = F.avg_pool2d(h.reshape(N * T, C, H, W), layer.kernel, layer.stride)
                h = (p * (kh * kw)).round().reshape(N, T, *layer.out_shape)
                continue
            w = torch.as_tensor(layer.weight, dtype=torch.float64)
            b = None if layer.bias is None else torch.as_tensor(layer.bias, dtype=torch.float64)
            if layer.kind == "dense":
                cur = h.reshape(N, T, -1) @ w.t()
                if b is not None:
                    cur = cur + b
            else:
                C, H, W = h.shape[2:]
                cur = F.conv2d(h.reshape(N * T, C, H, W), w, b, stride=layer.stride,
                               padding=layer.padding).reshape(N, T, *layer.out_shape)
            cur = cur.reshape(N, T, -1)
            u = torch.zeros(N, cur.shape[2], dtype=torch.float64)
            s = torch.zeros_like(u)
            ss = []
            for t in range(T):
                if not layer.fires:
                    r = u
                elif fg.reset == "zero":
                    r = u * (1 - s)
                else:
                    r = u - layer.threshold * s
                u = layer.alpha * r + cur[:, t]
                s = (u >= layer.threshold).to(torch.float64) if layer.fires else torch.zeros_like(u)
                ss.append(s)
            h = torch.stack(ss, dim=1).reshape(N, T, *layer.out_shape)
            out.append(h.reshape(N, T, -1).to(torch.uint8).numpy())
        last = layers[-1]
        score = (torch.as_tensor(out[-1]).sum(dim=1) if last.fires else u)
        preds = torch.argmax(score.to(torch.float64), dim=1).numpy().astype(np.int64)
    return out, preds


def spiking_mlp(fg: FloatGraph, timesteps: int):
    """The frontend's float model (:class:`quant.model.SpikingMLP`) of a dense graph.

    Per layer the neuron keeps its exact ``α`` (not rounded to a shift) and threshold; the
    model runs (and differentiates, for Hessian traces) the graph's float dynamics.
    """
    import torch

    from .model import SpikingMLP

    if not fg.is_dense:
        raise InputError("the frontend's float model (SpikingMLP) is dense only: this graph "
                         "has conv2d/sum-pool layers")
    sizes = [int(np.prod(fg.input_shape))] + [layer.out_shape[0] for layer in fg.layers]
    has_bias = any(layer.bias is not None for layer in fg.layers)
    ks = [leak_shift_for(layer.alpha)[0] for layer in fg.layers]
    model = SpikingMLP(sizes, timesteps=timesteps, leak_shift=ks, reset=fg.reset,
                       readout=fg.readout, bias=has_bias)
    with torch.no_grad():
        for lin, neu, layer in zip(model.linears, model.neurons, fg.layers):
            lin.weight.copy_(torch.as_tensor(layer.weight, dtype=torch.float32))
            if lin.bias is not None:
                b = layer.bias if layer.bias is not None else np.zeros(layer.out_shape[0])
                lin.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
            neu.alpha = float(layer.alpha)  # the graph's exact leak, not 1 - 2^-k
            neu.threshold = float(layer.threshold)
    model.eval()
    return model


# ----------------------------------------------------------------------------- quantize
def _names(fg: FloatGraph) -> list[str]:
    """Manifest names: the NIR node names where they are Verilog identifiers, else
    ``fc<i>``/``conv<i>``/``pool<i>``."""
    from pysim.network import _check_name

    names, seen = [], set()
    for i, layer in enumerate(fg.layers):
        prefix = {"dense": "fc", "conv2d": "conv", "sumpool2d": "pool"}[layer.kind]
        cand = layer.name
        try:
            _check_name(cand)
            ok = cand not in seen
        except ManifestError:
            ok = False
        name = cand if ok else f"{prefix}{i + 1}"
        while name in seen:
            name += "_"
        seen.add(name)
        names.append(name)
    return names


_WIDEST = (1 << (STATE_BITS_RANGE[1] - 1)) - 1
"""The largest threshold the widest membrane holds (2^31 - 1)."""


def _never_fires(fg: FloatGraph, layer: FloatLayer, steps: int) -> None:
    """Raise InputError: a firing layer's threshold is beyond the widest membrane (it was
    clamped to 2^31 - 1, so the integer network could never reach it)."""
    at = f"{fg.where}: " if fg.where else ""
    raise InputError(f"{at}node {layer.neuron!r} ({layer.neuron_type}): v_threshold "
                     f"{layer.threshold:g} is {steps:.3g} weight steps, beyond the widest "
                     f"membrane ({STATE_BITS_RANGE[1]} bits, at most {_WIDEST}): it could "
                     "never fire (end the graph with an LI node for a membrane readout)")


def _int_layers(fg: FloatGraph, names: list[str], bits: list[int], scales: list[float],
                state_bits: list[int], leaks: list[int | None]) -> list[Any]:
    out, ni = [], 0
    for name, layer in zip(names, fg.layers):
        if layer.kind == "sumpool2d":
            out.append(SumPool2dLayer(name=name, in_shape=layer.in_shape, kernel=layer.kernel,
                                      stride=layer.stride))
            continue
        b, s, sb = bits[ni], scales[ni], state_bits[ni]
        lo, hi = -(1 << (b - 1)), (1 << (b - 1)) - 1
        w = np.clip(np.round(layer.weight / s), lo, hi).astype(np.int64)
        th = max(1, round(layer.threshold / s))
        if layer.fires and th > _WIDEST:
            _never_fires(fg, layer, th)
        lim = (1 << (sb - 1)) - 1
        th = min(th, lim)
        bias = None
        if layer.bias is not None:
            bias = np.clip(np.round(layer.bias / s), -lim - 1, lim).astype(np.int64)
        k = leaks[ni]
        if k is not None:
            k = min(k, sb - 1)
        common = {"name": name, "weight": w, "weight_bits": b, "state_bits": sb,
                  "threshold": th, "leak_shift": k, "reset": fg.reset, "bias": bias}
        if layer.kind == "dense":
            out.append(IntLayer(**common))
        else:
            out.append(Conv2dLayer(in_shape=layer.in_shape, stride=layer.stride,
                                   padding=layer.padding, **common))
        ni += 1
    return out


def _layer_scale(layer: FloatLayer, bits: int, method: str, factor: float = 1.0) -> float:
    from .qat import choose_scale

    s0 = choose_scale(layer.weight, bits, method) * factor
    th_int = max(1, round(layer.threshold / s0))
    return layer.threshold / th_int


def _agreement(a: list[np.ndarray], b: list[np.ndarray]) -> list[float]:
    return [float(np.mean(x == y)) for x, y in zip(a, b)]


def quantize_graph(fg: FloatGraph, *, timesteps: int, bits: Sequence[int],
                   state_bits: Sequence[int | None] | None = None,
                   calibration: np.ndarray | None = None, headroom: int = 1,
                   method: str = "mse", progress: bool = False
                   ) -> tuple[IntNetwork, dict[str, Any]]:
    """Quantize a parsed graph to an :class:`IntNetwork` (see the module docstring).

    Returns the network and a report (per layer: scale, threshold, leak mapping, state
    width and why; with calibration, the float-vs-integer spike agreement per layer).
    """
    nl = fg.neuron_layers
    names = _names(fg)
    leaks, leak_rep = [], []
    neuron_names = [n for n, layer in zip(names, fg.layers) if layer.has_neurons]
    for name, layer in zip(neuron_names, nl):
        k, err = leak_shift_for(layer.alpha)
        leaks.append(k)
        leak_rep.append({"layer": name, "node": layer.neuron, "type": layer.neuron_type,
                         "alpha": layer.alpha, "leak_shift": k,
                         "alpha_int": 1.0 if k is None else 1.0 - 2.0 ** -k,
                         "alpha_error": err})
    if calibration is not None:
        calib = np.asarray(calibration)
        search = calib[:SEARCH_SAMPLES]
        source = f"{len(calib)} calibration samples"
    else:
        calib = random_spikes(np.random.default_rng(0), SYNTHETIC_SAMPLES, timesteps,
                              int(np.prod(fg.input_shape)), SYNTHETIC_RATE)
        search = None
        source = (f"{SYNTHETIC_SAMPLES} synthetic Bernoulli({SYNTHETIC_RATE}) samples "
                  "(no calibration data)")
    scales = [_layer_scale(layer, b, method) for layer, b in zip(nl, bits)]
    factors = [1.0] * len(nl)
    wide = [STATE_BITS_RANGE[1]] * len(nl)
    float_spikes = None
    if search is not None:
        float_spikes, _ = float_run(fg, search)
        # greedy, layer by layer: each layer's clip factor maximizes the agreement of its
        # integer spikes with the float model's, the layers before it already chosen
        for i, (layer, b) in enumerate(zip(nl, bits)):
            best = (-1.0, 1.0, scales[i])
            for f in CLIP_FACTORS:
                s = _layer_scale(layer, b, method, f)
                trial = scales[:i] + [s] + scales[i + 1:]
                net = _network(fg, names, timesteps, bits, trial, wide, leaks)
                res = simulate(net, search)
                agree = float(np.mean(res.spikes[neuron_names[i]] == float_spikes[i]))
                if agree > best[0] + 1e-12:
                    best = (agree, f, s)
            factors[i], scales[i] = best[1], best[2]
            if progress:
                print(f"import: {neuron_names[i]}: clip factor {best[1]:g} (spike agreement "
                      f"{100 * best[0]:.2f}%)", file=sys.stderr)
    # state widths from the widest membrane the integer network reaches
    from .qat import state_bits_for

    forced = list(state_bits) if state_bits is not None else [None] * len(nl)
    net = _network(fg, names, timesteps, bits, scales, wide, leaks)
    res = simulate(net, calib, trace=True)
    widths, why = [], []
    for i, (name, layer) in enumerate(zip(neuron_names, net.neuron_layers)):
        m = res.membranes[name]
        peak = int(max(abs(int(m.min())), abs(int(m.max())), layer.threshold,
                       0 if layer.bias is None else int(np.abs(layer.bias).max())))
        if forced[i] is not None:
            sb = int(forced[i])
            reason = "given"
        else:
            sb = state_bits_for(peak, headroom)
            reason = (f"membrane range [{int(m.min())}, {int(m.max())}] over {source}, "
                      f"threshold {layer.threshold}: peak {peak} needs "
                      f"{state_bits_for(peak, 0)} signed bits, +{headroom} headroom")
        if (1 << (sb - 1)) - 1 < layer.threshold:
            raise InputError(f"layer {name}: state width {sb} cannot hold the threshold "
                             f"{layer.threshold}", param="state_bits")
        widths.append(sb)
        why.append({"layer": name, "state_bits": sb, "reason": reason})
    net = _network(fg, names, timesteps, bits, scales, widths, leaks)
    layers_rep = []
    for i, (name, layer, il) in enumerate(zip(neuron_names, nl, net.neuron_layers)):
        layers_rep.append({"layer": name, "node": layer.name, "neuron": layer.neuron,
                           "kind": layer.kind, "weight_bits": il.weight_bits,
                           "scale": scales[i], "clip_factor": factors[i],
                           "threshold_float": layer.threshold, "threshold": il.threshold,
                           "input_gain": layer.gain, "state_bits": il.state_bits,
                           "leak_shift": il.leak_shift})
    report: dict[str, Any] = {"layers_mapped": layers_rep, "leak": leak_rep,
                              "state_width": why, "reset": fg.reset, "readout": fg.readout,
                              "dt": fg.dt, "dt_source": fg.dt_source, "notes": fg.notes}
    return net, report


def _network(fg: FloatGraph, names: list[str], timesteps: int, bits: Sequence[int],
             scales: Sequence[float], state_bits: Sequence[int], leaks: Sequence[int | None],
             meta: dict[str, Any] | None = None) -> IntNetwork:
    layers = _int_layers(fg, names, list(bits), list(scales), list(state_bits), list(leaks))
    return IntNetwork(layers=tuple(layers), timesteps=timesteps, readout=fg.readout,
                      meta=meta or {}, input_shape=tuple(fg.input_shape))


def _check_bits(bits: Sequence[int] | int, n: int) -> list[int]:
    if is_int(bits):
        bits = [bits]
    widths = [check_int(b, *WEIGHT_BITS_RANGE, "every width", InputError.for_param("weight_bits"))
              for b in bits]
    if len(widths) == 1:
        widths = widths * n
    if len(widths) != n:
        raise InputError(f"{len(widths)} widths given for a graph of {n} neuron layers",
                         param="weight_bits")
    return widths


def allocate_bits(fg: FloatGraph, avg_bits: float, *, data: tuple[np.ndarray, np.ndarray] | None
                  = None, timesteps: int | None = None, progress: bool = False
                  ) -> tuple[list[int], dict[str, Any]]:
    """Per-layer widths for an average of ``avg_bits`` per weight (the MILP).

    Sensitivity: Gauss-Newton Hessian traces of the float model on labelled ``data``
    (dense graphs), else the data-free ``Ω_l(b) = ||Q_b(W_l) − W_l||² / θ_l²``.
    """
    from .allocate import allocate, budget_from_avg_bits, sensitivity_table

    if not (math.isfinite(avg_bits) and avg_bits >= 2):
        raise InputError(f"{avg_bits} is below 2 bits per weight, the narrowest width",
                         param="avg_bits")
    nl = fg.neuron_layers
    weights = [layer.weight for layer in nl]
    n_params = [w.size for w in weights]
    meta: dict[str, Any] = {}
    if data is not None and fg.is_dense:
        import torch

        from .hessian import layer_traces

        x, y = data
        model = spiking_mlp(fg, timesteps or x.shape[1])
        xs = torch.as_tensor(np.asarray(x[:256]), dtype=torch.float32)
        ys = torch.as_tensor(np.asarray(y[:256]), dtype=torch.long)
        batches = [(xs[i:i + 64], ys[i:i + 64]) for i in range(0, len(xs), 64)]
        est = layer_traces(model, batches, method="gauss_newton", max_probes=32, min_probes=8,
                           progress=progress)
        traces = [max(0.0, float(t.trace)) for t in est]
        meta = {"sensitivity": "gauss_newton", "traces": traces, "samples": len(xs)}
    else:
        traces = [w.size / layer.threshold ** 2 for w, layer in zip(weights, nl)]
        why = ("no labelled data" if data is None else
               "Hessian traces need the dense float model (this graph has conv layers)")
        meta = {"sensitivity": "data_free", "reason": why,
                "formula": "omega_l(b) = ||Q_b(W_l) - W_l||^2 / theta_l^2"}
    omega = sensitivity_table(weights, traces)
    alloc = allocate(omega, n_params, budget_bits=budget_from_avg_bits(avg_bits, n_params),
                     meta=meta)
    return [int(b) for b in alloc.bits], alloc.as_dict()


def _load_labelled(path: str | os.PathLike[str], what: str) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        d = load_spikes(path)
    except ManifestError as exc:
        raise InputError(str(exc), param=what) from None
    if not len(d.spikes):
        raise InputError(f"{path}: holds no samples (N = 0)", param=what)
    return d.spikes, d.labels


def import_nir(path: str | os.PathLike[str], *, timesteps: int | None = None,
               weight_bits: Sequence[int] | int | None = None, avg_bits: float | None = None,
               state_bits: Sequence[int | None] | int | None = None,
               calibration: str | os.PathLike[str] | None = None,
               data: str | os.PathLike[str] | None = None, dt: float | None = None,
               reset: str | None = None, requantize: bool = False, headroom: int = 1,
               method: str = "mse", progress: bool = False) -> ImportResult:
    """Read a NIR file and return the integer network (nothing is written).

    A graph from ``spikeforge export`` is restored exactly unless ``requantize``
    (``timesteps`` may still override its T). Otherwise the graph is quantized
    (:func:`quantize_graph`): ``weight_bits`` (default 8) or ``avg_bits``; ``timesteps``
    is required unless ``calibration`` spikes give it.

    Raises
    ------
    InputError
        One line naming the file, the node or the parameter.
    """
    t0 = time.perf_counter()
    where = str(path)
    graph = read_graph(path)
    header = None if requantize else spikeforge_header(graph)
    if weight_bits is not None and avg_bits is not None:
        raise InputError("give weight_bits or avg_bits, not both")
    check_int(headroom, 0, STATE_BITS_RANGE[1], "headroom", InputError.for_param("headroom"))
    if header is not None:
        net = restore_network(graph, header, where)
        if timesteps is not None:
            check_int(timesteps, 1, 1 << 20, "timesteps", InputError.for_param("timesteps"))
            net = net.replace(timesteps=int(timesteps))
        return ImportResult(net=net, exact=True, report={"source": "spikeforge metadata"},
                            seconds=time.perf_counter() - t0)
    fg = parse_graph(graph, dt=dt, reset=reset, where=where)
    calib_x = calib_y = None
    if calibration is not None:
        calib_x, calib_y = _load_labelled(calibration, "calibration")
    labelled = None
    if data is not None:
        dx, dy = _load_labelled(data, "data")
        if dy is None:
            raise InputError(f"{data}: has no labels (Hessian traces need labelled data)",
                             param="data")
        labelled = (dx, dy)
    n_in = int(np.prod(fg.input_shape))
    for arr, what in ((calib_x, "calibration"), (None if labelled is None else labelled[0], "data")):
        if arr is not None and (arr.ndim != 3 or arr.shape[2] != n_in):
            raise InputError(f"spikes have shape {list(arr.shape)}, the graph's input needs "
                             f"(N, T, {n_in})", param=what)
    n_out = int(np.prod(fg.layers[-1].out_shape))
    for lab, what, src in ((calib_y, "calibration", calibration),
                           (None if labelled is None else labelled[1], "data", data)):
        if lab is not None and (lab.min() < 0 or lab.max() >= n_out):
            bad = int(lab.min()) if lab.min() < 0 else int(lab.max())
            raise InputError(f"{src}: label {bad} is outside 0..{n_out - 1} (the graph has "
                             f"{n_out} outputs)", param=what)
    if timesteps is None:
        if calib_x is not None:
            timesteps = int(calib_x.shape[1])
        elif labelled is not None:
            timesteps = int(labelled[0].shape[1])
        else:
            raise InputError("a NIR graph has no time step count: give the number of steps "
                             "per sample", param="timesteps")
    check_int(timesteps, 1, 1 << 20, "timesteps", InputError.for_param("timesteps"))
    for arr, what in ((calib_x, "calibration"), (None if labelled is None else labelled[0], "data")):
        if arr is not None and arr.shape[1] != timesteps:
            raise InputError(f"spikes have {arr.shape[1]} steps but timesteps is {timesteps}",
                             param=what)
    n_neuron = len(fg.neuron_layers)
    alloc_meta: dict[str, Any]
    if avg_bits is not None:
        bits, alloc_meta = allocate_bits(fg, float(avg_bits), data=labelled, timesteps=timesteps,
                                         progress=progress)
    else:
        bits = _check_bits(8 if weight_bits is None else weight_bits, n_neuron)
        alloc_meta = {"kind": "given" if weight_bits is not None else "default", "bits": bits}
    sb = None
    if state_bits is not None:
        sb = list(state_bits) if isinstance(state_bits, (list, tuple)) else [state_bits]
        if len(sb) == 1:
            sb = sb * n_neuron
        if len(sb) != n_neuron:
            raise InputError(f"{len(sb)} widths given for {n_neuron} neuron layers",
                             param="state_bits")
        for v in sb:
            if v is not None:
                check_int(v, *STATE_BITS_RANGE, "every state width",
                          InputError.for_param("state_bits"))
    net, report = quantize_graph(fg, timesteps=timesteps, bits=bits, state_bits=sb,
                                 calibration=calib_x, headroom=headroom, method=method,
                                 progress=progress)
    report["allocation"] = alloc_meta
    if calib_x is not None:
        fspk, fpred = float_run(fg, calib_x)
        gold = simulate(net, calib_x)
        names = [layer.name for layer in net.neuron_layers]
        agree = _agreement(fspk, [gold.spikes[n] for n in names])
        cal: dict[str, Any] = {
            "samples": len(calib_x),
            "spike_agreement": dict(zip(names, agree)),
            "prediction_agreement": float(np.mean(fpred == gold.predictions))}
        if calib_y is not None:
            cal["float_accuracy"] = float(np.mean(fpred == calib_y))
            cal["integer_accuracy"] = float(np.mean(gold.predictions == calib_y))
        report["calibration"] = cal
    meta = {"generator": "spikeforge import", "source": Path(path).name, **report}
    net = net.replace(meta=meta)
    return ImportResult(net=net, exact=False, report=report, seconds=time.perf_counter() - t0)
