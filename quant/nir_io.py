"""NIR graphs in and out of spikeforge: reading, the chain mapping, export, exact restore.

NIR (the Neuromorphic Intermediate Representation, PyPI ``nir``) describes a spiking
network as a graph of float, continuous-time nodes: it carries no bit-widths, no time
step and no integer semantics. This module is the NumPy + ``nir`` half of the interop
(no torch); :mod:`quant.nir_import` turns a parsed graph into an integer network.

* :func:`read_graph` reads a ``.nir`` file (``nir.read``) or refuses it in one line;
* :func:`graph_chain` checks that the graph is a chain Input -> ... -> Output (no
  branch, no recurrence, no subgraph) and returns its nodes in order;
* :func:`parse_graph` maps the chain onto :class:`FloatGraph`: synaptic layers
  (Linear/Affine, Conv2d) each followed by one neuron (IF, LIF; LI or I as a
  membrane readout), sum-pools (SumPool2d; AvgPool2d with its ``1/k²`` folded into the
  next layer's weights), Flatten (a no-op: maps are flattened channel-major), Scale
  (folded into the synapse before it) and the neuron's input gain folded into the
  weights. Anything it cannot express is refused with one line naming the node;
* :func:`network_to_nir` / :func:`write_nir` export an :class:`pysim.IntNetwork` with
  integer-valued weights, and every integer field in metadata, so that
  :func:`restore_network` gives the same network back exactly.

The parameter mapping, per framework, is in docs/interop.md.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pysim import (
    Conv2dLayer,
    IntLayer,
    IntNetwork,
    LayerKind,
    SumPool2dLayer,
    atomic_path,
    conv_output_hw,
)
from pysim.errors import InputError, ManifestError

__all__ = [
    "METADATA_KEY",
    "SNNTORCH_DT",
    "FloatGraph",
    "FloatLayer",
    "graph_chain",
    "leak_shift_for",
    "network_to_nir",
    "parse_graph",
    "read_graph",
    "restore_network",
    "write_nir",
]

METADATA_KEY = "spikeforge"
"""Metadata key (graph and nodes) holding spikeforge's integer fields as a JSON string."""
SNNTORCH_DT = 1e-4
"""The time step snnTorch's NIR export assumes (``tau = dt / (1 - beta)``, ``r = tau / dt``)."""
NORSE_DT = 1e-3
"""Norse's default time step (its LIF export writes ``r = 1``)."""

_SYNAPSES = ("Linear", "Affine", "Conv2d")
_NEURONS = ("IF", "LIF", "LI", "I")
_REFUSED = {
    "CubaLIF": "a current-based LIF has a synaptic current state (two states per neuron); "
               "spikeforge neurons have one state, the membrane",
    "CubaLI": "a current-based leaky integrator has a synaptic current state",
    "Delay": "synaptic delays are not expressible (every layer feeds the next in the same step)",
    "Threshold": "a bare threshold without a membrane is not a spikeforge neuron",
    "Conv1d": "1-D convolutions are not supported (conv2d only)",
    "NIRGraph": "a subgraph (snnTorch exports recurrent RLeaky/RSynaptic layers this way): "
                "recurrence is not supported",
}


# ----------------------------------------------------------------------------- reading
def _err(where: str, msg: str) -> InputError:
    return InputError(f"{where}: {msg}")


def read_graph(path: str | os.PathLike[str]):
    """Read a NIR file with ``nir.read``; one-line :class:`InputError` if it is not one."""
    import nir

    p = Path(path)
    if not p.exists():
        raise _err(str(p), "no such file")
    if p.is_dir():
        raise _err(str(p), "is a directory, not a NIR file")
    try:
        # our own checks name the node (nir's type inference names edges); nir's shape
        # arithmetic on bad values (a zero stride) warns before it raises
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = nir.read(p, type_check=False)
    except OSError as exc:
        raise _err(str(p), f"is not an HDF5/NIR file ({_one_line(exc)})") from None
    except (ValueError, KeyError, AssertionError, TypeError, AttributeError, IndexError,
            ArithmeticError) as exc:
        raise _err(str(p), f"is not a valid NIR graph ({type(exc).__name__}: "
                           f"{_one_line(exc)})") from None
    if type(graph).__name__ != "NIRGraph":
        raise _err(str(p), f"holds a single {type(graph).__name__} node, not a NIR graph")
    for name, node in graph.nodes.items():
        for attr, value in vars(node).items():
            if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
                raise _err(f"{p}: node {name!r} ({type(node).__name__})",
                           f"{attr} holds {value.dtype} values, not real numbers")
    return graph


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] if text else type(exc).__name__


def graph_chain(graph, where: str = "graph") -> list[tuple[str, Any]]:
    """The nodes of ``graph`` in order from its Input to its Output.

    Refuses (one line naming the node) a graph that is not a single chain: several
    inputs or outputs, branches, recurrent edges, subgraphs, unconnected nodes.
    """
    nodes = dict(graph.nodes)
    edges = [(str(a), str(b)) for a, b in graph.edges]
    for name, node in nodes.items():
        t = type(node).__name__
        if t == "NIRGraph":
            raise _err(f"{where}: node {name!r}", _REFUSED["NIRGraph"])
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise _err(f"{where}: edge ({a!r}, {b!r})", f"names no node {end!r}")
        if a == b:
            raise _err(f"{where}: node {a!r}", "has a recurrent edge onto itself: recurrence "
                                               "is not supported")
    inputs = [n for n, v in nodes.items() if type(v).__name__ == "Input"]
    outputs = [n for n, v in nodes.items() if type(v).__name__ == "Output"]
    if len(inputs) != 1:
        raise _err(where, f"must have exactly one Input node, not {len(inputs)}")
    if len(outputs) != 1:
        raise _err(where, f"must have exactly one Output node, not {len(outputs)}")
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in dict.fromkeys(edges):
        succ[a].append(b)
        pred[b].append(a)
    for n in nodes:
        if len(succ[n]) > 1:
            raise _err(f"{where}: node {n!r}", f"the graph branches ({len(succ[n])} outgoing "
                       f"edges, to {', '.join(map(repr, succ[n]))}): only chains are supported")
        if len(pred[n]) > 1:
            raise _err(f"{where}: node {n!r}", f"the graph merges ({len(pred[n])} incoming "
                       f"edges, from {', '.join(map(repr, pred[n]))}): only chains are "
                       "supported (recurrence and skip connections are not)")
    order = [inputs[0]]
    seen = {inputs[0]}
    while succ[order[-1]]:
        nxt = succ[order[-1]][0]
        if nxt in seen:
            raise _err(f"{where}: node {nxt!r}", "closes a cycle: recurrence is not supported")
        order.append(nxt)
        seen.add(nxt)
    if order[-1] != outputs[0]:
        raise _err(f"{where}: node {order[-1]!r}", "the chain from the Input ends here, not at "
                   f"the Output {outputs[0]!r}")
    rest = sorted(set(nodes) - seen)
    if rest:
        raise _err(f"{where}: node {rest[0]!r}", "is not on the chain from the Input to the "
                   "Output")
    return [(n, nodes[n]) for n in order]


# ----------------------------------------------------------------------------- mapping
@dataclass
class FloatLayer:
    """One layer of a parsed NIR graph, in float (the units of the graph).

    A synaptic layer (``kind`` ``"dense"`` or ``"conv2d"``) carries its neuron:
    ``U[t] = alpha · R[t] + W·x[t] + b`` (the neuron's input gain already folded into
    ``weight`` and ``bias``), spike when ``U >= threshold`` (the float model's
    convention; NIR's strict ``>`` differs only on exact equality), ``R`` the reset of
    :attr:`FloatGraph.reset`. ``fires`` is False for a membrane-readout output layer.
    A ``"sumpool2d"`` layer has only ``kernel`` and ``stride``.
    """

    name: str
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    kernel: tuple[int, int] = (1, 1)
    alpha: float = 1.0
    threshold: float = 1.0
    fires: bool = True
    neuron: str = ""
    """Name of the NIR neuron node (empty for a pool)."""
    neuron_type: str = ""
    gain: float = 1.0
    """The neuron's input gain that was folded into the weights (``r·dt/tau``, or ``r``)."""

    @property
    def has_neurons(self) -> bool:
        """True for dense and conv2d layers."""
        return self.kind != "sumpool2d"

    def mapping(self) -> dict[str, Any]:
        """JSON-ready summary of how this layer was mapped."""
        d: dict[str, Any] = {"name": self.name, "kind": self.kind,
                             "in_shape": list(self.in_shape), "out_shape": list(self.out_shape)}
        if self.has_neurons:
            d.update({"neuron": self.neuron, "neuron_type": self.neuron_type,
                      "alpha": self.alpha, "threshold": self.threshold, "fires": self.fires,
                      "gain": self.gain})
        else:
            d.update({"kernel": list(self.kernel), "stride": list(self.stride)})
        return d


@dataclass
class FloatGraph:
    """A NIR chain mapped onto spikeforge's layer kinds, still in float."""

    input_shape: tuple[int, ...]
    layers: list[FloatLayer]
    reset: str = "zero"
    dt: float | None = None
    dt_source: str = ""
    notes: list[str] = field(default_factory=list)
    where: str = ""
    """The file the graph was read from, as messages name it (empty: not known)."""

    @property
    def readout(self) -> str:
        """``"membrane"`` when the last layer does not fire, else ``"spike_count"``."""
        return "spike_count" if self.layers[-1].fires else "membrane"

    @property
    def neuron_layers(self) -> list[FloatLayer]:
        """The layers with neurons, in order."""
        return [layer for layer in self.layers if layer.has_neurons]

    @property
    def is_dense(self) -> bool:
        """True when every layer is dense (the frontend's SpikingMLP can run it)."""
        return all(layer.kind == "dense" for layer in self.layers)


def _arr(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _pair(value: Any, where: str, what: str) -> tuple[int, int]:
    a = np.asarray(value).reshape(-1)
    if a.size == 1:
        a = np.repeat(a, 2)
    if a.size != 2 or not np.all(a == np.round(a)):
        raise _err(where, f"{what} must be one integer or a pair, not {np.asarray(value).tolist()}")
    return int(a[0]), int(a[1])


def _uniform(values: np.ndarray, where: str, what: str) -> float:
    flat = values.reshape(-1)
    if flat.size == 0:
        raise _err(where, f"{what} is empty")
    if not np.all(flat == flat[0]):
        raise _err(where, f"{what} is not uniform (from {flat.min():.6g} to {flat.max():.6g}): "
                          "one value per layer is expressible, per-neuron values are not")
    return float(flat[0])


def _param(node: Any, attr: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    """A neuron parameter broadcast to the layer's output ``shape`` (or refuse)."""
    v = _arr(getattr(node, attr))
    n = int(np.prod(shape))
    if v.size == 1:
        return np.full(shape, float(v.reshape(-1)[0]))
    if v.size != n:
        raise _err(where, f"{attr} has shape {list(v.shape)} ({v.size} values) but the "
                          f"layer before it has {n} outputs (shape {list(shape)})")
    return v.reshape(shape)


def default_dt(chain: Sequence[tuple[str, Any]], graph_meta: dict[str, Any]
               ) -> tuple[float | None, str]:
    """The time step for LIF nodes when ``--dt`` is not given, and where it came from.

    The graph's own metadata (``dt``, as spikeforge's export writes) first; else
    snnTorch's convention (every LIF has ``r = tau / 1e-4``); else Norse's (every LIF
    has ``r = 1``: Norse's default ``dt = 1e-3``); else None (the caller refuses).
    """
    if "dt" in graph_meta:
        try:
            return float(np.asarray(graph_meta["dt"]).reshape(-1)[0]), "the graph's metadata"
        except (TypeError, ValueError):
            pass
    lifs = [n for _, n in chain if type(n).__name__ in ("LIF", "LI")]
    if not lifs:
        return None, "no LIF node"
    def all_close(f):
        return all(np.allclose(f(n), 0.0, atol=1e-6) for n in lifs)
    def snn(n):
        tau, r = _arr(n.tau), _arr(n.r)
        fin = np.isfinite(tau)
        return np.where(fin, r * SNNTORCH_DT / np.where(fin, tau, 1.0) - 1.0,
                        np.where(np.isinf(r), 0.0, 1.0))
    if all_close(snn):
        return SNNTORCH_DT, "snnTorch's convention (r = tau / dt with dt = 1e-4)"
    if all(np.all(_arr(n.r) == 1.0) for n in lifs):
        return NORSE_DT, "Norse's convention (r = 1, default dt = 1e-3)"
    return None, "not recognised"


def parse_graph(graph, *, dt: float | None = None, reset: str | None = None,
                where: str = "graph") -> FloatGraph:
    """Map a NIR graph onto :class:`FloatGraph` (float parameters, spikeforge layer kinds).

    Parameters
    ----------
    graph : nir.NIRGraph
    dt : time step of the LIF discretization ``alpha = 1 - dt/tau``, input gain
        ``r·dt/tau``; default :func:`default_dt`.
    reset : ``"zero"`` (NIR's semantics for ``v_reset = 0``, the default) or
        ``"subtract"`` (an override for graphs whose origin subtracted the threshold but
        exported ``v_reset = 0``, e.g. snnTorch's default ``reset_mechanism``).
    where : the file name, for messages.

    Raises
    ------
    InputError
        One line naming the node for anything not expressible (see docs/interop.md).
    """
    chain = graph_chain(graph, where)
    meta = _graph_meta(graph)
    if reset is None:
        reset = "zero"
    if reset not in ("zero", "subtract"):
        raise InputError(f"must be zero or subtract, not {reset!r}", param="reset")
    dt_source = "given"
    if dt is None:
        dt, dt_source = default_dt(chain, meta)
    elif not (math.isfinite(dt) and dt > 0):
        raise InputError(f"must be a positive number, not {dt!r}", param="dt")
    in_name, in_node = chain[0]
    raw = np.asarray(in_node.input_type["input"]).reshape(-1)
    if raw.dtype.kind not in "iu" and not (raw.dtype.kind == "f" and np.all(raw == np.round(raw))):
        raise _err(f"{where}: node {in_name!r}", f"input shape {raw.tolist()} does not hold "
                                                 "whole numbers")
    shape = tuple(int(v) for v in raw)
    notes: list[str] = []
    if len(shape) in (2, 4) and shape[0] == 1:
        # nirtorch's tracer keeps the sample's batch dimension unless told to ignore it
        # (Norse's to_nir does not): [1, N] and [1, C, H, W] are [N] and [C, H, W]
        notes.append(f"{in_name}: input shape {list(shape)}: the leading 1 is a batch "
                     "dimension and is dropped")
        shape = shape[1:]
    if not shape or any(v < 1 for v in shape) or len(shape) not in (1, 3):
        raise _err(f"{where}: node {in_name!r}", f"input shape {list(shape)} is neither [N] "
                                                 "nor [C, H, W]")
    input_shape = shape
    layers: list[FloatLayer] = []
    pending: FloatLayer | None = None  # a synapse waiting for its neuron
    in_factor = 1.0  # AvgPool's 1/k² waiting for the next synapse
    for name, node in chain[1:-1]:
        t = type(node).__name__
        at = f"{where}: node {name!r} ({t})"
        if t in _REFUSED:
            raise _err(at, _REFUSED[t])
        if t in ("Linear", "Affine", "Conv2d"):
            if pending is not None:
                raise _err(at, f"follows the synaptic layer {pending.name!r} with no neuron "
                               "between them")
            if t == "Conv2d":
                pending = _conv(node, shape, at, name)
            else:
                pending = _dense(node, shape, at, name)
            if in_factor != 1.0:
                pending.weight = pending.weight * in_factor
                in_factor = 1.0
            shape = pending.out_shape
        elif t in ("SumPool2d", "AvgPool2d"):
            if pending is not None:
                raise _err(at, f"pools the currents of {pending.name!r} before its neuron: "
                               "only spikes can be pooled")
            if len(shape) != 3:
                raise _err(at, f"needs a [C, H, W] input, not shape {list(shape)}")
            if layers and layers[-1].kind == "sumpool2d":
                raise _err(at, f"follows the pool {layers[-1].name!r}: two pools in a row are "
                               "not supported (merge them into one)")
            if not layers:
                raise _err(at, "pools the network input: put a neuron layer first")
            k = _pair(node.kernel_size, at, "kernel_size")
            s = _pair(node.stride if node.stride is not None else k, at, "stride")
            p = _pair(node.padding if node.padding is not None else 0, at, "padding")
            if p != (0, 0):
                raise _err(at, f"padding {list(p)} is not supported (sum-pools have none)")
            if min(k) < 1 or min(s) < 1:
                raise _err(at, f"kernel {list(k)} and stride {list(s)} must be >= 1")
            oh, ow = conv_output_hw(shape[1:], k, s)
            if oh < 1 or ow < 1:
                raise _err(at, f"kernel {list(k)} does not fit the input shape {list(shape)}")
            out = (shape[0], oh, ow)
            layers.append(FloatLayer(name=name, kind="sumpool2d", in_shape=shape, out_shape=out,
                                     kernel=k, stride=s))
            if t == "AvgPool2d":
                in_factor = 1.0 / (k[0] * k[1])
                notes.append(f"{name}: AvgPool2d is a sum-pool; its 1/{k[0] * k[1]} is folded "
                             "into the next layer's weights")
            shape = out
        elif t == "Flatten":
            if pending is not None:
                raise _err(at, f"flattens the currents of {pending.name!r} before its neuron")
            nd = len(shape)
            sd, ed = int(node.start_dim), int(node.end_dim)
            if (sd % nd if nd else 0) != 0 or (ed % nd if nd else 0) != nd - 1:
                raise _err(at, f"flattens dimensions {sd}..{ed} of shape {list(shape)}: only a "
                               "full flatten (start_dim 0, end_dim -1) is supported")
            shape = (int(np.prod(shape)),)
        elif t == "Scale":
            if pending is None:
                raise _err(at, "scales spikes (no synaptic layer before it): graded spikes are "
                               "not expressible")
            sc = _arr(node.scale)
            _fold_rows(pending, sc, at)
        elif t in _NEURONS:
            if pending is None:
                raise _err(at, "has no synaptic layer before it (every neuron needs one)")
            layers.append(_neuron(pending, node, t, name, at, dt, dt_source))
            pending = None
        elif t in ("Input", "Output"):
            raise _err(at, "a second Input/Output inside the chain")
        else:
            raise _err(at, f"node type {t} is not supported (supported: Input, Output, Linear, "
                           "Affine, Conv2d, SumPool2d, AvgPool2d, Flatten, Scale, IF, LIF, LI, I)")
        if layers and layers[-1].has_neurons and not layers[-1].fires and name != chain[-2][0]:
            raise _err(at, f"follows the non-firing {layers[-1].neuron_type} node "
                           f"{layers[-1].neuron!r}: a leaky integrator is only allowed as the "
                           "last layer (the membrane readout)")
    out_name = chain[-1][0]
    if pending is not None:
        # synapse straight into the output: the readout integrates the currents
        pending.alpha, pending.fires, pending.threshold = 1.0, False, 1.0
        pending.neuron, pending.neuron_type = out_name, "Output"
        notes.append(f"{pending.name}: no neuron before the Output: membrane readout of the "
                     "summed currents (a non-leaky, non-firing integrator)")
        layers.append(pending)
    if not layers or not any(lay.has_neurons for lay in layers):
        raise _err(f"{where}: node {out_name!r}", "the graph has no synaptic layer")
    if layers[-1].kind == "sumpool2d":
        raise _err(f"{where}: node {layers[-1].name!r}", "a pool cannot be the last layer (the "
                                                        "readout needs neurons)")
    if in_factor != 1.0:  # pragma: no cover - a pool is never last
        raise _err(where, "an AvgPool2d is not followed by a synaptic layer")
    return FloatGraph(input_shape=input_shape, layers=layers, reset=reset, dt=dt,
                      dt_source=dt_source, notes=notes, where=where)


def _graph_meta(graph) -> dict[str, Any]:
    meta = getattr(graph, "metadata", None)
    return meta if isinstance(meta, dict) else {}


def _dense(node: Any, shape: tuple[int, ...], at: str, name: str) -> FloatLayer:
    w = _arr(node.weight)
    if w.ndim != 2 or min(w.shape) < 1:
        raise _err(at, f"weight must be a 2-D (out, in) array, not shape {list(w.shape)}")
    n_in = int(np.prod(shape))
    if w.shape[1] != n_in:
        raise _err(at, f"weight has {w.shape[1]} inputs but its input has shape {list(shape)} "
                       f"({n_in} values)")
    b = None
    if type(node).__name__ == "Affine" and node.bias is not None:
        b = _arr(node.bias).reshape(-1)
        if b.size != w.shape[0]:
            raise _err(at, f"bias has {b.size} values for {w.shape[0]} outputs")
        if not np.any(b):
            b = None
    _finite(w, at, "weight")
    if b is not None:
        _finite(b, at, "bias")
    return FloatLayer(name=name, kind="dense", in_shape=(n_in,), out_shape=(int(w.shape[0]),),
                      weight=w, bias=b)


def _conv(node: Any, shape: tuple[int, ...], at: str, name: str) -> FloatLayer:
    if len(shape) != 3:
        raise _err(at, f"needs a [C, H, W] input, not shape {list(shape)}")
    w = _arr(node.weight)
    if w.ndim != 4 or min(w.shape) < 1:
        raise _err(at, f"weight must be a 4-D (out, in, kh, kw) array, not shape {list(w.shape)}")
    if int(np.asarray(node.groups)) != 1:
        raise _err(at, f"groups {int(np.asarray(node.groups))} is not supported (groups = 1 only)")
    if _pair(node.dilation, at, "dilation") != (1, 1):
        raise _err(at, f"dilation {np.asarray(node.dilation).tolist()} is not supported")
    if w.shape[1] != shape[0]:
        raise _err(at, f"weight has {w.shape[1]} input channels but its input has shape "
                       f"{list(shape)}")
    if node.input_shape is not None:
        ish = tuple(int(v) for v in np.asarray(node.input_shape).reshape(-1))
        if ish != tuple(shape[1:]):
            raise _err(at, f"input_shape {list(ish)} does not match its input {list(shape)}")
    k = (int(w.shape[2]), int(w.shape[3]))
    s = _pair(node.stride, at, "stride")
    pad = node.padding
    if isinstance(pad, (str, bytes)):
        pad = pad.decode() if isinstance(pad, bytes) else pad
        if pad == "valid":
            p = (0, 0)
        elif pad == "same" and s == (1, 1) and k[0] % 2 and k[1] % 2:
            p = (k[0] // 2, k[1] // 2)
        else:
            raise _err(at, f"padding {pad!r} with kernel {list(k)} and stride {list(s)} is not "
                           "expressible as a symmetric zero padding")
    else:
        p = _pair(pad, at, "padding")
    if min(s) < 1:
        raise _err(at, f"stride {list(s)} must be >= 1")
    if not (0 <= p[0] < k[0] and 0 <= p[1] < k[1]):
        raise _err(at, f"padding {list(p)} must be between 0 and kernel - 1 ({list(k)})")
    oh, ow = conv_output_hw(shape[1:], k, s, p)
    if oh < 1 or ow < 1:
        raise _err(at, f"kernel {list(k)} does not fit the input shape {list(shape)}")
    b = None
    if node.bias is not None:
        b = _arr(node.bias).reshape(-1)
        if b.size == 1 and w.shape[0] > 1:
            b = np.full(w.shape[0], float(b[0]))
        if b.size != w.shape[0]:
            raise _err(at, f"bias has {b.size} values for {w.shape[0]} output channels")
        if not np.any(b):
            b = None
    _finite(w, at, "weight")
    if b is not None:
        _finite(b, at, "bias")
    return FloatLayer(name=name, kind="conv2d", in_shape=tuple(shape),
                      out_shape=(int(w.shape[0]), oh, ow), weight=w, bias=b, stride=s, padding=p)


def _finite(a: np.ndarray, at: str, what: str) -> None:
    if not np.all(np.isfinite(a)):
        raise _err(at, f"{what} has non-finite values")
    big = float(np.finfo(np.float32).max)
    if np.any(np.abs(a) > big):
        raise _err(at, f"{what} has values beyond the float32 range (|{what}| up to "
                       f"{float(np.abs(a).max()):.3g} > {big:.3g})")


def _fold_rows(syn: FloatLayer, factor: np.ndarray, at: str) -> None:
    """Multiply the synapse's outputs by ``factor`` (scalar, per output, or per channel)."""
    out = syn.out_shape
    f = np.asarray(factor, dtype=np.float64)
    _finite(f, at, "scale")
    if f.size == 1:
        scale = np.full(out[0], float(f.reshape(-1)[0]))
    elif syn.kind == "dense" and f.size == out[0]:
        scale = f.reshape(-1)
    elif syn.kind == "conv2d":
        full = f.reshape(-1)
        if full.size == out[0]:
            scale = full
        elif full.size == int(np.prod(out)):
            per = full.reshape(out[0], -1)
            if not np.all(per == per[:, :1]):
                raise _err(at, "varies within an output channel of a convolution (one value "
                               "per channel is expressible)")
            scale = per[:, 0]
        else:
            raise _err(at, f"has {f.size} values for an output of shape {list(out)}")
    else:
        raise _err(at, f"has {f.size} values for an output of shape {list(out)}")
    bshape = (-1,) + (1,) * (syn.weight.ndim - 1)
    syn.weight = syn.weight * scale.reshape(bshape)
    if syn.bias is not None:
        syn.bias = syn.bias * scale


def _neuron(syn: FloatLayer, node: Any, t: str, name: str, at: str, dt: float | None,
            dt_source: str) -> FloatLayer:
    out = syn.out_shape
    r = _param(node, "r", out, at)
    if t in ("IF", "LIF"):
        thr = _param(node, "v_threshold", out, at)
        vres = _param(node, "v_reset", out, at) if getattr(node, "v_reset", None) is not None \
            else np.zeros(out)
        if np.any(vres != 0):
            raise _err(at, f"v_reset {_uniform_or_range(vres)} is not 0: only a reset to zero "
                           "(or, with --reset subtract, by subtraction) is expressible")
        theta = _uniform(thr, at, "v_threshold")
        if not (math.isfinite(theta) and theta > 0):
            raise _err(at, f"v_threshold {theta:g} must be > 0")
    else:
        theta = 1.0
    if t in ("LIF", "LI"):
        vleak = _param(node, "v_leak", out, at)
        if np.any(vleak != 0):
            raise _err(at, f"v_leak {_uniform_or_range(vleak)} is not 0: a leak towards a "
                           "non-zero potential is not expressible")
        tau = _param(node, "tau", out, at)
        tau_v = _uniform(tau, at, "tau")
        if dt is None:
            raise _err(at, "a LIF needs the time step: give --dt (the graph's origin is not "
                           "recognised; snnTorch exports use 1e-4, Norse 1e-3)")
        if math.isinf(tau_v):
            alpha = 1.0
            # snnTorch writes beta = 1 as tau = r = inf (r = tau/dt): its gain is 1
            gain_arr = np.where(np.isinf(r), 1.0, 0.0)
        else:
            if not tau_v > 0:
                raise _err(at, f"tau {tau_v:g} must be > 0")
            alpha = 1.0 - dt / tau_v
            if not 0.0 < alpha <= 1.0:
                hint = ""
                if dt_source.startswith("Norse"):
                    hint = (" (Norse 1.1's to_nir writes tau = dt/tau_mem_inv, not "
                            "1/tau_mem_inv: give --dt as the square of Norse's dt, e.g. "
                            "--dt 1e-6 for dt = 1e-3)")
                raise _err(at, f"dt {dt:g} ({dt_source}) is not smaller than tau {tau_v:g}: "
                               f"alpha = 1 - dt/tau = {alpha:g} is not in (0, 1]{hint}")
            gain_arr = r * dt / tau_v
    else:
        alpha = 1.0
        gain_arr = r  # IF / I: v += r · I per step
    if not np.all(np.isfinite(gain_arr)) or np.any(gain_arr == 0):
        raise _err(at, f"input gain {_uniform_or_range(gain_arr)} (r, tau, dt) is zero or not "
                       "finite")
    # float32 round-trips of r = tau/dt give gains like 0.9999997: they are 1
    gain_arr = np.where(np.abs(gain_arr - 1.0) < 1e-5, 1.0, gain_arr)
    if syn.kind == "dense":
        g = gain_arr.reshape(-1)
        gain = float(g[0]) if np.all(g == g[0]) else float("nan")
        if not np.all(g == 1.0):
            _fold_rows(syn, g, at)
    else:
        per = gain_arr.reshape(out[0], -1)
        if not np.all(per == per[:, :1]):
            raise _err(at, "input gain r varies within an output channel of a convolution")
        g = per[:, 0]
        gain = float(g[0]) if np.all(g == g[0]) else float("nan")
        if not np.all(g == 1.0):
            _fold_rows(syn, g, at)
    syn.alpha = float(alpha)
    syn.threshold = float(theta)
    syn.fires = t in ("IF", "LIF")
    syn.neuron = name
    syn.neuron_type = t
    syn.gain = gain
    return syn


def _uniform_or_range(a: np.ndarray) -> str:
    flat = np.asarray(a).reshape(-1)
    if np.all(flat == flat[0]):
        return f"{flat[0]:g}"
    return f"{flat.min():g}..{flat.max():g}"


def leak_shift_for(alpha: float, max_shift: int = 31) -> tuple[int | None, float]:
    """The shift ``k`` whose ``1 - 2^-k`` is closest to ``alpha``, and the error.

    Returns ``(k, (1 - 2^-k) - alpha)``; ``(None, 0.0)`` for ``alpha == 1`` (no leak).
    ``k`` is at least 1 (``alpha`` below 0.5 maps to 0.5) and at most ``max_shift``;
    ``alpha`` within 2^-(max_shift+1) of 1 maps to no leak.
    """
    if alpha >= 1.0:
        return None, 0.0
    x = -math.log2(1.0 - alpha)
    best, err = None, 1.0 - alpha  # no leak
    for k in {max(1, math.floor(x)), max(1, math.ceil(x))}:
        if k > max_shift:
            continue
        e = (1.0 - 2.0 ** -k) - alpha
        if abs(e) < abs(err) or best is None and abs(e) <= abs(err):
            best, err = k, e
    if best is None:
        return None, 1.0 - alpha
    return best, err


# ----------------------------------------------------------------------------- export
def network_to_nir(net: IntNetwork, *, dt: float = 1.0):
    """The integer network as a NIR graph that ``nir.read`` loads back.

    Weights and biases are the integers themselves (as float32, exact below 2^24);
    each neuron is an IF (no leak) or LIF (``tau = 2^k·dt``, ``r = 2^k``: ``alpha = 1 -
    2^-k`` and unit input gain at time step ``dt``), an I or LI for a membrane readout;
    ``v_threshold = θ - 1/2`` so that NIR's strict ``v > v_threshold`` on whole-number
    membranes is spikeforge's ``u >= θ``. Every integer field (widths, threshold, leak
    shift, reset, the network header with its meta) is in the nodes' and the graph's
    metadata under :data:`METADATA_KEY`, which :func:`restore_network` reads.
    """
    import nir

    for layer in net.neuron_layers:
        if layer.leak_shift is not None:
            tau = np.float32((2.0 ** layer.leak_shift) * dt)
            if not (math.isfinite(dt) and dt > 0 and np.isfinite(tau) and tau > 0
                    and np.float32(dt) > 0):
                raise InputError(f"{dt!r} gives layer {layer.name}'s tau = 2^"
                                 f"{layer.leak_shift} dt = {float(tau):g} in float32: give a "
                                 "positive dt within float32's range", param="dt")
    header = net.header()
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(net.input_shape))}
    order = ["input"]
    shape = tuple(net.input_shape)
    taken = {layer.name for layer in net.layers} | {"input", "output"}

    def fresh(base: str) -> str:
        n, i = base, 1
        while n in taken:
            i += 1
            n = f"{base}{i}"
        taken.add(n)
        return n

    last = net.layers[-1]
    for layer in net.layers:
        lmeta = {METADATA_KEY: json.dumps(layer.header(), sort_keys=True)}
        if layer.kind is LayerKind.SUMPOOL2D:
            nodes[layer.name] = nir.SumPool2d(
                kernel_size=np.array(layer.kernel), stride=np.array(layer.stride),
                padding=np.array([0, 0]), metadata=lmeta)
            order.append(layer.name)
            shape = layer.out_shape
            continue
        if layer.kind is LayerKind.DENSE:
            if len(shape) != 1:
                fl = fresh(f"{layer.name}_flatten")
                nodes[fl] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0,
                                        end_dim=-1)
                order.append(fl)
            w = layer.weight.astype(np.float32)
            if layer.bias is not None:
                nodes[layer.name] = nir.Affine(weight=w, bias=layer.bias.astype(np.float32),
                                               metadata=lmeta)
            else:
                nodes[layer.name] = nir.Linear(weight=w, metadata=lmeta)
        else:
            bias = (layer.bias.astype(np.float32) if layer.bias is not None
                    else np.zeros(layer.out_channels, np.float32))
            nodes[layer.name] = nir.Conv2d(
                input_shape=tuple(int(v) for v in layer.in_shape[1:]),
                weight=layer.weight.astype(np.float32), stride=tuple(layer.stride),
                padding=tuple(layer.padding), dilation=(1, 1), groups=1, bias=bias,
                metadata=lmeta)
        order.append(layer.name)
        out = tuple(layer.out_shape)
        fires = not (layer is last and net.readout.value == "membrane")
        k = layer.leak_shift
        nmeta = {METADATA_KEY: json.dumps(
            {"layer": layer.name, "threshold": layer.threshold, "leak_shift": k,
             "reset": layer.reset.value, "state_bits": layer.state_bits,
             "weight_bits": layer.weight_bits, "fires": fires}, sort_keys=True),
            "weight_bits": int(layer.weight_bits), "state_bits": int(layer.state_bits),
            "threshold": int(layer.threshold), "reset": layer.reset.value,
            "leak_shift": -1 if k is None else int(k)}
        ones = np.ones(out, np.float32)
        th = np.full(out, layer.threshold - 0.5, np.float32)
        if k is None:
            neuron = (nir.IF(r=ones, v_threshold=th, v_reset=np.zeros(out, np.float32),
                             metadata=nmeta) if fires else nir.I(r=ones, metadata=nmeta))
        else:
            tau = np.full(out, (2.0 ** k) * dt, np.float32)
            r = np.full(out, 2.0 ** k, np.float32)
            vl = np.zeros(out, np.float32)
            neuron = (nir.LIF(tau=tau, r=r, v_leak=vl, v_threshold=th,
                              v_reset=np.zeros(out, np.float32), metadata=nmeta)
                      if fires else nir.LI(tau=tau, r=r, v_leak=vl, metadata=nmeta))
        nn_name = fresh(f"{layer.name}_neuron")
        nodes[nn_name] = neuron
        order.append(nn_name)
        shape = out
    nodes["output"] = nir.Output(output_type=np.array(shape))
    order.append("output")
    edges = list(itertools.pairwise(order))
    gmeta = {METADATA_KEY: json.dumps(header, sort_keys=True, allow_nan=False,
                                      default=_json_default),
             "dt": float(dt), "generator": "spikeforge export"}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=gmeta)


def _json_default(obj: Any) -> Any:
    from pysim.util import json_default

    return json_default(obj)


def write_nir(net: IntNetwork, path: str | os.PathLike[str], *, dt: float = 1.0) -> Path:
    """Write :func:`network_to_nir` of ``net`` to ``path`` atomically (``nir.write``)."""
    import nir

    graph = network_to_nir(net, dt=dt)
    path = Path(path)
    with atomic_path(path) as tmp:
        nir.write(tmp, graph)
    return path


# ----------------------------------------------------------------------------- restore
def spikeforge_header(graph) -> dict[str, Any] | None:
    """The network header spikeforge's export stored in the graph metadata, or None."""
    raw = _graph_meta(graph).get(METADATA_KEY)
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    if isinstance(raw, np.ndarray):
        raw = raw.item()
        raw = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    try:
        header = json.loads(str(raw))
    except ValueError:
        return None
    return header if isinstance(header, dict) and header.get("format") == "spikeforge.network" \
        else None


def restore_network(graph, header: dict[str, Any], where: str = "graph") -> IntNetwork:
    """Rebuild the exported integer network exactly from its NIR graph and ``header``.

    Structure and integer fields come from ``header`` (the graph's metadata); weights and
    biases from the NIR nodes, which must hold whole numbers in range. The neuron nodes
    must still say what the metadata says (threshold ``θ - 1/2``, the leak's ``tau``):
    an edited graph is refused (re-import it with ``requantize=True``).
    """
    chain = dict(graph_chain(graph, where))
    layers: list[Any] = []
    for spec in header.get("layers", []):
        lname = spec.get("name")
        at = f"{where}: node {lname!r}"
        kind = spec.get("kind", "dense")
        node = chain.get(lname)
        if node is None:
            raise _err(at, "named by the spikeforge metadata but missing from the graph")
        try:
            if kind == "sumpool2d":
                layers.append(SumPool2dLayer(name=lname, in_shape=spec["in_shape"],
                                             kernel=spec["kernel"], stride=spec.get("stride")))
                continue
            w = np.asarray(node.weight, dtype=np.float64)
            b = None
            if spec.get("has_bias"):
                b = np.asarray(node.bias, dtype=np.float64).reshape(-1)
            _check_neuron_node(graph, chain, lname, spec, where)
            common = {"name": lname, "weight": w, "weight_bits": spec["weight_bits"],
                      "state_bits": spec["state_bits"], "threshold": spec["threshold"],
                      "leak_shift": spec["leak_shift"], "reset": spec["reset"], "bias": b}
            if kind == "dense":
                layers.append(IntLayer(**common))
            else:
                layers.append(Conv2dLayer(in_shape=spec["in_shape"], stride=spec["stride"],
                                          padding=spec["padding"], **common))
        except ManifestError as exc:
            raise _err(at, f"does not restore ({exc})") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise _err(at, f"spikeforge metadata is incomplete ({_one_line(exc)})") from None
    try:
        shape = header.get("input_shape") or [header["input_size"]]
        return IntNetwork(layers=tuple(layers), timesteps=header["timesteps"],
                          readout=header["readout"], meta=header.get("meta") or {},
                          input_shape=tuple(shape))
    except ManifestError as exc:
        raise _err(where, f"spikeforge metadata does not restore a network ({exc})") from None
    except KeyError as exc:
        raise _err(where, f"spikeforge metadata lacks {exc}") from None


def _check_neuron_node(graph, chain: dict[str, Any], lname: str, spec: dict[str, Any],
                       where: str) -> None:
    nname = next((b for a, b in graph.edges if a == lname), None)
    node = chain.get(nname)
    at = f"{where}: node {nname!r}"
    t = type(node).__name__
    if t not in _NEURONS:
        raise _err(f"{where}: node {lname!r}", "is not followed by its neuron node "
                   "(the graph was edited: re-import with --requantize)")
    if t in ("IF", "LIF"):
        th = _arr(node.v_threshold)
        if not np.all(th == np.float32(spec["threshold"] - 0.5)):
            raise _err(at, f"v_threshold {_uniform_or_range(th)} differs from the spikeforge "
                           f"metadata (threshold {spec['threshold']}, exported as "
                           f"{spec['threshold'] - 0.5}): the graph was edited, re-import it "
                           "with --requantize")
    k = spec["leak_shift"]
    if (k is None) != (t in ("IF", "I")):
        raise _err(at, f"is a {t} node but the spikeforge metadata says leak_shift {k}: the "
                       "graph was edited, re-import it with --requantize")
