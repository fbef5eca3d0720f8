"""``spikeforge check`` and ``spikeforge simulate`` end to end."""
from __future__ import annotations

import json

import numpy as np

from pysim import (
    SpikeData,
    load_network,
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
