"""Neuron update equations on tiny hand cases, surrogate gradients, model construction."""
from __future__ import annotations

import pytest
import torch

from pysim.errors import InputError
from quant.model import SpikingMLP, parse_arch
from quant.neurons import DecolleLIF, SimplifiedLIF, spike


def test_spike_forward_is_heaviside_at_zero():
    v = torch.tensor([-1.0, -1e-6, 0.0, 2.0])
    assert spike(v).tolist() == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "arctan"])
def test_spike_surrogate_gradient_flows(surrogate):
    v = torch.tensor([-2.0, 0.0, 0.5], requires_grad=True)
    spike(v, slope=5.0, surrogate=surrogate).sum().backward()
    g = v.grad
    assert (g > 0).all()
    assert g[1] == pytest.approx(1.0)  # both surrogates peak at 1 at the threshold
    assert g[0] < g[2] < g[1]


def test_simplified_lif_zero_reset_hand_case():
    # alpha = 1 - 2^-1 = 0.5, theta = 1; input 0.6 every step
    neu = SimplifiedLIF(leak_shift=1, threshold=1.0, reset="zero")
    cur = torch.full((1, 4, 1), 0.6)
    s, _u = neu(cur, record=(rec := []))
    # U0 = 0.6; U1 = 0.3 + 0.6 = 0.9; U2 = 0.45 + 0.6 = 1.05 -> spike; U3 = 0 + 0.6
    assert [round(float(x), 6) for x in torch.cat(rec).flatten()] == [0.6, 0.9, 1.05, 0.6]
    assert s.flatten().tolist() == [0.0, 0.0, 1.0, 0.0]


def test_simplified_lif_subtract_reset_hand_case():
    neu = SimplifiedLIF(leak_shift=None, threshold=1.0, reset="subtract")
    cur = torch.full((1, 4, 1), 0.7)
    s, _ = neu(cur, record=(rec := []))
    # 0.7, 1.4 (spike), 1.4-1+0.7 = 1.1 (spike), 1.1-1+0.7 = 0.8
    assert [round(float(x), 6) for x in torch.cat(rec).flatten()] == [0.7, 1.4, 1.1, 0.8]
    assert s.flatten().tolist() == [0.0, 1.0, 1.0, 0.0]


def test_simplified_lif_nonfiring_integrates():
    neu = SimplifiedLIF(leak_shift=2, threshold=0.1, fires=False)
    s, u = neu(torch.ones(1, 3, 1))
    assert s.sum() == 0
    assert float(u) == pytest.approx(1 + 0.75 * (1 + 0.75))


def test_simplified_lif_wrong_reset():
    with pytest.raises(ValueError, match="reset must be one of 'zero', 'subtract'"):
        SimplifiedLIF(reset="hard")


def test_decolle_lif_traces_hand_case():
    neu = DecolleLIF(alpha=0.5, beta=0.5, gamma=0.5, w_rp=1.0, threshold=0.5)
    lin = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    x = torch.tensor([[[1.0], [0.0], [0.0]]])
    s, _ = neu(x, lin, record=(rec := []))
    # tau_s = tau_m = 2. t0: P = 0, Q = 1 -> U = 0. t1: P = 0.5*2*1*0.5 = 1 ... see docstring
    # t1: P = 0.5*0 + 0.5*2*Q0(1) = 1; Q = 0.5; U = 1 -> spike
    # t2: P = 0.5*1 + 0.5*2*0.5 = 1; R = 0.5*0 - 0.5*1*1 = -0.5; U = 0.5 -> spike
    assert [float(v) for v in torch.cat(rec).detach().flatten()] == [0.0, 1.0, 0.5]
    assert s.flatten().tolist() == [0.0, 1.0, 1.0]
    assert neu.state_numel(2, 3, 4) == 2 * (2 * 3 + 2 * 4)
    assert SimplifiedLIF().state_numel(2, 3, 4) == 2 * 4


@pytest.mark.parametrize("neuron", ["lif", "decolle"])
@pytest.mark.parametrize("readout", ["spike_count", "membrane"])
def test_spiking_mlp_gradients_reach_every_layer(neuron, readout):
    torch.manual_seed(0)
    m = SpikingMLP([6, 5, 4, 3], timesteps=5, neuron=neuron, readout=readout, init_gain=3.0)
    x = (torch.rand(8, 5, 6) < 0.5).float()
    out = m(x)
    assert out.shape == (8, 3)
    torch.nn.functional.cross_entropy(out, torch.arange(8) % 3).backward()
    for lin in m.linears:
        assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_parse_arch_ok():
    assert parse_arch("784-256-10") == [784, 256, 10]
    assert parse_arch(" 64 - 10 ") == [64, 10]


@pytest.mark.parametrize("bad", ["", "64", "64-", "64-x-10", "64--10", "0-10", "64,10"])
def test_parse_arch_wrong_spec(bad):
    with pytest.raises(InputError, match="^arch: ") as info:  # the library's name
        parse_arch(bad)
    assert info.value.param == "arch"


def _grads(model, x, y, fused):
    for n in model.neurons:
        n.fused = fused
    model.zero_grad()
    out = model(x)
    torch.nn.functional.cross_entropy(out, y).backward()
    return out.detach().clone(), [lin.weight.grad.clone() for lin in model.linears]


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("readout", ["spike_count", "membrane"])
@pytest.mark.parametrize("leak", [2, None])
@pytest.mark.parametrize("quant", [False, True])
def test_fused_lif_matches_autograd_reference(reset, readout, leak, quant):
    from quant.model import LayerQuant

    torch.manual_seed(1)
    m = SpikingMLP([7, 6, 5, 3], timesteps=6, reset=reset, readout=readout, leak_shift=leak,
                   init_gain=3.0).double()
    if quant:  # fake-quant with a narrow clamp so saturation gradients are exercised
        m.set_quant([LayerQuant(bits=4, scale=0.1, threshold=10, state_bits=6),
                     LayerQuant(bits=3, scale=0.2, threshold=5, state_bits=5),
                     LayerQuant(bits=4, scale=0.1, threshold=10, state_bits=8)])
    x = (torch.rand(9, 6, 7) < 0.5).double()
    y = torch.arange(9) % 3
    out_f, g_f = _grads(m, x, y, True)
    out_r, g_r = _grads(m, x, y, False)
    assert torch.equal(out_f, out_r)
    for a, b in zip(g_f, g_r):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_fused_bptt_context_restores_and_default_is_double_differentiable():
    from quant.model import fused_bptt

    m = SpikingMLP([4, 3, 2], timesteps=3)
    assert not any(n.fused for n in m.neurons)  # Hessian code gets the twice-differentiable path
    with fused_bptt(m):
        assert all(n.fused for n in m.neurons)
    assert not any(n.fused for n in m.neurons)
    # double backward works on the default path
    x = (torch.rand(5, 3, 4) < 0.5).float()
    loss = torch.nn.functional.cross_entropy(m(x), torch.zeros(5, dtype=torch.long))
    (g,) = torch.autograd.grad(loss, m.linears[0].weight, create_graph=True)
    (g * torch.ones_like(g)).sum().backward()
