"""The flow's stages: errors name config keys, golden reuses quantize's check, defaults."""
from __future__ import annotations

import json

import pytest
from test_flow_e2e import TINY as E2E_TINY

from pysim.errors import InputError
from spikeforge.config import DEFAULTS, load_config, parse_int_list
from spikeforge.flow import Flow

pytest.importorskip("torch")

# the end-to-end test's tiny run, without the stages after golden
TINY = {k: v for k, v in E2E_TINY.items() if k.split(".")[0] in ("train", "hessian",
                                                                  "quantize")}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run directory with train and hessian done (tiny)."""
    run = tmp_path_factory.mktemp("flow") / "run"
    Flow(load_config(None, TINY), run, progress=False).run_all(["hessian"])
    return run


def test_flow_bad_quantize_bits_names_the_config_key(trained):
    cfg = load_config(None, {**TINY, "quantize.bits": "4,3,2"})
    with pytest.raises(InputError) as info:
        Flow(cfg, trained, progress=False).run_all(["allocate"])
    assert str(info.value) == ("config key 'quantize.bits': 3 widths given for a network "
                               "of 2 layers")
    cfg = load_config(None, {**TINY, "quantize.bits": [4, 17]})
    with pytest.raises(InputError, match="^config key 'quantize.bits': every width must be "
                                         "an integer between 2 and 16, not 17$"):
        Flow(cfg, trained, progress=False).run_all(["allocate"])


def test_flow_quantize_bits_one_width_for_all_layers(trained):
    cfg = load_config(None, {**TINY, "quantize.bits": 3})
    Flow(cfg, trained, progress=False).run_all(["allocate"])
    alloc = json.loads((trained / "allocation.json").read_text())
    assert alloc["bits"] == [3, 3] and alloc["source"] == "quantize.bits"


def test_flow_bad_train_value_names_the_config_key(tmp_path):
    cfg = load_config(None, {**TINY, "train.lr": 0})
    with pytest.raises(InputError, match="^config key 'train.lr': must be > 0"):
        Flow(cfg, tmp_path / "run", progress=False).run_all(["train"])
    cfg = load_config(None, {**TINY, "train.data_path": str(tmp_path)})
    with pytest.raises(InputError, match="^config key 'train.data_path': dataset 'digits'"):
        Flow(cfg, tmp_path / "run", progress=False).run_all(["train"])


def test_flow_bad_policy_in_allocate_names_the_config_key(trained):
    cfg = load_config(None, TINY)
    cfg["quantize"]["policy"] = "best"  # past the config's own check: the library refuses
    with pytest.raises(InputError, match="^config key 'quantize.policy': must be one of"):
        Flow(cfg, trained, progress=False).run_all(["allocate"])


def test_config_bad_bits_string_refused_at_load():
    with pytest.raises(InputError, match="^config key 'quantize.bits': '4,x' is not a "
                                         "comma-separated list"):
        load_config(None, {"quantize.bits": "4,x"})
    assert load_config(None, {"quantize.bits": "4, 3"})["quantize"]["bits"] == [4, 3]
    assert load_config(None, {"quantize.bits": 4})["quantize"]["bits"] == [4]
    assert parse_int_list("2,3,", "--candidates") == [2, 3]


def test_golden_stage_reads_the_quantize_check(trained, monkeypatch):
    """golden does not re-run torch integer mode vs golden model: quantize recorded it."""
    import quant.export

    def boom(*a, **k):
        raise AssertionError("integer_mode_check must not run in the golden stage")

    monkeypatch.setattr(quant.export, "integer_mode_check", boom)
    cfg = load_config(None, TINY)
    records = {r.name: r.status for r in Flow(cfg, trained, progress=False).run_all(["golden"])}
    assert records["golden"] == "ran"
    golden = json.loads((trained / "golden_check.json").read_text())
    from pysim import load_network
    check = load_network(trained / "net").meta["integer_check"]
    assert {k: golden[k] for k in check} == check and golden["mismatches"] == 0
    for key in ("golden_accuracy", "float_accuracy", "mcnemar_float_vs_quantized", "samples",
                "spike_mismatches", "prediction_mismatches",
                "fake_quant_prediction_mismatches", "spikes_compared"):
        assert key in golden, key
    assert golden["samples"] == 40 and 0 <= golden["golden_accuracy"] <= 1


def test_defaults_come_from_the_library():
    from quant.config import AllocateConfig, HessianConfig, QuantizeConfig, TrainConfig
    from spikeforge.cli import build_parser
    from spikeforge.pareto import ParetoConfig

    t, h, q = TrainConfig(), HessianConfig(), QuantizeConfig()
    assert DEFAULTS["train"]["epochs"] == t.epochs and DEFAULTS["train"]["lr"] == t.lr
    assert DEFAULTS["hessian"] == {"method": h.method, "probes": h.probes,
                                   "min_probes": h.min_probes, "tol": h.tol,
                                   "samples": h.samples, "seed": h.seed}
    assert DEFAULTS["quantize"]["epochs"] == q.epochs
    assert DEFAULTS["quantize"]["candidates"] == list(AllocateConfig().candidates)
    assert DEFAULTS["pareto"]["epochs"] == ParetoConfig().epochs
    parser = build_parser()
    a = parser.parse_args(["quantize", "r", "--avg-bits", "3", "-o", "n"])
    assert (a.epochs, a.lr, a.quantizer, a.headroom, a.calib_samples, a.policy) == (
        q.epochs, q.lr, q.method, q.headroom, q.calib_samples, q.policy)
    a = parser.parse_args(["hessian", "r"])
    assert (a.method, a.probes, a.min_probes, a.tol, a.samples, a.seed) == (
        h.method, h.probes, h.min_probes, h.tol, h.samples, h.seed)
    a = parser.parse_args(["train", "-o", "r"])
    assert all(getattr(a, k) == getattr(t, k) for k in (
        "dataset", "arch", "timesteps", "encoding", "epochs", "batch_size", "lr", "seed",
        "leak_shift", "reset", "readout", "bias", "threads", "limit_train", "limit_test"))
