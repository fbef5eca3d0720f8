"""Every default of the frontend, in one place, importable without torch.

The command line (``spikeforge train``, ``quantize``, ``hessian``, ``allocate``) shows
these defaults in its ``--help`` and the flow's configuration (``spikeforge.config``)
starts from them, so this module must stay light: no torch, no NumPy-heavy imports.
The library functions take their keyword defaults from here too.

* :class:`TrainConfig`: a training run (``quant.train.train``);
* :class:`HessianConfig`: the trace estimate (``quant.hessian.traces_for_run``);
* :class:`AllocateConfig`: the bit allocation (``quant.allocate.allocate_for_run``);
* :class:`QuantizeConfig`: calibration and QAT (``quant.export.quantize_run``).

Values are typed (``bits`` are lists of ints, not ``"4,3,2"``): parsing command-line
strings is the CLI's and the config file's business. Bad values raise
:class:`pysim.errors.InputError` naming the parameter by its name here
(``param="epochs"``); the CLI and the flow show it as ``--epochs`` or
``config key 'train.epochs'``.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

from pysim.errors import InputError
from pysim.util import is_int

from .encoding import METHODS as ENCODINGS

__all__ = [
    "DATASETS",
    "ENCODINGS",
    "READOUTS",
    "RESETS",
    "AllocateConfig",
    "ArchLayer",
    "HessianConfig",
    "QuantizeConfig",
    "TrainConfig",
    "is_dense_arch",
    "network_arch",
    "parse_arch",
]

DATASETS = ("digits", "mnist")
"""Dataset names ``quant.data.load_dataset`` knows."""
EVENT_DATASETS = ("nmnist", "dvsgesture", "shd")
"""Event datasets read from the user's files by :mod:`quant.events` (train with ``data_path``)."""
RESETS = ("zero", "subtract")
"""Reset modes of the simplified LIF (docs/semantics.md, "One step")."""
READOUTS = ("spike_count", "membrane")
"""How the last layer's output becomes a class score (docs/semantics.md, "Readout")."""

SEED_MAX = (1 << 64) - 1
"""The largest seed (torch.manual_seed takes 64 bits)."""


def check_seed(seed: Any) -> None:
    """Raise :class:`InputError` (``param="seed"``) unless ``seed`` is 0 .. 2^64 - 1."""
    if not is_int(seed) or not 0 <= seed <= SEED_MAX:
        raise InputError(f"must be an integer between 0 and 2^64 - 1, not {seed!r}",
                         param="seed")

_ARCH = re.compile(r"^\s*\d+(\s*-\s*\d+)+\s*$")
MAX_LAYER_SIZE = 1 << 20
MAX_TIMESTEPS = 1 << 20
"""The most steps per sample a manifest holds (pysim.network)."""


def parse_arch(spec: str) -> list[int]:
    """The layer sizes of an architecture string: ``"784-256-10"`` -> ``[784, 256, 10]``.

    The string form is how a :class:`TrainConfig` (and ``RUN/run.json``) records the
    architecture.

    Raises
    ------
    pysim.errors.InputError
        (``param="arch"``) when the string is not at least two positive integers joined
        by ``-``.
    """
    if not isinstance(spec, str) or not _ARCH.match(spec):
        raise InputError(f"{spec!r} is not a layer-size list like '64-128-10' "
                         "(at least two positive integers joined by '-')", param="arch")
    sizes = [int(p) for p in spec.split("-")]
    if any(n < 1 for n in sizes):
        raise InputError(f"{spec!r}: every layer size must be >= 1", param="arch")
    if any(n > MAX_LAYER_SIZE for n in sizes):
        raise InputError(f"{spec!r}: layer sizes must be <= {MAX_LAYER_SIZE}", param="arch")
    return sizes


@dataclass(frozen=True)
class ArchLayer:
    """One layer of a checked architecture: its token, kind, sizes and shapes.

    ``kind`` is ``"dense"``, ``"conv2d"`` or ``"sumpool2d"``; ``name`` the manifest name
    (``conv1``, ``pool2``, ``fc3``: the kind and the 1-based position among all layers);
    ``size`` is out_features (dense) or out_channels (conv2d); ``kernel``, ``stride``,
    ``padding`` are square. ``in_shape`` / ``out_shape`` are ``(N,)`` or ``(C, H, W)``.
    """

    token: str
    kind: str
    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    size: int = 0
    kernel: int = 0
    stride: int = 1
    padding: int = 0

    @property
    def has_neurons(self) -> bool:
        """True for dense and conv2d (a sum-pool has no neurons)."""
        return self.kind != "sumpool2d"

    @property
    def n_weights(self) -> int:
        """Weights of the layer: O·C·KH·KW (conv2d), out·in (dense), 0 (pool)."""
        if self.kind == "conv2d":
            return self.size * self.in_shape[0] * self.kernel * self.kernel
        if self.kind == "dense":
            return self.size * math.prod(self.in_shape)
        return 0

    @property
    def n_neurons(self) -> int:
        """Neurons (one membrane each): the output size, 0 for a pool."""
        return math.prod(self.out_shape) if self.has_neurons else 0


def is_dense_arch(spec: str) -> bool:
    """True for a version 1 architecture (flat input, dense layers only): ``784-256-10``."""
    return isinstance(spec, str) and bool(_ARCH.match(spec))


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def network_arch(spec: str) -> list[ArchLayer]:
    """Parse an architecture string and check that its shapes chain (docs/frontend.md).

    The grammar (one token per layer after the input shape ``CxHxW`` or ``N``):
    ``<O>c<K>[s<S>][p<P>]`` a square conv2d (stride 1, padding 0 unless given), ``sp<K>``
    a K×K sum-pool with stride K, ``<N>`` a dense layer (a map input is flattened
    channel-major). ``"64-128-10"`` is the dense network of version 1.

    Raises
    ------
    pysim.errors.InputError
        (``param="arch"``) one line naming the string, the token at fault and why: a
        token that does not parse, a conv2d or pool on a flat input, a kernel that does
        not fit the map, a padding not below the kernel, a pool that is last or follows
        a pool, a last layer that is a pool.
    """
    from pysim.arch import parse_arch as parse_tokens

    if not isinstance(spec, str):
        raise InputError(f"{spec!r} is not an architecture string like '1x28x28-8c5-sp2-10'",
                         param="arch")
    text = re.sub(r"\s+", "", spec)
    try:
        parsed = parse_tokens(text)
    except InputError as exc:
        detail = exc.detail
        detail = detail.removeprefix("arch ")
        raise InputError(detail, param="arch") from None
    tokens = text.split("-")[1:]
    shape = tuple(int(d) for d in parsed.input_shape)
    layers: list[ArchLayer] = []
    n = len(parsed.layers)
    for i, (tok, ls) in enumerate(zip(tokens, parsed.layers)):
        kind = str(getattr(ls.kind, "value", ls.kind))

        def bad(why: str, tok: str = tok) -> InputError:
            return InputError(f"{text!r}: token {tok!r}: {why}", param="arch")

        if kind == "dense":
            if ls.size > MAX_LAYER_SIZE:
                raise bad(f"layer sizes must be <= {MAX_LAYER_SIZE}")
            out: tuple[int, ...] = (ls.size,)
            layers.append(ArchLayer(tok, kind, f"fc{i + 1}", shape, out, size=ls.size))
        else:
            what = "a conv2d" if kind == "conv2d" else "a sum-pool"
            if len(shape) != 3:
                prev = "the input" if i == 0 else f"token {tokens[i - 1]!r}"
                raise bad(f"{what} needs a CxHxW map, but {prev} gives {shape[0]} flat "
                          "values (conv2d and sum-pool layers come before dense ones)")
            k, s, p = ls.kernel, ls.stride, ls.padding
            if kind == "conv2d" and not p < k:
                raise bad(f"padding {p} must be below the kernel {k}")
            oh, ow = ((d + 2 * p - k) // s + 1 for d in shape[1:])
            if oh < 1 or ow < 1:
                raise bad(f"kernel {k} does not fit the {_fmt(shape[1:])} map"
                          + (f" with padding {p}" if p else ""))
            if kind == "sumpool2d":
                if i == n - 1:
                    raise bad("a sum-pool cannot be the last layer (the readout needs "
                              "neurons)")
                if layers and layers[-1].kind == "sumpool2d":
                    raise bad(f"a sum-pool cannot follow another sum-pool "
                              f"({layers[-1].token!r})")
                out = (shape[0], oh, ow)
                layers.append(ArchLayer(tok, kind, f"pool{i + 1}", shape, out, kernel=k,
                                        stride=s))
            else:
                if ls.size > MAX_LAYER_SIZE:
                    raise bad(f"channel counts must be <= {MAX_LAYER_SIZE}")
                out = (ls.size, oh, ow)
                layers.append(ArchLayer(tok, kind, f"conv{i + 1}", shape, out, size=ls.size,
                                        kernel=k, stride=s, padding=p))
        shape = out
    return layers


# ----------------------------------------------------------------------------- train
@dataclass
class TrainConfig:
    """Everything that defines a training run (JSON round-trip with to/from_dict).

    Attributes
    ----------
    dataset : "digits" or "mnist"; data_path : MNIST files (None: the fetch cache)
    arch : layer sizes, e.g. "64-128-10", or a convolutional architecture such as
        "1x8x8-16c3-sp2-10" (:func:`network_arch`); the input must match the dataset
    timesteps : T; encoding : "rate" or "deterministic"; gain : encoder gain
    epochs, batch_size, lr, weight_decay : Adam with a cosine learning-rate decay
    seed : weights, data order and spikes
    leak_shift : k (α = 1 - 2^-k) or None; reset : "zero"/"subtract"
    readout : "spike_count"/"membrane"; bias : layers carry a bias
    threshold, slope, surrogate, init_gain : neuron and initialization (see SpikingMLP)
    threads : torch intra-op threads (None: ``quant.train.auto_threads``)
    limit_train, limit_test : keep only the first N samples (quick runs)
    """

    dataset: str = "digits"
    arch: str = "64-128-10"
    timesteps: int = 16
    encoding: str = "rate"
    gain: float = 1.0
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.0
    seed: int = 0
    leak_shift: int | None = 3
    reset: str = "zero"
    readout: str = "spike_count"
    bias: bool = False
    threshold: float = 1.0
    slope: float = 5.0
    surrogate: str = "fast_sigmoid"
    init_gain: float = 2.0
    threads: int | None = None
    data_path: str | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    eval_batch_size: int = 512

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are refused."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"train config: unknown field {unknown[0]!r}")
        return cls(**d)

    @property
    def is_conv(self) -> bool:
        """True when ``arch`` is not a version 1 dense string (a map input or conv/pool)."""
        return not is_dense_arch(self.arch)

    def validate(self) -> list[int]:
        """Check every field; return the flattened layer sizes.

        For a dense ``arch`` these are the layer sizes (``[64, 128, 10]``); for a
        convolutional one the input size and every neuron layer's output size
        (``1x8x8-16c3-sp2-10`` -> ``[64, 576, 10]``).

        Raises InputError (one line) with ``param`` the field's name.
        """
        if self.is_conv:
            layers = network_arch(self.arch)
            sizes = [math.prod(layers[0].in_shape)] + [
                math.prod(a.out_shape) for a in layers if a.has_neurons]
        else:
            sizes = parse_arch(self.arch)
        if self.dataset not in DATASETS + EVENT_DATASETS:
            raise InputError(f"unknown dataset {self.dataset!r}: choose one of "
                             f"{', '.join(DATASETS + EVENT_DATASETS)}", param="dataset")
        for name, lo in (("timesteps", 1), ("epochs", 0), ("batch_size", 1)):
            v = getattr(self, name)
            if not is_int(v) or v < lo:
                raise InputError(f"must be an integer >= {lo}, not {v!r}", param=name)
        if self.timesteps > MAX_TIMESTEPS:
            raise InputError(f"must be at most {MAX_TIMESTEPS} (a manifest's limit), not "
                             f"{self.timesteps}", param="timesteps")
        for name, choices in (("encoding", ENCODINGS), ("reset", RESETS),
                              ("readout", READOUTS)):
            v = getattr(self, name)
            if v not in choices:
                raise InputError(f"must be one of {', '.join(choices)}, not {v!r}", param=name)
        if self.leak_shift is not None and (not is_int(self.leak_shift)
                                            or not 1 <= self.leak_shift <= 16):
            raise InputError(f"must be an integer 1..16 or none, not {self.leak_shift!r}",
                             param="leak_shift")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"must be > 0, not {self.lr!r}", param="lr")
        check_seed(self.seed)
        if self.threads is not None and (not is_int(self.threads) or self.threads < 1):
            raise InputError(f"must be >= 1, not {self.threads!r}", param="threads")
        return sizes


# ----------------------------------------------------------------------------- hessian
@dataclass(frozen=True)
class HessianConfig:
    """Defaults of the per-layer Hessian trace estimate (``traces_for_run``).

    Attributes
    ----------
    method : "hutchinson", "gauss_newton" or "both"
    probes : probe cap (``max_probes``)
    min_probes : probes before the stopping rule applies
    tol : stop when every layer's stderr/|trace| < tol (``rel_tol``)
    samples : training samples the loss is averaged over
    seed : probe seed
    """

    method: str = "both"
    probes: int = 200
    min_probes: int = 16
    tol: float = 0.05
    samples: int = 512
    seed: int = 0


# ----------------------------------------------------------------------------- allocate
@dataclass(frozen=True)
class AllocateConfig:
    """Defaults of the bit allocation (``allocate_for_run``).

    Attributes
    ----------
    candidates : the widths a layer may get
    method : sensitivity source: "auto", "hutchinson", "gauss_newton" or "measured"
    trace_samples, trace_max_probes : training samples and probe cap of traces computed
        by the allocation itself when ``RUN/hessian.json`` lacks them (lighter than
        :class:`HessianConfig`, so that ``spikeforge quantize --avg-bits`` stays quick)
    measured_samples : training samples of the measured Ω (``method="measured"``)
    budget_scope : what a bit budget counts: "weights" or "all" (weights + membranes)
    state_policy : state widths of a cost-aware allocation: "auto", "measured" (the
        calibration rule) or "priced" (chosen with the clamp error in the objective)
    target : the target whose block RAMs a ``budget_bram`` counts
    """

    candidates: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)
    method: str = "auto"
    trace_samples: int = 256
    trace_max_probes: int = 100
    measured_samples: int = 512
    budget_scope: str = "weights"
    state_policy: str = "auto"
    target: str = "ecp5-25k"


# ----------------------------------------------------------------------------- quantize
@dataclass(frozen=True)
class QuantizeConfig:
    """Defaults of calibration, QAT and export (``quantize_run``).

    Attributes
    ----------
    avg_bits : the flow's weight-memory budget, average bits per weight
    policy : sensitivity source of a budget allocation (``AllocateConfig.method``)
    epochs : QAT epochs (0: post-training quantization)
    lr : QAT learning rate
    method : weight-scale method ("mse", "max", "mean"; the CLI's ``--quantizer``)
    headroom : state bits above the widest accumulator value seen
    calib_samples : training samples the state ranges are measured on
    """

    avg_bits: float = 3.0
    policy: str = AllocateConfig.method
    epochs: int = 5
    lr: float = 5e-4
    method: str = "mse"
    headroom: int = 1
    calib_samples: int = 2048
