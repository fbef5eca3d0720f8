"""``spikeforge check`` and ``spikeforge simulate`` end to end."""
from __future__ import annotations

import json

import numpy as np

from pysim import (
    SpikeData,
    load_network,
    random_conv_network,
    random_network,
    random_spikes,
    save_network,
    save_spikes,
    simulate,
)
from spikeforge.cli import main


def _setup(tmp_path, readout="spike_count"):
    rng = np.random.default_rng(1)
    net = random_network(rng, [10, 7, 4], timesteps=5, bias=True, readout=readout)
    save_network(net, tmp_path / "net")
    x = random_spikes(rng, 6, 5, 10, rate=0.3)
    save_spikes(tmp_path / "in.npz", SpikeData(x, np.arange(6) % 4))
    return net, x


def test_simulate_writes_contract_outputs(tmp_path, capsys):
    net, x = _setup(tmp_path, readout="membrane")
    assert main(["simulate", str(tmp_path / "net"), "-i", str(tmp_path / "in.npz"),
                 "-o", str(tmp_path / "out.npz"), "--trace"]) == 0
    ref = simulate(net, x, trace=True)
    with np.load(tmp_path / "out.npz") as z:
        assert sorted(z.files) == ["membrane.fc1", "membrane.fc2", "predictions", "spikes.fc1",
                                   "spikes.fc2"]
        np.testing.assert_array_equal(z["predictions"], ref.predictions)
        for name in ("fc1", "fc2"):
            assert z[f"spikes.{name}"].dtype == np.uint8
            assert z[f"membrane.{name}"].dtype == np.int32
            np.testing.assert_array_equal(z[f"spikes.{name}"], ref.spikes[name])
            np.testing.assert_array_equal(z[f"membrane.{name}"], ref.membranes[name])
    assert "accuracy" in capsys.readouterr().out


def test_simulate_without_trace_has_no_membranes(tmp_path):
    _setup(tmp_path)
    assert main(["simulate", str(tmp_path / "net"), "-i", str(tmp_path / "in.npz"),
                 "-o", str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz") as z:
        assert not any(k.startswith("membrane.") for k in z.files)


def test_check_json_reports_memory(tmp_path, capsys):
    net, _ = _setup(tmp_path)
    assert main(["check", str(tmp_path / "net"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is True
    assert data["weight_memory_bits"] == net.weight_memory_bits == 4 * (10 * 7 + 7 * 4)
    assert abs(data["percent_of_float32"] - 12.5) < 1e-9
    assert [layer["name"] for layer in data["layers"]] == ["fc1", "fc2"]


def test_check_table_lists_layers(tmp_path, capsys):
    _setup(tmp_path)
    assert main(["check", str(tmp_path / "net")]) == 0
    out = capsys.readouterr().out
    assert "fc1" in out and "fc2" in out and "12.5%" in out
    assert load_network(tmp_path / "net").timesteps == 5


# ---------------------------------------------------------------- version 2 (conv2d, sumpool2d)
def _setup_conv(tmp_path, readout="spike_count"):
    rng = np.random.default_rng(4)
    net = random_conv_network(rng, "2x9x8-3c3s2p1-sp2-4c1-5", timesteps=5, bias=True,
                              readout=readout, threshold_scale=0.3)
    save_network(net, tmp_path / "net")
    x = random_spikes(rng, 6, 5, net.input_size, rate=0.3)
    save_spikes(tmp_path / "in.npz", SpikeData(x, np.arange(6) % 5))
    return net, x


def test_check_conv_table(tmp_path, capsys):
    _setup_conv(tmp_path)
    assert main(["check", str(tmp_path / "net")]) == 0
    out = capsys.readouterr().out
    assert "(version 2)" in out and "input 2x9x8" in out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert lines["conv1"].split()[:7] == ["conv1", "conv2d", "2x9x8", "->", "3x5x4", "k3", "s2"]
    assert "p1" in lines["conv1"] and lines["conv1"].split()[-1] == str(60 * 12)
    assert lines["pool2"].split()[:7] == ["pool2", "sumpool2d", "3x5x4", "->", "3x2x2", "k2",
                                          "s2"]
    assert lines["fc4"].split()[1] == "dense" and "16 -> 5" in lines["fc4"]
    assert lines["total"].split()[-1] == str(60 * 12 + 16 * 12 + 5 * 12)


def test_check_conv_json(tmp_path, capsys):
    net, _ = _setup_conv(tmp_path)
    assert main(["check", str(tmp_path / "net"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == 2 and data["input_shape"] == [2, 9, 8] and data["input_size"] == 144
    conv, pool, _conv3, fc = data["layers"]
    assert conv["kind"] == "conv2d" and conv["in_shape"] == [2, 9, 8]
    assert conv["out_shape"] == [3, 5, 4] and conv["kernel"] == [3, 3]
    assert conv["stride"] == [2, 2] and conv["padding"] == [1, 1]
    assert conv["weights"] == 54 and conv["neurons"] == 60
    assert conv["weight_memory_bits"] == 54 * 4 and conv["membrane_memory_bits"] == 60 * 12
    assert pool["kind"] == "sumpool2d" and pool["weights"] == 0 and pool["neurons"] == 0
    assert pool["membrane_memory_bits"] == 0 and pool["percent_of_float32"] is None
    assert fc["kind"] == "dense" and fc["in_features"] == 16
    assert data["weight_memory_bits"] == net.weight_memory_bits
    assert data["membrane_memory_bits"] == net.membrane_memory_bits == (60 + 16 + 5) * 12
    assert data["neurons"] == 81 and data["weights"] == net.n_weights


def test_simulate_conv_network(tmp_path, capsys):
    net, x = _setup_conv(tmp_path, readout="membrane")
    assert main(["simulate", str(tmp_path / "net"), "-i", str(tmp_path / "in.npz"),
                 "-o", str(tmp_path / "out.npz"), "--trace"]) == 0
    ref = simulate(net, x, trace=True)
    with np.load(tmp_path / "out.npz") as z:
        assert sorted(z.files) == ["membrane.conv1", "membrane.conv3", "membrane.fc4",
                                   "predictions", "spikes.conv1", "spikes.conv3", "spikes.fc4"]
        assert z["spikes.conv1"].shape == z["membrane.conv1"].shape == (6, 5, 60)
        assert z["spikes.conv3"].shape == (6, 5, 16) and z["spikes.fc4"].shape == (6, 5, 5)
        np.testing.assert_array_equal(z["predictions"], ref.predictions)
        for name in ("conv1", "conv3", "fc4"):
            np.testing.assert_array_equal(z[f"spikes.{name}"], ref.spikes[name])
            np.testing.assert_array_equal(z[f"membrane.{name}"], ref.membranes[name])
    out = capsys.readouterr().out
    assert "conv1:" in out and "pool2" not in out


def test_simulate_conv_refuses_unflattened_spikes(tmp_path, capsys):
    _setup_conv(tmp_path)
    np.savez(tmp_path / "bad.npz", spikes=np.zeros((2, 5, 2, 9, 8), np.uint8))
    assert main(["simulate", str(tmp_path / "net"), "-i", str(tmp_path / "bad.npz"),
                 "-o", str(tmp_path / "o.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must have shape (N, T, input_size)" in err
