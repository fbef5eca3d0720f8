"""SynapseMemory: packing, synchronous read, memory size, validation messages."""
from __future__ import annotations

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from hdl import SynapseMemory
from hwplan import pack_synapse_words as pack_weights

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def _unpack(word: int, weight_bits: int, lanes: int) -> list[int]:
    out = []
    for k in range(lanes):
        v = (word >> (k * weight_bits)) & ((1 << weight_bits) - 1)
        out.append(v - (1 << weight_bits) if v >> (weight_bits - 1) else v)
    return out


@pytest.mark.parametrize("weight_bits, lanes", [(2, 3), (16, 2), (5, 7)])
def test_synapse_memory_packs_columns_by_group(weight_bits: int, lanes: int) -> None:
    rng = np.random.default_rng(weight_bits)
    lo, hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    w = rng.integers(lo, hi + 1, size=(7, 4))
    w[0, 0], w[1, 0] = lo, hi
    syn = SynapseMemory(weights=w, weight_bits=weight_bits, lanes=lanes)
    Fragment.get(syn, None)
    groups = -(-7 // lanes)
    assert syn.groups == groups and syn.depth == 4 * groups
    assert syn.width == lanes * weight_bits and syn.bits == syn.depth * syn.width
    words = list(syn.mem_data.init)
    assert words == pack_weights(w, weight_bits, lanes)
    for j in range(4):
        for g in range(groups):
            lanes_v = _unpack(words[j * groups + g], weight_bits, lanes)
            for k, v in enumerate(lanes_v):
                n = g * lanes + k
                assert v == (w[n, j] if n < 7 else 0)


def test_synapse_memory_reads_synchronously() -> None:
    rng = np.random.default_rng(0)
    w = rng.integers(-8, 8, size=(5, 3))
    syn = SynapseMemory(weights=w, weight_bits=4, lanes=2)
    got = {}

    async def tb(ctx):
        for addr in range(syn.depth):
            ctx.set(syn.addr, addr)
            await ctx.tick()
            got[addr] = [int(v) for v in ctx.get(syn.data)]
        ctx.set(syn.en, 0)
        ctx.set(syn.addr, 0)
        await ctx.tick()
        assert [int(v) for v in ctx.get(syn.data)] == got[syn.depth - 1]  # held

    sim = Simulator(syn)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    for j in range(3):
        for g in range(3):
            expect = [int(w[g * 2 + k, j]) if g * 2 + k < 5 else 0 for k in range(2)]
            assert got[j * 3 + g] == expect


def test_synapse_memory_narrow_weights_shrink_the_memory() -> None:
    w = np.ones((16, 32), np.int64)
    wide = SynapseMemory(weights=w, weight_bits=8, lanes=16)
    narrow = SynapseMemory(weights=w, weight_bits=2, lanes=16)
    assert narrow.bits * 4 == wide.bits == 16 * 32 * 8
    for syn in (wide, narrow):
        Fragment.get(syn, None)


def test_synapse_memory_is_marked_for_block_ram() -> None:
    syn = SynapseMemory(weights=np.ones((4, 4), np.int64), weight_bits=4, lanes=4)
    text = verilog.convert(syn, name="syn", emit_src=False)
    assert '(* ram_style = "block" *)' in text


_W = np.zeros((4, 3), np.int64)


@pytest.mark.parametrize("kw, exc, message", [
    ({"weight_bits": 17}, ValueError, "Weight width must be an integer between 2 and 16, not 17"),
    ({"weight_bits": None}, TypeError,
     "Weight width must be an integer between 2 and 16, not None"),
    ({"lanes": 0}, ValueError, "Lane count must be an integer between 1 and 4, not 0"),
    ({"lanes": 5}, ValueError, "Lane count must be an integer between 1 and 4, not 5"),
    ({"weights": np.full((4, 3), 8)}, ValueError,
     "Weights must hold integers between -8 and 7, not 8"),
    ({"weights": np.zeros(3, np.int64)}, ValueError, "Weights must have shape (n, n), not (3,)"),
    ({"weights": np.zeros((4, 3))}, TypeError,
     "Weights must be an array of integers, not dtype float64"),
])
def test_synapse_memory_wrong_param(kw, exc, message) -> None:
    args = {"weights": _W, "weight_bits": 4, "lanes": 2} | kw
    with pytest.raises(exc) as info:
        SynapseMemory(**args)
    assert str(info.value) == message


def test_synapse_memory_wrong_lanes_beyond_generator() -> None:
    with pytest.raises(ValueError) as info:
        SynapseMemory(weights=np.zeros((65, 1), np.int64), weight_bits=16, lanes=65)
    assert str(info.value) == "Lane count must be an integer between 1 and 64, not 65"


@pytest.mark.parametrize("bank_words", [4, 8])
def test_synapse_memory_banked_reads_after_two_cycles(monkeypatch, bank_words: int) -> None:
    # A deep ROM is built as banks with registered outputs: two cycles to the word.
    import hwplan.plan
    monkeypatch.setattr(hwplan.plan, "BANK_WORDS", bank_words)
    rng = np.random.default_rng(bank_words)
    w = rng.integers(-8, 8, size=(5, 9))      # 9 inputs x 3 groups = 27 words
    syn = SynapseMemory(weights=w, weight_bits=4, lanes=2)
    assert syn.latency == 2 and sum(syn.banks) == syn.depth == 27
    assert syn.banks[:-1] == [bank_words] * (len(syn.banks) - 1)
    words = pack_weights(w, 4, 2)
    got = []

    async def tb(ctx):
        order = list(rng.permutation(syn.depth)) + [0, 0]
        for addr in order:
            ctx.set(syn.addr, int(addr))
            await ctx.tick()
            got.append([int(v) for v in ctx.get(syn.data)])
        for i, addr in enumerate(order[:-2]):
            assert got[i + 1] == _unpack(words[addr], 4, 2), (i, addr)

    sim = Simulator(syn)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
