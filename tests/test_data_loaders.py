"""Dataset loaders: digits split, MNIST from IDX directories, .npz files and the cache."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pysim.errors import InputError
from quant.data import (
    MNIST_FILES,
    Dataset,
    load_dataset,
    mnist_cache_dir,
    write_idx,
)


def _shared_mnist() -> Path | None:
    """The shared MNIST copy, when this machine has one (never needed at run time)."""
    here = Path(__file__).resolve().parents[1]
    for cand in (os.environ.get("SPIKEFORGE_TEST_MNIST"),
                 here.parent / "shared" / "data" / "mnist.npz",
                 "/work/shared/data/mnist.npz"):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def _tiny_mnist(n_train: int = 30, n_test: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }


def _write_idx_dir(directory: Path, arrays, gz: bool = False, dotted: bool = False) -> None:
    for role, name in MNIST_FILES.items():
        if dotted:
            name = name.replace("-idx", ".idx")
        write_idx(directory / (name + (".gz" if gz else "")), arrays[role])


def _assert_matches(ds: Dataset, arrays) -> None:
    assert ds.name == "mnist" and ds.shape == (28, 28) and ds.n_features == 784
    assert ds.n_classes == 10
    for split in ("train", "test"):
        x, y = ds.split(split)
        assert x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(
            x, arrays[f"x_{split}"].reshape(len(x), -1).astype(np.float32) / np.float32(255))
        np.testing.assert_array_equal(y, arrays[f"y_{split}"])


# ------------------------------------------------------------------------- digits


def test_digits_split_is_fixed_and_stratified():
    a = load_dataset("digits")
    b = load_dataset("digits")
    assert a.x_train.shape == (1347, 64) and a.x_test.shape == (450, 64)
    assert a.shape == (8, 8) and a.n_features == 64 and a.n_classes == 10
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    full = np.bincount(np.concatenate([a.y_train, a.y_test]), minlength=10)
    test = a.class_counts("test")
    # stratified: every class's test share is within one sample of 25 %
    assert np.all(np.abs(test - 0.25 * full) <= 1)
    assert test.sum() == 450


def test_digits_values_are_sixteenths_in_unit_interval():
    ds = load_dataset("digits")
    assert ds.x_train.dtype == np.float32
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    np.testing.assert_array_equal(ds.x_train * 16, np.round(ds.x_train * 16))


def test_digits_seed_changes_the_split():
    a, b = load_dataset("digits"), load_dataset("digits", seed=1)
    assert not np.array_equal(a.y_test, b.y_test)
    assert np.array_equal(a.class_counts("test"), b.class_counts("test"))


def test_digits_limits_take_the_first_samples():
    full = load_dataset("digits")
    ds = load_dataset("digits", limit_train=100, limit_test=7)
    assert ds.x_train.shape == (100, 64) and ds.x_test.shape == (7, 64)
    np.testing.assert_array_equal(ds.x_test, full.x_test[:7])


def test_digits_wrong_limit():
    with pytest.raises(InputError, match="limit_train: must be a positive integer"):
        load_dataset("digits", limit_train=0)


def test_digits_wrong_path():
    with pytest.raises(InputError, match="takes no data path"):
        load_dataset("digits", "/tmp")


def test_load_dataset_wrong_name():
    with pytest.raises(InputError, match="unknown dataset 'cifar': choose one of digits, mnist"):
        load_dataset("cifar")


# -------------------------------------------------------------------------- MNIST


@pytest.mark.parametrize("gz,dotted", [(False, False), (True, False), (False, True)])
def test_mnist_from_idx_directory(tmp_path, gz, dotted):
    arrays = _tiny_mnist()
    _write_idx_dir(tmp_path, arrays, gz=gz, dotted=dotted)
    _assert_matches(load_dataset("mnist", tmp_path), arrays)


def test_mnist_from_npz(tmp_path):
    arrays = _tiny_mnist()
    np.savez(tmp_path / "m.npz", **arrays)
    _assert_matches(load_dataset("mnist", tmp_path / "m.npz"), arrays)


def test_mnist_from_npz_flat_float_pixels(tmp_path):
    arrays = _tiny_mnist()
    flat = {k: (v.reshape(len(v), -1) / 255.0 if k.startswith("x") else v)
            for k, v in arrays.items()}
    np.savez(tmp_path / "m.npz", **flat)
    ds = load_dataset("mnist", tmp_path / "m.npz")
    assert ds.shape == (28, 28)
    np.testing.assert_allclose(ds.x_train, flat["x_train"], rtol=1e-6)


def test_mnist_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKEFORGE_DATA", str(tmp_path))
    assert mnist_cache_dir() == tmp_path / "mnist"
    arrays = _tiny_mnist()
    (tmp_path / "mnist").mkdir()
    _write_idx_dir(tmp_path / "mnist", arrays)
    ds = load_dataset("mnist", limit_train=5)
    assert ds.x_train.shape == (5, 784)
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"])


def test_mnist_missing_cache_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKEFORGE_DATA", str(tmp_path))
    with pytest.raises(InputError, match=r"dataset 'mnist' not found in .*: run 'spikeforge "
                                         r"data fetch mnist' or pass --data PATH"):
        load_dataset("mnist")


def test_mnist_missing_idx_file(tmp_path):
    arrays = _tiny_mnist()
    _write_idx_dir(tmp_path, arrays)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(InputError, match="not found in"):
        load_dataset("mnist", tmp_path)


def test_mnist_missing_path(tmp_path):
    with pytest.raises(InputError, match="no such file or directory"):
        load_dataset("mnist", tmp_path / "nothing.npz")


def test_mnist_truncated_idx_file(tmp_path):
    arrays = _tiny_mnist()
    _write_idx_dir(tmp_path, arrays)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(InputError, match="train-images-idx3-ubyte: truncated IDX file"):
        load_dataset("mnist", tmp_path)


def test_mnist_label_count_mismatch(tmp_path):
    arrays = _tiny_mnist()
    arrays["y_train"] = arrays["y_train"][:-1]
    _write_idx_dir(tmp_path, arrays)
    with pytest.raises(InputError, match=r"y_train must have shape \(30,\)"):
        load_dataset("mnist", tmp_path)


def test_mnist_npz_missing_array(tmp_path):
    arrays = _tiny_mnist()
    del arrays["y_test"]
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(InputError, match="missing array.*y_test"):
        load_dataset("mnist", tmp_path / "m.npz")


def test_mnist_npz_bad_shapes_and_values(tmp_path):
    arrays = _tiny_mnist()
    np.savez(tmp_path / "a.npz", **{**arrays, "x_test": arrays["x_test"][:, :20, :20]})
    with pytest.raises(InputError, match=r"x_train images are \(28, 28\) but x_test"):
        load_dataset("mnist", tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", **{**arrays, "x_train": arrays["x_train"] * 2.0})
    with pytest.raises(InputError, match=r"float pixels must lie in \[0, 1\]"):
        load_dataset("mnist", tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", **{**arrays, "x_train": arrays["x_train"][0, 0]})
    with pytest.raises(InputError, match="must have shape"):
        load_dataset("mnist", tmp_path / "c.npz")


def test_mnist_not_an_npz(tmp_path):
    (tmp_path / "m.npz").write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="cannot be read as .npz"):
        load_dataset("mnist", tmp_path / "m.npz")


def test_mnist_npy_array_not_an_npz(tmp_path):
    np.save(tmp_path / "m.npy", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(InputError, match=r"m\.npy: cannot be read as .npz \(it is a .npy"):
        load_dataset("mnist", tmp_path / "m.npy")


def test_dataset_wrong_values():
    x = np.full((2, 4), 0.5, np.float32)
    y = np.zeros(2, np.int64)
    with pytest.raises(InputError, match=r"values must lie in \[0, 1\]"):
        Dataset("d", x * 3, y, x, y, n_classes=2, shape=(2, 2))
    with pytest.raises(InputError, match=r"x_train must have shape \(N, 9\), not \(2, 4\)"):
        Dataset("d", x, y, x, y, n_classes=2, shape=(3, 3))
    with pytest.raises(InputError, match="labels must lie in 0..1"):
        Dataset("d", x, y + 2, x, y, n_classes=2, shape=(2, 2))


def test_mnist_shared_copy_loads_with_official_sizes():
    path = _shared_mnist()
    if path is None:
        pytest.skip("no shared MNIST copy on this machine")
    ds = load_dataset("mnist", path)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.class_counts("test").tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                974, 1009]
    with np.load(path) as z:
        np.testing.assert_array_equal(ds.x_test[123] * 255, z["x_test"][123].ravel())
        assert ds.y_train[0] == z["y_train"][0] == 5
