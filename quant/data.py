"""Datasets for the frontend: scikit-learn digits and MNIST, as float32 pixels in [0, 1].

NumPy and scikit-learn only (no torch), so the CLI and the tests can use it cheaply.

Two datasets are known to :func:`load_dataset`:

``"digits"``
    scikit-learn's 8x8 handwritten digits (1797 images, 17 grey levels 0..16), scaled by
    1/16 and split once, stratified by class, into 1347 training and 450 test images
    (``train_test_split(test_size=0.25, stratify=y, random_state=seed)``, seed 0 by
    default). It ships with scikit-learn: no download.
``"mnist"``
    The 28x28 MNIST digits (60000 train / 10000 test), pixels scaled by 1/255. Read from
    ``path`` (a directory holding the four standard IDX files, gzipped or not, or an
    ``.npz`` with ``x_train, y_train, x_test, y_test``) or, without ``path``, from the cache
    that ``spikeforge data fetch mnist`` fills (see :func:`mnist_cache_dir`).

The IDX reader and writer (:func:`read_idx`, :func:`write_idx`, :func:`idx_bytes`) check
magic numbers and sizes; anything malformed raises :class:`pysim.errors.InputError` with
one line naming the file.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pysim.atomic import atomic_path
from pysim.errors import InputError
from pysim.util import is_int, read_npz

from .config import DATASETS

__all__ = [
    "DATASETS",
    "MNIST_FILES",
    "Dataset",
    "data_home",
    "find_mnist_files",
    "idx_bytes",
    "load_dataset",
    "mnist_cache_dir",
    "parse_idx",
    "read_idx",
    "write_idx",
]


MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
"""The four standard MNIST IDX file names (uncompressed), by role."""

DIGITS_TEST_FRACTION = 0.25

# IDX type byte -> big-endian NumPy dtype (the IDX format of LeCun & Cortes).
_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("=").str: code for code, dt in _IDX_TYPES.items()}


@dataclass(frozen=True)
class Dataset:
    """A labelled image classification dataset split into train and test.

    Attributes
    ----------
    name : str
        ``"digits"`` or ``"mnist"``.
    x_train, x_test : np.ndarray
        float32 (N, F), every value in [0, 1]; one flattened image per row (row-major).
    y_train, y_test : np.ndarray
        int64 (N,), class indices in ``0 .. n_classes - 1``.
    n_classes : int
        Number of classes.
    shape : tuple of int
        The image shape, e.g. ``(8, 8)`` or ``(28, 28)``; its product is ``n_features``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        object.__setattr__(self, "shape", shape)
        n_features = int(np.prod(shape)) if shape else 0
        if n_features < 1:
            raise InputError(f"dataset '{self.name}': image shape {shape} holds no pixels")
        if int(self.n_classes) < 1:
            raise InputError(f"dataset '{self.name}': n_classes must be >= 1, "
                             f"not {self.n_classes}")
        object.__setattr__(self, "n_classes", int(self.n_classes))
        for split in ("train", "test"):
            x = np.asarray(getattr(self, f"x_{split}"))
            y = np.asarray(getattr(self, f"y_{split}"))
            if x.ndim != 2 or x.shape[1] != n_features:
                raise InputError(f"dataset '{self.name}': x_{split} must have shape "
                                 f"(N, {n_features}), not {x.shape}")
            if y.shape != (x.shape[0],) or (y.size and y.dtype.kind not in "iu"):
                raise InputError(f"dataset '{self.name}': y_{split} must be integers of "
                                 f"shape ({x.shape[0]},), not {y.dtype} {y.shape}")
            x = x.astype(np.float32, copy=False)
            if x.size and not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
                raise InputError(f"dataset '{self.name}': x_{split} values must lie in "
                                 "[0, 1]")
            y = y.astype(np.int64, copy=False)
            if y.size and (y.min() < 0 or y.max() >= self.n_classes):
                raise InputError(f"dataset '{self.name}': y_{split} labels must lie in "
                                 f"0..{self.n_classes - 1}, found {y.min()}..{y.max()}")
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)

    @property
    def n_features(self) -> int:
        """Number of input features (pixels) per sample."""
        return int(np.prod(self.shape))

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` of the ``"train"`` or ``"test"`` split."""
        if which not in ("train", "test"):
            raise InputError(f"split must be 'train' or 'test', not {which!r}")
        return getattr(self, f"x_{which}"), getattr(self, f"y_{which}")

    def class_counts(self, which: str) -> np.ndarray:
        """Number of samples of each class in a split, int64 (n_classes,)."""
        _, y = self.split(which)
        return np.bincount(y, minlength=self.n_classes).astype(np.int64)


# --------------------------------------------------------------------------- loading


def load_dataset(
    name: str,
    path: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Dataset:
    """Load a dataset by name as float32 pixels in [0, 1].

    Parameters
    ----------
    name : str
        ``"digits"`` or ``"mnist"``.
    path : path-like, optional
        MNIST only: a directory holding the four IDX files (``train-images-idx3-ubyte``
        etc., optionally ``.gz``) or an ``.npz`` with ``x_train, y_train, x_test,
        y_test``. Without it, the fetch cache (:func:`mnist_cache_dir`) is used.
    seed : int
        digits only: the ``random_state`` of the stratified split (default 0, the
        project's fixed split). MNIST has an official split and ignores it.
    limit_train, limit_test : int, optional
        Keep only the first N samples of a split (after splitting; MNIST's official
        order), e.g. for quick runs.

    Raises
    ------
    InputError
        Unknown name, missing or malformed files, bad limits (one line).
    """
    if name == "digits":
        if path is not None:
            raise InputError("dataset 'digits' ships with scikit-learn and takes no data "
                             "path (a path is for mnist)", param="path")
        ds = _load_digits(seed)
    elif name == "mnist":
        ds = _load_mnist(path)
    else:
        raise InputError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}",
                         param="name")
    return _limit(ds, limit_train, limit_test)


def _limit(ds: Dataset, limit_train: int | None, limit_test: int | None) -> Dataset:
    if limit_train is None and limit_test is None:
        return ds
    arrays = {}
    for split, limit in (("train", limit_train), ("test", limit_test)):
        x, y = ds.split(split)
        if limit is not None:
            if not is_int(limit) or limit < 1:
                raise InputError(f"must be a positive integer, not {limit!r}",
                                 param=f"limit_{split}")
            x, y = x[:limit], y[:limit]
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    return Dataset(ds.name, n_classes=ds.n_classes, shape=ds.shape, **arrays)


def _load_digits(seed: int) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not is_int(seed) or seed < 0:
        raise InputError(f"must be a non-negative integer, not {seed!r}", param="seed")
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=DIGITS_TEST_FRACTION, stratify=y, random_state=int(seed))
    return Dataset("digits", x_tr, y_tr, x_te, y_te, n_classes=10, shape=(8, 8))


def data_home() -> Path:
    """Root of spikeforge's data cache.

    ``$SPIKEFORGE_DATA`` when set, else ``$XDG_CACHE_HOME/spikeforge``, else
    ``~/.cache/spikeforge``.
    """
    env = os.environ.get("SPIKEFORGE_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "spikeforge"


def mnist_cache_dir() -> Path:
    """Directory where ``spikeforge data fetch mnist`` puts the IDX files
    (``data_home() / "mnist"``)."""
    return data_home() / "mnist"


def _not_found(where: Path) -> InputError:
    return InputError(f"dataset 'mnist' not found in {where}: run 'spikeforge data fetch "
                      "mnist' or pass --data PATH (a directory of IDX files or an .npz)")


def find_mnist_files(directory: str | os.PathLike[str]) -> dict[str, Path] | None:
    """Locate the four MNIST IDX files in ``directory``.

    Accepts ``train-images-idx3-ubyte`` and the ``train-images.idx3-ubyte`` spelling,
    each optionally gzipped (``.gz``). Returns ``{role: path}``, or None when any is
    missing.
    """
    directory = Path(directory)
    found: dict[str, Path] = {}
    for role, base in MNIST_FILES.items():
        dotted = base.replace("-idx", ".idx")
        for cand in (base, base + ".gz", dotted, dotted + ".gz"):
            p = directory / cand
            if p.is_file():
                found[role] = p
                break
        else:
            return None
    return found


def _load_mnist(path: str | os.PathLike[str] | None) -> Dataset:
    if path is None:
        where = mnist_cache_dir()
        files = find_mnist_files(where) if where.is_dir() else None
        if files is None:
            raise _not_found(where)
        arrays = {role: read_idx(p) for role, p in files.items()}
        src = str(where)
    else:
        where = Path(path)
        if where.is_dir():
            files = find_mnist_files(where)
            if files is None:
                raise _not_found(where)
            arrays = {role: read_idx(p) for role, p in files.items()}
        elif where.is_file():
            arrays = _read_npz(where)
        else:
            raise InputError(f"{where}: no such file or directory (dataset 'mnist' expects "
                             "a directory of IDX files or an .npz)")
        src = str(where)
    return _mnist_from_arrays(arrays, src)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    data = read_npz(path, InputError)
    missing = [k for k in MNIST_FILES if k not in data]
    if missing:
        raise InputError(f"{path}: missing array(s) {', '.join(missing)} (an MNIST "
                         ".npz holds x_train, y_train, x_test, y_test)")
    return {k: data[k] for k in MNIST_FILES}


def _mnist_from_arrays(arrays: dict[str, np.ndarray], src: str) -> Dataset:
    """Check shapes/dtypes of raw MNIST arrays and scale the pixels to [0, 1]."""
    xs: dict[str, np.ndarray] = {}
    shape: tuple[int, ...] | None = None
    for split in ("train", "test"):
        x = np.asarray(arrays[f"x_{split}"])
        y = np.asarray(arrays[f"y_{split}"])
        if x.ndim == 3:
            img = tuple(x.shape[1:])
        elif x.ndim == 2:
            side = math.isqrt(x.shape[1])
            img = (side, side) if side * side == x.shape[1] else (x.shape[1],)
        else:
            raise InputError(f"{src}: x_{split} must have shape (N, H, W) or (N, F), "
                             f"not {x.shape}")
        if shape is not None and img != shape:
            raise InputError(f"{src}: x_train images are {shape} but x_test images are {img}")
        shape = img
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise InputError(f"{src}: y_{split} must have shape ({x.shape[0]},) to match "
                             f"x_{split}, not {y.shape}")
        if y.size and y.dtype.kind not in "iu":
            raise InputError(f"{src}: y_{split} must hold integer labels, not {y.dtype}")
        if y.size and y.min() < 0:
            raise InputError(f"{src}: y_{split} holds a negative label {y.min()}")
        if x.dtype.kind in "iu":
            if x.size and (x.min() < 0 or x.max() > 255):
                raise InputError(f"{src}: x_{split} integer pixels must lie in 0..255")
            xf = x.reshape(x.shape[0], -1).astype(np.float32) / np.float32(255.0)
        elif x.dtype.kind == "f":
            xf = x.reshape(x.shape[0], -1).astype(np.float32)
            if xf.size and not (np.isfinite(xf).all() and xf.min() >= 0 and xf.max() <= 1):
                raise InputError(f"{src}: x_{split} float pixels must lie in [0, 1] "
                                 "(integer pixels 0..255 are scaled by 1/255)")
        else:
            raise InputError(f"{src}: x_{split} must hold numbers, not {x.dtype}")
        xs[f"x_{split}"] = xf
        xs[f"y_{split}"] = y.astype(np.int64)
    assert shape is not None
    n_classes = max(10, int(max(xs["y_train"].max(initial=0), xs["y_test"].max(initial=0))) + 1)
    return Dataset("mnist", n_classes=n_classes, shape=shape, **xs)


# --------------------------------------------------------------------------- IDX files


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file into a native-endian array.

    Raises
    ------
    InputError
        Bad magic number, unknown type code, or a data size that does not match the
        header (truncated or trailing bytes).
    """
    if len(data) < 4:
        raise InputError(f"{source}: not an IDX file (only {len(data)} bytes)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise InputError(f"{source}: not an IDX file (magic number "
                         f"0x{data[:4].hex()} does not start with 0x0000)")
    if code not in _IDX_TYPES:
        raise InputError(f"{source}: IDX type code 0x{code:02x} is unknown (expected one "
                         f"of {', '.join(f'0x{c:02x}' for c in _IDX_TYPES)})")
    if ndim < 1:
        raise InputError(f"{source}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InputError(f"{source}: truncated IDX file (header needs {header} bytes, "
                         f"file has {len(data)})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got < expected:
        raise InputError(f"{source}: truncated IDX file (dimensions {dims} need "
                         f"{expected} data bytes, found {got})")
    if got > expected:
        raise InputError(f"{source}: IDX file has {got - expected} bytes after the data "
                         f"declared by its dimensions {dims}")
    arr = np.frombuffer(data, dtype=dtype, offset=header, count=expected // dtype.itemsize)
    return arr.reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzipped or not, recognised by its content) as a NumPy array."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(f"{path}: broken gzip data ({' '.join(str(exc).split())})"
                             ) from None
    return parse_idx(raw, str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as the bytes of an IDX file (big-endian, no compression)."""
    arr = np.asarray(array)
    code = _IDX_CODES.get(arr.dtype.newbyteorder("=").str)
    if code is None:
        raise InputError(f"IDX cannot store dtype {arr.dtype} (uint8, int8, int16, int32, "
                         "float32, float64 only)")
    if arr.ndim < 1 or arr.ndim > 255:
        raise InputError(f"IDX needs 1..255 dimensions, not {arr.ndim}")
    if any(d >= 2**32 for d in arr.shape):
        raise InputError(f"IDX dimensions must be < 2^32, not {arr.shape}")
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=_IDX_TYPES[code]).tobytes()


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file atomically; gzipped (reproducibly) when the name
    ends in ``.gz``."""
    path = Path(path)
    data = idx_bytes(array)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path

