"""Manifest version 2 (conv2d, sumpool2d): round trip, version 1 compatibility, refusals.

Every validation rule has a ``test_<unit>_wrong_<param>`` test pinning its one-line
message; the malformed-manifest table checks the same rules through ``spikeforge check``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pysim import (
    Conv2dLayer,
    DenseLayer,
    IntLayer,
    IntNetwork,
    LayerKind,
    ManifestError,
    SumPool2dLayer,
    load_network,
    random_conv_network,
    random_network,
    save_network,
)
from pysim.arch import parse_arch
from spikeforge.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "golden_verilog"


def _conv_net(**kw) -> IntNetwork:
    rng = np.random.default_rng(0)
    kw = {"timesteps": 4, "weight_bits": [4, 3, 5], "state_bits": [12, 10, 9],
          "leak_shift": [3, None, 2], "reset": ["zero", "subtract", "zero"], "bias": True, **kw}
    return random_conv_network(rng, "2x9x8-3c3s2p1-sp2-4c1-5", **kw)


def _conv(**kw):
    args = {"name": "c", "in_shape": (2, 6, 6), "weight": np.zeros((3, 2, 3, 3), np.int64),
            "weight_bits": 4, "state_bits": 8, "threshold": 5}
    args.update(kw)
    return Conv2dLayer(**args)


def _pool(**kw):
    args = {"name": "p", "in_shape": (3, 4, 4), "kernel": 2}
    args.update(kw)
    return SumPool2dLayer(**args)


def _dense(n_in, n_out=2, name="d"):
    return IntLayer(name=name, weight=np.zeros((n_out, n_in), np.int64), weight_bits=4,
                    state_bits=8, threshold=3)


# ---------------------------------------------------------------- the IR
def test_ir_shapes_and_memory():
    net = _conv_net()
    c1, p, c2, d = net.layers
    assert [la.kind for la in net.layers] == [LayerKind.CONV2D, LayerKind.SUMPOOL2D,
                                              LayerKind.CONV2D, LayerKind.DENSE]
    assert net.input_shape == (2, 9, 8) and net.input_size == 144
    assert c1.in_shape == (2, 9, 8) and c1.out_shape == (3, 5, 4)  # (9+2-3)//2+1, (8+2-3)//2+1
    assert p.in_shape == (3, 5, 4) and p.out_shape == (3, 2, 2) and p.stride == (2, 2)
    assert c2.out_shape == (4, 2, 2) and d.in_features == 16 and net.output_size == 5
    assert [la.has_neurons for la in net.layers] == [True, False, True, True]
    assert [la.name for la in net.neuron_layers] == ["conv1", "conv3", "fc4"]
    assert [la.n_neurons for la in net.layers] == [60, 0, 16, 5]
    assert c1.n_weights == 3 * 2 * 3 * 3 and c1.weight_memory_bits == 54 * 4
    assert c1.membrane_memory_bits == 60 * 12 and p.membrane_memory_bits == 0
    assert p.weight_memory_bits == 0 and p.n_weights == 0 and p.max_count == 4
    assert net.membrane_memory_bits == 60 * 12 + 16 * 10 + 5 * 9
    assert net.weight_memory_bits == 54 * 4 + 12 * 3 + 80 * 5
    assert net.n_neurons == 81 and net.format_version == 2 and not net.is_dense
    assert c1.fan_in == 18 and c1.neuron_bias().shape == (60,)
    assert DenseLayer is IntLayer and IntLayer.kind == "dense"


def test_dense_network_properties_unchanged():
    net = random_network(np.random.default_rng(0), [6, 5, 3])
    assert net.input_shape == (6,) and net.is_dense and net.format_version == 1
    assert net.layers[0].in_shape == (6,) and net.layers[0].out_shape == (5,)
    assert net.membrane_memory_bits == (5 + 3) * 12
    assert net.neuron_layers == net.layers


def test_replace_keeps_map_input_and_follows_flat_one():
    net = _conv_net()
    assert net.replace(timesteps=3).input_shape == (2, 9, 8)
    dense = random_network(np.random.default_rng(0), [6, 5, 3])
    other = random_network(np.random.default_rng(0), [7, 5, 3])
    assert dense.replace(layers=other.layers).input_shape == (7,)
    conv = net.layers[0]
    assert conv.replace(stride=1).out_shape == (3, 9, 8)
    assert net.layers[1].replace(stride=1).out_shape == (3, 4, 3)


def test_dense_on_map_input_is_version_2(tmp_path):
    net = IntNetwork(layers=(_dense(12),), timesteps=2, input_shape=(3, 2, 2))
    assert net.format_version == 2
    save_network(net, tmp_path)
    header = json.loads((tmp_path / "network.json").read_text())
    assert header["version"] == 2 and header["input_shape"] == [3, 2, 2]
    assert header["layers"][0]["kind"] == "dense"
    assert load_network(tmp_path).equals(net)


# ---------------------------------------------------------------- round trip
def test_manifest_v2_roundtrip_exact(tmp_path):
    net = _conv_net().replace(meta={"arch": "2x9x8-3c3s2p1-sp2-4c1-5"})
    save_network(net, tmp_path / "a")
    back = load_network(tmp_path / "a")
    assert back.equals(net) and back.input_shape == net.input_shape
    save_network(back, tmp_path / "b")
    for name in ("network.json", "weights.npz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert not net.equals(net.replace(readout="membrane"))


def test_manifest_v2_equals_sees_every_field():
    net = _conv_net()
    c1, p, _c2, _d = net.layers
    assert not c1.equals(c1.replace(weight=c1.weight * 0))
    assert not p.equals(p.replace(stride=1)) and p.equals(p.replace())
    assert not c1.equals(p) and not p.equals(c1)


def test_manifest_v2_format(tmp_path):
    save_network(_conv_net(), tmp_path)
    header = json.loads((tmp_path / "network.json").read_text())
    assert header["version"] == 2
    assert set(header) == {"format", "version", "timesteps", "input_shape", "input_size",
                           "readout", "layers", "meta"}
    assert header["input_shape"] == [2, 9, 8] and header["input_size"] == 144
    conv, pool, _, dense = header["layers"]
    assert conv == {"name": "conv1", "kind": "conv2d", "in_shape": [2, 9, 8],
                    "out_channels": 3, "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1],
                    "weight_bits": 4, "state_bits": 12, "threshold": conv["threshold"],
                    "leak_shift": 3, "reset": "zero", "has_bias": True}
    assert pool == {"name": "pool2", "kind": "sumpool2d", "in_shape": [3, 5, 4],
                    "kernel": [2, 2], "stride": [2, 2]}
    assert dense["kind"] == "dense" and dense["in_features"] == 16
    with np.load(tmp_path / "weights.npz") as z:
        assert sorted(z.files) == ["conv1.bias", "conv1.weight", "conv3.bias", "conv3.weight",
                                   "fc4.bias", "fc4.weight"]
        assert z["conv1.weight"].shape == (3, 2, 3, 3) and z["conv1.bias"].shape == (3,)


def test_manifest_v2_optional_fields(tmp_path):
    """Without ``input_size``, conv ``stride``/``padding`` and pool ``stride``: defaults."""
    save_network(_conv_net(), tmp_path)
    h = json.loads((tmp_path / "network.json").read_text())
    del h["input_size"]
    del h["layers"][1]["stride"]
    h["layers"][2].pop("stride")
    h["layers"][2].pop("padding")
    del h["layers"][3]["kind"]  # a layer without kind is dense
    (tmp_path / "network.json").write_text(json.dumps(h))
    assert load_network(tmp_path).equals(_conv_net())


def test_manifest_dense_networks_keep_writing_version_1_byte_identical(tmp_path):
    """Every version 1 fixture loads and re-saves to the very same bytes."""
    dirs = [d for d in sorted(FIXTURES.iterdir()) if (d / "network.json").is_file()]
    assert len(dirs) >= 20
    for d in dirs:
        net = load_network(d)
        assert net.format_version == 1
        save_network(net, tmp_path / d.name)
        for name in ("network.json", "weights.npz"):
            assert (tmp_path / d.name / name).read_bytes() == (d / name).read_bytes(), d


def test_manifest_v1_with_dense_kind_loads(tmp_path):
    net = random_network(np.random.default_rng(2), [4, 3])
    save_network(net, tmp_path)
    h = json.loads((tmp_path / "network.json").read_text())
    h["layers"][0]["kind"] = "dense"
    (tmp_path / "network.json").write_text(json.dumps(h))
    assert load_network(tmp_path).equals(net)


def test_manifest_v2_dense_only_loads(tmp_path):
    """A writer may emit version 2 always: a dense network in version 2 reads the same."""
    net = random_network(np.random.default_rng(2), [4, 3, 2], bias=True)
    save_network(net, tmp_path)
    h = json.loads((tmp_path / "network.json").read_text())
    h["version"] = 2
    h["input_shape"] = [h.pop("input_size")]
    for layer in h["layers"]:
        layer["kind"] = "dense"
    (tmp_path / "network.json").write_text(json.dumps(h))
    assert load_network(tmp_path).equals(net)


# ---------------------------------------------------------------- Conv2dLayer rules
def test_conv2d_wrong_in_shape():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'in_shape': must be a list "
                                            r"\[C, H, W\] of 3 integers >= 1, not \(6, 6\)$"):
        _conv(in_shape=(6, 6))


def test_conv2d_wrong_in_shape_size():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'in_shape': every size must be "
                                            r"between 1 and \d+, not \[2, 0, 6\]$"):
        _conv(in_shape=(2, 0, 6))


def test_conv2d_wrong_weight_ndim():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'weight': must be a 4-D "
                                            r"\(out_channels, in_channels, kernel_h, kernel_w\)"):
        _conv(weight=np.zeros((3, 2, 3)))


def test_conv2d_wrong_weight_channels():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'weight': has 1 input channels "
                                            r"\(shape \(3, 1, 3, 3\)\) but in_shape \[2, 6, 6\] "
                                            r"has 2$"):
        _conv(weight=np.zeros((3, 1, 3, 3)))


def test_conv2d_wrong_weight_value():
    w = np.zeros((3, 2, 3, 3), np.int64)
    w[1, 0, 2, 1] = 8
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'weight': value at "
                                            r"\(1, 0, 2, 1\) is 8, outside the 4-bit"):
        _conv(weight=w)


def test_conv2d_wrong_weight_bits():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'weight_bits': must be an "
                                            r"integer between 2 and 16, not 1$"):
        _conv(weight_bits=1)


def test_conv2d_wrong_state_bits():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'state_bits': must be an "
                                            r"integer between 2 and 32, not 33$"):
        _conv(state_bits=33)


def test_conv2d_wrong_threshold():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'threshold': must be an "
                                            r"integer between 1 and 127, not 128$"):
        _conv(threshold=128)


def test_conv2d_wrong_leak_shift():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'leak_shift': must be an "
                                            r"integer between 1 and 7, not 8$"):
        _conv(leak_shift=8)


def test_conv2d_wrong_reset():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'reset': must be one of "
                                            r"'zero', 'subtract', not 'hard'$"):
        _conv(reset="hard")


def test_conv2d_wrong_name():
    with pytest.raises(ManifestError, match=r"^layer 'c-1': field 'name': must be a Verilog"):
        _conv(name="c-1")


def test_conv2d_wrong_stride():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'stride': every value must be "
                                            r"an integer between 1 and \d+, not \[1, 0\]$"):
        _conv(stride=(1, 0))


def test_conv2d_wrong_stride_type():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'stride': must be a list of 2 "
                                            r"integers >= 1, not \(1, 2, 3\)$"):
        _conv(stride=(1, 2, 3))


def test_conv2d_wrong_padding():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'padding': every value must be "
                                            r"between 0 and kernel - 1 \(kernel \[3, 3\]\), "
                                            r"not \[0, 3\]$"):
        _conv(padding=(0, 3))


def test_conv2d_wrong_padding_negative():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'padding': every value must be "
                                            r"an integer between 0 and"):
        _conv(padding=-1)


def test_conv2d_wrong_kernel():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'kernel': \[3, 3\] does not fit "
                                            r"the input \[2, 2, 6\] with padding \[0, 0\] "
                                            r"\(output would be 0 x 4\)$"):
        _conv(in_shape=(2, 2, 6))


def test_conv2d_padding_lets_kernel_exceed_map():
    layer = _conv(in_shape=(2, 2, 2), padding=1)
    assert layer.out_shape == (3, 2, 2)


def test_conv2d_wrong_bias():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'bias': must have shape "
                                            r"\(3,\), not \(108,\)$"):
        _conv(bias=np.zeros(108))


def test_conv2d_wrong_bias_value():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'bias': value at \(2,\) is 128, "
                                            r"outside the 8-bit"):
        _conv(bias=np.array([0, 0, 128]))


# ---------------------------------------------------------------- SumPool2dLayer rules
def test_sumpool2d_default_stride_is_kernel():
    assert _pool(kernel=(2, 1)).stride == (2, 1) and _pool().out_shape == (3, 2, 2)
    assert _pool(kernel=3, stride=1).out_shape == (3, 2, 2)
    assert _pool(kernel=3).out_shape == (3, 1, 1)  # 4 // 3: the ragged edge is dropped


def test_sumpool2d_wrong_kernel():
    with pytest.raises(ManifestError, match=r"^layer 'p': field 'kernel': every value must be "
                                            r"an integer between 1 and \d+, not \[0, 0\]$"):
        _pool(kernel=0)


def test_sumpool2d_wrong_kernel_size():
    with pytest.raises(ManifestError, match=r"^layer 'p': field 'kernel': \[5, 2\] does not fit "
                                            r"the input \[3, 4, 4\] with padding \[0, 0\]"):
        _pool(kernel=(5, 2))


def test_sumpool2d_wrong_stride():
    with pytest.raises(ManifestError, match=r"^layer 'p': field 'stride': every value must be "
                                            r"an integer between 1 and \d+, not \[0, 1\]$"):
        _pool(stride=(0, 1))


def test_sumpool2d_wrong_in_shape():
    with pytest.raises(ManifestError, match=r"^layer 'p': field 'in_shape': must be a list "
                                            r"\[C, H, W\] of 3 integers >= 1, not \[4, 4\]$"):
        _pool(in_shape=[4, 4])


def test_sumpool2d_wrong_name():
    with pytest.raises(ManifestError, match=r"^layer 'wire': field 'name': is a reserved word"):
        _pool(name="wire")


# ---------------------------------------------------------------- IntNetwork rules
def test_intnetwork_wrong_input_shape():
    with pytest.raises(ManifestError, match=r"^field 'input_shape': must be a list \[N\] or "
                                            r"\[C, H, W\] of integers >= 1, not \(4, 4\)$"):
        IntNetwork(layers=(_dense(16),), timesteps=2, input_shape=(4, 4))


def test_intnetwork_wrong_in_shape():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'in_shape': is \[2, 6, 6\] but "
                                            r"input_shape is \[2, 6, 7\]$"):
        IntNetwork(layers=(_conv(), _dense(48)), timesteps=2, input_shape=(2, 6, 7))


def test_intnetwork_wrong_in_shape_chain():
    with pytest.raises(ManifestError, match=r"^layer 'p': field 'in_shape': is \[3, 4, 4\] but "
                                            r"layer 'c' output shape is \[3, 4, 3\]$"):
        IntNetwork(layers=(_conv(in_shape=(2, 6, 5)), _pool(), _dense(12)), timesteps=2)


def test_intnetwork_wrong_in_features():
    with pytest.raises(ManifestError, match=r"^layer 'd': field 'in_features': is 47 but layer "
                                            r"'c' output shape \[3, 4, 4\] flattens to 48$"):
        IntNetwork(layers=(_conv(), _dense(47)), timesteps=2)


def test_intnetwork_wrong_in_features_map_input():
    with pytest.raises(ManifestError, match=r"^layer 'd': field 'in_features': is 10 but "
                                            r"input_shape is \[3, 2, 2\] \(flattens to 12\)$"):
        IntNetwork(layers=(_dense(10),), timesteps=2, input_shape=(3, 2, 2))


def test_intnetwork_wrong_in_features_flat():
    with pytest.raises(ManifestError, match=r"^layer 'd': field 'in_features': is 10 but "
                                            r"input_size is 12$"):
        IntNetwork(layers=(_dense(10),), timesteps=2, input_shape=(12,))


def test_intnetwork_wrong_sumpool_last():
    with pytest.raises(ManifestError, match=r"^layer 'p': field 'kind': a sumpool2d layer cannot "
                                            r"be the last layer \(the readout needs neurons\)$"):
        IntNetwork(layers=(_conv(), _pool()), timesteps=2)


def test_intnetwork_wrong_sumpool_after_sumpool():
    with pytest.raises(ManifestError, match=r"^layer 'p2': field 'kind': a sumpool2d layer "
                                            r"cannot follow another sumpool2d layer \('p'\)$"):
        IntNetwork(layers=(_conv(), _pool(), _pool(name="p2", in_shape=(3, 2, 2)),
                           _dense(3)), timesteps=2)


def test_intnetwork_wrong_layer_type():
    with pytest.raises(ManifestError, match=r"^layers\[0\]: must be an IntLayer, Conv2dLayer "
                                            r"or SumPool2dLayer, not str$"):
        IntNetwork(layers=("fc",), timesteps=2)


def test_intnetwork_wrong_names():
    with pytest.raises(ManifestError, match=r"^layer 'c': field 'name': is used by two layers$"):
        IntNetwork(layers=(_conv(), _dense(48, name="c")), timesteps=2)


# ---------------------------------------------------------------- architecture strings
def test_arch_strings_parse_and_print():
    for text in ["1x28x28-8c5-sp2-16c5-sp2-10", "2x34x34-16c5s2p1-16c3p1-sp2-8c3p1-sp2-256-10",
                 "784-400-200-10"]:
        assert str(parse_arch(text)) == text
    a = parse_arch("2x34x34-16c5s2p1-sp2-10")
    assert a.input_shape == (2, 34, 34)
    assert [(s.kind.value, s.size, s.kernel, s.stride, s.padding) for s in a.layers] == [
        ("conv2d", 16, 5, 2, 1), ("sumpool2d", 0, 2, 2, 0), ("dense", 10, 0, 1, 0)]


@pytest.mark.parametrize("text", ["", "784", "28x28-10", "1x28x28-8k5", "1x28x28-0c3-10",
                                  "1x28x28-sp-10"])
def test_arch_wrong_string(text):
    from pysim import InputError
    with pytest.raises(InputError, match=r"^arch "):
        parse_arch(text)


# ---------------------------------------------------------------- malformed v2, via the CLI
def _edit_json(path: Path, fn) -> None:
    h = json.loads((path / "network.json").read_text())
    fn(h)
    (path / "network.json").write_text(json.dumps(h))


def _edit_npz(path: Path, fn) -> None:
    with np.load(path / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    fn(arrays)
    np.savez(path / "weights.npz", **arrays)


def _set(key, value, layer=None):
    def fn(h):
        (h if layer is None else h["layers"][layer])[key] = value
    return fn


def _delete(key, layer=None):
    def fn(h):
        del (h if layer is None else h["layers"][layer])[key]
    return fn


def _to_v1(h):
    h["version"] = 1


MALFORMED_V2 = {
    "unknown_kind": (_set("kind", "conv3d", 0),
                     ("layer 'conv1': field 'kind': must be one of 'dense', 'conv2d', 'sumpool2d', "
                     "not 'conv3d'")),
    "conv_in_v1": (lambda h: (h.pop("input_shape"), _to_v1(h)),
                   ("layer 'conv1': field 'kind': 'conv2d' needs version 2 (this manifest says "
                   "version 1)")),
    "input_shape_in_v1": (_to_v1, "field 'input_shape': needs version 2"),
    "missing_input_shape": (_delete("input_shape"), "field 'input_shape': missing"),
    "input_shape_2d": (_set("input_shape", [9, 8]), "field 'input_shape': must be a list"),
    "input_size_mismatch": (_set("input_size", 145),
                            "field 'input_size': is 145 but input_shape [2, 9, 8] has 144 values"),
    "kernel_scalar": (_set("kernel", 3, 0), ("layer 'conv1': field 'kernel': must be a list of 2 "
                                            "integers >= 1, not 3")),
    "kernel_bool": (_set("kernel", [True, 3], 0), "layer 'conv1': field 'kernel': must be a list"),
    "stride_zero": (_set("stride", [0, 2], 0), "layer 'conv1': field 'stride': every value"),
    "padding_too_big": (_set("padding", [3, 1], 0), ("layer 'conv1': field 'padding': every value "
                                                    "must be between 0 and kernel - 1")),
    "kernel_too_big": (_set("kernel", [12, 3], 0), ("layer 'conv1': field 'kernel': [12, 3] does "
                                                   "not fit")),
    "out_channels_zero": (_set("out_channels", 0, 0), ("layer 'conv1': field 'out_channels': must "
                                                      "be an integer between 1")),
    "in_shape_mismatch": (_set("in_shape", [2, 9, 9], 0), ("layer 'conv1': field 'in_shape': is "
                                                          "[2, 9, 9] but input_shape is [2, 9, 8]")),
    "in_shape_chain": (_set("in_shape", [3, 5, 5], 1), ("layer 'pool2': field 'in_shape': is "
                                                       "[3, 5, 5] but layer 'conv1' output shape "
                                                       "is [3, 5, 4]")),
    "dense_in_features": (_set("in_features", 15, 3), ("layer 'fc4': field 'in_features': is 15 but "
                                                      "layer 'conv3' output shape [4, 2, 2] "
                                                      "flattens to 16")),
    "pool_padding": (_set("padding", [0, 0], 1), ("layer 'pool2': field 'padding': unknown field "
                                                 "for a sumpool2d layer")),
    "pool_missing_kernel": (_delete("kernel", 1), "layer 'pool2': field 'kernel': missing"),
    "pool_stride_zero": (_set("stride", [2, 0], 1), "layer 'pool2': field 'stride'"),
    "conv_missing_has_bias": (_delete("has_bias", 2), "layer 'conv3': field 'has_bias': missing"),
    "conv_in_features": (_set("in_features", 3, 0), ("layer 'conv1': field 'in_features': unknown "
                                                    "field for a conv2d layer")),
    "conv_threshold": (_set("threshold", 0, 2), "layer 'conv3': field 'threshold'"),
    "pool_last": (lambda h: h["layers"].__setitem__(slice(2, 4), []),
                  "layer 'pool2': field 'kind': a sumpool2d layer cannot be the last layer"),
    "pool_after_pool": (lambda h: h["layers"].insert(2, {**h["layers"][1], "name": "pool9",
                                                         "in_shape": [3, 2, 2]}),
                        "layer 'pool9': field 'kind': a sumpool2d layer cannot follow another"),
    "layer_not_object": (lambda h: h["layers"].__setitem__(1, "pool"), "layers[1]: must be an object"),
}

MALFORMED_V2_NPZ = {
    "conv_weight_shape": (lambda a: a.__setitem__("conv1.weight", a["conv1.weight"][:, :, :2]),
                          ("array 'conv1.weight': shape (3, 2, 2, 3) does not match (out_channels, "
                          "in_channels, kernel_h, kernel_w) = (3, 2, 3, 3)")),
    "conv_weight_range": (lambda a: a.__setitem__("conv3.weight",
                                                  np.full_like(a["conv3.weight"], -5)),
                          ("layer 'conv3': field 'weight': value at (0, 0, 0, 0) is -5, outside "
                          "the 3-bit")),
    "conv_bias_shape": (lambda a: a.__setitem__("conv1.bias", np.zeros(60, np.int64)),
                        "layer 'conv1': field 'bias': must have shape (3,), not (60,)"),
    "conv_bias_missing": (lambda a: a.pop("conv1.bias"), "array 'conv1.bias': missing"),
    "pool_weight": (lambda a: a.__setitem__("pool2.weight", np.zeros(1)),
                    "array 'pool2.weight': not named by any layer"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_V2))
def test_check_malformed_v2_manifest_exits_2_one_line(case, tmp_path, capsys):
    breaker, expected = MALFORMED_V2[case]
    save_network(_conv_net(), tmp_path / "net")
    _edit_json(tmp_path / "net", breaker)
    assert main(["check", str(tmp_path / "net")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikeforge: error: "), err
    assert f"net/network.json: {expected}" in err, err


@pytest.mark.parametrize("case", sorted(MALFORMED_V2_NPZ))
def test_check_malformed_v2_weights_exits_2_one_line(case, tmp_path, capsys):
    breaker, expected = MALFORMED_V2_NPZ[case]
    save_network(_conv_net(), tmp_path / "net")
    _edit_npz(tmp_path / "net", breaker)
    assert main(["check", str(tmp_path / "net")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikeforge: error: "), err
    assert "net/weights.npz: " in err and expected in err, err
