"""Spike files: the input format every stage shares, and the golden-model output format."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .golden import SimResult
from .network import IntNetwork, ManifestError, _write_npz_deterministic
from .util import read_npz

__all__ = ["SpikeData", "load_result", "load_spikes", "save_result", "save_spikes"]


@dataclass(frozen=True)
class SpikeData:
    """Input spike trains and optional labels.

    Attributes
    ----------
    spikes : uint8 (N, T, input_size), values 0/1 (a map input flattened channel-major,
        ``input_size = C·H·W``)
    labels : int64 (N,) or None
    """

    spikes: np.ndarray
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        s = np.asarray(self.spikes)
        if s.dtype != np.bool_ and s.dtype.kind not in "iu":
            raise ManifestError(f"'spikes': must be uint8 or bool, not dtype {s.dtype}")
        if s.ndim != 3:
            raise ManifestError(f"'spikes': must have shape (N, T, input_size), not {s.shape}")
        if s.size and s.dtype != np.bool_ and (s.min() < 0 or s.max() > 1):
            bad = np.argwhere((s < 0) | (s > 1))[0]
            raise ManifestError(f"'spikes': value at {tuple(int(i) for i in bad)} is "
                                f"{s[tuple(bad)]}, spikes must be 0 or 1")
        object.__setattr__(self, "spikes", s.astype(np.uint8, copy=False))
        if self.labels is not None:
            lab = np.asarray(self.labels)
            if lab.dtype.kind not in "iu" or lab.shape != (s.shape[0],):
                raise ManifestError(f"'labels': must be integers of shape ({s.shape[0]},), "
                                    f"not {lab.dtype} {lab.shape}")
            object.__setattr__(self, "labels", lab.astype(np.int64))

    def check_for(self, net: IntNetwork) -> None:
        """Refuse spike trains whose T or input size does not match ``net``."""
        N, T, C = self.spikes.shape
        if T != net.timesteps or C != net.input_size:
            raise ManifestError(
                f"'spikes': shape {self.spikes.shape} does not match the network's "
                f"(N, timesteps, input_size) = (N, {net.timesteps}, {net.input_size})"
            )
        if N < 1:
            raise ManifestError("'spikes': holds no samples (N = 0)")


def load_spikes(path: str | os.PathLike[str], net: IntNetwork | None = None) -> SpikeData:
    """Read and validate an input spike file; with ``net``, also check it fits the network."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such spike file")
    data = read_npz(path, ManifestError)
    if "spikes" not in data:
        raise ManifestError(f"{path}: array 'spikes': missing")
    spikes, labels = data["spikes"], data.get("labels")
    try:
        sd = SpikeData(spikes, labels)
        if net is not None:
            sd.check_for(net)
    except ManifestError as exc:
        raise ManifestError(f"{path}: {exc}") from None
    return sd


def save_spikes(path: str | os.PathLike[str], data: SpikeData) -> None:
    """Write an input spike file atomically."""
    arrays = {"spikes": data.spikes.astype(np.uint8)}
    if data.labels is not None:
        arrays["labels"] = data.labels.astype(np.int64)
    _save_npz(path, arrays)


def save_result(path: str | os.PathLike[str], net: IntNetwork, result: SimResult) -> None:
    """Write golden-model outputs: ``predictions``, ``spikes.<name>``, ``membrane.<name>``.

    One ``spikes.<name>`` (and ``membrane.<name>``) per layer with neurons, shape
    (N, T, n_neurons) flattened channel-major; a sum-pool has none.
    """
    arrays: dict[str, np.ndarray] = {"predictions": result.predictions.astype(np.int64)}
    for layer in net.neuron_layers:
        arrays[f"spikes.{layer.name}"] = result.spikes[layer.name].astype(np.uint8)
        if result.membranes is not None:
            arrays[f"membrane.{layer.name}"] = result.membranes[layer.name].astype(np.int32)
    _save_npz(path, arrays)


def load_result(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a golden-model output file as a dict of arrays."""
    return read_npz(path, ManifestError)


def _save_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        _write_npz_deterministic(f, arrays)
