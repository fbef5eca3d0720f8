"""Convolutional networks in the frontend: --arch grammar, training, traces, allocation,
QAT, export to manifest v2 and torch integer mode == golden model."""
from __future__ import annotations

import json

import numpy as np
import pytest
from toolcheck import need_verilator

torch = pytest.importorskip("torch")

import pysim
from pysim import load_network, load_spikes, random_conv_network, random_spikes
from pysim.arch import LayerSpec
from pysim.errors import InputError
from quant.config import TrainConfig, network_arch
from quant.convnet import SpikingConvNet
from quant.export import integer_mode_check, model_from_network, quantize_run
from quant.model import fused_bptt
from quant.train import load_run, train

TINY = {"dataset": "digits", "arch": "1x8x8-6c3-sp2-10", "timesteps": 6, "epochs": 6, "lr": 5e-3,
        "batch_size": 32, "limit_train": 400, "limit_test": 90, "threads": 1, "seed": 1}


@pytest.fixture(scope="module")
def conv_run(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("convrun")
    res = train(TrainConfig(**TINY), out, progress=False)
    return out, res


# ----------------------------------------------------------------------------- grammar
def test_network_arch_shapes_and_names():
    layers = network_arch("1x28x28-8c5-sp2-16c5s1p2-sp2-10")
    assert [a.name for a in layers] == ["conv1", "pool2", "conv3", "pool4", "fc5"]
    assert [a.out_shape for a in layers] == [(8, 24, 24), (8, 12, 12), (16, 12, 12),
                                              (16, 6, 6), (10,)]
    assert layers[2].n_weights == 16 * 8 * 5 * 5 and layers[4].n_weights == 10 * 576
    assert layers[0].n_neurons == 8 * 24 * 24 and layers[1].n_neurons == 0
    cfg = TrainConfig(arch="1x8x8-16c3-sp2-10")
    assert cfg.is_conv and cfg.validate() == [64, 576, 10]
    assert not TrainConfig(arch="64-128-10").is_conv


@pytest.mark.parametrize("arch, token, why", [
    ("1x8x8-16c9-10", "16c9", "does not fit the 8x8 map"),
    ("1x8x8-16c3p3-10", "16c3p3", "padding 3 must be below the kernel 3"),
    ("1x8x8-16c3-sp2-sp2-10", "sp2", "cannot follow another sum-pool"),
    ("1x8x8-16c3-sp2", "sp2", "cannot be the last layer"),
    ("64-16c3-10", "16c3", "needs a CxHxW map"),
    ("1x8x8-32-16c3-10", "16c3", "needs a CxHxW map"),
    ("1x8x8-16x3-10", "16x3", "expected <O>c<K>"),
    ("1x8x8-0c3-10", "0c3", ">= 1"),
    ("8x8-16c3-10", "8x8", "CxHxW or N"),
])
def test_network_arch_refuses_with_the_token(arch, token, why):
    with pytest.raises(InputError) as info:
        network_arch(arch)
    exc = info.value
    assert exc.param == "arch" and f"token {token!r}" in str(exc) and why in str(exc)
    assert "\n" not in str(exc)


def test_cli_train_bad_conv_arch_one_line(tmp_path, capsys):
    from spikeforge.cli import main

    out = tmp_path / "r"
    assert main(["train", "--arch", "1x8x8-16c3-sp2", "--quiet", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--arch" in err and "'sp2'" in err
    assert main(["train", "--arch", "1x28x28-8c5-10", "--quiet", "-o", str(out)]) == 2
    assert "does not match dataset 'digits'" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


# ----------------------------------------------------------------------------- model
def test_conv_fused_bptt_matches_step_by_step():
    torch.manual_seed(0)
    m = SpikingConvNet("1x8x8-4c3p1-sp2-5c3-7", timesteps=5, init_gain=3.0, bias=True,
                       reset="subtract")
    x = (torch.rand(6, 5, 64) < 0.4).float()
    y = torch.randint(0, 7, (6,))
    grads = []
    for fused in (False, True):
        m.zero_grad()
        with fused_bptt(m, fused):
            torch.nn.functional.cross_entropy(m(x), y).backward()
        grads.append([p.grad.clone() for p in m.parameters()])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5)
    assert any(float(g.abs().sum()) > 0 for g in grads[0])


ARCHS = [
    ("1x9x9-3c3s2p1-sp2-4", {}),
    ("2x7x7-4c3p1-5c1-sp3-6", {"bias": True, "reset": "subtract"}),
    ("1x8x8-3c3-sp2-4c2-5", {"readout": "membrane", "leak_shift": None}),
    ("1x6x6-2c1-sp2-3", {"weight_bits": 2, "state_bits": 5}),  # saturating membranes
]


@pytest.mark.parametrize("arch, kw", ARCHS)
def test_conv_integer_mode_matches_golden(arch, kw):
    rng = np.random.default_rng(7)
    net = random_conv_network(rng, arch, timesteps=5, **kw)
    x = random_spikes(rng, 23, 5, net.input_size, rate=0.35)
    res = integer_mode_check(None, net, x)
    assert res["mismatches"] == 0 and res["spikes_compared"] > 0
    # the fake-quant float path records the same membranes as the golden trace
    model = model_from_network(net)
    gold = pysim.simulate(net, x, trace=True)
    mine = model.run_integer(x, trace=True)
    for layer, m in zip(net.neuron_layers, mine.membranes):
        assert np.array_equal(gold.membranes[layer.name], m)


def test_conv_integer_mode_non_tiling_pool():
    rng = np.random.default_rng(3)
    specs = [LayerSpec("conv2d", 3, 3), LayerSpec("sumpool2d", kernel=3, stride=2),
             LayerSpec("dense", 4)]
    net = random_conv_network(rng, ((1, 9, 9), specs), timesteps=4)
    x = random_spikes(rng, 11, 4, net.input_size, rate=0.4)
    assert integer_mode_check(None, net, x)["mismatches"] == 0


# ----------------------------------------------------------------------------- the run
def test_conv_train_quantize_export_exact(conv_run, tmp_path):
    out, res = conv_run
    info = json.loads((out / "run.json").read_text())
    assert info["sizes"] == [64, 216, 10] and res.test_accuracy > 0.3
    run = load_run(out)
    assert isinstance(run.model, SpikingConvNet)
    q = quantize_run(out, tmp_path / "net", bits=[4, 3], epochs=1, progress=False,
                     calib_samples=200)
    assert q.check["mismatches"] == 0 and q.check["samples"] == 90
    net = load_network(tmp_path / "net")
    assert net.format_version == 2 and net.input_shape == (1, 8, 8)
    assert [la.kind.value for la in net.layers] == ["conv2d", "sumpool2d", "dense"]
    assert net.layer("conv1").weight.shape == (6, 1, 3, 3)
    assert [la.weight_bits for la in net.neuron_layers] == [4, 3]
    assert net.equals(q.net)
    data = load_spikes(tmp_path / "net" / "test_spikes.npz", net)
    assert data.spikes.shape == (90, 6, 64)
    assert np.array_equal(pysim.simulate(net, data.spikes).predictions, q.predictions)
    d = q.as_dict()
    assert d["membrane_memory_bits"] == net.membrane_memory_bits > 0
    assert [r["name"] for r in d["layers"]] == ["conv1", "fc3"]
    assert d["layers"][0]["membrane_memory_bits"] == 216 * net.layer("conv1").state_bits
    assert net.meta["state_width"][0]["layer"] == "conv1"


def test_conv_traces_and_allocation(conv_run):
    from quant.allocate import allocate_for_run
    from quant.hessian import traces_for_run

    out, _ = conv_run
    res = traces_for_run(out, "both", samples=40, max_probes=6, min_probes=4,
                         progress=False, recompute=True)
    for ts in res.values():
        assert [t.name for t in ts] == ["conv1", "fc3"]
        assert [t.n_params for t in ts] == [6 * 1 * 3 * 3, 10 * 54]
    assert all(t.trace >= 0 for t in res["gauss_newton"])
    a = allocate_for_run(out, avg_bits=3.0, method="gauss_newton", progress=False)
    assert a.n_params == [54, 540] and len(a.bits) == 2
    assert a.used_bits <= a.budget_bits == int(3.0 * 594)
    assert a.meta["layers"] == ["conv1", "fc3"] and a.meta["neurons"] == [216, 10]


@pytest.mark.rtl
def test_conv_flow_end_to_end(tmp_path):
    """A conv arch through every stage: train ... quantize, then generate, verify (RTL ==
    golden on every spike) and estimate on the files generate wrote."""
    from spikeforge.config import load_config
    from spikeforge.flow import Flow

    need_verilator()
    cfg = load_config(None, {
        "train.arch": "1x8x8-4c3-sp2-10", "train.epochs": 1, "train.timesteps": 4,
        "train.limit_train": 200, "train.limit_test": 30, "train.batch_size": 64,
        "train.threads": 1, "hessian.probes": 4, "hessian.min_probes": 2,
        "hessian.samples": 32, "quantize.epochs": 0, "quantize.avg_bits": 4.0,
        "pareto.avg_bits": [3.0], "pareto.uniform_bits": [4], "pareto.random_seeds": 1,
        "pareto.epochs": 0, "pareto.workers": 1, "verify.samples": 4,
        "estimate.model_only": True, "estimate.pnr": False,
        "estimate.targets": ["ecp5-25k"], "estimate.sweep_bits": [4]})
    records = Flow(cfg, tmp_path / "run", progress=False).run_all()
    assert {r.name: r.status for r in records} == {s: "ran" for s in (
        "train", "hessian", "allocate", "quantize", "golden", "pareto", "generate",
        "verify", "estimate", "report")}
    run = tmp_path / "run"
    golden = json.loads((run / "golden_check.json").read_text())
    verify = json.loads((run / "verify.json").read_text())
    assert golden["mismatches"] == 0 and verify["mismatches"] == 0 and verify["samples"] == 4
    plan = json.loads((run / "hw" / "portmap.json").read_text())["plan"]
    assert [lp["kind"] for lp in plan["layers"]] == ["conv2d", "dense"]
    assert "RTL vs golden model | 0 mismatches on 4 samples" in (run / "report.md").read_text()
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| conv1 | conv2d |" in report and "membrane memory" in report
    assert "Hardware stages skipped" not in report
    # a second call does everything from the cache
    again = Flow(cfg, tmp_path / "run", progress=False).run_all()
    assert all(r.status == "cached" for r in again)
