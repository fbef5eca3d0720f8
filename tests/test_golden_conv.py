"""conv2d and sum-pool: the golden model against the plain event-scatter reference."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from reference import reference_simulate

from pysim import (
    Conv2dLayer,
    IntLayer,
    IntNetwork,
    LayerSpec,
    SumPool2dLayer,
    parse_arch,
    pool_counts,
    random_conv_network,
    random_spikes,
    simulate,
    synaptic_input,
)


def _neuron_fields(draw, rng, wshape, n_bias, sb_max=20):
    wb = draw(st.integers(2, 16))
    sb = draw(st.integers(2, sb_max))
    w = rng.integers(-(1 << (wb - 1)), 1 << (wb - 1), size=wshape)
    bias = None
    if draw(st.booleans()):
        bias = rng.integers(-(1 << (sb - 1)), 1 << (sb - 1), size=n_bias)
    return {
        "weight": w, "weight_bits": wb, "state_bits": sb,
        "threshold": draw(st.integers(1, (1 << (sb - 1)) - 1)),
        "leak_shift": draw(st.one_of(st.none(), st.integers(1, sb - 1))),
        "reset": draw(st.sampled_from(["zero", "subtract"])), "bias": bias,
    }


@st.composite
def conv_networks_and_spikes(draw, max_layers: int = 4, max_hw: int = 7):
    C = draw(st.integers(1, 3))
    shape = (C, draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw)))
    input_shape = shape
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_layers = draw(st.integers(1, max_layers))
    layers = []
    for i in range(n_layers):
        last = i == n_layers - 1
        # Mostly map layers (dense-only chains are covered by test_golden_model.py).
        kinds = ["conv2d", "conv2d", "conv2d", "dense"]
        if not last and (not layers or layers[-1].kind != "sumpool2d"):
            kinds += ["sumpool2d", "sumpool2d"]
        if len(shape) == 1:
            kinds = ["dense"]
        kind = draw(st.sampled_from(kinds))
        if kind == "sumpool2d":
            kh = draw(st.integers(1, min(3, shape[1])))
            kw = draw(st.integers(1, min(3, shape[2])))
            stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
            layer = SumPool2dLayer(name=f"p{i}", in_shape=shape, kernel=(kh, kw), stride=stride)
        elif kind == "conv2d":
            kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
            ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
            assume(shape[1] + 2 * ph >= kh and shape[2] + 2 * pw >= kw)
            O = draw(st.integers(1, 3))
            stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
            layer = Conv2dLayer(name=f"c{i}", in_shape=shape, stride=stride, padding=(ph, pw),
                                **_neuron_fields(draw, rng, (O, shape[0], kh, kw), O))
        else:
            n_in = int(np.prod(shape))
            out = draw(st.integers(1, 6))
            layer = IntLayer(name=f"d{i}", **_neuron_fields(draw, rng, (out, n_in), out))
        layers.append(layer)
        shape = layer.out_shape
    T = draw(st.integers(1, 4))
    net = IntNetwork(layers=tuple(layers), timesteps=T,
                     readout=draw(st.sampled_from(["spike_count", "membrane"])),
                     input_shape=input_shape)
    n = draw(st.integers(1, 3))
    rate = draw(st.floats(0.0, 1.0))
    spikes = (rng.random((n, T, net.input_size)) < rate).astype(np.uint8)
    return net, spikes


def _assert_equal_to_reference(net, spikes):
    res = simulate(net, spikes, trace=True)
    preds, ref_s, ref_u = reference_simulate(net, spikes)
    assert sorted(res.spikes) == sorted(ref_s) == sorted(la.name for la in net.neuron_layers)
    for layer in net.neuron_layers:
        shape = (spikes.shape[0], net.timesteps, layer.n_neurons)
        assert res.spikes[layer.name].shape == res.membranes[layer.name].shape == shape
        np.testing.assert_array_equal(res.spikes[layer.name], np.array(ref_s[layer.name]),
                                      err_msg=f"spikes of {layer.name}")
        np.testing.assert_array_equal(res.membranes[layer.name], np.array(ref_u[layer.name]),
                                      err_msg=f"membranes of {layer.name}")
    np.testing.assert_array_equal(res.predictions, np.array(preds))
    # Without trace: same spikes and predictions, no membranes.
    plain = simulate(net, spikes)
    assert plain.membranes is None
    np.testing.assert_array_equal(plain.predictions, res.predictions)
    for name, s in res.spikes.items():
        np.testing.assert_array_equal(plain.spikes[name], s)


@settings(max_examples=400, deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(conv_networks_and_spikes())
def test_golden_conv_equals_reference_on_random_networks(case):
    _assert_equal_to_reference(*case)


@settings(max_examples=60, deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(conv_networks_and_spikes(max_layers=2, max_hw=2))
def test_golden_conv_equals_reference_tiny_maps(case):
    _assert_equal_to_reference(*case)


CHAINS = [
    # conv -> pool -> conv -> dense, with odd kernels, stride, padding, non-tiling pools
    "1x9x9-3c3p1-sp2-4c3-5",
    "2x8x7-3c3s2p1-sp2-2c1-4",
    "1x6x6-2c5p2-sp3-3",
    "3x5x5-1c1-sp1-2c3p2",
]


@pytest.mark.parametrize("arch", CHAINS)
@pytest.mark.parametrize("variant", range(4))
def test_golden_conv_chains_equal_reference(arch, variant):
    rng = np.random.default_rng(variant)
    net = random_conv_network(
        rng, arch, timesteps=5, weight_bits=[2, 5, 8, 16][variant], state_bits=[6, 10, 14, 18][variant],
        leak_shift=[None, 1, 3, 2][variant], reset=["zero", "subtract"][variant % 2],
        bias=variant >= 2, readout=["spike_count", "membrane"][variant // 2 % 2],
        threshold_scale=0.3,
    )
    x = random_spikes(rng, 3, 5, net.input_size, rate=0.4)
    _assert_equal_to_reference(net, x)
    assert sum(int(s.sum()) for s in simulate(net, x).spikes.values()) > 0


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_golden_non_tiling_pools_equal_reference(stride):
    """Overlapping (stride < kernel), gapped (stride > kernel) and ragged pools."""
    rng = np.random.default_rng(stride)
    spec = parse_arch("2x7x8-3c2-sp3-2c2-3")
    net = random_conv_network(rng, spec, timesteps=4, pool_stride=stride, bias=True,
                              threshold_scale=0.3)
    pool = net.layers[1]
    assert pool.kernel == (3, 3) and pool.stride == (stride, stride)
    assert pool.out_shape == (3, (6 - 3) // stride + 1, (7 - 3) // stride + 1)
    _assert_equal_to_reference(net, random_spikes(rng, 2, 4, net.input_size, rate=0.5))


def test_golden_conv_saturation_heavy():
    """Narrow membranes, wide weights and pool counts: both clamps are hit often."""
    rng = np.random.default_rng(11)
    hit_lo = hit_hi = 0
    for trial in range(12):
        sb = int(rng.integers(3, 7))
        c1 = Conv2dLayer(name="c1", in_shape=(2, 6, 6), weight=rng.integers(-128, 128, (3, 2, 3, 3)),
                         weight_bits=8, state_bits=sb, threshold=int(rng.integers(1, 1 << (sb - 1))),
                         leak_shift=[None, 1][trial % 2], reset=["zero", "subtract"][trial // 2 % 2],
                         padding=1)
        p = SumPool2dLayer(name="p", in_shape=c1.out_shape, kernel=2)
        c2 = Conv2dLayer(name="c2", in_shape=p.out_shape, weight=rng.integers(-128, 128, (2, 3, 2, 2)),
                         weight_bits=8, state_bits=sb, threshold=1, bias=rng.integers(-3, 3, 2))
        net = IntNetwork(layers=(c1, p, c2), timesteps=4,
                         readout=["spike_count", "membrane"][trial // 4 % 2])
        x = random_spikes(rng, 2, 4, net.input_size, rate=0.6)
        _assert_equal_to_reference(net, x)
        for layer in net.neuron_layers:
            u = simulate(net, x, trace=True).membranes[layer.name]
            hit_lo += int((u == layer.state_precision.min).sum())
            hit_hi += int((u == layer.state_precision.max).sum())
    assert hit_lo > 50 and hit_hi > 50


def test_golden_conv_matches_torch_conv2d():
    """Synaptic input is torch's conv2d (cross-correlation, zero padding, stride)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    for stride, padding, kernel in [((1, 1), (0, 0), (3, 3)), ((2, 1), (1, 2), (3, 4)),
                                    ((3, 2), (0, 1), (2, 2)), ((1, 1), (0, 0), (1, 1))]:
        w = rng.integers(-8, 8, size=(4, 3, *kernel))
        layer = Conv2dLayer(name="c", in_shape=(3, 9, 8), weight=w, weight_bits=4, state_bits=16,
                            threshold=5, stride=stride, padding=padding)
        x = (rng.random((5, 3, 9, 8)) < 0.3).astype(np.uint8)
        ours = synaptic_input(layer, x.reshape(5, -1))
        ref = torch.nn.functional.conv2d(torch.from_numpy(x.astype(np.float64)),
                                         torch.from_numpy(w.astype(np.float64)),
                                         stride=stride, padding=padding)
        assert tuple(ref.shape[1:]) == layer.out_shape
        np.testing.assert_array_equal(ours, ref.numpy().reshape(5, -1).astype(np.int64))


def test_golden_pool_counts_are_window_sums():
    layer = SumPool2dLayer(name="p", in_shape=(1, 4, 5), kernel=(2, 3), stride=(2, 1))
    x = np.arange(20).reshape(1, 4, 5) % 2
    p = pool_counts(layer, x.reshape(1, -1)).reshape(layer.out_shape)
    assert p.tolist() == [[[int(x[0, y * 2:y * 2 + 2, c:c + 3].sum()) for c in range(3)]
                           for y in range(2)]]
    assert p.min() >= 0 and p.max() <= layer.max_count


def test_golden_conv_float_paths_exact_at_extremes():
    """Wide fan-in, 16-bit weights and 4x4 pool counts: the float32 bound is crossed."""
    rng = np.random.default_rng(3)
    pool = SumPool2dLayer(name="p", in_shape=(64, 8, 8), kernel=4)
    w = rng.integers(-(1 << 15), 1 << 15, size=(3, 64, 2, 2))
    w[0] = -(1 << 15)
    w[1] = (1 << 15) - 1
    conv = Conv2dLayer(name="c", in_shape=pool.out_shape, weight=w, weight_bits=16, state_bits=32,
                       threshold=(1 << 31) - 1)
    net = IntNetwork(layers=(pool, conv), timesteps=1, readout="membrane")
    x = np.ones((1, 1, net.input_size), np.uint8)
    u = simulate(net, x, trace=True).membranes["c"][0, 0]
    counts = 16  # every 4x4 window is full
    assert u.tolist() == [int(w[o].astype(object).sum()) * counts for o in range(3)]
    assert abs(u[0]) > 1 << 24


def test_golden_conv_flattening_is_channel_major():
    """A 1x1 conv with one-hot weights copies channels: spike i = c·H·W + y·W + x."""
    w = np.zeros((2, 2, 1, 1), np.int64)
    w[0, 1] = w[1, 0] = 1  # swap the two channels
    conv = Conv2dLayer(name="c", in_shape=(2, 2, 3), weight=w, weight_bits=2, state_bits=4,
                       threshold=1)
    net = IntNetwork(layers=(conv,), timesteps=1)
    x = np.zeros((1, 1, 12), np.uint8)
    x[0, 0, 0 * 6 + 1 * 3 + 2] = 1  # channel 0, y=1, x=2
    s = simulate(net, x).spikes["c"][0, 0]
    assert np.flatnonzero(s).tolist() == [1 * 6 + 1 * 3 + 2]


def test_golden_conv_bias_is_per_channel():
    conv = Conv2dLayer(name="c", in_shape=(1, 2, 2), weight=np.zeros((2, 1, 1, 1)), weight_bits=2,
                       state_bits=8, threshold=100, bias=np.array([3, -4]))
    net = IntNetwork(layers=(conv,), timesteps=2, readout="membrane")
    u = simulate(net, np.zeros((1, 2, 4), np.uint8), trace=True).membranes["c"][0]
    assert u.tolist() == [[3, 3, 3, 3, -4, -4, -4, -4], [6, 6, 6, 6, -8, -8, -8, -8]]


def test_random_conv_network_spikes():
    rng = np.random.default_rng(0)
    net = random_conv_network(rng, "1x28x28-8c5-sp2-16c5-sp2-10", timesteps=8)
    assert [la.kind.value for la in net.layers] == ["conv2d", "sumpool2d", "conv2d",
                                                    "sumpool2d", "dense"]
    assert net.layers[-1].in_features == 16 * 4 * 4
    res = simulate(net, random_spikes(rng, 20, 8, 784, rate=0.2))
    for name in ("conv1", "conv3"):
        assert 0.01 < res.spikes[name].mean() < 0.6


def test_random_conv_network_layer_specs():
    rng = np.random.default_rng(1)
    net = random_conv_network(rng, ((1, 6, 6), [LayerSpec("conv2d", 2, 3, 1, 1),
                                                LayerSpec("sumpool2d", kernel=3, stride=2),
                                                LayerSpec("dense", 3)]))
    assert net.layers[1].out_shape == (2, 2, 2) and not net.layers[1].tiles


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_golden_conv_blocks_chunks_threads_equal_reference(monkeypatch, threads):
    """Many im2col chunks and recurrence blocks (tiny sizes forced), on 1-3 threads:
    the result is the reference's, membranes included."""
    from pysim import golden

    monkeypatch.setattr(golden, "_IM2COL_CHUNK", 97)
    monkeypatch.setattr(golden, "_BLOCK", 13)
    rng = np.random.default_rng(threads)
    net = random_conv_network(rng, "2x9x9-3c3s2p1-sp2-4c2-5", timesteps=4, bias=True,
                              leak_shift=2, reset="subtract", threshold_scale=0.3)
    x = random_spikes(rng, 5, 4, net.input_size, rate=0.4)
    res = simulate(net, x, trace=True, threads=threads)
    preds, ref_s, ref_u = reference_simulate(net, x)
    for layer in net.neuron_layers:
        np.testing.assert_array_equal(res.spikes[layer.name], np.array(ref_s[layer.name]))
        np.testing.assert_array_equal(res.membranes[layer.name], np.array(ref_u[layer.name]))
    np.testing.assert_array_equal(res.predictions, np.array(preds))
    np.testing.assert_array_equal(simulate(net, x, threads=threads).predictions, preds)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_golden_simulate_refuses_bad_threads(bad):
    from pysim.errors import InputError

    net = random_conv_network(np.random.default_rng(0), "1x4x4-2c3-2", timesteps=2)
    with pytest.raises(InputError, match="must be an integer >= 1"):
        simulate(net, np.zeros((1, 2, 16), np.uint8), threads=bad)
