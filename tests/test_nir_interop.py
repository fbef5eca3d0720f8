"""NIR import/export: round trip, the chain mapping, refusals, snnTorch's own export, RTL."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from toolcheck import need_verilator

nir = pytest.importorskip("nir")

import itertools

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
from quant.nir_import import float_run, import_nir, spiking_mlp
from quant.nir_io import (
    leak_shift_for,
    parse_graph,
    read_graph,
    write_nir,
)
from spikeforge.cli import main

ARCHS = ["2x8x8-3c3-sp2-5", "1x9x9-4c3s2p1-6", "2x10x10-4c3p1-sp2-3c3-4",
         "3x6x6-2c2-sp2-2c1-3", "1x7x7-3c3s2-sp1-4"]


def _random_net(rng: np.random.Generator, i: int):
    opts = {"timesteps": int(rng.integers(1, 9)), "weight_bits": int(rng.integers(2, 9)),
                "state_bits": int(rng.integers(8, 17)),
                "leak_shift": [None, 1, 2, 3, 5][int(rng.integers(0, 5))],
                "reset": ["zero", "subtract"][int(rng.integers(0, 2))], "bias": bool(rng.integers(0, 2)),
                "readout": ["spike_count", "membrane"][int(rng.integers(0, 2))]}
    if i % 2:
        sizes = [int(v) for v in rng.integers(1, 12, size=int(rng.integers(2, 5)))]
        return random_network(rng, sizes, **opts)
    return random_conv_network(rng, ARCHS[int(rng.integers(0, len(ARCHS)))], **opts)


def test_nir_roundtrip_random_networks_exact(tmp_path):
    """import(export(net)) == net on 200 random v1 (dense) and v2 (conv/pool) networks."""
    rng = np.random.default_rng(2024)
    path = tmp_path / "m.nir"
    kinds = set()
    for i in range(200):
        net = _random_net(rng, i).replace(meta={"i": i, "note": "x"})
        kinds.add(net.format_version)
        write_nir(net, path)
        back = import_nir(path)
        assert back.exact
        assert back.net.equals(net), f"network {i} did not round-trip"
    assert kinds == {1, 2}


def test_nir_export_float_semantics_match_integer_if(tmp_path):
    """An exported IF network (zero reset, no clamp hit) run as a float NIR graph spikes
    exactly like the integer network: v_threshold = θ - 1/2 on whole-number membranes."""
    rng = np.random.default_rng(5)
    net = random_conv_network(rng, "2x8x8-4c3p1-sp2-6", leak_shift=None, state_bits=16,
                              timesteps=6)
    write_nir(net, tmp_path / "m.nir")
    fg = parse_graph(read_graph(tmp_path / "m.nir"))
    x = random_spikes(rng, 40, 6, net.input_size, 0.3)
    fspk, fpred = float_run(fg, x)
    gold = simulate(net, x)
    names = [layer.name for layer in net.neuron_layers]
    for n, s in zip(names, fspk):
        assert np.array_equal(gold.spikes[n], s)
    assert np.array_equal(gold.predictions, fpred)
    assert sum(int(s.sum()) for s in fspk) > 0


def test_nir_requantize_exported_graph(tmp_path):
    """--requantize ignores the metadata and quantizes the float values: an integer IF
    network at its own widths comes back with the same spikes."""
    rng = np.random.default_rng(7)
    net = random_network(rng, [10, 8, 4], leak_shift=None, weight_bits=4, state_bits=12)
    write_nir(net, tmp_path / "m.nir")
    x = random_spikes(rng, 50, net.timesteps, 10, 0.3)
    save_spikes(tmp_path / "cal.npz", SpikeData(x, None))
    res = import_nir(tmp_path / "m.nir", requantize=True, weight_bits=8,
                     calibration=tmp_path / "cal.npz")
    assert not res.exact
    agree = res.report["calibration"]["spike_agreement"]
    assert min(agree.values()) > 0.99


def test_nir_leak_shift_mapping():
    assert leak_shift_for(1.0) == (None, 0.0)
    assert leak_shift_for(0.875)[0] == 3
    k, err = leak_shift_for(0.9)
    assert k == 3 and err == pytest.approx(-0.025)
    assert leak_shift_for(0.3)[0] == 1


def _graph(nodes, edges, **kw):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False, **kw)


def _lif(n, **over):
    p = {"tau": np.full(n, 1e-3), "r": np.full(n, 10.0), "v_leak": np.zeros(n),
             "v_threshold": np.ones(n), "v_reset": np.zeros(n)}
    p.update(over)
    return nir.LIF(**p)


@pytest.mark.parametrize("node,needle", [
    (lambda: nir.CubaLIF(tau_syn=np.ones(4), tau_mem=np.ones(4), r=np.ones(4),
                         v_leak=np.zeros(4), v_threshold=np.ones(4)), "synaptic current"),
    (lambda: _lif(4, v_leak=np.full(4, 0.1)), "v_leak"),
    (lambda: _lif(4, v_reset=np.full(4, -1.0)), "v_reset"),
    (lambda: _lif(4, v_threshold=np.array([1.0, 2.0, 1.0, 1.0])), "not uniform"),
    (lambda: nir.Delay(delay=np.ones(4)), "delay"),
    (lambda: _lif(3), "shape"),
])
def test_nir_refuses_unsupported_nodes(tmp_path, node, needle):
    g = _graph({"input": nir.Input(input_type=np.array([6])),
                "fc": nir.Linear(weight=np.ones((4, 6))), "bad": node(),
                "output": nir.Output(output_type=np.array([4]))},
               [("input", "fc"), ("fc", "bad"), ("bad", "output")])
    with pytest.raises(Exception) as exc:
        parse_graph(g, where="m.nir")
    msg = str(exc.value)
    assert "'bad'" in msg and needle.lower() in msg.lower() and "\n" not in msg


def test_nir_refuses_branch_and_recurrence():
    nodes = {"input": nir.Input(input_type=np.array([3])),
             "a": nir.Linear(weight=np.ones((2, 3))), "b": _lif(2),
             "output": nir.Output(output_type=np.array([2]))}
    g = _graph(nodes, [("input", "a"), ("a", "b"), ("b", "output"), ("b", "a")])
    with pytest.raises(Exception, match="recurrence|merges"):
        parse_graph(g)
    g = _graph(dict(nodes, c=_lif(2)), [("input", "a"), ("a", "b"), ("a", "c"), ("b", "output"),
                                        ("c", "output")])
    with pytest.raises(Exception, match="branches"):
        parse_graph(g)


def test_nir_avgpool_folds_and_scale_folds():
    w = np.arange(2 * 1 * 3 * 3, dtype=float).reshape(2, 1, 3, 3) / 10
    fc = np.ones((3, 2 * 2 * 2))
    g = _graph({"input": nir.Input(input_type=np.array([1, 6, 6])),
                "c": nir.Conv2d(input_shape=(6, 6), weight=w, stride=1, padding=1, dilation=1,
                                groups=1, bias=np.zeros(2)),
                "sc": nir.Scale(scale=np.array([2.0, 3.0])),
                "n1": nir.IF(r=np.ones((2, 6, 6)), v_threshold=np.ones((2, 6, 6))),
                "p": nir.AvgPool2d(kernel_size=np.array([3, 3]), stride=np.array([3, 3]),
                                   padding=np.array([0, 0])),
                "f": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0),
                "fc": nir.Linear(weight=fc), "n2": nir.IF(r=np.ones(3), v_threshold=np.ones(3)),
                "output": nir.Output(output_type=np.array([3]))},
               [("input", "c"), ("c", "sc"), ("sc", "n1"), ("n1", "p"), ("p", "f"), ("f", "fc"),
                ("fc", "n2"), ("n2", "output")])
    fg = parse_graph(g)
    assert [layer.kind for layer in fg.layers] == ["conv2d", "sumpool2d", "dense"]
    assert np.allclose(fg.layers[0].weight[1], 3 * w[1])
    assert np.allclose(fg.layers[2].weight, fc / 9)


def test_nir_import_cli_bad_input_one_line(tmp_path, capsys):
    bad = tmp_path / "x.nir"
    bad.write_text("not hdf5")
    out = tmp_path / "net"
    assert main(["import", str(bad), "-o", str(out), "--timesteps", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "x.nir" in err and "HDF5" in err and len(err.splitlines()) == 1
    assert not out.exists()
    g = _graph({"input": nir.Input(input_type=np.array([6])),
                "fc": nir.Linear(weight=np.ones((4, 6))), "cuba": nir.CubaLIF(
                    tau_syn=np.ones(4), tau_mem=np.ones(4), r=np.ones(4), v_leak=np.zeros(4),
                    v_threshold=np.ones(4)), "output": nir.Output(output_type=np.array([4]))},
               [("input", "fc"), ("fc", "cuba"), ("cuba", "output")])
    nir.write(tmp_path / "c.nir", g)
    assert main(["import", str(tmp_path / "c.nir"), "-o", str(out), "-T", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'cuba'" in err and len(err.splitlines()) == 1 and not out.exists()
    # a shape mismatch between nodes
    g = _graph({"input": nir.Input(input_type=np.array([5])),
                "fc": nir.Linear(weight=np.ones((4, 6))), "n": _lif(4),
                "output": nir.Output(output_type=np.array([4]))},
               [("input", "fc"), ("fc", "n"), ("n", "output")])
    nir.write(tmp_path / "s.nir", g)
    assert main(["import", str(tmp_path / "s.nir"), "-o", str(out), "-T", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'fc'" in err and "inputs" in err and len(err.splitlines()) == 1
    assert "s.nir" in err and not out.exists()


def test_nir_cli_hdf5_not_nir_and_bad_export_one_line(tmp_path, capsys):
    """An HDF5 file that is not a NIR graph, and export of a directory that is not a
    network: one line naming the file, exit 2, nothing written."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "h.nir", "w") as f:
        f.create_dataset("x", data=np.ones(3))
    out = tmp_path / "net"
    assert main(["import", str(tmp_path / "h.nir"), "-o", str(out), "-T", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "h.nir" in err and "not a valid NIR graph" in err and len(err.splitlines()) == 1
    assert not out.exists()
    (tmp_path / "notnet").mkdir()
    assert main(["export", str(tmp_path / "notnet"), "-o", str(tmp_path / "m.nir")]) == 2
    err = capsys.readouterr().err.strip()
    assert "notnet" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m.nir").exists()


def test_nir_export_import_cli(tmp_path, capsys):
    rng = np.random.default_rng(1)
    net = random_conv_network(rng, "2x8x8-3c3-sp2-4", bias=True)
    save_network(net, tmp_path / "net")
    assert main(["export", str(tmp_path / "net"), "-o", str(tmp_path / "m.nir")]) == 0
    assert main(["import", str(tmp_path / "m.nir"), "-o", str(tmp_path / "back")]) == 0
    assert "restored exactly" in capsys.readouterr().out
    assert load_network(tmp_path / "back").equals(net)


# ----------------------------------------------------------------------------- snnTorch
snn = pytest.importorskip("snntorch")


def _snn_dense(beta1: float, beta2: float, threshold: float = 0.7, bias: bool = False):
    import torch

    torch.manual_seed(0)

    def leaky(n, beta, **kw):
        return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.full((n,), threshold),
                         init_hidden=True, reset_mechanism="zero", **kw)

    net = torch.nn.Sequential(torch.nn.Linear(20, 16, bias=bias), leaky(16, beta1),
                              torch.nn.Linear(16, 5, bias=bias), leaky(5, beta2, output=True))
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(3)
    return net


def _snn_run(net, x):
    import torch
    from snntorch import utils as su

    su.reset(net)
    rec: dict[int, list] = {}
    with torch.no_grad():
        for t in range(x.shape[1]):
            h = x[:, t]
            for i, m in enumerate(net):
                h = m(h)
                if isinstance(h, tuple):
                    h = h[0]
                if isinstance(m, snn.Leaky):
                    rec.setdefault(i, []).append(h)
    return [torch.stack(v, 1).numpy().astype(np.uint8) for _, v in sorted(rec.items())]


def _snn_export(net, sample, path):
    import torch
    from snntorch.export_nir import export_to_nir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = export_to_nir(net, torch.as_tensor(sample), ignore_dims=[0])
    nir.write(path, g)


@pytest.mark.parametrize("beta1,beta2", [(1.0, 1.0), (0.9, 0.8)])
def test_nir_snntorch_dense_float_equality(tmp_path, beta1, beta2):
    """snnTorch Linear+Leaky exported by snnTorch: the float models spike like snnTorch
    on 100 random inputs (IF: beta = 1, exactly; LIF: alpha = 1 - dt/tau = beta)."""
    import torch

    torch.set_num_threads(1)
    net = _snn_dense(beta1, beta2)
    _snn_export(net, np.random.randn(1, 20).astype(np.float32), tmp_path / "a.nir")
    x = (torch.rand(100, 12, 20, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    ref = _snn_run(net, x)
    fg = parse_graph(read_graph(tmp_path / "a.nir"))
    assert [round(layer.alpha, 6) for layer in fg.layers] == [beta1, beta2]
    spk, _ = float_run(fg, x.numpy())
    mlp = spiking_mlp(fg, 12).run(x).spikes
    for a, b, c in zip(ref, spk, mlp):
        assert np.array_equal(a, b)
        assert np.array_equal(a, c.detach().numpy().astype(np.uint8))
    assert all(int(a.sum()) > 0 for a in ref)


@pytest.mark.rtl
def test_nir_snntorch_if_quantized_verified_in_rtl(tmp_path):
    """snnTorch IF network -> NIR -> import (8 bits, calibration) -> generate -> verify:
    0 mismatches between RTL and the golden model."""
    import torch

    need_verilator()
    torch.set_num_threads(1)
    net = _snn_dense(1.0, 1.0)
    _snn_export(net, np.random.randn(1, 20).astype(np.float32), tmp_path / "a.nir")
    x = (torch.rand(100, 12, 20, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    ref = _snn_run(net, x)
    labels = ref[-1].sum(axis=1).argmax(axis=1)
    save_spikes(tmp_path / "cal.npz", SpikeData(x.numpy().astype(np.uint8), labels))
    assert main(["import", str(tmp_path / "a.nir"), "-o", str(tmp_path / "net"),
                 "--weight-bits", "8", "--calibration", str(tmp_path / "cal.npz"),
                 "--quiet"]) == 0
    imported = load_network(tmp_path / "net")
    cal = imported.meta["calibration"]
    assert cal["prediction_agreement"] >= 0.9
    assert main(["generate", str(tmp_path / "net"), "-o", str(tmp_path / "gen")]) == 0
    assert main(["verify", str(tmp_path / "net"), "--input", str(tmp_path / "cal.npz"),
                 "--samples", "100", "--design", str(tmp_path / "gen")]) == 0


def test_nir_snntorch_conv_maps(tmp_path):
    """snnTorch Conv2d+Leaky, AvgPool2d, Flatten, Linear+Leaky: the float model spikes
    like snnTorch on 100 random inputs, and the graph quantizes to a conv network."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(3)

    def leaky(shape, beta, **kw):
        return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.full(shape, 0.5),
                         init_hidden=True, reset_mechanism="zero", **kw)

    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False), leaky((4, 6, 6), 1.0),
        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 5, bias=False),
        leaky((5,), 1.0, output=True))
    with torch.no_grad():
        net[0].weight.mul_(2)
        net[4].weight.mul_(4)
    _snn_export(net, np.random.randn(1, 2, 12, 12).astype(np.float32), tmp_path / "c.nir")
    x = (torch.rand(100, 6, 2, 12, 12, generator=torch.Generator().manual_seed(4)) < 0.3).float()
    ref = _snn_run(net, x)
    fg = parse_graph(read_graph(tmp_path / "c.nir"))
    assert [layer.kind for layer in fg.layers] == ["conv2d", "sumpool2d", "dense"]
    spk, _ = float_run(fg, x.reshape(100, 6, -1).numpy())
    for a, b in zip(ref, spk):
        assert np.array_equal(a.reshape(b.shape), b)
    assert all(int(a.sum()) > 0 for a in ref)
    res = import_nir(tmp_path / "c.nir", timesteps=6, weight_bits=8)
    assert [layer.kind.value for layer in res.net.layers] == ["conv2d", "sumpool2d", "dense"]


@pytest.mark.rtl
@pytest.mark.slow
def test_nir_snntorch_conv_lif_quantized_verified_in_rtl(tmp_path):
    """snnTorch Conv2d + Leaky (beta 0.9), AvgPool2d, Linear + Leaky -> snnTorch's NIR ->
    import (8 bits, calibration; alpha 0.9 -> shift 3) -> generate -> verify on 100
    samples: 0 mismatches."""
    import torch

    need_verilator()
    torch.set_num_threads(1)
    torch.manual_seed(5)

    def leaky(shape, **kw):
        return snn.Leaky(beta=torch.full(shape, 0.9), threshold=torch.full(shape, 0.5),
                         init_hidden=True, reset_mechanism="zero", **kw)

    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False), leaky((4, 6, 6)),
        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 5, bias=False),
        leaky((5,), output=True))
    with torch.no_grad():
        net[0].weight.mul_(2)
        net[4].weight.mul_(4)
    _snn_export(net, np.random.randn(1, 2, 12, 12).astype(np.float32), tmp_path / "c.nir")
    x = (torch.rand(100, 6, 2, 12, 12, generator=torch.Generator().manual_seed(6)) < 0.3).float()
    ref = _snn_run(net, x)
    labels = ref[-1].reshape(100, 6, -1).sum(axis=1).argmax(axis=1)
    save_spikes(tmp_path / "cal.npz", SpikeData(x.reshape(100, 6, -1).numpy().astype(np.uint8),
                                                labels))
    assert main(["import", str(tmp_path / "c.nir"), "-o", str(tmp_path / "net"),
                 "--weight-bits", "8", "--calibration", str(tmp_path / "cal.npz"),
                 "--quiet"]) == 0
    imported = load_network(tmp_path / "net")
    assert [layer.kind.value for layer in imported.layers] == ["conv2d", "sumpool2d", "dense"]
    assert [layer.leak_shift for layer in imported.neuron_layers] == [3, 3]
    assert main(["generate", str(tmp_path / "net"), "-o", str(tmp_path / "gen")]) == 0
    assert main(["verify", str(tmp_path / "net"), "--input", str(tmp_path / "cal.npz"),
                 "--samples", "100", "--design", str(tmp_path / "gen")]) == 0


def test_nir_nmnist_shaped_cnn_imports_fast(tmp_path):
    """The N-MNIST-shaped IF CNN (2x34x34; conv 16 5x5 s2 p1, conv 16 3x3 p1, sum-pool 2,
    conv 8 3x3 p1, sum-pool 2, dense 128-256-10, no biases) as a Sinabs-style NIR graph
    (IF nodes, r = 1) imports to the matching conv network (about 2 s on an idle machine;
    timing is measured, not asserted)."""
    rng = np.random.default_rng(9)

    def conv(o, c, k, s, p, hw):
        return nir.Conv2d(input_shape=hw, weight=rng.normal(0, 0.3, (o, c, k, k)), stride=s,
                          padding=p, dilation=1, groups=1, bias=np.zeros(o))

    def if_(shape):
        return nir.IF(r=np.ones(shape), v_threshold=np.ones(shape), v_reset=np.zeros(shape))

    nodes = {"input": nir.Input(input_type=np.array([2, 34, 34])),
             "c1": conv(16, 2, 5, 2, 1, (34, 34)), "n1": if_((16, 16, 16)),
             "c2": conv(16, 16, 3, 1, 1, (16, 16)), "n2": if_((16, 16, 16)),
             "p2": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                 padding=np.array([0, 0])),
             "c3": conv(8, 16, 3, 1, 1, (8, 8)), "n3": if_((8, 8, 8)),
             "p3": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                 padding=np.array([0, 0])),
             "fl": nir.Flatten(input_type={"input": np.array([8, 4, 4])}, start_dim=0),
             "f1": nir.Linear(weight=rng.normal(0, 0.2, (256, 128))), "n4": if_((256,)),
             "f2": nir.Linear(weight=rng.normal(0, 0.2, (10, 256))), "n5": if_((10,)),
             "output": nir.Output(output_type=np.array([10]))}
    order = list(nodes)
    nir.write(tmp_path / "cnn.nir", nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(order)),
                                                 type_check=False))
    res = import_nir(tmp_path / "cnn.nir", timesteps=8, weight_bits=6)
    kinds = [layer.kind.value for layer in res.net.layers]
    assert kinds == ["conv2d", "conv2d", "sumpool2d", "conv2d", "sumpool2d", "dense", "dense"]
    assert res.net.input_shape == (2, 34, 34)
    x = random_spikes(rng, 4, 8, res.net.input_size, 0.1)
    assert simulate(res.net, x).predictions.shape == (4,)


def _edited(tmp_path, name, graph, key, value):
    """``graph`` written with nir.write, then the HDF5 dataset ``key`` replaced."""
    import h5py

    path = tmp_path / name
    nir.write(path, graph)
    with h5py.File(path, "a") as f:
        del f[key]
        f[key] = value
    return path


def _conv_graph():
    w = np.ones((2, 1, 3, 3))
    return _graph({"input": nir.Input(input_type=np.array([1, 6, 6])),
                   "c": nir.Conv2d(input_shape=(6, 6), weight=w, stride=1, padding=0,
                                   dilation=1, groups=1, bias=np.zeros(2)),
                   "n": nir.IF(r=np.ones((2, 4, 4)), v_threshold=np.ones((2, 4, 4))),
                   "output": nir.Output(output_type=np.array([2, 4, 4]))},
                  [("input", "c"), ("c", "n"), ("n", "output")])


def _dense_graph(w=None):
    w = np.ones((4, 6)) if w is None else w
    return _graph({"input": nir.Input(input_type=np.array([6])), "fc": nir.Linear(weight=w),
                   "n": _lif(4), "output": nir.Output(output_type=np.array([4]))},
                  [("input", "fc"), ("fc", "n"), ("n", "output")])


MALFORMED_NIR = {
    "conv_stride_zero": (lambda p: _edited(p, "m.nir", _conv_graph(), "node/nodes/c/stride",
                                           np.array([0, 0])), "not a valid NIR graph"),
    "complex_weight": (lambda p: _edited(p, "m.nir", _dense_graph(), "node/nodes/fc/weight",
                                         np.ones((4, 6), complex)),
                       "node 'fc' (Linear): weight holds complex128 values"),
    "fractional_input_shape": (lambda p: _edited(p, "m.nir", _dense_graph(),
                                                 "node/nodes/input/shape", np.array([6.5])),
                               "input shape [6.5] does not hold whole numbers"),
    "weight_beyond_float32": (lambda p: _edited(p, "m.nir", _dense_graph(),
                                                "node/nodes/fc/weight", np.full((4, 6), 1e300)),
                              "weight has values beyond the float32 range"),
    "threshold_beyond_widest_membrane": (
        lambda p: _edited(p, "m.nir", _dense_graph(), "node/nodes/n/v_threshold",
                          np.full(4, 1e30)),
        ("m.nir: node 'n' (LIF): v_threshold 1e+30 is 1.27e+32 weight steps, beyond the "
         "widest membrane (32 bits, at most 2147483647): it could never fire")),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_NIR))
def test_nir_import_malformed_graph_one_line(case, tmp_path, capsys):
    """A zero conv stride (nir's own shape arithmetic overflowed, with warnings), complex
    weights (their imaginary part was dropped), a fractional input size (truncated),
    weights beyond float32 (overflow warnings) and a LIF threshold beyond the widest
    membrane (clamped to 2^31 - 1: the network never fired): one line naming the file,
    exit 2."""
    pytest.importorskip("h5py")
    make, needle = MALFORMED_NIR[case]
    path = make(tmp_path)
    out = tmp_path / "net"
    assert main(["import", str(path), "-o", str(out), "-T", "4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikeforge: error: "), err
    assert "m.nir" in err and needle in err, err
    assert not out.exists()


def test_nir_import_large_threshold_that_fits_imports(tmp_path):
    """A threshold far above the weights that the widest membrane still holds is kept
    exactly (only one beyond 2^31 - 1 weight steps is refused)."""
    pytest.importorskip("h5py")
    path = _edited(tmp_path, "m.nir", _dense_graph(), "node/nodes/n/v_threshold",
                   np.full(4, 1e6))
    (layer,) = import_nir(path, timesteps=4).net.neuron_layers
    assert layer.threshold == 127_000_000  # 1e6 / (1/127), the weight step of 8-bit ones
    assert layer.state_bits <= 32 and (1 << (layer.state_bits - 1)) - 1 >= layer.threshold


def test_nir_import_bad_calibration_or_headroom_one_line(tmp_path, capsys):
    """--headroom below 0 (was blamed on --state-bits), calibration or data spikes with
    no samples (a torch traceback) and labels outside the graph's outputs (a torch
    traceback for --data, a silent 0% accuracy for --calibration)."""
    nir.write(tmp_path / "m.nir", _dense_graph())
    rng = np.random.default_rng(0)
    save_spikes(tmp_path / "empty.npz", SpikeData(np.zeros((0, 4, 6), np.uint8),
                                                  np.zeros(0, np.int64)))
    save_spikes(tmp_path / "lab.npz", SpikeData(random_spikes(rng, 5, 4, 6, 0.3),
                                                np.array([0, 1, 2, 3, 7])))
    out = tmp_path / "net"
    base = ["import", str(tmp_path / "m.nir"), "-o", str(out), "--quiet"]
    for extra, needle in [
        (["-T", "4", "--headroom", "-1"], "--headroom: headroom must be an integer between 0"),
        (["--calibration", str(tmp_path / "empty.npz")], "--calibration: "),
        (["-T", "4", "--avg-bits", "3", "--data", str(tmp_path / "empty.npz")], "--data: "),
        (["--calibration", str(tmp_path / "lab.npz")], "label 7 is outside 0..3"),
        (["--avg-bits", "3", "--data", str(tmp_path / "lab.npz")], "label 7 is outside 0..3"),
    ]:
        assert main(base + extra) == 2, extra
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("spikeforge: error: "), err
        assert needle in err, err
        if "empty" in " ".join(extra):
            assert "empty.npz: holds no samples" in err, err
        assert not out.exists()


@pytest.mark.parametrize("dt,shown", [("1e308", "inf"), ("1e-320", "0")])
def test_nir_export_dt_outside_float32_one_line(dt, shown, tmp_path, capsys):
    """An export --dt whose LIF tau = 2^k dt is inf or 0 in float32 (the graph was
    written with it): one line naming --dt, exit 2, no file."""
    net = random_network(np.random.default_rng(0), [6, 4], timesteps=4, leak_shift=3)
    save_network(net, tmp_path / "net")
    out = tmp_path / "m.nir"
    assert main(["export", str(tmp_path / "net"), "-o", str(out), "--dt", dt]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikeforge: error: --dt: "), err
    assert f"= {shown} in float32" in err, err
    assert not out.exists()
