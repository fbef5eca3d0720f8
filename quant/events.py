"""Event-camera and spike datasets read from files the user has: N-MNIST, DVS128 Gesture, SHD.

Nothing is downloaded: ``--data DIR`` points at the dataset as its authors distribute it
(docs/data.md, "Event datasets"). Where ``tonic`` (1.7) has a plain file-reading function
the files are read through it, with a NumPy reader of the same semantics as the fallback
when tonic is not installed; tonic's *dataset classes* (which check and download files)
are never used:

* **N-MNIST** (Orchard et al. 2015): ``DIR/Train/<digit>/*.bin`` and ``DIR/Test/...``;
  every event is a 40-bit big-endian record: byte 0 x, byte 1 y, bit 7 of byte 2 the
  polarity (0 OFF, 1 ON), the remaining 23 bits the timestamp in microseconds. A record
  with y = 240 is a timestamp-overflow marker (+2^13 µs to it and every later record; not
  an event), as in the dataset authors' Python reader. Sensor 34 x 34. Read with
  ``tonic.io.read_mnist_file`` (reader ``"tonic"``) or :func:`read_nmnist_bin`'s own
  NumPy code (``"numpy"``); ``"auto"`` takes tonic when it is installed.
* **DVS128 Gesture** (Amir et al. 2017): ``DIR/trials_to_train.txt``,
  ``DIR/trials_to_test.txt`` naming ``userXX_<lighting>.aedat`` files (AEDAT 3.1:
  ``#!AER-DAT3.1`` text header up to ``#!END-HEADER``, then packets of a 28-byte header
  and ``eventNumber`` 8-byte polarity events: ``data`` uint32 (bit 0 valid, bit 1
  polarity, bits 2-16 y, bits 17-31 x), ``timestamp`` int32 µs (+ ``eventTSOverflow <<
  31``)), each with ``userXX_<lighting>_labels.csv`` (``class,startTime_usec,endTime_usec``,
  classes 1..11). One sample per labelled gesture. Sensor 128 x 128. Our own reader:
  tonic 1.7.0's ``tonic.io.read_dvs_ibm`` raises ValueError (it unpacks two of its header
  function's three values); worked around, it reads every packet as polarity events (a
  special-event packet becomes events), ignores the valid bit and ``eventTSOverflow`` and
  needs CRLF header lines; on files where none of that matters its events equal ours
  (tested).
* **SHD** (Cramer et al. 2020): ``DIR/shd_train.h5`` and ``DIR/shd_test.h5`` (HDF5,
  read with h5py): ``spikes/times`` (seconds) and ``spikes/units`` (0..699) per sample,
  ``labels`` (20 classes). Our own reader: tonic has no file-reading function for SHD
  (only its downloading ``tonic.datasets.SHD`` class, whose items are the same events
  with ``t`` in integer µs, truncated, and ``p = 1``; tested equal).

Every sample becomes a binary spike train (T, F): its events are binned into ``T`` steps
(``bin_by="time"``: equal time windows over the sample's span; ``"count"``: equal numbers
of events per step), polarity is the channel (``F = C·H·W`` flattened channel-major,
``i = p·H·W + y·W + x``), ``downsample`` d maps ``(x, y)`` to ``(x // d, y // d)`` (SHD: unit
``u // d``), and a step holding at least one event at an input is a spike (1), else 0.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pysim.errors import InputError

__all__ = ["BIN_MODES", "EVENT_DATASETS", "READERS", "SENSORS", "EventDataset", "Events",
           "bin_events", "event_reader", "event_shape", "event_summary", "load_event_dataset",
           "read_aedat31", "read_nmnist_bin", "read_shd", "to_spikes", "tonic_io",
           "tonic_version"]

EVENT_DATASETS = ("nmnist", "dvsgesture", "shd")
"""Names of the event datasets (``--dataset``)."""
BIN_MODES = ("time", "count")
SENSORS = {"nmnist": (2, 34, 34), "dvsgesture": (2, 128, 128), "shd": (700,)}
"""Native input shape: (polarity, height, width), or (units,) for SHD."""
N_CLASSES = {"nmnist": 10, "dvsgesture": 11, "shd": 20}


@dataclass
class Events:
    """One sample's events: times ``t`` (int64 µs, or float64 s for SHD), addresses."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray | None = None
    p: np.ndarray | None = None


# ----------------------------------------------------------------------------- tonic
READERS = ("auto", "tonic", "numpy")
"""File readers (``reader=``): tonic's where it has one, our NumPy code, or tonic if installed."""


@functools.lru_cache(maxsize=1)
def tonic_io() -> Any | None:
    """tonic's file readers (the module ``tonic.io``), or ``None`` if tonic is not installed.

    ``tonic/io.py`` imports only NumPy, but ``import tonic.io`` first runs tonic's package
    ``__init__``, which imports torch and every dataset class (about 1.5 s of CPU). So the
    file is loaded on its own, as module ``spikeforge_tonic_io``, unless ``tonic.io`` is
    already imported; if that fails (a future tonic with package-relative imports), it is
    imported the ordinary way.
    """
    if "tonic.io" in sys.modules:
        return sys.modules["tonic.io"]
    try:
        spec = importlib.util.find_spec("tonic")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        f = Path(loc) / "io.py"
        if f.is_file():
            try:
                sub = importlib.util.spec_from_file_location("spikeforge_tonic_io", f)
                mod = importlib.util.module_from_spec(sub)
                sub.loader.exec_module(mod)
                if callable(getattr(mod, "read_mnist_file", None)):
                    return mod
            except Exception:  # noqa: BLE001 - fall back to the ordinary import
                break
    try:
        return importlib.import_module("tonic.io")
    except Exception:  # noqa: BLE001 - a broken tonic is a missing tonic
        return None


def tonic_version() -> str | None:
    """The installed tonic's version, or ``None``."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return None
    try:
        return version("tonic")
    except PackageNotFoundError:
        return None


def _use_tonic(reader: str) -> bool:
    if reader not in READERS:
        raise InputError(f"must be one of {', '.join(READERS)}, not {reader!r}",
                         param="reader")
    if reader == "numpy":
        return False
    if tonic_io() is None:
        if reader == "tonic":
            raise InputError("reader 'tonic' needs tonic (pip install tonic==1.7.0)",
                             param="reader")
        return False
    return True


def event_reader(name: str, reader: str = "auto") -> str:
    """Which code reads a dataset's files, e.g. ``"tonic 1.7.0 tonic.io.read_mnist_file"``."""
    if name not in EVENT_DATASETS:
        raise InputError(f"unknown event dataset {name!r}: choose one of "
                         f"{', '.join(EVENT_DATASETS)}", param="name")
    if name == "nmnist" and _use_tonic(reader):
        return f"tonic {tonic_version() or '?'} tonic.io.read_mnist_file"
    _use_tonic(reader)  # validates ``reader``
    return {"nmnist": "spikeforge quant.events.read_nmnist_bin (NumPy)",
            "dvsgesture": "spikeforge quant.events.read_aedat31 (NumPy)",
            "shd": "spikeforge quant.events.read_shd (h5py)"}[name]


# ----------------------------------------------------------------------------- readers
_NMNIST_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
_NMNIST_OVERFLOW_Y = 240
_NMNIST_OVERFLOW_US = 1 << 13


def read_nmnist_bin(path: str | os.PathLike[str], *, reader: str = "auto") -> Events:
    """Read one N-MNIST ``.bin`` file (40-bit event records), through
    ``tonic.io.read_mnist_file`` when ``reader`` is ``"tonic"`` (or ``"auto"`` and tonic is
    installed), else with NumPy; both give the same int64 events (t µs, x, y, p 0/1)."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if size % 5:
        raise InputError(f"{path}: {size} bytes is not a whole number of N-MNIST 40-bit "
                         "(5-byte) event records")
    if _use_tonic(reader):
        ev = tonic_io().read_mnist_file(os.fspath(path), dtype=_NMNIST_DTYPE)
        x, y, t, p = (np.asarray(ev[k], np.int64) for k in ("x", "y", "t", "p"))
    else:
        r = np.fromfile(path, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
        x, y = r[:, 0], r[:, 1]
        p = r[:, 2] >> 7
        t = ((r[:, 2] & 0x7F) << 16) | (r[:, 3] << 8) | r[:, 4]
        over = y == _NMNIST_OVERFLOW_Y
        if over.any():
            t = t + np.cumsum(over) * _NMNIST_OVERFLOW_US
            keep = ~over
            x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    if x.size and (x.max() >= 34 or y.max() >= 34):
        raise InputError(f"{path}: event address ({int(x.max())}, {int(y.max())}) is outside "
                         "the 34 x 34 N-MNIST sensor")
    return Events(t=t, x=x, y=y, p=p)


_AEDAT_PACKET = np.dtype([("type", "<i2"), ("source", "<i2"), ("size", "<i4"),
                          ("tsoffset", "<i4"), ("tsoverflow", "<i4"), ("capacity", "<i4"),
                          ("number", "<i4"), ("valid", "<i4")])


def read_aedat31(path: str | os.PathLike[str]) -> Events:
    """Read the polarity events of an AEDAT 3.1 file (other event types are skipped)."""
    data = Path(path).read_bytes()
    if not data.startswith(b"#!AER-DAT3"):
        raise InputError(f"{path}: not an AEDAT 3.x file (no '#!AER-DAT3' header line)")
    end = data.find(b"#!END-HEADER")
    if end < 0:
        raise InputError(f"{path}: AEDAT header has no '#!END-HEADER' line")
    pos = data.find(b"\n", end) + 1
    ts, xs, ys, ps = [], [], [], []
    while pos + 28 <= len(data):
        h = np.frombuffer(data, _AEDAT_PACKET, 1, pos)[0]
        pos += 28
        size, cap, num = int(h["size"]), int(h["capacity"]), int(h["number"])
        nbytes = size * cap
        if size < 1 or cap < 0 or num > cap or pos + nbytes > len(data):
            raise InputError(f"{path}: corrupt AEDAT 3.1 packet at byte {pos - 28}")
        if int(h["type"]) == 1 and size == 8 and num:
            ev = np.frombuffer(data, np.dtype([("data", "<u4"), ("ts", "<i4")]), num, pos)
            d = ev["data"].astype(np.int64)
            valid = (d & 1) == 1
            d = d[valid]
            ts.append(ev["ts"][valid].astype(np.int64) + (int(h["tsoverflow"]) << 31))
            ps.append((d >> 1) & 1)
            ys.append((d >> 2) & 0x7FFF)
            xs.append((d >> 17) & 0x7FFF)
        pos += nbytes
    if pos != len(data):
        raise InputError(f"{path}: {len(data) - pos} trailing bytes after the last AEDAT packet")
    cat = (lambda a: np.concatenate(a) if a else np.zeros(0, np.int64))
    return Events(t=cat(ts), x=cat(xs), y=cat(ys), p=cat(ps))


def read_shd(path: str | os.PathLike[str]) -> tuple[list[Events], np.ndarray]:
    """Read an SHD HDF5 file: per-sample events (``t`` seconds, ``x`` the unit) and labels."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py comes with nir
        raise InputError("reading SHD needs h5py (pip install h5py)") from None
    keys = ("spikes/times", "spikes/units", "labels")
    try:
        with h5py.File(path, "r") as f:
            found = [f.get(k) for k in keys]
            for k, d in zip(keys, found):
                if not isinstance(d, h5py.Dataset):
                    raise InputError(f"{path}: not an SHD file ({k!r} is "
                                     f"{'missing' if d is None else 'not a dataset'}; expected "
                                     "spikes/times, spikes/units and labels)")
            times, units, labels = (d[()] for d in found)
    except OSError as exc:
        raise InputError(f"{path}: not an HDF5 file ({' '.join(str(exc).split())})") from None
    if np.ndim(times) < 1 or np.ndim(units) < 1 or np.ndim(labels) != 1:
        raise InputError(f"{path}: spikes/times, spikes/units and labels must hold one entry "
                         "per sample")
    if not (len(times) == len(units) == len(labels)):
        raise InputError(f"{path}: spikes/times, spikes/units and labels have different "
                         "lengths")
    labels = _whole(labels, path, "labels")
    evs = []
    for i, (t, u) in enumerate(zip(times, units)):
        try:
            t = np.asarray(t, np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{path}: spikes/times[{i}] does not hold numbers") from None
        u = _whole(u, path, f"spikes/units[{i}]")
        if t.shape != u.shape:
            raise InputError(f"{path}: a sample's times and units differ in length")
        if not np.all(np.isfinite(t)):
            raise InputError(f"{path}: spikes/times[{i}] holds non-finite times")
        if u.size and (u.min() < 0 or u.max() >= 700):
            bad = int(u.min()) if u.min() < 0 else int(u.max())
            raise InputError(f"{path}: unit {bad} outside 0..699")
        evs.append(Events(t=t, x=u))
    return evs, labels


def _whole(values: Any, path: Any, what: str) -> np.ndarray:
    """``values`` as int64, refusing anything but whole numbers (one line naming them)."""
    a = np.asarray(values)
    if a.dtype.kind in "iub":
        return a.astype(np.int64)
    if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
        return a.astype(np.int64)
    raise InputError(f"{path}: {what} must hold whole numbers, not {a.dtype} values"
                     + (f" such as {a.reshape(-1)[0]}" if a.size else ""))


# ----------------------------------------------------------------------------- binning
def event_shape(name: str, downsample: int = 1) -> tuple[int, ...]:
    """Input shape after downsampling by ``d`` (``ceil(size / d)`` per spatial axis)."""
    s = SENSORS[name]
    if len(s) == 1:
        return (math.ceil(s[0] / downsample),)
    return (s[0], math.ceil(s[1] / downsample), math.ceil(s[2] / downsample))


def bin_events(t: np.ndarray, index: np.ndarray, n_features: int, timesteps: int, *,
               bin_by: str = "time", t_start: float | None = None,
               t_end: float | None = None) -> np.ndarray:
    """Binary spikes (T, F) uint8: 1 where step ``t`` holds an event at input ``i``.

    ``bin_by="time"``: step ``floor((t - t_start) / (t_end - t_start) · T)`` (``t_end``
    exclusive; default the sample's first event and just after its last: integer times
    use ``last + 1``); ``"count"``: the events in time order split into T runs of equal
    size (``step = k · T // n`` for the k-th event). Events outside the window are dropped.
    """
    out = np.zeros((timesteps, n_features), np.uint8)
    t = np.asarray(t)
    index = np.asarray(index, np.int64)
    if t.size == 0:
        return out
    if bin_by == "count":
        order = np.argsort(t, kind="stable")
        steps = np.arange(t.size, dtype=np.int64) * timesteps // t.size
        out[steps, index[order]] = 1
        return out
    if bin_by != "time":
        raise InputError(f"must be one of {', '.join(BIN_MODES)}, not {bin_by!r}",
                         param="bin_by")
    t0 = float(t.min()) if t_start is None else float(t_start)
    if t_end is None:
        t1 = float(t.max()) + (1.0 if t.dtype.kind in "iu" else 1e-9)
    else:
        t1 = float(t_end)
    span = max(t1 - t0, 1e-12)
    keep = (t >= t0) & (t < t1)
    steps = np.floor((t[keep] - t0) / span * timesteps).astype(np.int64)
    steps = np.clip(steps, 0, timesteps - 1)
    out[steps, index[keep]] = 1
    return out


def _address(name: str, ev: Events, downsample: int) -> np.ndarray:
    shape = event_shape(name, downsample)
    if len(shape) == 1:
        return ev.x // downsample
    _, h, w = shape
    return ev.p * (h * w) + (ev.y // downsample) * w + ev.x // downsample


def to_spikes(name: str, ev: Events, timesteps: int, *, bin_by: str = "time",
              downsample: int = 1, t_start: float | None = None,
              t_end: float | None = None) -> np.ndarray:
    """One sample's events as binary spikes (T, F) (see the module docstring)."""
    shape = event_shape(name, downsample)
    return bin_events(ev.t, _address(name, ev, downsample), int(np.prod(shape)), timesteps,
                      bin_by=bin_by, t_start=t_start, t_end=t_end)


# ----------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class EventDataset:
    """An event dataset already binned: ``x_*`` are spikes uint8 (N, T, F).

    Same attributes as :class:`quant.data.Dataset` (``name``, ``x_train`` ...,
    ``n_classes``, ``shape``), so the training loop takes either; the spikes need no
    encoding (``quant.train`` passes 3-D inputs through).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    shape: tuple[int, ...]
    timesteps: int
    bin_by: str = "time"
    downsample: int = 1

    @property
    def n_features(self) -> int:
        """Inputs per step (the product of :attr:`shape`)."""
        return int(np.prod(self.shape))

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """``(spikes, labels)`` of ``"train"`` or ``"test"``."""
        if which not in ("train", "test"):
            raise InputError(f"split must be 'train' or 'test', not {which!r}")
        return getattr(self, f"x_{which}"), getattr(self, f"y_{which}")

    def class_counts(self, which: str) -> np.ndarray:
        """Samples per class of a split."""
        return np.bincount(self.split(which)[1], minlength=self.n_classes).astype(np.int64)


def _find_dir(root: Path, name: str) -> Path | None:
    for child in root.iterdir() if root.is_dir() else []:
        if child.is_dir() and child.name.lower() == name.lower():
            return child
    return None


def _nmnist_files(root: Path, split: str) -> list[tuple[Path, int]]:
    sub = _find_dir(root, "Train" if split == "train" else "Test")
    if sub is None:
        raise InputError(f"{root}: not an N-MNIST directory (expected Train/ and Test/ with "
                         "one folder per digit 0-9 holding .bin files)", param="path")
    files = []
    for d in sorted(sub.iterdir()):
        if d.is_dir() and d.name.isdigit() and 0 <= int(d.name) <= 9:
            files += [(f, int(d.name)) for f in sorted(d.glob("*.bin"))]
    if not files:
        raise InputError(f"{sub}: no digit folders 0-9 with .bin files (N-MNIST layout)",
                         param="path")
    return files


_TRIAL = re.compile(r"^user\d+_[A-Za-z0-9_]+\.aedat$")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (not UTF-8)", param="path") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})", param="path") from None


def _gesture_trials(root: Path, split: str) -> list[Path]:
    lst = root / f"trials_to_{split}.txt"
    if not lst.is_file():
        raise InputError(f"{root}: not a DVS128 Gesture directory (expected "
                         "trials_to_train.txt, trials_to_test.txt and the userXX_*.aedat "
                         "files with their _labels.csv)", param="path")
    names = [ln.strip() for ln in _read_text(lst).splitlines() if ln.strip()]
    out = []
    for n in names:
        f = root / n
        if not f.is_file():
            raise InputError(f"{lst}: lists {n!r}, which is not in {root}", param="path")
        out.append(f)
    return out


def _gesture_labels(aedat: Path) -> list[tuple[int, int, int]]:
    csv = aedat.with_name(aedat.stem + "_labels.csv")
    if not csv.is_file():
        raise InputError(f"{aedat}: its labels file {csv.name} is missing", param="path")
    rows = []
    for i, line in enumerate(_read_text(csv).splitlines()):
        parts = [p.strip() for p in line.split(",")]
        if i == 0 and not parts[0].isdigit():
            continue  # header "class,startTime_usec,endTime_usec"
        if len(parts) < 3 or not all(re.fullmatch(r"-?\d+", p) for p in parts[:3]):
            if line.strip():
                raise InputError(f"{csv}: line {i + 1} is not 'class,start_usec,end_usec'",
                                 param="path")
            continue
        c, a, b = (int(p) for p in parts[:3])
        if not 1 <= c <= 11:
            raise InputError(f"{csv}: line {i + 1}: class {c} is outside 1..11", param="path")
        if b <= a:
            raise InputError(f"{csv}: line {i + 1}: the gesture ends at {b} µs, not after "
                             f"its start {a} µs", param="path")
        rows.append((c - 1, a, b))
    return rows


def iter_samples(name: str, path: str | os.PathLike[str], split: str, *, reader: str = "auto"
                 ) -> Iterator[tuple[Events, int, float | None, float | None]]:
    """Yield ``(events, label, t_start, t_end)`` of every sample of a split, in file order
    (``reader``: see :data:`READERS`; it chooses N-MNIST's reader)."""
    _use_tonic(reader)
    if path is None:
        raise InputError(f"dataset {name!r} is read from your copy: give its directory "
                         "(nothing is downloaded)", param="path")
    root = Path(path)
    if not root.exists():
        raise InputError(f"{root}: no such directory", param="path")
    if name == "nmnist":
        for f, label in _nmnist_files(root, split):
            yield read_nmnist_bin(f, reader=reader), label, None, None
    elif name == "dvsgesture":
        for f in _gesture_trials(root, split):
            ev = read_aedat31(f)
            if ev.x.size and (ev.x.max() >= 128 or ev.y.max() >= 128):
                raise InputError(f"{f}: event address ({int(ev.x.max())}, {int(ev.y.max())}) "
                                 "is outside the 128 x 128 DVS128 sensor", param="path")
            for label, a, b in _gesture_labels(f):
                m = (ev.t >= a) & (ev.t < b)
                yield Events(t=ev.t[m], x=ev.x[m], y=ev.y[m], p=ev.p[m]), label, a, b
    elif name == "shd":
        f = root / f"shd_{split}.h5"
        if not f.is_file():
            gz = root / f"shd_{split}.h5.gz"
            hint = f" ({gz.name} is compressed: gunzip it first)" if gz.is_file() else ""
            raise InputError(f"{root}: not an SHD directory (expected shd_train.h5 and "
                             f"shd_test.h5){hint}", param="path")
        evs, labels = read_shd(f)
        for ev, label in zip(evs, labels):
            yield ev, int(label), None, None
    else:
        raise InputError(f"unknown event dataset {name!r}: choose one of "
                         f"{', '.join(EVENT_DATASETS)}", param="name")


def load_event_split(name: str, path: str | os.PathLike[str], split: str, timesteps: int, *,
                     bin_by: str = "time", downsample: int = 1, limit: int | None = None,
                     reader: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """One split as ``(spikes uint8 (N, T, F), labels int64 (N,))``."""
    _check_options(timesteps, bin_by, downsample, limit)
    xs, ys = [], []
    for ev, label, a, b in iter_samples(name, path, split, reader=reader):
        if limit is not None and len(xs) >= limit:
            break
        xs.append(to_spikes(name, ev, timesteps, bin_by=bin_by, downsample=downsample,
                            t_start=a, t_end=b))
        ys.append(label)
    f = int(np.prod(event_shape(name, downsample)))
    x = np.stack(xs) if xs else np.zeros((0, timesteps, f), np.uint8)
    y = np.asarray(ys, np.int64)
    if y.size and (y.min() < 0 or y.max() >= N_CLASSES[name]):
        raise InputError(f"{path}: label {int(y.max())} outside 0..{N_CLASSES[name] - 1}",
                         param="path")
    return x, y


def event_summary(name: str, path: str | os.PathLike[str], *, reader: str = "auto"
                  ) -> dict[str, Any]:
    """What ``spikeforge data info`` shows for an event dataset: per split the samples,
    class counts, events per sample (mean, min, max), mean duration and the fraction of
    ON-polarity events (N-MNIST, DVS128 Gesture); SHD has no polarity. ``reader`` names
    the code that read the files (:func:`event_reader`)."""
    if name not in EVENT_DATASETS:
        raise InputError(f"unknown event dataset {name!r}: choose one of "
                         f"{', '.join(EVENT_DATASETS)}", param="name")
    out: dict[str, Any] = {"dataset": name, "shape": list(SENSORS[name]),
                           "n_features": int(np.prod(SENSORS[name])),
                           "n_classes": N_CLASSES[name], "reader": event_reader(name, reader)}
    scale = 1.0 if name == "shd" else 1e-6  # SHD times are seconds, the others µs
    for split in ("train", "test"):
        counts = np.zeros(N_CLASSES[name], np.int64)
        n_ev, dur, on = [], [], 0
        for ev, label, a, b in iter_samples(name, path, split, reader=reader):
            if not 0 <= label < N_CLASSES[name]:
                raise InputError(f"{path}: label {label} outside 0..{N_CLASSES[name] - 1}",
                                 param="path")
            counts[label] += 1
            n_ev.append(int(ev.t.size))
            if a is not None and b is not None:
                dur.append((b - a) * scale)
            elif ev.t.size:
                dur.append(float(ev.t.max() - ev.t.min()) * scale)
            else:
                dur.append(0.0)
            if ev.p is not None:
                on += int(np.count_nonzero(ev.p))
        ne = np.asarray(n_ev, np.int64)
        total = int(ne.sum())
        out[split] = {
            "samples": int(ne.size), "class_counts": counts.tolist(), "events": total,
            "events_per_sample": {"mean": float(ne.mean()) if ne.size else 0.0,
                                  "min": int(ne.min()) if ne.size else 0,
                                  "max": int(ne.max()) if ne.size else 0},
            "duration_mean_s": float(np.mean(dur)) if dur else 0.0,
            "on_fraction": (on / total if total else 0.0) if name != "shd" else None,
        }
    return out


def _check_options(timesteps: int, bin_by: str, downsample: int, limit: int | None) -> None:
    from pysim.util import check_int

    check_int(timesteps, 1, 1 << 20, "timesteps", InputError.for_param("timesteps"))
    if bin_by not in BIN_MODES:
        raise InputError(f"must be one of {', '.join(BIN_MODES)}, not {bin_by!r}",
                         param="bin_by")
    check_int(downsample, 1, 128, "downsample", InputError.for_param("downsample"))
    if limit is not None:
        check_int(limit, 1, 1 << 40, "limit", InputError.for_param("limit"))


def load_event_dataset(name: str, path: str | os.PathLike[str] | None, *, timesteps: int,
                       bin_by: str = "time", downsample: int = 1,
                       limit_train: int | None = None, limit_test: int | None = None,
                       reader: str = "auto") -> EventDataset:
    """Both splits of an event dataset, binned (see :func:`load_event_split`)."""
    if name not in EVENT_DATASETS:
        raise InputError(f"unknown event dataset {name!r}: choose one of "
                         f"{', '.join(EVENT_DATASETS)}", param="name")
    if path is None:
        raise InputError(f"dataset {name!r} is read from your copy: give its directory "
                         "(nothing is downloaded)", param="path")
    xtr, ytr = load_event_split(name, path, "train", timesteps, bin_by=bin_by,
                                downsample=downsample, limit=limit_train, reader=reader)
    xte, yte = load_event_split(name, path, "test", timesteps, bin_by=bin_by,
                                downsample=downsample, limit=limit_test, reader=reader)
    for split, y in (("train", ytr), ("test", yte)):
        if not y.size:  # (training on it reported an accuracy over no samples)
            raise InputError(f"{path}: the {name} {split} split holds no samples",
                             param="path")
    return EventDataset(name=name, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte,
                        n_classes=N_CLASSES[name], shape=event_shape(name, downsample),
                        timesteps=timesteps, bin_by=bin_by, downsample=downsample)
