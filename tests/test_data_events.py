"""Event datasets: tiny files in each dataset's true on-disk format, read back and binned."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from pysim import InputError, load_spikes
from quant.events import bin_events, load_event_dataset, load_event_split, read_aedat31
from spikeforge.cli import main


# ----------------------------------------------------------------------------- writers
def write_nmnist(path, x, y, p, t):
    """N-MNIST 40-bit records: x, y, p<<7 | t[22:16], t[15:8], t[7:0]."""
    rec = np.zeros((len(x), 5), np.uint8)
    t = np.asarray(t, np.int64)
    rec[:, 0], rec[:, 1] = x, y
    rec[:, 2] = (np.asarray(p) << 7) | ((t >> 16) & 0x7F)
    rec[:, 3] = (t >> 8) & 0xFF
    rec[:, 4] = t & 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rec.tobytes())


def write_aedat31(path, x, y, p, t, split_at=None):
    """AEDAT 3.1: text header, then polarity packets (28-byte header + 8-byte events)."""
    head = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"
    t = np.asarray(t, np.int64)
    parts = [slice(0, len(t))] if split_at is None else [slice(0, split_at),
                                                         slice(split_at, len(t))]
    body = b""
    # a non-polarity packet (special events, type 0) that the reader must skip
    body += struct.pack("<hhiiiiii", 0, 1, 8, 4, 0, 1, 1, 1) + struct.pack("<Ii", 0, 0)
    for sl in parts:
        n = sl.stop - sl.start
        overflow = int(t[sl.start] >> 31) if n else 0
        body += struct.pack("<hhiiiiii", 1, 1, 8, 4, overflow, n, n, n)
        data = (np.asarray(x[sl]) << 17) | (np.asarray(y[sl]) << 2) | (np.asarray(p[sl]) << 1) | 1
        ev = np.zeros(n, np.dtype([("d", "<u4"), ("t", "<i4")]))
        ev["d"], ev["t"] = data, t[sl] & 0x7FFFFFFF
        body += ev.tobytes()
    path.write_bytes(head + body)


def _rand_events(rng, n, size, t_max):
    t = np.sort(rng.integers(0, t_max, n))
    return rng.integers(0, size, n), rng.integers(0, size, n), rng.integers(0, 2, n), t


# ----------------------------------------------------------------------------- N-MNIST
def _nmnist_dir(tmp_path, rng, per_class=1):
    root = tmp_path / "NMNIST"
    truth = {}
    for split in ("Train", "Test"):
        for d in range(10):
            for k in range(per_class):
                ev = _rand_events(rng, 60, 34, 300_000)
                f = root / split / str(d) / f"{k:05d}.bin"
                write_nmnist(f, *ev)
                truth[f] = ev
    return root, truth


def test_events_nmnist_reads_true_format_and_bins(tmp_path):
    rng = np.random.default_rng(0)
    root, truth = _nmnist_dir(tmp_path, rng)
    x, y = load_event_split("nmnist", root, "test", 8)
    assert x.shape == (10, 8, 2 * 34 * 34) and x.dtype == np.uint8
    assert list(y) == list(range(10))
    # sample 3 by hand: time bins over [first, last + 1), channel-major p·H·W + y·W + x
    ex, ey, ep, et = truth[root / "Test" / "3" / "00000.bin"]
    want = np.zeros((8, 2 * 34 * 34), np.uint8)
    steps = (et - et.min()) * 8 // (et.max() + 1 - et.min())
    want[steps, ep * 34 * 34 + ey * 34 + ex] = 1
    assert np.array_equal(x[3], want)
    # downsampling by 2 and count binning
    xd, _ = load_event_split("nmnist", root, "test", 4, bin_by="count", downsample=2)
    assert xd.shape == (10, 4, 2 * 17 * 17)
    steps = np.arange(60) * 4 // 60
    want = np.zeros((4, 2 * 17 * 17), np.uint8)
    want[steps, ep * 289 + (ey // 2) * 17 + ex // 2] = 1
    assert np.array_equal(xd[3], want)


def test_events_bin_by_count_balances_events():
    t = np.array([0, 1, 2, 3, 100, 200, 300, 400])
    idx = np.arange(8)
    s = bin_events(t, idx, 8, 4, bin_by="count")
    assert s.sum(axis=1).tolist() == [2, 2, 2, 2]
    s = bin_events(t, idx, 8, 4, bin_by="time")
    assert s.sum(axis=1).tolist() == [5, 1, 1, 1]


def test_events_nmnist_cli_encode_and_bad_layout(tmp_path, capsys):
    rng = np.random.default_rng(1)
    root, _ = _nmnist_dir(tmp_path, rng)
    out = tmp_path / "spikes.npz"
    assert main(["data", "encode", "nmnist", "--data", str(root), "--timesteps", "6",
                 "-o", str(out)]) == 0
    d = load_spikes(out)
    assert d.spikes.shape == (10, 6, 2312) and d.labels.tolist() == list(range(10))
    capsys.readouterr()
    bad = tmp_path / "empty"
    bad.mkdir()
    assert main(["data", "encode", "nmnist", "--data", str(bad), "-T", "6",
                 "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert "empty" in err and "N-MNIST" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()
    (root / "Test" / "0" / "00000.bin").write_bytes(b"\x00" * 7)
    assert main(["data", "encode", "nmnist", "--data", str(root), "-T", "6",
                 "-o", str(tmp_path / "x.npz")]) == 2
    assert "40-bit" in capsys.readouterr().err


@pytest.mark.parametrize("arch", ["2312-16-10", "2x34x34-4c5s2-sp2-10"])
def test_events_nmnist_train_dense_and_conv(tmp_path, arch):
    """spikeforge train --dataset nmnist --data DIR trains a dense and a conv net on
    binned events."""
    rng = np.random.default_rng(2)
    root, _ = _nmnist_dir(tmp_path, rng, per_class=2)
    assert main(["train", "--dataset", "nmnist", "--data", str(root), "--arch", arch,
                 "--timesteps", "4", "--epochs", "1", "--threads", "1", "--quiet",
                 "-o", str(tmp_path / "run")]) == 0
    from quant.train import load_run

    run = load_run(tmp_path / "run")
    x, y = run.test_spikes()
    assert x.shape == (20, 4, 2312) and len(y) == 20


# ----------------------------------------------------------------------------- DVS Gesture
def test_events_dvsgesture_aedat31_segments(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "DvsGesture"
    root.mkdir()
    ex, ey, ep, et = _rand_events(rng, 400, 128, 2_000_000)
    et = et + (1 << 31) - 1_000_000  # crosses the 31-bit timestamp overflow
    split = int(np.searchsorted(et, 1 << 31))
    write_aedat31(root / "user01_fluorescent.aedat", ex, ey, ep, et, split_at=split)
    t0 = int(et.min())
    segs = [(3, t0, t0 + 700_000), (11, t0 + 800_000, t0 + 1_900_000)]
    (root / "user01_fluorescent_labels.csv").write_text(
        "class,startTime_usec,endTime_usec\n" + "".join(f"{c},{a},{b}\n" for c, a, b in segs))
    (root / "trials_to_train.txt").write_text("user01_fluorescent.aedat\n")
    (root / "trials_to_test.txt").write_text("user01_fluorescent.aedat\n")
    ev = read_aedat31(root / "user01_fluorescent.aedat")
    assert np.array_equal(ev.t, et) and np.array_equal(ev.x, ex) and np.array_equal(ev.p, ep)
    x, y = load_event_split("dvsgesture", root, "test", 5, downsample=4)
    assert x.shape == (2, 5, 2 * 32 * 32) and y.tolist() == [2, 10]
    _c, a, b = segs[1]
    m = (et >= a) & (et < b)
    want = np.zeros((5, 2048), np.uint8)
    want[(et[m] - a) * 5 // (b - a), ep[m] * 1024 + (ey[m] // 4) * 32 + ex[m] // 4] = 1
    assert np.array_equal(x[1], want)
    (root / "trials_to_test.txt").write_text("user02_led.aedat\n")
    with pytest.raises(Exception, match="user02_led.aedat"):
        load_event_split("dvsgesture", root, "test", 5)


# ----------------------------------------------------------------------------- SHD
def test_events_shd_hdf5(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(4)
    root = tmp_path / "SHD"
    root.mkdir()
    truth = {}
    for split in ("train", "test"):
        n = 3
        with h5py.File(root / f"shd_{split}.h5", "w") as f:
            vf = h5py.vlen_dtype(np.dtype("float16"))
            vu = h5py.vlen_dtype(np.dtype("uint16"))
            times = f.create_dataset("spikes/times", (n,), dtype=vf)
            units = f.create_dataset("spikes/units", (n,), dtype=vu)
            labels = rng.integers(0, 20, n)
            for i in range(n):
                t = np.sort(rng.uniform(0, 0.9, 50)).astype(np.float16)
                u = rng.integers(0, 700, 50).astype(np.uint16)
                times[i], units[i] = t, u
                truth[(split, i)] = (t.astype(np.float64), u.astype(np.int64))
            f.create_dataset("labels", data=labels.astype(np.uint16))
    ds = load_event_dataset("shd", root, timesteps=10, downsample=5)
    assert ds.x_train.shape == (3, 10, 140) and ds.shape == (140,)
    t, u = truth[("test", 1)]
    want = np.zeros((10, 140), np.uint8)
    span = t.max() + 1e-9 - t.min()
    want[np.clip(np.floor((t - t.min()) / span * 10).astype(int), 0, 9), u // 5] = 1
    assert np.array_equal(ds.x_test[1], want)
    (root / "shd_test.h5").write_bytes(b"nope")
    with pytest.raises(Exception, match="HDF5"):
        load_event_split("shd", root, "test", 4)


def test_events_dataset_refuses_an_empty_split(tmp_path):
    h5py = pytest.importorskip("h5py")
    root = tmp_path / "SHD"
    root.mkdir()
    for split, n in (("train", 2), ("test", 0)):
        with h5py.File(root / f"shd_{split}.h5", "w") as f:
            times = f.create_dataset("spikes/times", (n,),
                                     dtype=h5py.vlen_dtype(np.dtype("float16")))
            units = f.create_dataset("spikes/units", (n,),
                                     dtype=h5py.vlen_dtype(np.dtype("uint16")))
            for i in range(n):
                times[i] = np.array([0.1, 0.2], np.float16)
                units[i] = np.array([3, 4], np.uint16)
            f.create_dataset("labels", data=np.zeros(n, np.uint16))
    assert load_event_split("shd", root, "test", 4)[0].shape == (0, 4, 700)
    with pytest.raises(InputError, match="the shd test split holds no samples"):
        load_event_dataset("shd", root, timesteps=4)


# ----------------------------------------------------------------------------- data info
def test_events_data_info_nmnist_gesture_shd(tmp_path, capsys):
    """spikeforge data info for the event datasets: samples, class counts and event
    statistics per split, read from --data through the same readers."""
    import json

    rng = np.random.default_rng(5)
    root, truth = _nmnist_dir(tmp_path, rng)
    assert main(["data", "info", "nmnist", "--data", str(root), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["shape"] == [2, 34, 34] and d["n_classes"] == 10
    assert d["test"]["samples"] == 10 and d["test"]["class_counts"] == [1] * 10
    assert d["train"]["events"] == 600 and d["test"]["events_per_sample"]["mean"] == 60
    ons = sum(int(np.count_nonzero(ev[2])) for f, ev in truth.items() if "Test" in f.parts)
    assert d["test"]["on_fraction"] == pytest.approx(ons / 600)
    assert main(["data", "info", "nmnist", "--data", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("nmnist: 2x34x34 events (2312 inputs), 10 classes")
    # DVS128 Gesture: one sample per labelled segment, its duration the segment's
    g = tmp_path / "DvsGesture"
    g.mkdir()
    ex, ey, ep, et = _rand_events(rng, 300, 128, 1_000_000)
    write_aedat31(g / "user03_led.aedat", ex, ey, ep, et)
    (g / "user03_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n"
                                             "2,0,400000\n5,500000,1000000\n")
    (g / "trials_to_train.txt").write_text("user03_led.aedat\n")
    (g / "trials_to_test.txt").write_text("user03_led.aedat\n")
    assert main(["data", "info", "dvsgesture", "--data", str(g), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["test"]["samples"] == 2 and d["test"]["class_counts"][1] == 1
    assert d["test"]["class_counts"][4] == 1
    assert d["test"]["duration_mean_s"] == pytest.approx(0.45)
    # SHD: no polarity
    h5py = pytest.importorskip("h5py")
    s = tmp_path / "SHD"
    s.mkdir()
    for split in ("train", "test"):
        with h5py.File(s / f"shd_{split}.h5", "w") as f:
            times = f.create_dataset("spikes/times", (2,), dtype=h5py.vlen_dtype(np.float16))
            units = f.create_dataset("spikes/units", (2,), dtype=h5py.vlen_dtype(np.uint16))
            for i in range(2):
                times[i] = np.linspace(0, 0.5, 10 + i).astype(np.float16)
                units[i] = np.arange(10 + i).astype(np.uint16)
            f.create_dataset("labels", data=np.array([3, 19], np.uint16))
    assert main(["data", "info", "shd", "--data", str(s), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["shape"] == [700] and d["test"]["events"] == 21
    assert d["test"]["on_fraction"] is None and d["test"]["class_counts"][19] == 1


@pytest.mark.parametrize("name,needle", [("nmnist", "N-MNIST"), ("dvsgesture", "DVS128"),
                                         ("shd", "SHD")])
def test_events_wrong_layout_one_line_nothing_written(tmp_path, capsys, name, needle):
    """A dataset directory in the wrong layout: data info, data encode and train exit 2
    with one line naming the directory, and write nothing."""
    arch = {"nmnist": "2312-10", "dvsgesture": "32768-11", "shd": "700-20"}[name]
    bad = tmp_path / "wrong"
    (bad / "sub").mkdir(parents=True)
    (bad / "sub" / "x.txt").write_text("x")
    out = tmp_path / "out.npz"
    for argv in (["data", "info", name, "--data", str(bad)],
                 ["data", "encode", name, "--data", str(bad), "-T", "4", "-o", str(out)],
                 ["train", "--dataset", name, "--data", str(bad), "--arch", arch,
                  "--timesteps", "4", "--epochs", "1", "-o", str(tmp_path / "run")]):
        assert main(argv) == 2, argv
        cap = capsys.readouterr()
        err = cap.err.strip()
        assert len(err.splitlines()) == 1 and str(bad) in err and needle in err, err
        assert cap.out == ""
    assert not out.exists() and not (tmp_path / "run").exists()
    assert main(["data", "info", name]) == 2
    assert "--data" in capsys.readouterr().err


# ----------------------------------------------------------------------------- malformed
def _shd_test_file(**arrays):
    """Breaker writing ``shd_test.h5`` from ``{hdf5 key: array}`` (None: a group)."""
    def make(root):
        import h5py

        with h5py.File(root / "shd_test.h5", "w") as f:
            for key, value in arrays.items():
                if value is None:
                    f.create_group(key)
                else:
                    f.create_dataset(key, data=value)
    return make


_T, _U, _L = np.ones((2, 3)), np.ones((2, 3), np.int64), np.ones(2, np.int64)
MALFORMED_SHD = {
    "labels_group": (_shd_test_file(**{"spikes/times": _T, "spikes/units": _U, "labels": None}),
                     "'labels' is not a dataset"),
    "spikes_dataset": (_shd_test_file(spikes=np.ones(3), labels=_L), "'spikes/times' is missing"),
    "scalars": (_shd_test_file(**{"spikes/times": 1.0, "spikes/units": 1, "labels": 1}),
                "one entry per sample"),
    "times_strings": (_shd_test_file(**{"spikes/times": np.array([b"a", b"b"]),
                                        "spikes/units": np.array([b"a", b"b"]), "labels": _L}),
                      "spikes/times[0] does not hold numbers"),
    "times_nan": (_shd_test_file(**{"spikes/times": np.full((2, 3), np.nan),
                                    "spikes/units": _U, "labels": _L}), "non-finite times"),
    "units_fraction": (_shd_test_file(**{"spikes/times": _T, "spikes/units": np.full((2, 3), 2.7),
                                         "labels": _L}), "spikes/units[0] must hold whole numbers"),
    "labels_fraction": (_shd_test_file(**{"spikes/times": _T, "spikes/units": _U,
                                          "labels": np.full(2, 1.5)}),
                        "labels must hold whole numbers"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_SHD))
def test_events_shd_malformed_hdf5_one_line_no_output(case, tmp_path, capsys):
    """Valid HDF5 that breaks the SHD layout (a group for a dataset, scalars, strings,
    NaN times, fractional units or labels): one line naming the file, exit 2."""
    pytest.importorskip("h5py")
    breaker, needle = MALFORMED_SHD[case]
    root = tmp_path / "SHD"
    root.mkdir()
    breaker(root)
    out = tmp_path / "out.npz"
    assert main(["data", "encode", "shd", "--data", str(root), "-T", "4", "--split", "test",
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikeforge: error: "), err
    assert "shd_test.h5" in err and needle in err, err
    assert not out.exists()


def _gesture_dir(root, rng):
    root.mkdir()
    write_aedat31(root / "user01_led.aedat", *_rand_events(rng, 40, 128, 100_000))
    (root / "user01_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n"
                                                "1,0,50000\n2,50000,100000\n")
    for split in ("train", "test"):
        (root / f"trials_to_{split}.txt").write_text("user01_led.aedat\n")


MALFORMED_GESTURE = {
    "trials_not_text": (lambda r: (r / "trials_to_test.txt").write_bytes(b"\xff\xfe\x00\x01"),
                        "trials_to_test.txt: not a text file"),
    "labels_not_text": (lambda r: (r / "user01_led_labels.csv").write_bytes(b"\xff\xfe\x00x"),
                        "user01_led_labels.csv: not a text file"),
    "gesture_ends_first": (lambda r: (r / "user01_led_labels.csv").write_text(
        "class,startTime_usec,endTime_usec\n1,5000,10\n"), "line 2: the gesture ends at 10"),
    "address_off_sensor": (lambda r: write_aedat31(r / "user01_led.aedat", np.full(3, 300),
                                                   np.full(3, 200), np.ones(3, np.int64),
                                                   np.arange(3) * 1000),
                           "(300, 200) is outside the 128 x 128"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_GESTURE))
def test_events_dvsgesture_malformed_one_line_no_output(case, tmp_path, capsys):
    """A trial list or labels file that is not text, a gesture ending before it starts,
    an event address off the 128 x 128 sensor: one line naming the file, exit 2."""
    breaker, needle = MALFORMED_GESTURE[case]
    root = tmp_path / "DvsGesture"
    _gesture_dir(root, np.random.default_rng(5))
    breaker(root)
    out = tmp_path / "out.npz"
    for argv in (["data", "encode", "dvsgesture", "--data", str(root), "-T", "4", "-o",
                  str(out)], ["data", "info", "dvsgesture", "--data", str(root)]):
        assert main(argv) == 2, argv
        cap = capsys.readouterr()
        assert cap.err.count("\n") == 1 and cap.err.startswith("spikeforge: error: "), cap.err
        assert needle in cap.err, cap.err
        assert cap.out == ""
    assert not out.exists()


@pytest.mark.parametrize("name", ["nmnist", "dvsgesture", "shd"])
def test_events_encode_without_data_one_line(name, tmp_path, capsys):
    """data encode of an event dataset without --data (was a TypeError traceback)."""
    out = tmp_path / "out.npz"
    assert main(["data", "encode", name, "-T", "4", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--data" in err and "nothing is downloaded" in err, err
    assert not out.exists()
