"""The flow's TOML config: defaults, overrides, one-line refusals."""
from __future__ import annotations

import pytest

from pysim.errors import InputError
from spikeforge.cli import main
from spikeforge.config import DEFAULTS, config_to_toml, load_config, parse_set


def test_config_defaults_resolve_none():
    cfg = load_config()
    assert cfg["train"]["dataset"] == "digits"
    assert cfg["quantize"]["budget_bits"] is None and cfg["verify"]["lanes"] is None
    assert set(cfg) == set(DEFAULTS)


def test_config_file_and_overrides(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[train]\nepochs = 3\nleak_shift = "none"\n[quantize]\navg_bits = 2\n'
                 '[verify]\nlanes = "fc1=8,fc2=2"\n')
    cfg = load_config(f, {"train.epochs": 5, "verify.samples": 7})
    assert cfg["train"]["epochs"] == 5 and cfg["train"]["leak_shift"] is None
    assert cfg["quantize"]["avg_bits"] == 2.0 and isinstance(cfg["quantize"]["avg_bits"], float)
    assert cfg["verify"]["lanes"] == "fc1=8,fc2=2" and cfg["verify"]["samples"] == 7


def test_config_roundtrips_through_toml(tmp_path):
    cfg = load_config(None, {"train.arch": "64-32-10", "quantize.bits": "4,2"})
    (tmp_path / "c.toml").write_text(config_to_toml(cfg))
    assert load_config(tmp_path / "c.toml") == cfg


@pytest.mark.parametrize("text, expected", [
    ("[train]\nepochs = 'x'\n", "config key 'train.epochs': must be an integer"),
    ("[train]\nepochs = -1\n", "must be >= 0"),
    ("[train]\nbias = 1\n", "must be true or false"),
    ("[trian]\nepochs = 1\n", "unknown config section 'trian'"),
    ("[train]\nepoch = 1\n", "unknown config key 'train.epoch'"),
    ("[estimate]\ntargets = []\n", "must be a non-empty list"),
    ("[estimate]\ntargets = [1]\n", "every item must be a str"),
    ("[quantize]\navg_bits = nan\n", "non-negative number"),
    ("[train]\ndataset = 'none'\n", "may not be none"),
    ("[train]\ndataset = 'cifar'\n", "must be one of digits, mnist"),
    ("[quantize]\npolicy = 'best'\n", "must be one of auto, hutchinson"),
    ("[train\n", "not valid TOML"),
    ("train = 3\n", "must be a table"),
])
def test_config_wrong_value(tmp_path, text, expected):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(InputError, match=expected.replace("[", r"\[").replace("(", r"\(")):
        load_config(f)


def test_config_parse_set():
    assert parse_set("train.epochs=4") == {"train.epochs": 4}
    assert parse_set("verify.lanes=fc1=8") == {"verify.lanes": "fc1=8"}
    assert parse_set("estimate.targets=['xc7']") == {"estimate.targets": ["xc7"]}
    with pytest.raises(InputError, match="SECTION.KEY=VALUE"):
        parse_set("epochs")


def test_flow_bad_config_exits_2_without_output(tmp_path, capsys):
    f = tmp_path / "c.toml"
    f.write_text("[train]\nepochs = 'ten'\n")
    assert main(["flow", "--config", str(f), "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.epochs" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("overrides, expected", [
    (["--set", "train.timesteps=0"], "config key 'train.timesteps': must be an integer >= 1"),
    (["--set", "train.timesteps=99999999999"], "config key 'train.timesteps': must be at most"),
    (["--set", f"train.seed={2 ** 70}"], "config key 'train.seed': must be an integer between"),
    (["--set", "train.lr=inf"], "config key 'train.lr': must be > 0"),
    (["--arch", "zz"], "config key 'train.arch'"),
    (["--stages", "zz"], "unknown flow stage 'zz'"),
    (["--stages", ""], "unknown flow stage ''"),  # (it ran every stage)
    (["--dataset", "mnist", "--data", "/nonexistent/mnist.npz"],
     "config key 'train.data_path': /nonexistent/mnist.npz: no such file or directory"),
    (["--stages", "train,,hessian"], "unknown flow stage ''"),
    (["--set", "train.timesteps=1048576", "--set", "train.batch_size=100000"],  # (~118 TiB)
     "config key 'train.timesteps': training at T=1048576 with batch_size 100000 needs at "),
])
def test_flow_bad_train_value_exits_2_before_any_stage(overrides, expected, tmp_path, capsys):
    """A training value of the right type but out of range, or an unknown stage: refused
    in one line before the run directory is made or the train stage starts (it printed
    '[train] running ...' and left the directory; a huge T ran out of memory, a seed
    beyond 64 bits was a torch traceback)."""
    assert main(["flow", "-o", str(tmp_path / "run"), *overrides]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikeforge: error: "), err
    assert expected in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("setting, expected", [
    ("hessian.probes=1", "config key 'hessian.probes': must be an integer >= 2, not 1"),
    ("quantize.target=nope", "config key 'quantize.target': unknown target 'nope'"),
    ("quantize.bits=4,4,4", "config key 'quantize.bits': 3 widths given for a network of 2"),
    ("pareto.uniform_bits=[9]", "config key 'pareto.uniform_bits': uniform width 9 is not"),
    ("pareto.seeds=0", "config key 'pareto.seeds': must be an integer >= 1, not 0"),
    ("verify.lanes=x", "config key 'verify.lanes': expected N or NAME=N"),
    ("verify.samples=0", "config key 'verify.samples': must be an integer >= 1, not 0"),
    ('estimate.targets=["ecp5-25"]', "config key 'estimate.targets': unknown target 'ecp5-25'"),
    ("estimate.sweep_bits=[1]", "config key 'estimate.sweep_bits': widths must be integers"),
])
@pytest.mark.parametrize("stages", [None, "train"])
def test_flow_checks_every_section_before_the_first_stage(setting, expected, stages, tmp_path,
                                                         capsys):
    """A bad value of a later stage is refused before the run directory is made, also when
    that stage is not run (an estimate.targets typo stopped the flow after training, a
    verify.samples of 0 after generate, with a message not naming the key)."""
    argv = ["flow", "-o", str(tmp_path / "run"), "--set", setting]
    assert main([*argv, *(["--stages", stages] if stages else [])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikeforge: error: "), err
    assert expected in err, err
    assert not (tmp_path / "run").exists()
