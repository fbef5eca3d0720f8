"""The quantizer: ranges, scale choice, threshold snapping, STE, calibration."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pysim.errors import InputError
from quant.model import SpikingMLP, floor_ste, round_ste
from quant.qat import (
    calibrate,
    choose_scale,
    dequantize,
    layer_scale,
    quantize_weight,
    state_bits_for,
)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("method", ["mse", "max", "mean"])
def test_quantize_weight_range(bits, method):
    w = np.random.default_rng(bits).normal(size=(30, 40))
    q, s = quantize_weight(w, bits, method)
    assert q.dtype == np.int64 and q.shape == w.shape and s > 0
    assert q.min() >= -(1 << (bits - 1)) and q.max() <= (1 << (bits - 1)) - 1


def test_quantize_weight_accepts_tensors():
    w = torch.randn(5, 6)
    q, s = quantize_weight(w, 4)
    q2, s2 = quantize_weight(w.numpy(), 4)
    assert s == s2 and np.array_equal(q, q2)


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_quantize_weight_mse_beats_maxabs(bits):
    w = np.random.default_rng(0).standard_t(df=4, size=(64, 64))  # heavy tails
    err = {m: np.sum((dequantize(*quantize_weight(w, bits, m)) - w) ** 2)
           for m in ("mse", "max")}
    assert err["mse"] < err["max"]


def test_quantize_weight_max_keeps_extremes():
    w = np.array([[-1.0, 0.5, 0.25, 1.0]])
    q, s = quantize_weight(w, 3, "max")
    assert s == pytest.approx(1 / 3) and q.tolist() == [[-3, 2, 1, 3]]


def test_quantize_weight_threshold_snaps_scale():
    w = np.random.default_rng(1).normal(size=(10, 10)) * 0.3
    _q, s = quantize_weight(w, 3, threshold=1.0)
    assert (1.0 / s) == pytest.approx(round(1.0 / s))
    s_, th, _ = layer_scale(torch.from_numpy(w), 3, 1.0)
    assert s_ == pytest.approx(s) and th == round(1.0 / s)


def test_quantize_weight_wrong_bits():
    with pytest.raises(InputError, match="between 2 and 16"):
        quantize_weight(np.ones(3), 1)
    with pytest.raises(InputError, match="method"):
        choose_scale(np.ones(3), 4, "lsq")


def test_ste_passes_gradient_through_round_and_floor():
    x = torch.tensor([0.4, 1.6, -2.5], requires_grad=True)
    y = round_ste(x) * 2 + floor_ste(x)
    assert y.detach().tolist() == [0.0 + 0.0, 4.0 + 1.0, -4.0 - 3.0]
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0, 3.0]


def test_state_bits_for():
    assert state_bits_for(127, 0) == 8 and state_bits_for(128, 0) == 9
    assert state_bits_for(127, 1) == 9 and state_bits_for(0, 0) == 2


def test_calibrate_sets_quant_and_widths():
    torch.manual_seed(0)
    m = SpikingMLP([10, 8, 3], timesteps=6, init_gain=3.0)
    x = (np.random.default_rng(0).random((40, 6, 10)) < 0.4).astype(np.uint8)
    quant, choices = calibrate(m, [3, 2], x, headroom=1)
    assert m.quant == quant and [q.bits for q in quant] == [3, 2]
    for q, c in zip(quant, choices):
        peak = max(abs(c.accum_min), abs(c.accum_max), q.threshold)
        assert (1 << (q.state_bits - 2)) - 1 >= peak  # one bit of headroom
        assert q.scale * q.threshold == pytest.approx(m.threshold)
    # fake-quant weights are whole numbers in range and gradients reach the float weights
    w = m.int_weight(0)
    assert torch.equal(w, torch.round(w)) and w.min() >= -4 and w.max() <= 3
    torch.nn.functional.cross_entropy(m(torch.from_numpy(x).float()),
                                      torch.zeros(40, dtype=torch.long)).backward()
    assert m.linears[0].weight.grad.abs().sum() > 0


def test_calibrate_wrong_bits_count():
    m = SpikingMLP([4, 3, 2], timesteps=2)
    with pytest.raises(InputError, match="2 layers"):
        calibrate(m, [4], np.zeros((1, 2, 4), np.uint8))
