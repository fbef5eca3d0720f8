"""The integer network: typed, frozen, validated dataclasses and the manifest directory.

This is the one intermediate representation that flows through every stage of
spikeforge: the frontend (``quant``) builds it, the golden model (``pysim.golden``)
defines what it computes, the hardware generator (``hdl``) realizes it and the
testbenches (``sim``) check the hardware against it.

A network is a chain of layers of three kinds (a tagged union on ``kind``):
:class:`IntLayer` (dense, also named :class:`DenseLayer`), :class:`Conv2dLayer` and
:class:`SumPool2dLayer`. Every layer has ``name``, ``kind``, ``in_shape``, ``out_shape``,
``has_neurons``, ``n_neurons``, ``n_weights``, ``weight_memory_bits`` and
``membrane_memory_bits``; the network has ``input_shape`` (``(N,)`` or ``(C, H, W)``),
``input_size``, ``neuron_layers`` and the totals. Maps are flattened channel-major
(``i = c·H·W + y·W + x``) wherever a flat index is needed.

A manifest directory holds ``network.json`` (structure, widths, neuron constants) and
``weights.npz`` (integer weights and biases); see ``docs/manifest.md``. Dense-only
networks on a flat input are written as version 1 (byte-identical to earlier
spikeforge releases), every other network as version 2; both versions are read.
"""
from __future__ import annotations

import enum
import json
import keyword
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .errors import ManifestError
from .precision import IntPrecision
from .util import check_int, read_npz
from .util import is_int as _is_int
from .util import json_default as _json_default
from .util import json_roundtrip as _json_roundtrip

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LAYER_TYPES",
    "STATE_BITS_RANGE",
    "SUPPORTED_VERSIONS",
    "WEIGHT_BITS_RANGE",
    "Conv2dLayer",
    "DenseLayer",
    "IntLayer",
    "IntNetwork",
    "Layer",
    "LayerKind",
    "ManifestError",
    "NeuronLayer",
    "Readout",
    "ResetMode",
    "SumPool2dLayer",
    "conv_output_hw",
    "load_network",
    "save_network",
    "to_int_array",
]

FORMAT = "spikeforge.network"
FORMAT_VERSION = 2
"""The newest manifest version this spikeforge writes (dense-only networks write 1)."""
SUPPORTED_VERSIONS = (1, 2)

WEIGHT_BITS_RANGE = (2, 16)
"""Weight widths a layer may have (inclusive): every stage checks against this."""
STATE_BITS_RANGE = (2, 32)
"""Membrane (state) widths a layer may have (inclusive)."""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Verilog-2005 / SystemVerilog keywords that may not be used as identifiers (common subset
# plus everything a layer name could plausibly collide with).
_VERILOG_KEYWORDS = frozenset(
    ["always", "and", "assign", "automatic", "begin", "buf", "bufif0", "bufif1", "case", "casex", "casez", "cell", "cmos", "config", "deassign", "default", "defparam", "design", "disable", "edge", "else", "end", "endcase", "endconfig", "endfunction", "endgenerate", "endmodule", "endprimitive", "endspecify", "endtable", "endtask", "event", "for", "force", "forever", "fork", "function", "generate", "genvar", "highz0", "highz1", "if", "ifnone", "incdir", "include", "initial", "inout", "input", "instance", "integer", "join", "large", "liblist", "library", "localparam", "macromodule", "medium", "module", "nand", "negedge", "nmos", "nor", "noshowcancelled", "not", "notif0", "notif1", "or", "output", "parameter", "pmos", "posedge", "primitive", "pull0", "pull1", "pulldown", "pullup", "pulsestyle_onevent", "pulsestyle_ondetect", "rcmos", "real", "realtime", "reg", "release", "repeat", "rnmos", "rpmos", "rtran", "rtranif0", "rtranif1", "scalared", "showcancelled", "signed", "small", "specify", "specparam", "strong0", "strong1", "supply0", "supply1", "table", "task", "time", "tran", "tranif0", "tranif1", "tri", "tri0", "tri1", "triand", "trior", "trireg", "unsigned", "use", "uwire", "vectored", "wait", "wand", "weak0", "weak1", "while", "wire", "wor", "xnor", "xor", "logic", "bit", "byte", "int", "shortint", "longint", "struct", "union", "enum", "typedef", "class", "interface", "package", "program", "property", "sequence", "clocking", "modport", "always_comb", "always_ff", "always_latch", "unique", "priority", "final", "import", "export", "return", "break", "continue", "do", "foreach", "void", "string"]
)


class _Choice(str, enum.Enum):
    """A string enum whose ``parse`` refuses unknown names with the list of choices."""

    @classmethod
    def parse(cls, value: Any, where: str) -> Any:
        """Return the member named by ``value`` or raise a :class:`ManifestError`."""
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in cls)
            raise ManifestError(f"{where}: must be one of {choices}, not {value!r}") from None


class ResetMode(_Choice):
    """What happens to a membrane after its neuron fired (applied at the next step)."""

    ZERO = "zero"
    """``r = u[t-1] * (1 - s[t-1])``: a spike clears the membrane."""
    SUBTRACT = "subtract"
    """``r = u[t-1] - θ * s[t-1]``: a spike removes one threshold from the membrane."""


class Readout(_Choice):
    """How the last layer's activity becomes a class prediction."""

    SPIKE_COUNT = "spike_count"
    """argmax over output neurons of their spike count; ties to the lowest index."""
    MEMBRANE = "membrane"
    """The last layer never fires nor resets; argmax of its final membrane."""




def _check_int(value: Any, lo: int, hi: int, where: str) -> int:
    return check_int(value, lo, hi, f"{where}:", ManifestError)


def to_int_array(values: Any, precision: IntPrecision, where: str) -> np.ndarray:
    """Cross the float -> int boundary: return ``values`` as an int64 array or refuse.

    Every element must be finite, whole and inside ``precision``; otherwise a
    :class:`ManifestError` names ``where`` and the first offending element.
    """
    arr = np.asarray(values)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise ManifestError(f"{where}: must hold integers, not dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ManifestError(f"{where}: value at {idx} is {arr[idx]} (not finite)")
        frac = arr != np.round(arr)
        if frac.any():
            idx = tuple(int(i) for i in np.argwhere(frac)[0])
            raise ManifestError(f"{where}: value at {idx} is {arr[idx]} (not a whole number)")
        arr64 = np.clip(arr, -(2.0**62), 2.0**62).astype(np.int64)
    elif arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        idx = tuple(int(i) for i in np.argwhere(arr > np.iinfo(np.int64).max)[0])
        raise ManifestError(
            f"{where}: value at {idx} is {int(arr[idx])}, outside the {precision.width}-bit "
            f"signed range [{precision.min}, {precision.max}]"
        )
    else:
        arr64 = arr.astype(np.int64)
    out = (arr64 < precision.min) | (arr64 > precision.max)
    if out.any():
        idx = tuple(int(i) for i in np.argwhere(out)[0])
        raise ManifestError(
            f"{where}: value at {idx} is {arr[idx]}, outside the {precision.width}-bit "
            f"signed range [{precision.min}, {precision.max}]"
        )
    arr64 = np.ascontiguousarray(arr64)
    arr64.setflags(write=False)
    return arr64


class LayerKind(_Choice):
    """The kind of a layer (the ``kind`` field of a version 2 manifest)."""

    DENSE = "dense"
    """Fully connected neurons (:class:`IntLayer`); a map input is flattened channel-major."""
    CONV2D = "conv2d"
    """A 2-D convolution of integer neurons (:class:`Conv2dLayer`)."""
    SUMPOOL2D = "sumpool2d"
    """A sum-pool: window counts, no weights, no neurons (:class:`SumPool2dLayer`)."""


_DIM_MAX = 1 << 24


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ManifestError(
            f"layer {name!r}: field 'name': must be a Verilog identifier "
            "(letters, digits, '_', not starting with a digit)"
        )
    if name.lower() in _VERILOG_KEYWORDS or keyword.iskeyword(name) or len(name) > 64:
        raise ManifestError(
            f"layer {name!r}: field 'name': is a reserved word or longer than 64 characters"
        )
    return name


def _check_shape(value: Any, ndims: tuple[int, ...], where: str, what: str) -> tuple[int, ...]:
    """``value`` as a tuple of ``n`` (one of ``ndims``) integers >= 1, or a one-line error."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    ok = (isinstance(value, (list, tuple)) and len(value) in ndims
          and all(_is_int(v) for v in value))
    if not ok:
        raise ManifestError(f"{where}: must be {what}, not {value!r}")
    for v in value:
        if not 1 <= int(v) <= _DIM_MAX:
            raise ManifestError(f"{where}: every size must be between 1 and {_DIM_MAX}, "
                                f"not {_fmt_shape(value)}")
    return tuple(int(v) for v in value)


def _check_pair(value: Any, lo: int, where: str, scalar_ok: bool = True) -> tuple[int, int]:
    """``value`` (an int, or a pair [a, b]) as a pair of integers >= ``lo``."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if scalar_ok and _is_int(value):
        value = (value, value)
    if not (isinstance(value, (list, tuple)) and len(value) == 2
            and all(_is_int(v) for v in value)):
        raise ManifestError(f"{where}: must be a list of 2 integers >= {lo}, not {value!r}")
    a, b = (int(v) for v in value)
    if a < lo or b < lo or a > _DIM_MAX or b > _DIM_MAX:
        raise ManifestError(f"{where}: every value must be an integer between {lo} and "
                            f"{_DIM_MAX}, not {_fmt_shape((a, b))}")
    return a, b


def conv_output_hw(in_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                   padding: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    """``((H + 2·PH − KH) // SH + 1, (W + 2·PW − KW) // SW + 1)`` (may be < 1: not checked)."""
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(in_hw, kernel, stride, padding))


def _check_geometry(at: str, in_shape: tuple[int, int, int], kernel: tuple[int, int],
                    stride: tuple[int, int], padding: tuple[int, int]) -> tuple[int, int]:
    for p, k in zip(padding, kernel):
        if not 0 <= p < k:
            raise ManifestError(f"{at} 'padding': every value must be between 0 and kernel - 1 "
                                f"(kernel {_fmt_shape(kernel)}), not {_fmt_shape(padding)}")
    oh, ow = conv_output_hw(in_shape[1:], kernel, stride, padding)
    if oh < 1 or ow < 1:
        raise ManifestError(
            f"{at} 'kernel': {_fmt_shape(kernel)} does not fit the input {_fmt_shape(in_shape)} "
            f"with padding {_fmt_shape(padding)} (output would be {oh} x {ow})"
        )
    return oh, ow


def _check_neuron_scalars(at: str, weight_bits: Any, state_bits: Any, threshold: Any,
                          leak_shift: Any, reset: Any) -> tuple[int, int, int, int | None,
                                                                ResetMode]:
    wb = _check_int(weight_bits, *WEIGHT_BITS_RANGE, f"{at} 'weight_bits'")
    sb = _check_int(state_bits, *STATE_BITS_RANGE, f"{at} 'state_bits'")
    th = _check_int(threshold, 1, (1 << (sb - 1)) - 1, f"{at} 'threshold'")
    k = leak_shift
    if k is not None:
        k = _check_int(k, 1, sb - 1, f"{at} 'leak_shift'")
    return wb, sb, th, k, ResetMode.parse(reset, f"{at} 'reset'")


def _check_bias(at: str, bias: Any, n: int, sb: int) -> np.ndarray | None:
    if bias is None:
        return None
    b = np.asarray(bias)
    if b.shape != (n,):
        raise ManifestError(f"{at} 'bias': must have shape ({n},), not {b.shape}")
    return to_int_array(b, IntPrecision(sb), f"{at} 'bias'")


class _NeuronLayer:
    """What every layer with integer LIF neurons (dense, conv2d) has in common."""

    name: str
    weight: np.ndarray
    weight_bits: int
    state_bits: int
    threshold: int
    leak_shift: int | None
    reset: ResetMode
    bias: np.ndarray | None

    has_neurons = True
    """True: this layer has membranes, fires and appears in the golden model's outputs."""

    @property
    def has_bias(self) -> bool:
        """Whether the layer carries a bias vector."""
        return self.bias is not None

    @property
    def weight_precision(self) -> IntPrecision:
        """Signed ``weight_bits``-bit integer type of the weights."""
        return IntPrecision(self.weight_bits)

    @property
    def state_precision(self) -> IntPrecision:
        """Signed ``state_bits``-bit integer type of the membrane."""
        return IntPrecision(self.state_bits)

    @property
    def n_weights(self) -> int:
        """Number of stored weights (synapses for dense, kernel entries for conv2d)."""
        return int(self.weight.size)

    @property
    def weight_memory_bits(self) -> int:
        """Bits needed to store the weights at ``weight_bits`` each."""
        return self.n_weights * self.weight_bits

    @property
    def in_size(self) -> int:
        """Number of input values (the product of :attr:`in_shape`)."""
        return _prod(self.in_shape)

    @property
    def out_size(self) -> int:
        """Number of outputs (the product of :attr:`out_shape`)."""
        return _prod(self.out_shape)

    @property
    def n_neurons(self) -> int:
        """Number of neurons (one per output value)."""
        return self.out_size

    @property
    def membrane_memory_bits(self) -> int:
        """Bits of membrane state: ``n_neurons · state_bits``."""
        return self.n_neurons * self.state_bits

    @property
    def fan_in(self) -> int:
        """Number of weights one neuron sums (``in_features``, or ``C·KH·KW``)."""
        return int(self.weight[0].size)

    def neuron_bias(self) -> np.ndarray | None:
        """The bias of every neuron, flattened like :attr:`out_shape` (None without bias)."""
        if self.bias is None:
            return None
        per_channel = self.out_size // self.bias.shape[0]
        return self.bias if per_channel == 1 else np.repeat(self.bias, per_channel)

    def _neuron_header(self) -> dict[str, Any]:
        return {
            "weight_bits": self.weight_bits,
            "state_bits": self.state_bits,
            "threshold": self.threshold,
            "leak_shift": self.leak_shift,
            "reset": self.reset.value,
            "has_bias": self.has_bias,
        }

    def _arrays_equal(self, other: Any) -> bool:
        return (
            np.array_equal(self.weight, other.weight)
            and (self.bias is None) == (other.bias is None)
            and (self.bias is None or np.array_equal(self.bias, other.bias))
        )


@dataclass(frozen=True, eq=False)
class IntLayer(_NeuronLayer):
    """One dense layer of integer LIF neurons (``kind`` ``"dense"``; alias :data:`DenseLayer`).

    Per sample all state starts at zero. At each step ``t`` and for each neuron ``i``
    (``x[t]`` the layer's input at step ``t``: spikes, or counts after a sum-pool)::

        r    = u[t-1] * (1 - s[t-1])          reset "zero"
        r    = u[t-1] - θ * s[t-1]            reset "subtract"
        d    = r - (r >> k)                   (arithmetic shift; d = r without leak)
        a    = d + b[i] + Σ_j W[i, j] x[t][j]  (exact)
        u[t] = clamp(a, -2^(B-1), 2^(B-1)-1)
        s[t] = u[t] >= θ

    The reset uses the previous step's spike: a neuron that fires at ``t`` keeps
    ``u[t]`` visible and is reset at the start of ``t+1``. A map input ``[C, H, W]`` is
    flattened channel-major (``j = c·H·W + y·W + x``).

    Parameters
    ----------
    name : str
        Unique layer name, a valid Verilog identifier.
    weight : array of int, shape (out_features, in_features)
        Signed ``weight_bits``-bit integers.
    weight_bits : int
        2..16.
    state_bits : int
        Membrane width ``B``, 2..32.
    threshold : int
        ``θ``, 1 .. 2^(B-1)-1.
    leak_shift : int or None
        ``k``, 1 .. B-1, or None for no leak.
    reset : ResetMode or str
        ``"zero"`` or ``"subtract"``.
    bias : array of int, shape (out_features,), or None
        Signed ``state_bits``-bit integers.
    """

    name: str
    weight: np.ndarray
    weight_bits: int
    state_bits: int
    threshold: int
    leak_shift: int | None = None
    reset: ResetMode = ResetMode.ZERO
    bias: np.ndarray | None = None

    kind: ClassVar[LayerKind] = LayerKind.DENSE

    def __post_init__(self) -> None:
        name = _check_name(self.name)
        at = f"layer {name!r}: field"
        wb, sb, th, k, reset = _check_neuron_scalars(
            at, self.weight_bits, self.state_bits, self.threshold, self.leak_shift, self.reset)
        w = np.asarray(self.weight)
        if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
            raise ManifestError(
                f"{at} 'weight': must be a 2-D (out_features, in_features) array with both "
                f"sizes >= 1, not shape {w.shape}"
            )
        w = to_int_array(w, IntPrecision(wb), f"{at} 'weight'")
        b = _check_bias(at, self.bias, w.shape[0], sb)
        for attr, val in (
            ("weight_bits", wb), ("state_bits", sb), ("threshold", th), ("leak_shift", k),
            ("reset", reset), ("weight", w), ("bias", b),
        ):
            object.__setattr__(self, attr, val)

    # ---------------------------------------------------------------- properties
    @property
    def in_features(self) -> int:
        """Number of inputs (columns of ``weight``)."""
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        """Number of neurons (rows of ``weight``)."""
        return int(self.weight.shape[0])

    @property
    def in_shape(self) -> tuple[int, ...]:
        """``(in_features,)``: a dense layer sees its input flattened."""
        return (self.in_features,)

    @property
    def out_shape(self) -> tuple[int, ...]:
        """``(out_features,)``."""
        return (self.out_features,)

    @property
    def n_weights(self) -> int:
        """Number of synapses."""
        return self.in_features * self.out_features

    def header(self) -> dict[str, Any]:
        """Return this layer's entry of a version 1 ``network.json`` (no ``kind``)."""
        return {
            "name": self.name,
            "in_features": self.in_features,
            "out_features": self.out_features,
            **self._neuron_header(),
        }

    def replace(self, **changes: Any) -> IntLayer:
        """Return a copy with some fields changed (validated again)."""
        fields = {
            "name": self.name, "weight": self.weight, "weight_bits": self.weight_bits,
            "state_bits": self.state_bits, "threshold": self.threshold, "leak_shift": self.leak_shift,
            "reset": self.reset, "bias": self.bias,
        }
        fields.update(changes)
        return IntLayer(**fields)

    def equals(self, other: Any) -> bool:
        """Exact equality of every field and every weight."""
        return (
            isinstance(other, IntLayer)
            and self.header() == other.header()
            and self._arrays_equal(other)
        )


DenseLayer = IntLayer
"""The dense layer under its kind's name (the same class as :class:`IntLayer`)."""


@dataclass(frozen=True, eq=False)
class Conv2dLayer(_NeuronLayer):
    """A 2-D convolution of integer LIF neurons (``kind`` ``"conv2d"``).

    Input map ``[C, H, W]``, output map ``[O, OH, OW]`` with
    ``OH = (H + 2·PH − KH) // SH + 1`` (same for ``OW``). At each step the synaptic input
    of neuron ``(o, y, x)`` is torch's ``conv2d`` (a cross-correlation) with zero padding,
    computed exactly::

        Σ_{c, i, j} W[o, c, i, j] · x[t][c, y·SH + i − PH, x·SW + j − PW]   (x = 0 outside)

    and every neuron then follows the same reset / leak / input / clamp / fire steps as a
    dense neuron, with the bias ``b[o]`` of its output channel. Neurons are numbered
    channel-major: ``i = o·OH·OW + y·OW + x``.

    Parameters
    ----------
    name : str
        Unique layer name, a valid Verilog identifier.
    in_shape : (C, H, W)
        The input map; ``C`` must equal ``weight.shape[1]``.
    weight : array of int, shape (O, C, KH, KW)
        Signed ``weight_bits``-bit integers; the kernel size is ``(KH, KW)``.
    weight_bits, state_bits, threshold, leak_shift, reset :
        As for :class:`IntLayer`.
    bias : array of int, shape (O,), or None
        One signed ``state_bits``-bit bias per output channel.
    stride : int or (SH, SW)
        >= 1 (default 1).
    padding : int or (PH, PW)
        Zero padding, ``0 <= P < K`` (default 0).
    """

    name: str
    in_shape: tuple[int, int, int]
    weight: np.ndarray
    weight_bits: int
    state_bits: int
    threshold: int
    leak_shift: int | None = None
    reset: ResetMode = ResetMode.ZERO
    bias: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)

    kind: ClassVar[LayerKind] = LayerKind.CONV2D

    def __post_init__(self) -> None:
        name = _check_name(self.name)
        at = f"layer {name!r}: field"
        in_shape = _check_shape(self.in_shape, (3,), f"{at} 'in_shape'",
                                "a list [C, H, W] of 3 integers >= 1")
        wb, sb, th, k, reset = _check_neuron_scalars(
            at, self.weight_bits, self.state_bits, self.threshold, self.leak_shift, self.reset)
        stride = _check_pair(self.stride, 1, f"{at} 'stride'")
        padding = _check_pair(self.padding, 0, f"{at} 'padding'")
        w = np.asarray(self.weight)
        if w.ndim != 4 or min(w.shape) < 1:
            raise ManifestError(
                f"{at} 'weight': must be a 4-D (out_channels, in_channels, kernel_h, kernel_w) "
                f"array with every size >= 1, not shape {w.shape}"
            )
        if w.shape[1] != in_shape[0]:
            raise ManifestError(
                f"{at} 'weight': has {w.shape[1]} input channels (shape {w.shape}) but "
                f"in_shape {_fmt_shape(in_shape)} has {in_shape[0]}"
            )
        _check_geometry(at, in_shape, (int(w.shape[2]), int(w.shape[3])), stride, padding)
        w = to_int_array(w, IntPrecision(wb), f"{at} 'weight'")
        b = _check_bias(at, self.bias, w.shape[0], sb)
        for attr, val in (
            ("in_shape", in_shape), ("weight_bits", wb), ("state_bits", sb), ("threshold", th),
            ("leak_shift", k), ("reset", reset), ("weight", w), ("bias", b),
            ("stride", stride), ("padding", padding),
        ):
            object.__setattr__(self, attr, val)

    @property
    def in_channels(self) -> int:
        """``C``."""
        return int(self.weight.shape[1])

    @property
    def out_channels(self) -> int:
        """``O``."""
        return int(self.weight.shape[0])

    @property
    def kernel(self) -> tuple[int, int]:
        """``(KH, KW)``."""
        return int(self.weight.shape[2]), int(self.weight.shape[3])

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """``(O, OH, OW)``."""
        oh, ow = conv_output_hw(self.in_shape[1:], self.kernel, self.stride, self.padding)
        return self.out_channels, oh, ow

    def header(self) -> dict[str, Any]:
        """Return this layer's entry of a version 2 ``network.json``."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "in_shape": list(self.in_shape),
            "out_channels": self.out_channels,
            "kernel": list(self.kernel),
            "stride": list(self.stride),
            "padding": list(self.padding),
            **self._neuron_header(),
        }

    def replace(self, **changes: Any) -> Conv2dLayer:
        """Return a copy with some fields changed (validated again)."""
        fields = {
            "name": self.name, "in_shape": self.in_shape, "weight": self.weight,
            "weight_bits": self.weight_bits, "state_bits": self.state_bits,
            "threshold": self.threshold, "leak_shift": self.leak_shift, "reset": self.reset,
            "bias": self.bias, "stride": self.stride, "padding": self.padding,
        }
        fields.update(changes)
        return Conv2dLayer(**fields)

    def equals(self, other: Any) -> bool:
        """Exact equality of every field and every weight."""
        return (
            isinstance(other, Conv2dLayer)
            and self.header() == other.header()
            and self._arrays_equal(other)
        )


@dataclass(frozen=True, eq=False)
class SumPool2dLayer:
    """A sum-pool (``kind`` ``"sumpool2d"``): no weights, no neurons, no state.

    At every step its output is the count ``p[t][c, y, x] = Σ_{i<KH, j<KW}
    x[t][c, y·SH + i, x·SW + j]`` (no padding; windows that do not fit are dropped), a
    non-negative integer that feeds the next layer's synapses in the same step. It is
    never the last layer and never follows another sum-pool.

    Parameters
    ----------
    name : str
        Unique layer name, a valid Verilog identifier.
    in_shape : (C, H, W)
    kernel : int or (KH, KW)
        >= 1 and at most the map.
    stride : int or (SH, SW), or None
        >= 1; None (default) means the kernel (non-overlapping windows).
    """

    name: str
    in_shape: tuple[int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int] | None = None

    kind: ClassVar[LayerKind] = LayerKind.SUMPOOL2D
    has_neurons: ClassVar[bool] = False
    has_bias: ClassVar[bool] = False
    weight: ClassVar[None] = None
    bias: ClassVar[None] = None
    n_weights: ClassVar[int] = 0
    weight_memory_bits: ClassVar[int] = 0
    n_neurons: ClassVar[int] = 0
    membrane_memory_bits: ClassVar[int] = 0

    def __post_init__(self) -> None:
        name = _check_name(self.name)
        at = f"layer {name!r}: field"
        in_shape = _check_shape(self.in_shape, (3,), f"{at} 'in_shape'",
                                "a list [C, H, W] of 3 integers >= 1")
        kernel = _check_pair(self.kernel, 1, f"{at} 'kernel'")
        stride = kernel if self.stride is None else _check_pair(self.stride, 1, f"{at} 'stride'")
        _check_geometry(at, in_shape, kernel, stride, (0, 0))
        object.__setattr__(self, "in_shape", in_shape)
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "stride", stride)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """``(C, (H − KH) // SH + 1, (W − KW) // SW + 1)``."""
        oh, ow = conv_output_hw(self.in_shape[1:], self.kernel, self.stride)
        return self.in_shape[0], oh, ow

    @property
    def in_size(self) -> int:
        """Number of input values."""
        return _prod(self.in_shape)

    @property
    def out_size(self) -> int:
        """Number of output counts."""
        return _prod(self.out_shape)

    @property
    def max_count(self) -> int:
        """The largest count an output can hold: ``KH·KW``."""
        return self.kernel[0] * self.kernel[1]

    @property
    def tiles(self) -> bool:
        """True when the windows tile the map (stride = kernel): one event per input spike."""
        return self.stride == self.kernel

    def header(self) -> dict[str, Any]:
        """Return this layer's entry of a version 2 ``network.json``."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "in_shape": list(self.in_shape),
            "kernel": list(self.kernel),
            "stride": list(self.stride),
        }

    def replace(self, **changes: Any) -> SumPool2dLayer:
        """Return a copy with some fields changed (validated again)."""
        fields = {"name": self.name, "in_shape": self.in_shape, "kernel": self.kernel,
                  "stride": self.stride}
        fields.update(changes)
        return SumPool2dLayer(**fields)

    def equals(self, other: Any) -> bool:
        """Exact equality of every field."""
        return isinstance(other, SumPool2dLayer) and self.header() == other.header()


Layer = IntLayer | Conv2dLayer | SumPool2dLayer
"""Any layer of an :class:`IntNetwork` (a tagged union on ``kind``)."""
LAYER_TYPES = (IntLayer, Conv2dLayer, SumPool2dLayer)
NeuronLayer = IntLayer | Conv2dLayer
"""A layer with neurons (dense or conv2d)."""


def _check_chain(input_shape: tuple[int, ...], layers: Any) -> None:
    """Shapes chain and sum-pool placement; ``layers`` have name, kind, in/out shapes.

    The one implementation of the network-level rules, used by :class:`IntNetwork` and,
    before any weight is read, by the manifest loader.
    """
    prev_shape = input_shape
    prev_what = (f"input_size is {input_shape[0]}" if len(input_shape) == 1
                 else f"input_shape is {_fmt_shape(input_shape)}")
    prev_kind = None
    prev_name = None
    n = len(layers)
    for i, layer in enumerate(layers):
        at = f"layer {layer.name!r}: field"
        if layer.kind is LayerKind.DENSE:
            size = _prod(prev_shape)
            if layer.in_features != size:
                if i and len(prev_shape) == 1:
                    what = f"layer {prev_name!r} out_features is {size}"
                elif i:
                    what = (f"layer {prev_name!r} output shape {_fmt_shape(prev_shape)} "
                            f"flattens to {size}")
                elif len(prev_shape) == 1:
                    what = prev_what
                else:
                    what = f"{prev_what} (flattens to {size})"
                raise ManifestError(f"{at} 'in_features': is {layer.in_features} but {what}")
        else:
            if tuple(layer.in_shape) != tuple(prev_shape):
                what = (f"layer {prev_name!r} output shape is {_fmt_shape(prev_shape)}" if i
                        else prev_what)
                raise ManifestError(
                    f"{at} 'in_shape': is {_fmt_shape(layer.in_shape)} but {what}")
        if layer.kind is LayerKind.SUMPOOL2D:
            if prev_kind is LayerKind.SUMPOOL2D:
                raise ManifestError(f"{at} 'kind': a sumpool2d layer cannot follow another "
                                    f"sumpool2d layer ({prev_name!r})")
            if i == n - 1:
                raise ManifestError(f"{at} 'kind': a sumpool2d layer cannot be the last layer "
                                    "(the readout needs neurons)")
        prev_shape = tuple(layer.out_shape)
        prev_kind = layer.kind
        prev_name = layer.name


@dataclass(frozen=True, eq=False)
class IntNetwork:
    """A chain of layers (dense, conv2d, sumpool2d) run for ``timesteps`` steps per sample.

    Parameters
    ----------
    layers : sequence of IntLayer, Conv2dLayer, SumPool2dLayer
        At least one; each layer's input shape must equal the previous layer's output
        shape (a dense layer's ``in_features`` its product), names must be unique, a
        sum-pool is never last nor follows a sum-pool.
    timesteps : int
        ``T`` >= 1.
    readout : Readout or str
        ``"spike_count"`` or ``"membrane"``; applies to the last layer (dense or conv2d)
        over its flattened outputs.
    meta : mapping
        Free-form JSON-serializable provenance (scales, traces, allocation ...).
    input_shape : (N,) or (C, H, W), or None
        The input; None (default) takes the first layer's input shape (``(in_features,)``
        for a dense first layer). A dense first layer may read a map ``(C, H, W)``
        flattened channel-major.
    """

    layers: tuple[Layer, ...]
    timesteps: int
    readout: Readout = Readout.SPIKE_COUNT
    meta: Mapping[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise ManifestError("field 'layers': a network needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, LAYER_TYPES):
                raise ManifestError(f"layers[{i}]: must be an IntLayer, Conv2dLayer or "
                                    f"SumPool2dLayer, not {type(layer).__name__}")
        T = _check_int(self.timesteps, 1, 1 << 20, "field 'timesteps'")
        readout = Readout.parse(self.readout, "field 'readout'")
        seen: set[str] = set()
        for layer in layers:
            if layer.name in seen:
                raise ManifestError(f"layer {layer.name!r}: field 'name': is used by two layers")
            seen.add(layer.name)
        shape = self.input_shape
        if shape is None:
            shape = tuple(layers[0].in_shape)
        else:
            shape = _check_shape(shape, (1, 3), "field 'input_shape'",
                                 "a list [N] or [C, H, W] of integers >= 1")
        _check_chain(shape, layers)
        meta = self.meta if self.meta is not None else {}
        if not isinstance(meta, Mapping):
            raise ManifestError(f"field 'meta': must be an object, not {type(meta).__name__}")
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "timesteps", T)
        object.__setattr__(self, "readout", readout)
        object.__setattr__(self, "meta", dict(meta))
        object.__setattr__(self, "input_shape", shape)

    @property
    def input_size(self) -> int:
        """Number of input spike channels (the product of :attr:`input_shape`)."""
        return _prod(self.input_shape)

    @property
    def output_size(self) -> int:
        """Number of classes (the last layer's flattened output size)."""
        return self.layers[-1].out_size

    @property
    def neuron_layers(self) -> tuple[NeuronLayer, ...]:
        """The layers with neurons (dense and conv2d), in order."""
        return tuple(layer for layer in self.layers if layer.has_neurons)

    @property
    def is_dense(self) -> bool:
        """True for a chain of dense layers on a flat input (a version 1 network)."""
        return len(self.input_shape) == 1 and all(
            layer.kind is LayerKind.DENSE for layer in self.layers)

    @property
    def format_version(self) -> int:
        """The manifest version :func:`save_network` writes: 1 when dense, else 2."""
        return 1 if self.is_dense else 2

    @property
    def weight_memory_bits(self) -> int:
        """Total weight storage at the chosen widths."""
        return sum(layer.weight_memory_bits for layer in self.layers)

    @property
    def membrane_memory_bits(self) -> int:
        """Total membrane storage: Σ neurons · state_bits."""
        return sum(layer.membrane_memory_bits for layer in self.layers)

    @property
    def n_weights(self) -> int:
        """Total number of stored weights."""
        return sum(layer.n_weights for layer in self.layers)

    @property
    def n_neurons(self) -> int:
        """Total number of neurons."""
        return sum(layer.n_neurons for layer in self.layers)

    def layer(self, name: str) -> Layer:
        """Return the layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def header(self) -> dict[str, Any]:
        """Return the content of ``network.json`` (version :attr:`format_version`)."""
        if self.is_dense:
            return {
                "format": FORMAT,
                "version": 1,
                "timesteps": self.timesteps,
                "input_size": self.input_size,
                "readout": self.readout.value,
                "layers": [layer.header() for layer in self.layers],
                "meta": self.meta,
            }
        layers = []
        for layer in self.layers:
            h = layer.header()
            if "kind" not in h:
                h = {"name": h["name"], "kind": layer.kind.value,
                     **{k: v for k, v in h.items() if k != "name"}}
            layers.append(h)
        return {
            "format": FORMAT,
            "version": 2,
            "timesteps": self.timesteps,
            "input_shape": list(self.input_shape),
            "input_size": self.input_size,
            "readout": self.readout.value,
            "layers": layers,
            "meta": self.meta,
        }

    def replace(self, **changes: Any) -> IntNetwork:
        """Return a copy with some fields changed (validated again).

        A flat ``input_shape`` follows new ``layers`` (it is the first layer's
        ``in_features``); a map ``input_shape`` is kept unless changed.
        """
        fields = {"layers": self.layers, "timesteps": self.timesteps, "readout": self.readout,
                  "meta": self.meta,
                  "input_shape": None if len(self.input_shape) == 1 else self.input_shape}
        fields.update(changes)
        return IntNetwork(**fields)

    def equals(self, other: IntNetwork) -> bool:
        """Exact equality of structure, constants, weights, biases and meta."""
        return (
            self.timesteps == other.timesteps
            and self.readout == other.readout
            and self.input_shape == other.input_shape
            and len(self.layers) == len(other.layers)
            and all(a.equals(b) for a, b in zip(self.layers, other.layers))
            and _json_roundtrip(self.meta) == _json_roundtrip(other.meta)
        )


# ----------------------------------------------------------------------------- I/O

_NUMBER_LIST = re.compile(r"\[\s+(-?\d+(?:,\s+-?\d+)*)\s+\]")


def _header_to_json(header: dict[str, Any]) -> str:
    text = json.dumps(header, indent=2, default=_json_default, allow_nan=False) + "\n"
    if header.get("version", 1) >= 2:
        # Shapes on one line ("in_shape": [2, 9, 8]). JSON strings hold no raw newline,
        # so only real lists of integers match. Version 1 keeps its historical layout.
        text = _NUMBER_LIST.sub(
            lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    return text


def save_network(net: IntNetwork, directory: str | os.PathLike[str]) -> Path:
    """Write ``net`` as a manifest directory (``network.json`` + ``weights.npz``).

    The directory is written atomically: files are staged next to it and moved into
    place together, so an interrupted save leaves either the old or the new manifest.
    Other files already in the directory (e.g. ``test_spikes.npz``) are kept.
    Output is deterministic (no timestamps): the same network gives identical bytes.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = _header_to_json(net.header())
    arrays: dict[str, np.ndarray] = {}
    for layer in net.neuron_layers:
        arrays[f"{layer.name}.weight"] = _narrow(layer.weight, layer.weight_bits)
        if layer.bias is not None:
            arrays[f"{layer.name}.bias"] = _narrow(layer.bias, layer.state_bits)
    tmp_json = tmp_npz = None
    try:
        fd, tmp_json = tempfile.mkstemp(prefix=".network.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        fd, tmp_npz = tempfile.mkstemp(prefix=".weights.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as f:
            _write_npz_deterministic(f, arrays)
        os.replace(tmp_npz, directory / "weights.npz")
        tmp_npz = None
        os.replace(tmp_json, directory / "network.json")
        tmp_json = None
    finally:
        for tmp in (tmp_json, tmp_npz):
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
    return directory


def _narrow(arr: np.ndarray, bits: int) -> np.ndarray:
    dtype = np.int8 if bits <= 8 else np.int16 if bits <= 16 else np.int32
    return np.asarray(arr).astype(dtype)


def _write_npz_deterministic(f: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Write an uncompressed .npz with fixed zip timestamps (byte-reproducible)."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with zf.open(info, "w") as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arrays[key]),
                                          allow_pickle=False)


def load_network(directory: str | os.PathLike[str]) -> IntNetwork:
    """Read and validate a manifest directory.

    Raises
    ------
    ManifestError
        One line naming the file, the layer and the field for anything that breaks
        the format (missing files or keys, wrong types, out-of-range values,
        inconsistent sizes, unknown format or version, unreadable npz).
    """
    directory = Path(directory)
    json_path = directory / "network.json"
    npz_path = directory / "weights.npz"
    if not directory.exists():
        raise ManifestError(f"{directory}: no such manifest directory")
    if not directory.is_dir():
        raise ManifestError(f"{directory}: is not a directory (a manifest is a directory "
                            "holding network.json and weights.npz)")
    if not json_path.is_file():
        raise ManifestError(f"{json_path}: missing")
    try:
        header = json.loads(json_path.read_text(encoding="utf-8"),
                            parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"{json_path}: is not valid JSON ({_one_line(exc)})") from None
    try:
        return _network_from_header(header, npz_path)
    except ManifestError as exc:
        msg = str(exc)
        if msg.startswith(str(npz_path)):
            raise
        raise ManifestError(f"{json_path}: {msg}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


_NEURON_KEYS = frozenset({"weight_bits", "state_bits", "threshold", "leak_shift", "reset",
                          "has_bias"})
_LAYER_KEYS = {"name", "in_features", "out_features"} | _NEURON_KEYS
"""The fields of a dense layer (all required; ``kind`` optional)."""
_KIND_KEYS: dict[LayerKind, tuple[frozenset[str], frozenset[str]]] = {
    # kind: (required fields, optional fields)
    LayerKind.DENSE: (frozenset(_LAYER_KEYS), frozenset({"kind"})),
    LayerKind.CONV2D: (frozenset({"name", "in_shape", "out_channels", "kernel"}) | _NEURON_KEYS,
                       frozenset({"kind", "stride", "padding"})),
    LayerKind.SUMPOOL2D: (frozenset({"name", "kind", "in_shape", "kernel"}),
                          frozenset({"stride"})),
}
_TOP_KEYS = {"format", "version", "timesteps", "input_size", "readout", "layers", "meta"}
_TOP_KEYS_V2 = {"format", "version", "timesteps", "input_shape", "input_size", "readout",
                "layers", "meta"}
_TOP_REQUIRED = {1: _TOP_KEYS - {"meta"}, 2: _TOP_KEYS_V2 - {"meta", "input_size"}}


@dataclass(frozen=True)
class _Spec:
    """A layer as ``network.json`` declares it, checked before any weight is read."""

    name: str
    kind: LayerKind
    spec: dict[str, Any]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_features: int = 0


def _layer_spec(i: int, spec: Any, version: int) -> _Spec:
    """Check one layer entry of ``network.json`` (fields, types, ranges, geometry)."""
    if not isinstance(spec, dict):
        raise ManifestError(f"layers[{i}]: must be an object")
    lname = spec.get("name", f"#{i}")
    where = f"layer {lname!r}: field"
    kind = LayerKind.parse(spec.get("kind", "dense"), f"{where} 'kind'")
    if version == 1 and kind is not LayerKind.DENSE:
        raise ManifestError(f"{where} 'kind': {kind.value!r} needs version 2 (this manifest "
                            "says version 1)")
    required, optional = _KIND_KEYS[kind]
    missing = sorted(required - spec.keys())
    if missing:
        raise ManifestError(f"{where} {missing[0]!r}: missing")
    unknown = sorted(spec.keys() - required - optional)
    if unknown:
        raise ManifestError(f"{where} {unknown[0]!r}: unknown field for a {kind.value} layer")
    name = _check_name(spec["name"])
    if kind is LayerKind.SUMPOOL2D:
        in_shape = _check_shape(spec["in_shape"], (3,), f"{where} 'in_shape'",
                                "a list [C, H, W] of 3 integers >= 1")
        kernel = _check_pair(spec["kernel"], 1, f"{where} 'kernel'", scalar_ok=False)
        stride = (kernel if "stride" not in spec
                  else _check_pair(spec["stride"], 1, f"{where} 'stride'", scalar_ok=False))
        oh, ow = _check_geometry(where, in_shape, kernel, stride, (0, 0))
        return _Spec(name, kind, spec, in_shape, (in_shape[0], oh, ow))
    _check_neuron_scalars(where, spec["weight_bits"], spec["state_bits"], spec["threshold"],
                          spec["leak_shift"], spec["reset"])
    if not isinstance(spec["has_bias"], bool):
        raise ManifestError(f"{where} 'has_bias': must be true or false, "
                            f"not {spec['has_bias']!r}")
    if kind is LayerKind.DENSE:
        in_f = _check_int(spec["in_features"], 1, _DIM_MAX, f"{where} 'in_features'")
        out_f = _check_int(spec["out_features"], 1, _DIM_MAX, f"{where} 'out_features'")
        return _Spec(name, kind, spec, (in_f,), (out_f,), in_f)
    in_shape = _check_shape(spec["in_shape"], (3,), f"{where} 'in_shape'",
                            "a list [C, H, W] of 3 integers >= 1")
    out_c = _check_int(spec["out_channels"], 1, _DIM_MAX, f"{where} 'out_channels'")
    kernel = _check_pair(spec["kernel"], 1, f"{where} 'kernel'", scalar_ok=False)
    stride = _check_pair(spec.get("stride", [1, 1]), 1, f"{where} 'stride'", scalar_ok=False)
    padding = _check_pair(spec.get("padding", [0, 0]), 0, f"{where} 'padding'",
                          scalar_ok=False)
    oh, ow = _check_geometry(where, in_shape, kernel, stride, padding)
    return _Spec(name, kind, spec, in_shape, (out_c, oh, ow))


def _network_from_header(header: Any, npz_path: Path) -> IntNetwork:
    if not isinstance(header, dict):
        raise ManifestError(f"top level: must be a JSON object, not {type(header).__name__}")
    for key in ("format", "version"):
        if key not in header:
            raise ManifestError(f"field {key!r}: missing")
    if header["format"] != FORMAT:
        raise ManifestError(f"field 'format': must be {FORMAT!r}, not {header['format']!r}")
    version = header["version"]
    if not _is_int(version) or version not in SUPPORTED_VERSIONS:
        raise ManifestError(
            f"field 'version': {version!r} is not supported (this spikeforge reads "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))})"
        )
    version = int(version)
    allowed = _TOP_KEYS if version == 1 else _TOP_KEYS_V2
    missing = sorted(_TOP_REQUIRED[version] - header.keys())
    if missing:
        raise ManifestError(f"field {missing[0]!r}: missing")
    unknown = sorted(header.keys() - allowed)
    if unknown:
        if version == 1 and unknown[0] in _TOP_KEYS_V2:
            raise ManifestError(f"field {unknown[0]!r}: needs version 2 (this manifest says "
                                "version 1)")
        raise ManifestError(f"field {unknown[0]!r}: unknown field")
    timesteps = _check_int(header["timesteps"], 1, 1 << 20, "field 'timesteps'")
    if version == 1:
        input_shape: tuple[int, ...] = (
            _check_int(header["input_size"], 1, _DIM_MAX, "field 'input_size'"),)
    else:
        input_shape = _check_shape(header["input_shape"], (1, 3), "field 'input_shape'",
                                   "a list [N] or [C, H, W] of integers >= 1")
        if "input_size" in header:
            size = _check_int(header["input_size"], 1, 1 << 40, "field 'input_size'")
            if size != _prod(input_shape):
                raise ManifestError(f"field 'input_size': is {size} but input_shape "
                                    f"{_fmt_shape(input_shape)} has {_prod(input_shape)} values")
    readout = Readout.parse(header["readout"], "field 'readout'")
    meta = header.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ManifestError(f"field 'meta': must be an object, not {type(meta).__name__}")
    raw = header["layers"]
    if not isinstance(raw, list) or not raw:
        raise ManifestError("field 'layers': must be a non-empty list")
    # Structural checks on the JSON alone, before touching the weights.
    specs = [_layer_spec(i, spec, version) for i, spec in enumerate(raw)]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ManifestError(f"layer {dup!r}: field 'name': is used by two layers")
    _check_chain(input_shape, specs)
    arrays = _read_npz(npz_path)
    expected = set()
    layers: list[Layer] = []
    for s in specs:
        spec, lname = s.spec, s.name
        if s.kind is LayerKind.SUMPOOL2D:
            layers.append(SumPool2dLayer(name=lname, in_shape=s.in_shape, kernel=spec["kernel"],
                                         stride=spec.get("stride")))
            continue
        wkey, bkey = f"{lname}.weight", f"{lname}.bias"
        expected.add(wkey)
        if wkey not in arrays:
            raise ManifestError(f"{npz_path}: layer {lname!r}: array {wkey!r}: missing")
        w = arrays[wkey]
        if s.kind is LayerKind.DENSE:
            shape: tuple[int, ...] = (spec["out_features"], spec["in_features"])
            axes = "(out_features, in_features)"
        else:
            shape = (spec["out_channels"], s.in_shape[0], *spec["kernel"])
            axes = "(out_channels, in_channels, kernel_h, kernel_w)"
        if w.shape != shape:
            raise ManifestError(f"{npz_path}: layer {lname!r}: array {wkey!r}: shape "
                                f"{w.shape} does not match {axes} = {shape}")
        bias = None
        if spec["has_bias"]:
            expected.add(bkey)
            if bkey not in arrays:
                raise ManifestError(f"{npz_path}: layer {lname!r}: array {bkey!r}: missing "
                                    "(has_bias is true)")
            bias = arrays[bkey]
        elif bkey in arrays:
            raise ManifestError(f"{npz_path}: layer {lname!r}: array {bkey!r}: present but "
                                "has_bias is false")
        neuron = {"name": lname, "weight": w, "weight_bits": spec["weight_bits"],
                  "state_bits": spec["state_bits"], "threshold": spec["threshold"],
                  "leak_shift": spec["leak_shift"], "reset": spec["reset"], "bias": bias}
        try:
            if s.kind is LayerKind.DENSE:
                layers.append(IntLayer(**neuron))
            else:
                layers.append(Conv2dLayer(in_shape=s.in_shape,
                                          stride=spec.get("stride", (1, 1)),
                                          padding=spec.get("padding", (0, 0)), **neuron))
        except ManifestError as exc:
            raise ManifestError(f"{npz_path}: {exc}") from None
    extra = sorted(set(arrays) - expected)
    if extra:
        raise ManifestError(f"{npz_path}: array {extra[0]!r}: not named by any layer")
    return IntNetwork(layers=tuple(layers), timesteps=timesteps, readout=readout, meta=meta,
                      input_shape=input_shape)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ManifestError(f"{path}: missing")
    return read_npz(path, ManifestError)


def copy_manifest(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Copy a manifest directory's two files (used by tests and the flow)."""
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("network.json", "weights.npz"):
        shutil.copyfile(Path(src) / name, dst / name)

