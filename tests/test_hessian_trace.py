"""Hessian trace estimators against exact traces (tiny networks, quadratics)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from pysim.errors import InputError
from quant.hessian import TraceEstimate, layer_traces, load_traces, save_traces
from quant.model import SpikingMLP


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny graphs: one thread avoids oversubscription overhead on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _ce_loss(model, x, y):
    return nn.functional.cross_entropy(model(x), y)


def _tiny(seed: int = 0, sizes=(6, 5, 4)):
    torch.manual_seed(seed)
    model = SpikingMLP(list(sizes), timesteps=4, init_gain=3.0, leak_shift=2).double()
    gen = torch.Generator().manual_seed(seed + 1)
    x = (torch.rand(12, 4, sizes[0], generator=gen) < 0.5).double()
    y = torch.randint(0, sizes[-1], (12,), generator=gen)
    return model, x, y


def _exact_block_traces(model, x, y):
    """Trace of each weight's diagonal Hessian block by torch.autograd.functional.hessian."""
    names = [f"linears.{i}.weight" for i in range(len(model.linears))]
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    out = []
    for n in names:
        def f(w, n=n):
            params = dict(base)
            params[n] = w
            return nn.functional.cross_entropy(functional_call(model, params, (x,)), y)
        H = torch.autograd.functional.hessian(f, base[n])
        k = base[n].numel()
        out.append(float(torch.diagonal(H.reshape(k, k)).sum()))
    return out


def _exact_ggn_traces(model, x, y):
    """tr((1/N) Σ_n J_nᵀ (diag p - p pᵀ) J_n) per weight, from full per-sample Jacobians."""
    names = [f"linears.{i}.weight" for i in range(len(model.linears))]
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1)
    Hs = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)
    out = []
    for n in names:
        def f(w, n=n):
            params = dict(base)
            params[n] = w
            return functional_call(model, params, (x,))
        J = torch.autograd.functional.jacobian(f, base[n])  # (B, C, out, in)
        J = J.reshape(J.shape[0], J.shape[1], -1)
        out.append(float(torch.einsum("bck,bcd,bdk->", J, Hs, J)) / x.shape[0])
    return out


def test_hessian_hutchinson_matches_exact_trace_tiny_snn():
    model, x, y = _tiny()
    exact = _exact_block_traces(model, x, y)
    est = layer_traces(model, [(x[:6], y[:6]), (x[6:], y[6:])], loss_fn=_ce_loss,
                       max_probes=240, min_probes=240, seed=3, progress=False)
    assert [t.name for t in est] == ["fc1", "fc2"]
    assert any(abs(e) > 1e-3 for e in exact)  # the network is not trivially flat
    for t, e in zip(est, exact):
        assert t.probes == 240 and t.method == "hutchinson"
        assert t.n_params == model.linears[int(t.name[2:]) - 1].weight.numel()
        assert abs(t.trace - e) <= 4 * t.stderr + 1e-9, (t, e)


def test_hessian_gauss_newton_matches_exact_ggn_trace_tiny_snn():
    model, x, y = _tiny(seed=4)
    exact = _exact_ggn_traces(model, x, y)
    est = layer_traces(model, [(x, y)], method="fisher", max_probes=200, min_probes=200,
                       seed=5, progress=False,
                       output_loss=lambda z, t: nn.functional.cross_entropy(z, t, reduction="none"))
    for t, e in zip(est, exact):
        assert t.method == "gauss_newton"
        assert t.trace >= 0 and e >= 0
        assert abs(t.trace - e) <= 4 * t.stderr + 1e-9, (t, e)


class _Quadratic(nn.Module):
    """loss = ½ wᵀ A w over two weight matrices with coupling: known block traces."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w1 = nn.Parameter(torch.randn(3, 4, generator=g, dtype=torch.float64))
        self.w2 = nn.Parameter(torch.randn(2, 2, generator=g, dtype=torch.float64))
        n = 16
        M = torch.randn(n, n, generator=g, dtype=torch.float64)
        self.register_buffer("A", M + M.T)

    def loss(self, *_):
        w = torch.cat([self.w1.reshape(-1), self.w2.reshape(-1)])
        return 0.5 * w @ self.A @ w


def test_hessian_hutchinson_quadratic_known_trace():
    q = _Quadratic()
    est = layer_traces(q, [(torch.zeros(1), torch.zeros(1))], loss_fn=lambda m, x, y: m.loss(),
                       max_probes=400, min_probes=400, seed=1, progress=False)
    exact = [float(torch.diagonal(q.A)[:12].sum()), float(torch.diagonal(q.A)[12:].sum())]
    for t, e in zip(est, exact):
        assert t.stderr > 0
        assert abs(t.trace - e) <= 4 * t.stderr, (t, e)


def test_hessian_hutchinson_diagonal_quadratic_is_exact_and_stops_early():
    class Diag(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(4, 5, dtype=torch.float64))
            self.register_buffer("a", torch.arange(20, dtype=torch.float64).reshape(4, 5))

    d = Diag()
    est = layer_traces(d, [(torch.zeros(1), torch.zeros(1))],
                       loss_fn=lambda m, x, y: 0.5 * (m.a * m.w ** 2).sum(),
                       max_probes=100, min_probes=4, seed=0, progress=False)
    (t,) = est
    assert t.trace == pytest.approx(190.0) and t.stderr == pytest.approx(0.0, abs=1e-9)
    assert t.probes == 4  # Rademacher probes are exact on a diagonal Hessian


def test_hessian_deterministic_for_seed_and_restores_requires_grad():
    model, x, y = _tiny(seed=2)
    model.linears[0].weight.requires_grad_(False)
    a = layer_traces(model, [(x, y)], loss_fn=_ce_loss,
                       max_probes=8, min_probes=8, seed=7, progress=False)
    b = layer_traces(model, [(x, y)], loss_fn=_ce_loss,
                       max_probes=8, min_probes=8, seed=7, progress=False)
    assert [t.trace for t in a] == [t.trace for t in b]
    assert model.linears[0].weight.requires_grad is False
    assert model.linears[1].weight.requires_grad is True


def test_hessian_wrong_method():
    model, x, y = _tiny()
    with pytest.raises(InputError, match="method"):
        layer_traces(model, [(x, y)], method="newton", progress=False)


def test_hessian_trace_estimate_significance():
    t = TraceEstimate("fc1", -34.8, 4.9, 200704, 200, "hutchinson")
    assert t.significant and t.per_param == pytest.approx(-34.8 / 200704)
    assert not TraceEstimate("fc2", 1.0, 0.6, 10, 16, "hutchinson").significant


def test_hessian_save_load_roundtrip(tmp_path):
    ts = [TraceEstimate("fc1", 1.5, 0.1, 20, 16, "hutchinson"),
          TraceEstimate("fc2", -0.5, 0.3, 8, 16, "hutchinson")]
    gs = [TraceEstimate("fc1", 2.0, 0.1, 20, 16, "gauss_newton"),
          TraceEstimate("fc2", 0.7, 0.05, 8, 16, "gauss_newton")]
    path = tmp_path / "run" / "hessian.json"
    save_traces(path, {"hutchinson": ts, "gauss_newton": gs}, meta={"samples": 12})
    doc = json.loads(path.read_text())
    assert doc["format"] == "spikeforge.hessian" and doc["meta"] == {"samples": 12}
    assert load_traces(path, "hutchinson") == ts
    assert load_traces(path, "fisher") == gs
    assert set(load_traces(path)) == {"hutchinson", "gauss_newton"}
    with pytest.raises(InputError, match="no such"):
        load_traces(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="malformed"):
        load_traces(tmp_path / "bad.json")


def test_hessian_diagonal_estimates_match_exact_diagonal():
    model, x, y = _tiny(seed=0, sizes=(4, 3, 3))
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    n = "linears.0.weight"

    def f(w):
        params = dict(base)
        params[n] = w
        return nn.functional.cross_entropy(functional_call(model, params, (x,)), y)

    k = base[n].numel()
    exact = torch.diagonal(torch.autograd.functional.hessian(f, base[n]).reshape(k, k))
    est, diags = layer_traces(model, [(x, y)], loss_fn=_ce_loss, max_probes=300,
                              min_probes=300, seed=2, progress=False, diagonal=True)
    assert diags[0].shape == tuple(base[n].shape)
    assert float(diags[0].sum()) == pytest.approx(est[0].trace, rel=1e-9, abs=1e-12)
    err = np.abs(diags[0].reshape(-1) - exact.numpy())
    # per-entry noise of mean(v ⊙ Hv) is ~ sqrt(Σ_j≠i H_ij²/probes); allow 5x that
    H = torch.autograd.functional.hessian(f, base[n]).reshape(k, k).numpy()
    # (the surrogate "Hessian" need not be symmetric: take the larger of row and column)
    off2 = np.maximum((H ** 2).sum(axis=1), (H ** 2).sum(axis=0)) - np.diag(H) ** 2
    off = np.sqrt(off2 / 300)
    assert np.all(err <= 5 * off + 1e-9)


def test_converged_small_layer_stops_early():
    """A trace near zero next to a large one is resolved by the 'known small' rule; a
    lone layer or a layer not yet bounded is not."""
    from quant.hessian import _converged

    rng = np.random.default_rng(0)
    big = list(100.0 + rng.normal(0, 5.0, 50))      # se ~ 0.7, se/|m| < 0.05
    tiny = list(rng.normal(0.0, 1.0, 50))           # |m| + 2 se ~ 0.4 < 0.05 * 100
    wide = list(rng.normal(0.0, 40.0, 50))          # |m| + 2 se ~ 12 > 5
    assert _converged([big, tiny], 0.05)
    assert not _converged([big, wide], 0.05)
    assert not _converged([tiny], 0.05)
    assert _converged([big], 0.05)
