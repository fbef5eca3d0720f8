"""``spikeforge train`` / ``spikeforge quantize``: a tiny end-to-end run and exit-2 cases."""
from __future__ import annotations

import json

import pytest

import pysim
from spikeforge.cli import main

TRAIN = ["train", "--dataset", "digits", "--arch", "64-16-10", "--timesteps", "4",
         "--epochs", "1", "--limit-train", "200", "--limit-test", "50", "--threads", "1",
         "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(TRAIN + ["-o", str(out)]) == 0
    return out


def test_cli_train_and_quantize(run_dir, tmp_path, capsys):
    capsys.readouterr()
    net_dir = tmp_path / "net"
    assert main(["quantize", str(run_dir), "--bits", "3,2", "--epochs", "1", "--quiet",
                 "--calib-samples", "100", "-o", str(net_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["bits"] == [3, 2] and data["mismatches"] == 0
    net = pysim.load_network(net_dir)
    assert [layer.weight_bits for layer in net.layers] == [3, 2]
    assert pysim.load_spikes(net_dir / "test_spikes.npz", net).labels.shape == (50,)


def _exit2(argv, capsys, match):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err, err


def test_cli_train_wrong_arch(tmp_path, capsys):
    _exit2(["train", "--arch", "64-x-10", "-o", str(tmp_path / "r")], capsys, "--arch")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("extra,match", [
    (["--seed", str(2 ** 64)], "--seed: must be an integer between 0 and 2^64 - 1"),
    (["--seed", "-1"], "--seed: must be an integer between 0 and 2^64 - 1"),
    (["--timesteps", str(10 ** 8)], "--timesteps: must be at most 1048576"),
])
def test_cli_train_seed_or_timesteps_out_of_range(tmp_path, capsys, extra, match):
    """A seed beyond torch's 64 bits (a traceback), a negative seed (named no flag) and
    more steps than a manifest holds (ran out of memory encoding): one line naming the
    flag, exit 2, before any data is encoded."""
    _exit2(["train", *extra, "--quiet", "-o", str(tmp_path / "r")], capsys, match)
    assert not (tmp_path / "r").exists()


def test_cli_hessian_seed_out_of_range(run_dir, capsys):
    _exit2(["hessian", str(run_dir), "--seed", str(2 ** 64)], capsys,
           "--seed: must be an integer between 0 and 2^64 - 1")


def test_cli_train_wrong_dataset(tmp_path, capsys):
    _exit2(["train", "--dataset", "cifar", "-o", str(tmp_path / "r")], capsys, "unknown dataset")
    assert not (tmp_path / "r").exists()


def test_cli_train_arch_does_not_fit_dataset(tmp_path, capsys):
    _exit2(["train", "--arch", "60-10", "--quiet", "-o", str(tmp_path / "r")], capsys,
           "does not match dataset")


def test_cli_quantize_missing_run(tmp_path, capsys):
    _exit2(["quantize", str(tmp_path / "nope"), "--bits", "4", "-o", str(tmp_path / "n")],
           capsys, "no such run directory")
    assert not (tmp_path / "n").exists()


def test_cli_quantize_budget_below_two_bits(run_dir, tmp_path, capsys):
    _exit2(["quantize", str(run_dir), "--budget-bits", "1000", "-o", str(tmp_path / "n")],
           capsys, "below what 2-bit weights everywhere need")
    _exit2(["quantize", str(run_dir), "--avg-bits", "1.9", "-o", str(tmp_path / "n")],
           capsys, "below 2 bits")
    assert not (tmp_path / "n").exists()


@pytest.mark.parametrize("bits,match", [
    ("4,3,2", "3 widths"), ("4,x", "comma-separated"),
    ("17", "--bits: every width must be an integer between 2 and 16")])
def test_cli_quantize_wrong_bits(run_dir, tmp_path, capsys, bits, match):
    _exit2(["quantize", str(run_dir), "--bits", bits, "-o", str(tmp_path / "n")], capsys, match)
    assert not (tmp_path / "n").exists()


def test_cli_quantize_needs_a_budget(run_dir, tmp_path, capsys):
    _exit2(["quantize", str(run_dir), "-o", str(tmp_path / "n")], capsys, "one of the arguments")


@pytest.mark.parametrize("extra,match", [
    (["--bits", "4,3,2"], "--bits: 3 widths given for a network of 2 layers"),
    (["--bits", "3", "--quantizer", "lsq"], "--quantizer: must be one of mse, max, mean"),
    (["--bits", "3", "--epochs", "-1"], "--epochs: must be an integer >= 0"),
    (["--bits", "3", "--state-bits", "30"],
     "--state-bits: every state width must be an integer between 2 and 24"),
    (["--avg-bits", "3", "--policy", "best"], "--policy: must be one of"),
    (["--bits", "4", "--policy", "zz"], "--policy: must be one of"),
    (["--bits", "4", "--state-widths", "zz"], "--state-widths: must be one of auto, measured"),
    (["--bits", "4", "--budget-scope", "zz"], "--budget-scope: must be one of weights, all"),
    (["--bits", "3", "--lr", "nan"], "--lr: must be a positive number, not nan"),
    (["--bits", "3", "--headroom", "-2"], "--headroom: headroom must be an integer between 0"),
    (["--bits", "3", "--calib-samples", "0"], "--calib-samples: calib_samples must be an integer"),
])
def test_cli_quantize_names_the_flag(run_dir, tmp_path, capsys, extra, match):
    """The library raises with its own names (bits, method, ...); the CLI shows flags."""
    _exit2(["quantize", str(run_dir), *extra, "--quiet", "-o", str(tmp_path / "n")], capsys,
           match)
    assert not (tmp_path / "n").exists()


@pytest.mark.parametrize("command", ["quantize", "hessian"])
def test_cli_run_json_that_disagrees_with_model_exits_2(run_dir, tmp_path, capsys, command):
    """A run.json edited to timesteps 8 beside a model.pt trained with 4: one line naming
    run.json, the key and both values, exit 2, nothing written."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes((run_dir / "model.pt").read_bytes())
    info = json.loads((run_dir / "run.json").read_text())
    info["config"]["timesteps"] = 8
    (run / "run.json").write_text(json.dumps(info))
    out = tmp_path / "n"
    extra = ["--bits", "3", "--quiet", "-o", str(out)] if command == "quantize" else []
    _exit2([command, str(run), *extra], capsys,
           f"{run / 'run.json'}: config 'timesteps' gives timesteps 8, but model.pt was "
           "trained with 4 (run.json and model.pt disagree: restore run.json or train again)")
    assert not out.exists() and sorted(p.name for p in run.iterdir()) == ["model.pt",
                                                                          "run.json"]
