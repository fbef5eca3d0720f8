"""Training reproducibility and resume, QAT + export on a quickly trained digits net."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import pysim
from quant.export import quantize_run
from quant.train import TrainConfig, evaluate, load_run, loss_fn, model_from_config, train

TINY = {"dataset": "digits", "arch": "64-48-10", "timesteps": 8, "epochs": 4, "batch_size": 32,
            "limit_train": 600, "limit_test": 120, "threads": 1, "seed": 3}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    res = train(TrainConfig(**TINY), out, progress=False)
    return out, res


def test_train_writes_run_directory(tiny_run):
    out, res = tiny_run
    info = json.loads((out / "run.json").read_text())
    assert info["test_accuracy"] == pytest.approx(res.test_accuracy)
    assert len(info["history"]) == 4 and info["n_test"] == 120
    assert TrainConfig.from_dict(info["config"]) == TrainConfig(**TINY)
    assert res.test_accuracy > 0.4  # 4 tiny epochs already learn something


def test_train_same_seed_same_weights(tiny_run, tmp_path):
    _out, res = tiny_run
    again = train(TrainConfig(**TINY), tmp_path / "again", progress=False)
    for a, b in zip(res.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)


def test_train_resumes_from_checkpoint(tiny_run, tmp_path):
    out, res = tiny_run
    # a run directory holding only the checkpoint of a finished run resumes without training
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "checkpoint.pt").write_bytes((out / "checkpoint.pt").read_bytes())
    again = train(TrainConfig(**TINY), tmp_path / "r", progress=False)
    assert len(again.history) == 4 and again.history == res.history
    for a, b in zip(res.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)


def test_load_run_roundtrip(tiny_run):
    out, res = tiny_run
    run = load_run(out)
    x, y = run.test_spikes()
    assert x.shape == (120, 8, 64) and x.dtype == np.uint8
    assert evaluate(run.model, x, y) == pytest.approx(res.test_accuracy)
    xb, yb = next(run.train_batches(0))
    loss = loss_fn(run.model, xb, yb)
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_load_run_wrong_directory(tmp_path):
    with pytest.raises(pysim.InputError, match="no such run directory"):
        load_run(tmp_path / "nope")
    with pytest.raises(pysim.InputError, match="run.json: missing"):
        load_run(tmp_path)


@pytest.mark.parametrize("record,match", [
    ({"format": "other", "version": 1}, "its 'format' is not 'spikeforge.run'"),
    ({"format": "spikeforge.run", "version": 9}, "version 9 is not 1"),
    ([1, 2], "its 'format' is not 'spikeforge.run'"),
])
def test_load_run_refuses_foreign_run_record(tiny_run, tmp_path, record, match):
    """A run.json of another format or version (its config was used as if it were a
    run's): one line naming the file."""
    out, _res = tiny_run
    run = tmp_path / "r"
    run.mkdir()
    (run / "model.pt").write_bytes((out / "model.pt").read_bytes())
    info = json.loads((out / "run.json").read_text())
    rec = {**info, **record} if isinstance(record, dict) else record
    (run / "run.json").write_text(json.dumps(rec))
    with pytest.raises(pysim.InputError, match="not a spikeforge run record") as e:
        load_run(run)
    assert match in str(e.value) and "run.json" in str(e.value)


def _edited_run(tiny_run, tmp_path, **config):
    """A copy of the tiny run whose run.json config has ``config`` edited in."""
    out, _res = tiny_run
    run = tmp_path / "r"
    run.mkdir()
    (run / "model.pt").write_bytes((out / "model.pt").read_bytes())
    info = json.loads((out / "run.json").read_text())
    info["config"].update(config)
    (run / "run.json").write_text(json.dumps(info))
    return run


@pytest.mark.parametrize("edit,key,gives,trained", [
    ({"timesteps": 16}, "timesteps", "timesteps 16", "8"),
    ({"arch": "64-32-10"}, "arch", "sizes [64, 32, 10]", "[64, 48, 10]"),
    ({"arch": "1x8x8-4c3-10"}, "arch", "arch '1x8x8-4c3-10'", "sizes [64, 48, 10]"),
    ({"threshold": 2.0}, "threshold", "threshold 2.0", "1.0"),
    ({"reset": "subtract"}, "reset", "reset 'subtract'", "'zero'"),
])
def test_load_run_refuses_run_json_that_disagrees_with_model(tiny_run, tmp_path, edit, key,
                                                             gives, trained):
    """An edit of run.json that model.pt overrides (the later stages would use the edited
    value with the saved model): one line naming run.json, the key and both values."""
    run = _edited_run(tiny_run, tmp_path, **edit)
    with pytest.raises(pysim.InputError) as e:
        load_run(run)
    msg = str(e.value)
    assert msg.startswith(f"{run / 'run.json'}: config {key!r} gives {gives}, but model.pt "
                          f"was trained with {trained} (")
    assert "restore run.json or train again" in msg and "\n" not in msg


def test_load_run_accepts_edit_that_does_not_change_the_model(tiny_run, tmp_path):
    """Fields that do not determine the model (epochs, lr, seed) still load, as edited."""
    run_dir = _edited_run(tiny_run, tmp_path, epochs=9, lr=1e-3, seed=5)
    torch.manual_seed(11)
    run = load_run(run_dir)
    after_load = torch.random.get_rng_state()
    assert (run.cfg.epochs, run.cfg.lr, run.cfg.seed) == (9, 1e-3, 5)
    assert run.model.config()["timesteps"] == 8
    # the check builds its model under a forked RNG: the global RNG moves only as much
    # as rebuilding model.pt's model moves it
    torch.manual_seed(11)
    model_from_config(torch.load(run_dir / "model.pt", weights_only=False)["model_config"])
    assert torch.equal(after_load, torch.random.get_rng_state())


def test_load_run_refuses_invalid_run_json_config(tiny_run, tmp_path):
    with pytest.raises(pysim.InputError, match=r"run.json: config 'timesteps': must be an "
                                               r"integer >= 1, not 0$"):
        load_run(_edited_run(tiny_run, tmp_path, timesteps=0))


@pytest.mark.parametrize("bits", [[3, 2], 8])
def test_quantize_run_integer_equals_golden(tiny_run, tmp_path, bits):
    out, _ = tiny_run
    net_dir = tmp_path / "net"
    res = quantize_run(out, net_dir, bits=bits, epochs=1, progress=False, calib_samples=200)
    assert res.check["mismatches"] == 0
    net = pysim.load_network(net_dir)
    data = pysim.load_spikes(net_dir / "test_spikes.npz", net)
    gold = pysim.simulate(net, data.spikes)
    # torch integer mode of the QAT model == golden model of the written manifest
    mine = res.model.run_integer(data.spikes)
    np.testing.assert_array_equal(mine.predictions, gold.predictions)
    for layer, s in zip(net.layers, mine.spikes):
        np.testing.assert_array_equal(s, gold.spikes[layer.name])
    acc = float(np.mean(gold.predictions == data.labels))
    assert net.meta["golden_accuracy"] == pytest.approx(acc)
    assert net.meta["integer_mode_accuracy"] == pytest.approx(acc)
    assert [layer.weight_bits for layer in net.layers] == res.bits
    assert len(net.meta["state_width"]) == 2 and "reason" in net.meta["state_width"][0]
    if bits == 8:
        assert acc >= res.float_accuracy - 0.05


def test_quantize_run_is_deterministic(tiny_run, tmp_path):
    out, _ = tiny_run
    a = quantize_run(out, tmp_path / "a", bits=4, epochs=1, progress=False,
                     calib_samples=100)
    b = quantize_run(out, tmp_path / "b", bits=4, epochs=1, progress=False,
                     calib_samples=100)
    assert a.net.equals(b.net.replace(meta=a.net.meta))
    assert (tmp_path / "a" / "weights.npz").read_bytes() == \
        (tmp_path / "b" / "weights.npz").read_bytes()


@pytest.mark.slow
def test_digits_full_run_accuracy_and_exact_export(tmp_path):
    """The default digits run (64-128-10, T=16, 30 epochs) and 3-bit QAT, end to end."""
    res = train(TrainConfig(seed=0), tmp_path / "run", progress=False)
    assert res.test_accuracy >= 0.955  # measured 96.89% (seeds 0/1/2: 96.89/97.33/96.44)
    q = quantize_run(tmp_path / "run", tmp_path / "net", bits=3, progress=False)
    assert q.check["mismatches"] == 0
    assert q.golden_accuracy >= res.test_accuracy - 0.01
    net = pysim.load_network(tmp_path / "net")
    data = pysim.load_spikes(tmp_path / "net" / "test_spikes.npz", net)
    gold = pysim.simulate(net, data.spikes)
    assert float(np.mean(gold.predictions == data.labels)) == pytest.approx(q.golden_accuracy)


def test_train_output_in_the_way_or_corrupt_checkpoint_one_line(tmp_path, capsys):
    """A file at the run directory's path (never replaced), and a run directory whose
    checkpoint.pt is truncated: one line naming the path, exit 2."""
    from spikeforge.cli import main

    argv = ["train", "--dataset", "digits", "--arch", "64-8-10", "-T", "2", "--epochs", "1",
            "--limit-train", "40", "--limit-test", "20", "--threads", "1", "--quiet", "-o"]
    (tmp_path / "afile").write_text("keep")
    assert main([*argv, str(tmp_path / "afile")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "afile: exists and is not a directory" in err, err
    assert (tmp_path / "afile").read_text() == "keep"
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    assert main([*argv, str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikeforge: error: "), err
    assert "checkpoint.pt: cannot be loaded" in err, err
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["checkpoint.pt"]


def test_train_refuses_run_that_cannot_fit_in_memory(tmp_path, capsys, monkeypatch):
    """A T whose training cannot fit in the memory available is refused in one line naming
    --timesteps, before the run directory is made (T = 2^20, the manifest's limit, used to
    end in an out-of-memory kill)."""
    import quant.train as qt
    from spikeforge.cli import main

    argv = ["train", "--dataset", "digits", "--arch", "64-8-10", "--epochs", "1",
            "--limit-train", "40", "--limit-test", "20", "--threads", "1", "--quiet"]
    cfg = TrainConfig(arch="64-8-10", timesteps=4, limit_test=20)
    need = qt.training_memory(cfg, cfg.validate(), 20)
    # the bound: 4 steps x (20 test samples x 64 inputs + (32 + 20) samples x 82 units x 6)
    assert need == 4 * (20 * 64 + 52 * 82 * qt.TRAIN_BYTES_PER_UNIT)
    monkeypatch.setattr(qt, "available_memory", lambda: need - 1)
    assert main([*argv, "-T", "4", "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikeforge: error: --timesteps: "), err
    assert "training at T=4 with batch_size 32 needs at least" in err, err
    assert not (tmp_path / "r").exists()
    monkeypatch.setattr(qt, "available_memory", lambda: need)
    assert main([*argv, "-T", "4", "-o", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "model.pt").is_file()


def test_training_memory_is_below_measured_peak():
    """The bound stays under what training was measured to hold on the digits network
    (peak RSS minus a T=16 run's: 1643 MiB at T=2048, batch 32, 360 test samples;
    461 MiB with batch 128 and 32 test samples), so a run that fits is not refused."""
    import quant.train as qt

    mib = 1 << 20
    cfg = TrainConfig(arch="64-128-10", timesteps=2048)
    assert qt.training_memory(cfg, cfg.validate(), 360) < 1643 * mib
    cfg = TrainConfig(arch="64-128-10", timesteps=2048, batch_size=128)
    assert qt.training_memory(cfg, cfg.validate(), 32) < 461 * mib
