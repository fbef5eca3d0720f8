"""Architecture strings: ``1x28x28-8c5-sp2-16c5-sp2-10``, ``784-400-200-10``.

One token per layer after the input shape:

* first ``CxHxW`` (a map) or ``N`` (flat);
* ``<O>c<K>[s<S>][p<P>]``: a square K×K conv2d with O output channels, stride S
  (default 1) and zero padding P (default 0);
* ``sp<K>``: a K×K sum-pool with stride K;
* ``<N>``: a dense layer of N neurons.

:func:`parse_arch` only parses and checks the grammar; shapes and ranges are checked when
the layers are built (:class:`pysim.IntNetwork`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .network import LayerKind

__all__ = ["ArchSpec", "LayerSpec", "parse_arch"]

_CONV = re.compile(r"^(\d+)c(\d+)(?:s(\d+))?(?:p(\d+))?$")
_POOL = re.compile(r"^sp(\d+)$")
_DENSE = re.compile(r"^(\d+)$")
_MAP = re.compile(r"^(\d+)x(\d+)x(\d+)$")


@dataclass(frozen=True)
class LayerSpec:
    """One layer of an architecture: its kind and sizes (no weights).

    ``size`` is ``out_features`` (dense) or ``out_channels`` (conv2d), unused for a pool;
    ``kernel``, ``stride``, ``padding`` are square (one integer).
    """

    kind: LayerKind
    size: int = 0
    kernel: int = 0
    stride: int = 1
    padding: int = 0

    def token(self) -> str:
        """This layer's token of an architecture string."""
        if self.kind is LayerKind.DENSE:
            return str(self.size)
        if self.kind is LayerKind.SUMPOOL2D:
            return f"sp{self.kernel}"
        tok = f"{self.size}c{self.kernel}"
        if self.stride != 1:
            tok += f"s{self.stride}"
        if self.padding:
            tok += f"p{self.padding}"
        return tok


@dataclass(frozen=True)
class ArchSpec:
    """A parsed architecture string: the input shape and the layers in order."""

    input_shape: tuple[int, ...]
    layers: tuple[LayerSpec, ...]

    def __str__(self) -> str:
        head = "x".join(str(d) for d in self.input_shape)
        return "-".join([head] + [layer.token() for layer in self.layers])


def _positive(text: str, arch: str, token: str) -> int:
    value = int(text)
    if value < 1:
        raise InputError(f"arch {arch!r}: token {token!r}: sizes must be >= 1")
    return value


def parse_arch(arch: Any) -> ArchSpec:
    """Parse an architecture string; refuse a malformed one with one line (InputError)."""
    if isinstance(arch, ArchSpec):
        return arch
    if not isinstance(arch, str) or not arch.strip():
        raise InputError(f"arch {arch!r}: must be a string like '1x28x28-8c5-sp2-10'")
    tokens = arch.strip().split("-")
    if len(tokens) < 2:
        raise InputError(f"arch {arch!r}: needs an input shape and at least one layer")
    head = tokens[0]
    m = _MAP.match(head)
    if m:
        input_shape: tuple[int, ...] = tuple(_positive(g, arch, head) for g in m.groups())
    elif _DENSE.match(head):
        input_shape = (_positive(head, arch, head),)
    else:
        raise InputError(f"arch {arch!r}: token {head!r}: the input must be CxHxW or N")
    layers = []
    for tok in tokens[1:]:
        if m := _CONV.match(tok):
            o, k, s, p = m.groups()
            layers.append(LayerSpec(LayerKind.CONV2D, _positive(o, arch, tok),
                                    _positive(k, arch, tok),
                                    1 if s is None else _positive(s, arch, tok),
                                    0 if p is None else int(p)))
        elif m := _POOL.match(tok):
            k = _positive(m.group(1), arch, tok)
            layers.append(LayerSpec(LayerKind.SUMPOOL2D, kernel=k, stride=k))
        elif _DENSE.match(tok):
            layers.append(LayerSpec(LayerKind.DENSE, _positive(tok, arch, tok)))
        else:
            raise InputError(f"arch {arch!r}: token {tok!r}: expected <O>c<K>[s<S>][p<P>], "
                             "sp<K> or <N>")
    return ArchSpec(input_shape, tuple(layers))
