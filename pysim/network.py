"""The integer network: typed, frozen, validated dataclasses and the manifest directory.

This is the one intermediate representation that flows through every stage of
spikeforge: the frontend (``quant``) builds it, the golden model (``pysim.golden``)
defines what it computes, the hardware generator (``hdl``) realizes it and the
testbenches (``sim``) check the hardware against it.

A manifest directory holds ``network.json`` (structure, widths, neuron constants) and
``weights.npz`` (integer weights and biases); see ``docs/manifest.md``.
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
from typing import Any

import numpy as np

from .errors import ManifestError
from .precision import IntPrecision
from .util import check_int
from .util import is_int as _is_int
from .util import json_default as _json_default
from .util import json_roundtrip as _json_roundtrip

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "STATE_BITS_RANGE",
    "SUPPORTED_VERSIONS",
    "WEIGHT_BITS_RANGE",
    "IntLayer",
    "IntNetwork",
    "ManifestError",
    "Readout",
    "ResetMode",
    "load_network",
    "save_network",
    "to_int_array",
]

FORMAT = "spikeforge.network"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)

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


@dataclass(frozen=True, eq=False)
class IntLayer:
    """One dense layer of integer LIF neurons.

    Per sample all state starts at zero. At each step ``t`` and for each neuron ``i``
    (``x[t]`` the layer's binary input at step ``t``)::

        r    = u[t-1] * (1 - s[t-1])          reset "zero"
        r    = u[t-1] - θ * s[t-1]            reset "subtract"
        d    = r - (r >> k)                   (arithmetic shift; d = r without leak)
        a    = d + b[i] + Σ_j W[i, j] x[t][j]  (exact)
        u[t] = clamp(a, -2^(B-1), 2^(B-1)-1)
        s[t] = u[t] >= θ

    The reset uses the previous step's spike: a neuron that fires at ``t`` keeps
    ``u[t]`` visible and is reset at the start of ``t+1``.

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

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not _IDENT.match(name):
            raise ManifestError(
                f"layer {name!r}: field 'name': must be a Verilog identifier "
                "(letters, digits, '_', not starting with a digit)"
            )
        if name.lower() in _VERILOG_KEYWORDS or keyword.iskeyword(name) or len(name) > 64:
            raise ManifestError(
                f"layer {name!r}: field 'name': is a reserved word or longer than 64 characters"
            )
        at = f"layer {name!r}: field"
        wb = _check_int(self.weight_bits, *WEIGHT_BITS_RANGE, f"{at} 'weight_bits'")
        sb = _check_int(self.state_bits, *STATE_BITS_RANGE, f"{at} 'state_bits'")
        th = _check_int(self.threshold, 1, (1 << (sb - 1)) - 1, f"{at} 'threshold'")
        k = self.leak_shift
        if k is not None:
            k = _check_int(k, 1, sb - 1, f"{at} 'leak_shift'")
        reset = ResetMode.parse(self.reset, f"{at} 'reset'")
        w = np.asarray(self.weight)
        if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
            raise ManifestError(
                f"{at} 'weight': must be a 2-D (out_features, in_features) array with both "
                f"sizes >= 1, not shape {w.shape}"
            )
        w = to_int_array(w, IntPrecision(wb), f"{at} 'weight'")
        b = self.bias
        if b is not None:
            b = np.asarray(b)
            if b.shape != (w.shape[0],):
                raise ManifestError(
                    f"{at} 'bias': must have shape ({w.shape[0]},), not {b.shape}"
                )
            b = to_int_array(b, IntPrecision(sb), f"{at} 'bias'")
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
        """Number of synapses."""
        return self.in_features * self.out_features

    @property
    def weight_memory_bits(self) -> int:
        """Bits needed to store the weights at ``weight_bits`` each."""
        return self.n_weights * self.weight_bits

    def header(self) -> dict[str, Any]:
        """Return this layer's entry of ``network.json``."""
        return {
            "name": self.name,
            "in_features": self.in_features,
            "out_features": self.out_features,
            "weight_bits": self.weight_bits,
            "state_bits": self.state_bits,
            "threshold": self.threshold,
            "leak_shift": self.leak_shift,
            "reset": self.reset.value,
            "has_bias": self.has_bias,
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

    def equals(self, other: IntLayer) -> bool:
        """Exact equality of every field and every weight."""
        return (
            self.header() == other.header()
            and np.array_equal(self.weight, other.weight)
            and (self.bias is None) == (other.bias is None)
            and (self.bias is None or np.array_equal(self.bias, other.bias))
        )


@dataclass(frozen=True, eq=False)
class IntNetwork:
    """A chain of :class:`IntLayer` run for ``timesteps`` steps per sample.

    Parameters
    ----------
    layers : sequence of IntLayer
        At least one; consecutive sizes must agree and names must be unique.
    timesteps : int
        ``T`` >= 1.
    readout : Readout or str
        ``"spike_count"`` or ``"membrane"``.
    meta : mapping
        Free-form JSON-serializable provenance (scales, traces, allocation ...).
    """

    layers: tuple[IntLayer, ...]
    timesteps: int
    readout: Readout = Readout.SPIKE_COUNT
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise ManifestError("field 'layers': a network needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, IntLayer):
                raise ManifestError(f"layers[{i}]: must be an IntLayer, not {type(layer).__name__}")
        T = _check_int(self.timesteps, 1, 1 << 20, "field 'timesteps'")
        readout = Readout.parse(self.readout, "field 'readout'")
        seen: set[str] = set()
        for i, layer in enumerate(layers):
            if layer.name in seen:
                raise ManifestError(f"layer {layer.name!r}: field 'name': is used by two layers")
            seen.add(layer.name)
            if i and layer.in_features != layers[i - 1].out_features:
                raise ManifestError(
                    f"layer {layer.name!r}: field 'in_features': is {layer.in_features} but "
                    f"layer {layers[i - 1].name!r} has out_features {layers[i - 1].out_features}"
                )
        meta = self.meta if self.meta is not None else {}
        if not isinstance(meta, Mapping):
            raise ManifestError(f"field 'meta': must be an object, not {type(meta).__name__}")
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "timesteps", T)
        object.__setattr__(self, "readout", readout)
        object.__setattr__(self, "meta", dict(meta))

    @property
    def input_size(self) -> int:
        """Number of input spike channels (the first layer's ``in_features``)."""
        return self.layers[0].in_features

    @property
    def output_size(self) -> int:
        """Number of classes (the last layer's ``out_features``)."""
        return self.layers[-1].out_features

    @property
    def weight_memory_bits(self) -> int:
        """Total weight storage at the chosen widths."""
        return sum(layer.weight_memory_bits for layer in self.layers)

    @property
    def n_weights(self) -> int:
        """Total number of synapses."""
        return sum(layer.n_weights for layer in self.layers)

    def layer(self, name: str) -> IntLayer:
        """Return the layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def header(self) -> dict[str, Any]:
        """Return the content of ``network.json``."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "timesteps": self.timesteps,
            "input_size": self.input_size,
            "readout": self.readout.value,
            "layers": [layer.header() for layer in self.layers],
            "meta": self.meta,
        }

    def replace(self, **changes: Any) -> IntNetwork:
        """Return a copy with some fields changed (validated again)."""
        fields = {"layers": self.layers, "timesteps": self.timesteps, "readout": self.readout,
                      "meta": self.meta}
        fields.update(changes)
        return IntNetwork(**fields)

    def equals(self, other: IntNetwork) -> bool:
        """Exact equality of structure, constants, weights, biases and meta."""
        return (
            self.timesteps == other.timesteps
            and self.readout == other.readout
            and len(self.layers) == len(other.layers)
            and all(a.equals(b) for a, b in zip(self.layers, other.layers))
            and _json_roundtrip(self.meta) == _json_roundtrip(other.meta)
        )


# ----------------------------------------------------------------------------- I/O

def _header_to_json(header: dict[str, Any]) -> str:
    return json.dumps(header, indent=2, default=_json_default, allow_nan=False) + "\n"


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
    for layer in net.layers:
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
        the contract (missing files or keys, wrong types, out-of-range values,
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


_LAYER_KEYS = {"name", "in_features", "out_features", "weight_bits", "state_bits",
               "threshold", "leak_shift", "reset", "has_bias"}
_TOP_KEYS = {"format", "version", "timesteps", "input_size", "readout", "layers", "meta"}


def _network_from_header(header: Any, npz_path: Path) -> IntNetwork:
    if not isinstance(header, dict):
        raise ManifestError(f"top level: must be a JSON object, not {type(header).__name__}")
    missing = sorted(_TOP_KEYS - {"meta"} - header.keys())
    if missing:
        raise ManifestError(f"field {missing[0]!r}: missing")
    unknown = sorted(header.keys() - _TOP_KEYS)
    if unknown:
        raise ManifestError(f"field {unknown[0]!r}: unknown field")
    if header["format"] != FORMAT:
        raise ManifestError(f"field 'format': must be {FORMAT!r}, not {header['format']!r}")
    version = header["version"]
    if not _is_int(version) or version not in SUPPORTED_VERSIONS:
        raise ManifestError(
            f"field 'version': {version!r} is not supported (this spikeforge reads "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))})"
        )
    timesteps = _check_int(header["timesteps"], 1, 1 << 20, "field 'timesteps'")
    input_size = _check_int(header["input_size"], 1, 1 << 24, "field 'input_size'")
    readout = Readout.parse(header["readout"], "field 'readout'")
    meta = header.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ManifestError(f"field 'meta': must be an object, not {type(meta).__name__}")
    specs = header["layers"]
    if not isinstance(specs, list) or not specs:
        raise ManifestError("field 'layers': must be a non-empty list")
    # Structural checks on the JSON alone, before touching the weights.
    names: list[str] = []
    prev_out = input_size
    prev_name = "input_size"
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise ManifestError(f"layers[{i}]: must be an object")
        lname = spec.get("name", f"#{i}")
        where = f"layer {lname!r}: field"
        missing = sorted(_LAYER_KEYS - spec.keys())
        if missing:
            raise ManifestError(f"{where} {missing[0]!r}: missing")
        unknown = sorted(spec.keys() - _LAYER_KEYS)
        if unknown:
            raise ManifestError(f"{where} {unknown[0]!r}: unknown field")
        in_f = _check_int(spec["in_features"], 1, 1 << 24, f"{where} 'in_features'")
        _check_int(spec["out_features"], 1, 1 << 24, f"{where} 'out_features'")
        if not isinstance(spec["has_bias"], bool):
            raise ManifestError(f"{where} 'has_bias': must be true or false, "
                                f"not {spec['has_bias']!r}")
        if in_f != prev_out:
            raise ManifestError(
                f"{where} 'in_features': is {in_f} but {prev_name} is {prev_out}"
            )
        prev_out = spec["out_features"]
        prev_name = f"layer {lname!r} out_features"
        names.append(lname)
        # Validate scalars now (names the JSON field) with a 1x1 placeholder weight.
        IntLayer(
            name=spec["name"], weight=np.zeros((1, 1), np.int64),
            weight_bits=spec["weight_bits"], state_bits=spec["state_bits"],
            threshold=spec["threshold"], leak_shift=spec["leak_shift"], reset=spec["reset"],
        )
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ManifestError(f"layer {dup!r}: field 'name': is used by two layers")
    arrays = _read_npz(npz_path)
    expected = set()
    layers = []
    for spec in specs:
        lname = spec["name"]
        wkey, bkey = f"{lname}.weight", f"{lname}.bias"
        expected.add(wkey)
        if wkey not in arrays:
            raise ManifestError(f"{npz_path}: layer {lname!r}: array {wkey!r}: missing")
        w = arrays[wkey]
        shape = (spec["out_features"], spec["in_features"])
        if w.shape != shape:
            raise ManifestError(f"{npz_path}: layer {lname!r}: array {wkey!r}: shape "
                                f"{w.shape} does not match (out_features, in_features) = {shape}")
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
        try:
            layers.append(IntLayer(
                name=lname, weight=w, weight_bits=spec["weight_bits"],
                state_bits=spec["state_bits"], threshold=spec["threshold"],
                leak_shift=spec["leak_shift"], reset=spec["reset"], bias=bias,
            ))
        except ManifestError as exc:
            raise ManifestError(f"{npz_path}: {exc}") from None
    extra = sorted(set(arrays) - expected)
    if extra:
        raise ManifestError(f"{npz_path}: array {extra[0]!r}: not named by any layer")
    return IntNetwork(layers=tuple(layers), timesteps=timesteps, readout=readout, meta=meta)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ManifestError(f"{path}: missing")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ManifestError(f"{path}: cannot be read as .npz ({_one_line(exc)})") from None


def copy_manifest(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Copy a manifest directory's two files (used by tests and the flow)."""
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("network.json", "weights.npz"):
        shutil.copyfile(Path(src) / name, dst / name)

