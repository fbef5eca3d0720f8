"""Event datasets against tonic: our events equal tonic's readers' on tiny files written in
each dataset's true format (every event: x, y, t, polarity / unit), N-MNIST is read
through ``tonic.io.read_mnist_file``, and nothing is ever downloaded (tonic's dataset
classes are only run with ``download`` patched to fail)."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from test_data_events import _rand_events, write_nmnist

from pysim.errors import InputError
from quant import events
from quant.events import event_reader, iter_samples, read_aedat31, read_nmnist_bin, read_shd
from spikeforge.cli import main

SKIP = "tonic is not installed (pip install tonic==1.7.0; it is in the dev extra)"


@pytest.fixture
def tonic():
    return pytest.importorskip("tonic", reason=SKIP)


def _no_download(monkeypatch, cls):
    """A tonic dataset class that finds the files present and can never download."""
    def fail(self):
        raise AssertionError(f"tonic {type(self).__name__} tried to download")

    monkeypatch.setattr(cls, "download", fail)
    monkeypatch.setattr(cls, "_check_exists", lambda self: True)


def _nmnist_records(rng, n, markers=()):
    """Random N-MNIST events (timestamps up to the 23-bit maximum) with y = 240
    timestamp-overflow marker records inserted before the given event positions."""
    x, y, p, t = _rand_events(rng, n, 34, 1 << 23)
    t[-1] = (1 << 23) - 1
    rows = []
    for i in range(n):
        if i in markers:
            rows.append((0, 240, 0, 0))
        rows.append((x[i], y[i], p[i], t[i]))
    return (x, y, p, t), [np.array(c) for c in zip(*rows)]


def _assert_same(a_t, a_x, a_y, a_p, ev):
    for name, a, b in (("t", a_t, ev.t), ("x", a_x, ev.x), ("y", a_y, ev.y), ("p", a_p, ev.p)):
        a = np.asarray(a).astype(np.int64)
        assert a.shape == b.shape and np.array_equal(a, b), name


# ----------------------------------------------------------------------------- N-MNIST
def test_events_tonic_nmnist_read_through_tonic(tmp_path, tonic, monkeypatch, capsys):
    """reader auto/tonic call tonic.io.read_mnist_file; its events, ours and the NumPy
    fallback's are equal, overflow markers included (+2^13 µs, not events)."""
    rng = np.random.default_rng(10)
    (x, y, p, t), rec = _nmnist_records(rng, 200, markers=(50, 120, 121))
    f = tmp_path / "NMNIST" / "Test" / "7" / "00001.bin"
    write_nmnist(f, *rec)
    ref = tonic.io.read_mnist_file(str(f), dtype=tonic.datasets.NMNIST.dtype)
    shift = 8192 * sum((np.arange(200) >= m).astype(np.int64) for m in (50, 120, 121))
    _assert_same(ref["t"], ref["x"], ref["y"], ref["p"],
                 events.Events(t=t + shift, x=x, y=y, p=p))
    for reader in ("auto", "tonic", "numpy"):
        _assert_same(ref["t"], ref["x"], ref["y"], ref["p"], read_nmnist_bin(f, reader=reader))
    # "through tonic": the N-MNIST records are decoded by tonic's own function
    mod = events.tonic_io()
    assert mod.read_mnist_file.__code__.co_filename == \
        tonic.io.read_mnist_file.__code__.co_filename
    calls = []
    real = mod.read_mnist_file
    monkeypatch.setattr(mod, "read_mnist_file", lambda *a, **k: calls.append(a) or real(*a, **k))
    read_nmnist_bin(f)
    read_nmnist_bin(f, reader="numpy")
    assert calls == [(str(f),)]
    assert event_reader("nmnist") == f"tonic {tonic.__version__} tonic.io.read_mnist_file"
    (tmp_path / "NMNIST" / "Train" / "7").mkdir(parents=True)
    write_nmnist(tmp_path / "NMNIST" / "Train" / "7" / "a.bin", *rec)
    assert main(["data", "info", "nmnist", "--data", str(tmp_path / "NMNIST"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["reader"].startswith("tonic ") and d["test"]["events"] == 200
    # a truncated file is refused before tonic sees it
    f.write_bytes(f.read_bytes()[:-2])
    with pytest.raises(InputError, match="40-bit"):
        read_nmnist_bin(f, reader="tonic")


def test_events_tonic_nmnist_dataset_class_equals_ours(tmp_path, tonic, monkeypatch):
    """tonic's NMNIST dataset (download disabled) on our files: same samples in the same
    order, same labels, every event equal; its sensor_size is (W, H, P), ours (P, H, W)."""
    NMNIST = tonic.datasets.NMNIST
    _no_download(monkeypatch, NMNIST)
    rng = np.random.default_rng(11)
    root = tmp_path / "NMNIST"
    for d in (3, 0, 9):
        for k in range(2):
            write_nmnist(root / "Test" / str(d) / f"{k:05d}.bin",
                         *_rand_events(rng, 40 + 7 * k, 34, 300_000))
    ds = NMNIST(save_to=str(tmp_path), train=False)
    ours = list(iter_samples("nmnist", root, "test"))
    assert len(ds) == len(ours) == 6
    for i, (ev, label, _a, _b) in enumerate(ours):
        ref, target = ds[i]
        assert target == label
        _assert_same(ref["t"], ref["x"], ref["y"], ref["p"], ev)
    assert tuple(reversed(NMNIST.sensor_size)) == events.SENSORS["nmnist"]


# ----------------------------------------------------------------------------- DVS Gesture
def _aedat31(path, x, y, p, t, *, chunks=2, special=False, invalid=(), eol=b"\r\n"):
    """AEDAT 3.1 polarity packets; optionally a special-event packet first, events with
    the valid bit cleared, LF-only header lines."""
    head = eol.join([b"#!AER-DAT3.1", b"#Format: RAW", b"#Source 1: DVS128",
                     b"#!END-HEADER"]) + eol
    t = np.asarray(t, np.int64)
    body = b""
    if special:
        body += struct.pack("<hhiiiiii", 0, 1, 8, 4, 0, 1, 1, 1) + struct.pack("<Ii", 0, 5)
    for part in np.array_split(np.arange(len(t)), chunks):
        n = len(part)
        overflow = int(t[part[0]] >> 31) if n else 0
        assert n == 0 or int(t[part[-1]] >> 31) == overflow
        body += struct.pack("<hhiiiiii", 1, 1, 8, 4, overflow, n, n, n)
        valid = np.array([0 if i in invalid else 1 for i in part], np.int64)
        ev = np.zeros(n, np.dtype([("d", "<u4"), ("t", "<i4")]))
        ev["d"] = (x[part] << 17) | (y[part] << 2) | (p[part] << 1) | valid
        ev["t"] = t[part] & 0x7FFFFFFF
        body += ev.tobytes()
    path.write_bytes(head + body)


def _read_dvs_ibm(tonic, monkeypatch, path):
    """tonic.io.read_dvs_ibm; tonic 1.7.0's raises ValueError (it unpacks two of the three
    values read_aedat_header_from_file returns), so then the header function is wrapped to
    return those two and the rest of tonic's code runs unchanged."""
    try:
        return tonic.io.read_dvs_ibm(str(path))
    except ValueError as exc:
        if "unpack" not in str(exc):
            raise
    header = tonic.io.read_aedat_header_from_file
    monkeypatch.setattr(tonic.io, "read_aedat_header_from_file", lambda f: header(f)[:2])
    return tonic.io.read_dvs_ibm(str(path))


def test_events_tonic_dvsgesture_read_dvs_ibm_equals_ours(tmp_path, tonic, monkeypatch):
    """tonic.io.read_dvs_ibm and read_aedat31 give the same events on polarity-only AEDAT
    3.1 files; where tonic's reader differs (why we keep ours) is pinned here too."""
    rng = np.random.default_rng(12)
    x, y, p, t = _rand_events(rng, 300, 128, 6_000_000)
    f = tmp_path / "user01_led.aedat"
    _aedat31(f, x, y, p, t, chunks=3)
    shape, ref = _read_dvs_ibm(tonic, monkeypatch, f)
    assert shape == (128, 128)
    ours = read_aedat31(f)
    _assert_same(ref["t"], ref["x"], ref["y"], ref["p"], ours)
    _assert_same(t, x, y, p, ours)
    # a special-event packet, invalid events and the 31-bit timestamp overflow: ours
    # skips / drops / adds them, tonic's reader takes every packet's records as events
    t2 = t + (1 << 31)
    g = tmp_path / "user02_led.aedat"
    _aedat31(g, x, y, p, t2, chunks=3, special=True, invalid=(4, 200))
    ours = read_aedat31(g)
    keep = np.ones(300, bool)
    keep[[4, 200]] = False
    _assert_same(t2[keep], x[keep], y[keep], p[keep], ours)
    _, ref = _read_dvs_ibm(tonic, monkeypatch, g)
    assert len(ref) == 301 and (ref["x"][0], ref["y"][0], ref["t"][0]) == (0, 0, 5)
    assert np.array_equal(ref["t"][1:], t) and np.array_equal(ref["x"][1:], x)
    # LF-only header lines: tonic cannot parse the version, ours reads the file
    h = tmp_path / "user03_led.aedat"
    _aedat31(h, x, y, p, t, eol=b"\n")
    with pytest.raises(NotImplementedError):
        _read_dvs_ibm(tonic, monkeypatch, h)
    _assert_same(t, x, y, p, read_aedat31(h))


# ----------------------------------------------------------------------------- SHD
def test_events_tonic_shd_dataset_class_equals_ours(tmp_path, tonic, monkeypatch):
    """tonic's SHD dataset (download disabled) on our HDF5 file: same labels, units equal
    to ours, t = our seconds · 1e6 truncated to integer µs, p = 1."""
    h5py = pytest.importorskip("h5py")
    SHD = tonic.datasets.SHD
    _no_download(monkeypatch, SHD)
    rng = np.random.default_rng(13)
    (tmp_path / "SHD").mkdir()
    f = tmp_path / "SHD" / "shd_test.h5"
    n = 4
    with h5py.File(f, "w") as h:
        times = h.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
        units = h.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(n):
            k = 30 + 11 * i
            times[i] = np.sort(rng.uniform(0, 0.95, k)).astype(np.float16)
            units[i] = rng.integers(0, 700, k).astype(np.uint16)
        h.create_dataset("labels", data=rng.integers(0, 20, n).astype(np.uint16))
        h.create_dataset("extra/keys", data=np.array([b"d%d" % i for i in range(20)]))
        h.create_dataset("extra/speaker", data=np.zeros(n, np.uint16))
    ds = SHD(save_to=str(tmp_path), train=False)
    ours, labels = read_shd(f)
    assert len(ds) == len(ours) == n
    for i, ev in enumerate(ours):
        ref, target = ds[i]
        assert int(target) == int(labels[i])
        assert np.array_equal(ref["x"], ev.x)
        assert np.array_equal(ref["t"], (ev.t * 1e6).astype(np.int64))
        assert np.all(ref["p"] == 1) and ev.p is None


# ----------------------------------------------------------------------------- reader choice
def test_events_tonic_missing_falls_back_or_refuses(tmp_path, monkeypatch):
    """Without tonic: reader auto uses the NumPy reader, reader tonic is refused with one
    line; an unknown reader is an InputError on ``reader``."""
    rng = np.random.default_rng(14)
    _ev, rec = _nmnist_records(rng, 50, markers=(10,))
    f = tmp_path / "a.bin"
    write_nmnist(f, *rec)
    want = read_nmnist_bin(f, reader="numpy")
    monkeypatch.setattr(events, "tonic_io", lambda: None)
    got = read_nmnist_bin(f)
    _assert_same(want.t, want.x, want.y, want.p, got)
    assert got.t.size == 50 and "NumPy" in event_reader("nmnist")
    with pytest.raises(InputError, match="pip install tonic") as exc:
        read_nmnist_bin(f, reader="tonic")
    assert exc.value.param == "reader"
    with pytest.raises(InputError, match="auto, tonic, numpy") as exc:
        read_nmnist_bin(f, reader="torch")
    assert exc.value.param == "reader"
    assert "h5py" in event_reader("shd") and "read_aedat31" in event_reader("dvsgesture")
