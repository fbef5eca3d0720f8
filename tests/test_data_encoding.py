"""Spike encoding: exact definitions, determinism, batch invariance, validation."""
from __future__ import annotations

import numpy as np
import pytest

from pysim import load_spikes
from pysim.errors import InputError
from quant.data import Dataset, load_dataset
from quant.encoding import encode, encode_dataset, iter_encoded, save_encoded


def _x(n=20, f=13, seed=0):
    return np.random.default_rng(seed).random((n, f)).astype(np.float32)


@pytest.mark.parametrize("method", ["rate", "deterministic"])
def test_encode_shape_dtype_binary(method):
    s = encode(_x(), 7, method)
    assert s.shape == (20, 7, 13) and s.dtype == np.uint8
    assert set(np.unique(s)) <= {0, 1}


def test_encode_rate_is_deterministic_for_a_seed():
    x = _x()
    np.testing.assert_array_equal(encode(x, 9, "rate", seed=4), encode(x, 9, "rate", seed=4))
    assert not np.array_equal(encode(x, 9, "rate", seed=4), encode(x, 9, "rate", seed=5))


def test_encode_rate_matches_its_definition():
    x = _x(3, 5)
    s = encode(x, 6, "rate", seed=7, gain=1.5)
    for i in range(3):
        u = np.random.default_rng([7, i]).random((6, 5))
        p = np.clip(1.5 * x[i].astype(np.float64), 0, 1)
        np.testing.assert_array_equal(s[i], (u < p).astype(np.uint8))


def test_encode_rate_does_not_depend_on_batching():
    x = _x(50)
    full = encode(x, 8, "rate", seed=3)
    for bs in (1, 7, 50, 64):
        parts = [s for s, _ in iter_encoded(x, None, 8, "rate", 3, batch_size=bs)]
        np.testing.assert_array_equal(np.concatenate(parts), full)
    np.testing.assert_array_equal(encode(x[10:20], 8, "rate", 3, sample_ids=10), full[10:20])


def test_iter_encoded_order_and_labels():
    x = _x(30)
    y = np.arange(30) % 4
    order = np.random.default_rng(2).permutation(30)
    full = encode(x, 5, "rate", seed=1)
    batches = list(iter_encoded(x, y, 5, "rate", 1, batch_size=8, order=order))
    assert [len(s) for s, _ in batches] == [8, 8, 8, 6]
    np.testing.assert_array_equal(np.concatenate([s for s, _ in batches]), full[order])
    labels = np.concatenate([lab for _, lab in batches])
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, y[order])


def test_encode_rate_mean_follows_intensity():
    x = np.linspace(0, 1, 11, dtype=np.float32)[None, :].repeat(400, axis=0)
    s = encode(x, 50, "rate", seed=0)
    rate = s.mean(axis=(0, 1))  # 20000 Bernoulli draws per column
    np.testing.assert_allclose(rate, x[0], atol=0.015)
    assert rate[0] == 0.0 and rate[-1] == 1.0


def test_encode_rate_gain_scales_and_clips():
    x = np.full((200, 4), 0.25, np.float32)
    assert abs(encode(x, 50, "rate", gain=2.0).mean() - 0.5) < 0.02
    assert encode(x, 10, "rate", gain=8.0).min() == 1
    assert encode(x, 10, "rate", gain=0.0).max() == 0


def test_encode_deterministic_counts_are_rounded_rates():
    x = _x(40, 17, seed=3)
    for t_steps in (1, 4, 25, 33):
        counts = encode(x, t_steps, "deterministic").sum(axis=1)
        expect = np.floor(x.astype(np.float64) * t_steps + 0.5)
        np.testing.assert_array_equal(counts, expect)
        assert np.all(np.abs(counts - x * t_steps) <= 0.5 + 1e-6)


def test_encode_deterministic_equals_the_accumulator():
    # dyadic intensities make the float accumulator exact, so both forms must agree
    x = (np.arange(65, dtype=np.float64) / 64)[None, :].astype(np.float32)
    t_steps = 24
    s = encode(x, t_steps, "deterministic", seed=123)
    v = np.full(x.shape[1], 0.5)
    for t in range(t_steps):
        v += x[0]
        fire = v >= 1.0
        v[fire] -= 1.0
        np.testing.assert_array_equal(s[0, t], fire.astype(np.uint8), err_msg=f"step {t}")


def test_encode_deterministic_ignores_seed_and_spreads_spikes():
    x = np.array([[0.0, 0.25, 0.5, 1.0]], np.float32)
    s = encode(x, 8, "deterministic", seed=9)
    np.testing.assert_array_equal(s, encode(x, 8, "deterministic", seed=0))
    np.testing.assert_array_equal(s[0].T, [[0, 0, 0, 0, 0, 0, 0, 0],
                                           [0, 1, 0, 0, 0, 1, 0, 0],
                                           [1, 0, 1, 0, 1, 0, 1, 0],
                                           [1, 1, 1, 1, 1, 1, 1, 1]])


def test_encode_wrong_method():
    with pytest.raises(InputError, match="unknown encoding method 'poisson': choose one of "
                                         "rate, deterministic"):
        encode(_x(), 4, "poisson")


@pytest.mark.parametrize("t_steps", [0, -1, 2.5, True])
def test_encode_wrong_timesteps(t_steps):
    with pytest.raises(InputError, match="timesteps must be an integer >= 1"):
        encode(_x(), t_steps)


def test_encode_wrong_values():
    with pytest.raises(InputError, match=r"values must lie in \[0, 1\], found .*\.\.1\.5"):
        encode(_x() * 1.5 + 0.01, 4)
    with pytest.raises(InputError, match="NaN"):
        encode(np.full((2, 2), np.nan), 4)
    with pytest.raises(InputError, match=r"must have shape \(N, F\)"):
        encode(np.zeros((2, 3, 4)), 4)


def test_encode_wrong_seed_and_gain():
    with pytest.raises(InputError, match="seed must be a non-negative integer"):
        encode(_x(), 4, seed=-1)
    with pytest.raises(InputError, match="gain must be a finite number >= 0"):
        encode(_x(), 4, gain=-0.5)


def test_iter_encoded_wrong_batch_size_and_order():
    with pytest.raises(InputError, match="batch_size must be an integer >= 1"):
        next(iter_encoded(_x(), None, 4, batch_size=0))
    with pytest.raises(InputError, match="order must be a 1-D array of row indices"):
        next(iter_encoded(_x(), None, 4, order=np.array([0, 20])))


def test_encode_dataset_and_spike_file(tmp_path):
    ds = load_dataset("digits")
    sd = save_encoded(tmp_path / "s.npz", ds, 6, "rate", 2, "test", limit=30)
    back = load_spikes(tmp_path / "s.npz")
    assert back.spikes.shape == (30, 6, 64)
    np.testing.assert_array_equal(back.spikes, sd.spikes)
    np.testing.assert_array_equal(back.labels, ds.y_test[:30])
    full = encode_dataset(ds, 6, "rate", 2, "test")
    np.testing.assert_array_equal(full.spikes[:30], back.spikes)  # a prefix is a prefix
    train = encode_dataset(ds, 6, "deterministic", split="train", limit=5)
    np.testing.assert_array_equal(train.labels, ds.y_train[:5])


def test_encode_dataset_wrong_split():
    x = np.zeros((2, 4), np.float32)
    y = np.zeros(2, np.int64)
    ds = Dataset("d", x, y, x, y, n_classes=1, shape=(4,))
    with pytest.raises(InputError, match="split must be 'train' or 'test', not 'valid'"):
        encode_dataset(ds, 3, split="valid")
