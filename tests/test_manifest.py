"""The manifest directory: round-trip exactness and one-line refusals of malformed input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pysim import (
    IntLayer,
    IntNetwork,
    ManifestError,
    SpikeData,
    load_network,
    load_spikes,
    random_network,
    save_network,
    save_spikes,
)
from spikeforge.cli import main


def _net(bias: bool = True, readout: str = "spike_count") -> IntNetwork:
    rng = np.random.default_rng(0)
    return random_network(rng, [6, 5, 3], timesteps=4, weight_bits=[4, 3], state_bits=[12, 10],
                          leak_shift=[3, None], reset=["zero", "subtract"], bias=bias,
                          readout=readout)


def test_manifest_roundtrip_exact(tmp_path):
    net = _net().replace(meta={"scales": [0.1, 0.2], "note": "x"})
    save_network(net, tmp_path / "a")
    back = load_network(tmp_path / "a")
    assert back.equals(net)
    save_network(back, tmp_path / "b")
    for name in ("network.json", "weights.npz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_manifest_save_is_deterministic(tmp_path):
    save_network(_net(), tmp_path / "a")
    save_network(_net(), tmp_path / "b")
    assert (tmp_path / "a/weights.npz").read_bytes() == (tmp_path / "b/weights.npz").read_bytes()


def test_manifest_matches_contract_example_shape(tmp_path):
    save_network(_net(), tmp_path)
    header = json.loads((tmp_path / "network.json").read_text())
    assert header["format"] == "spikeforge.network" and header["version"] == 1
    assert set(header) == {"format", "version", "timesteps", "input_size", "readout", "layers",
                           "meta"}
    assert set(header["layers"][0]) == {"name", "in_features", "out_features", "weight_bits",
                                        "state_bits", "threshold", "leak_shift", "reset",
                                        "has_bias"}
    with np.load(tmp_path / "weights.npz") as z:
        assert sorted(z.files) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]


def test_intlayer_wrong_weight_bits():
    with pytest.raises(ManifestError, match=r"layer 'a': field 'weight_bits': must be an integer "
                                            r"between 2 and 16, not 17"):
        IntLayer(name="a", weight=np.zeros((1, 1)), weight_bits=17, state_bits=8, threshold=1)


def test_intlayer_wrong_weight_value():
    with pytest.raises(ManifestError, match=r"field 'weight': value at \(0, 1\) is 8, outside"):
        IntLayer(name="a", weight=np.array([[1, 8]]), weight_bits=4, state_bits=8, threshold=1)


def test_intlayer_wrong_weight_fraction():
    with pytest.raises(ManifestError, match="not a whole number"):
        IntLayer(name="a", weight=np.array([[1.5]]), weight_bits=4, state_bits=8, threshold=1)


def test_intlayer_wrong_name():
    with pytest.raises(ManifestError, match="Verilog identifier"):
        IntLayer(name="1fc", weight=np.zeros((1, 1)), weight_bits=4, state_bits=8, threshold=1)


def test_intnetwork_wrong_sizes():
    a = IntLayer(name="a", weight=np.zeros((3, 2)), weight_bits=4, state_bits=8, threshold=1)
    b = IntLayer(name="b", weight=np.zeros((2, 4)), weight_bits=4, state_bits=8, threshold=1)
    with pytest.raises(ManifestError, match="layer 'b': field 'in_features': is 4"):
        IntNetwork(layers=(a, b), timesteps=2)


def test_spikes_roundtrip(tmp_path):
    sd = SpikeData(np.ones((2, 4, 6), bool), np.array([1, 2]))
    save_spikes(tmp_path / "s.npz", sd)
    back = load_spikes(tmp_path / "s.npz", _net())
    assert back.spikes.dtype == np.uint8 and back.spikes.sum() == 48
    assert back.labels.tolist() == [1, 2]


# ---------------------------------------------------------------- malformed input, via the CLI
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


MALFORMED_MANIFESTS = {
    "wrong_format": (lambda p: _edit_json(p, _set("format", "onnx")), "field 'format'"),
    "wrong_version": (lambda p: _edit_json(p, _set("version", 99)), "field 'version': 99"),
    "missing_timesteps": (lambda p: _edit_json(p, _delete("timesteps")), "'timesteps': missing"),
    "timesteps_zero": (lambda p: _edit_json(p, _set("timesteps", 0)), "field 'timesteps'"),
    "timesteps_string": (lambda p: _edit_json(p, _set("timesteps", "16")), "field 'timesteps'"),
    "unknown_readout": (lambda p: _edit_json(p, _set("readout", "vote")), "field 'readout'"),
    "weight_bits_17": (lambda p: _edit_json(p, _set("weight_bits", 17, 0)),
                       "layer 'fc1': field 'weight_bits'"),
    "state_bits_float": (lambda p: _edit_json(p, _set("state_bits", 12.5, 1)),
                         "layer 'fc2': field 'state_bits'"),
    "threshold_too_big": (lambda p: _edit_json(p, _set("threshold", 1 << 40, 0)),
                          "layer 'fc1': field 'threshold'"),
    "threshold_zero": (lambda p: _edit_json(p, _set("threshold", 0, 1)),
                       "layer 'fc2': field 'threshold'"),
    "leak_shift_too_big": (lambda p: _edit_json(p, _set("leak_shift", 12, 0)),
                           "layer 'fc1': field 'leak_shift'"),
    "bad_reset": (lambda p: _edit_json(p, _set("reset", "hard", 0)), "field 'reset'"),
    "bad_name": (lambda p: _edit_json(p, _set("name", "fc-1", 0)), "field 'name'"),
    "keyword_name": (lambda p: _edit_json(p, _set("name", "module", 0)), "field 'name'"),
    "duplicate_names": (lambda p: _edit_json(p, _set("name", "fc1", 1)), "used by two layers"),
    "mismatched_sizes": (lambda p: _edit_json(p, _set("in_features", 4, 1)),
                         "layer 'fc2': field 'in_features'"),
    "input_size_mismatch": (lambda p: _edit_json(p, _set("input_size", 7)),
                            "layer 'fc1': field 'in_features'"),
    "missing_layer_key": (lambda p: _edit_json(p, _delete("has_bias", 0)), "'has_bias': missing"),
    "unknown_field": (lambda p: _edit_json(p, _set("colour", "red")), "unknown field"),
    "nan_in_json": (lambda p: (p / "network.json").write_text(
        (p / "network.json").read_text().replace('"timesteps": 4', '"timesteps": NaN')),
        "not valid JSON"),
    "not_json": (lambda p: (p / "network.json").write_text("{layers: ["), "not valid JSON"),
    "missing_weights_file": (lambda p: (p / "weights.npz").unlink(), "weights.npz: missing"),
    "truncated_npz": (lambda p: (p / "weights.npz").write_bytes(
        (p / "weights.npz").read_bytes()[:100]), "cannot be read"),
    "npy_not_npz": (lambda p: np.save(p / "weights.npz", np.zeros(3)) or (
        p / "weights.npz.npy").replace(p / "weights.npz"), "(it is a .npy array)"),
    "weight_out_of_range": (lambda p: _edit_npz(p, lambda a: a.__setitem__(
        "fc2.weight", np.full_like(a["fc2.weight"], 4))), "outside the 3-bit"),
    "weight_nan": (lambda p: _edit_npz(p, lambda a: a.__setitem__(
        "fc1.weight", np.full(a["fc1.weight"].shape, np.nan))), "not finite"),
    "weight_huge": (lambda p: _edit_npz(p, lambda a: a.__setitem__(
        "fc1.weight", np.full(a["fc1.weight"].shape, 2**62, dtype=np.int64))), "outside"),
    "weight_wrong_shape": (lambda p: _edit_npz(p, lambda a: a.__setitem__(
        "fc1.weight", a["fc1.weight"].T)), "does not match (out_features, in_features)"),
    "weight_missing": (lambda p: _edit_npz(p, lambda a: a.pop("fc2.weight")),
                       "'fc2.weight': missing"),
    "bias_missing": (lambda p: _edit_npz(p, lambda a: a.pop("fc1.bias")), "'fc1.bias': missing"),
    "bias_out_of_range": (lambda p: _edit_npz(p, lambda a: a.__setitem__(
        "fc2.bias", np.full_like(a["fc2.bias"], 1 << 12))), "outside the 10-bit"),
    "extra_array": (lambda p: _edit_npz(p, lambda a: a.__setitem__("fc9.weight", np.zeros(1))),
                    "not named by any layer"),
    "weights_as_strings": (lambda p: _edit_npz(p, lambda a: a.__setitem__(
        "fc1.weight", np.full(a["fc1.weight"].shape, "x"))), "must hold integers"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_MANIFESTS))
def test_check_malformed_manifest_exits_2_one_line(case, tmp_path, capsys):
    breaker, expected = MALFORMED_MANIFESTS[case]
    save_network(_net(), tmp_path / "net")
    breaker(tmp_path / "net")
    assert main(["check", str(tmp_path / "net")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikeforge: error: "), err
    assert expected in err, err
    assert "Traceback" not in err


MALFORMED_SPIKES = {
    "non_binary": (lambda: {"spikes": np.full((2, 4, 6), 2, np.uint8)}, "must be 0 or 1"),
    "negative": (lambda: {"spikes": np.full((2, 4, 6), -1, np.int8)}, "must be 0 or 1"),
    "float_dtype": (lambda: {"spikes": np.zeros((2, 4, 6), np.float32)}, "must be uint8 or bool"),
    "wrong_ndim": (lambda: {"spikes": np.zeros((4, 6), np.uint8)}, "must have shape"),
    "wrong_T": (lambda: {"spikes": np.zeros((2, 5, 6), np.uint8)}, "does not match"),
    "wrong_inputs": (lambda: {"spikes": np.zeros((2, 4, 7), np.uint8)}, "does not match"),
    "missing_key": (lambda: {"x": np.zeros((2, 4, 6), np.uint8)}, "'spikes': missing"),
    "bad_labels": (lambda: {"spikes": np.zeros((2, 4, 6), np.uint8),
                            "labels": np.zeros(3, np.int64)}, "'labels'"),
    "empty": (lambda: {"spikes": np.zeros((0, 4, 6), np.uint8)}, "no samples"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_SPIKES))
def test_simulate_malformed_spikes_exits_2_no_output(case, tmp_path, capsys):
    make, expected = MALFORMED_SPIKES[case]
    save_network(_net(), tmp_path / "net")
    np.savez(tmp_path / "in.npz", **make())
    out = tmp_path / "out.npz"
    assert main(["simulate", str(tmp_path / "net"), "--input", str(tmp_path / "in.npz"),
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz", "net"]


def test_simulate_truncated_spike_file(tmp_path, capsys):
    save_network(_net(), tmp_path / "net")
    np.savez(tmp_path / "in.npz", spikes=np.zeros((2, 4, 6), np.uint8))
    data = (tmp_path / "in.npz").read_bytes()
    (tmp_path / "in.npz").write_bytes(data[: len(data) // 2])
    assert main(["simulate", str(tmp_path / "net"), "-i", str(tmp_path / "in.npz"),
                 "-o", str(tmp_path / "o.npz")]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_simulate_npy_spike_file_exits_2_one_line(tmp_path, capsys):
    save_network(_net(), tmp_path / "net")
    np.save(tmp_path / "in.npy", np.zeros((2, 4, 6), np.uint8))  # an array, not an archive
    assert main(["simulate", str(tmp_path / "net"), "-i", str(tmp_path / "in.npy"),
                 "-o", str(tmp_path / "o.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "in.npy: cannot be read as .npz (it is a .npy array)" in err
    assert not (tmp_path / "o.npz").exists()


def test_cli_unknown_command_exits_2(capsys):
    assert main(["frobnicate"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_cli_version_runs_as_console_script():
    out = subprocess.run([sys.executable, "-m", "spikeforge.cli", "--version"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.startswith("spikeforge ")


@pytest.mark.parametrize("argv,expected", [
    (["simulate", "NET", "-i", "IN", "-o", "adir"], "adir: is a directory"),
    (["simulate", "NET", "-i", "IN", "-o", "afile/o.npz"], "afile is not a directory"),
    (["generate", "NET", "-o", "afile"], "afile: exists and is not a directory"),
])
def test_output_path_in_the_way_exits_2_one_line(argv, expected, tmp_path, capsys,
                                                 monkeypatch):
    """An output that is a directory where a file is written, a file where a directory
    is written (never replaced), or a file where a parent directory is needed: one line,
    exit 2, the file in the way untouched."""
    monkeypatch.chdir(tmp_path)
    save_network(_net(), tmp_path / "net")
    save_spikes(tmp_path / "in.npz", SpikeData(np.zeros((2, 4, 6), np.uint8)))
    (tmp_path / "afile").write_text("keep")
    (tmp_path / "adir").mkdir()
    argv = [{"NET": "net", "IN": "in.npz"}.get(a, a) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikeforge: error: "), err
    assert expected in err, err
    assert (tmp_path / "afile").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile", "in.npz", "net"]
    assert not any((tmp_path / "adir").iterdir())
