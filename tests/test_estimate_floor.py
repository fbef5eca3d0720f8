"""Lower bounds on block RAM (cost.resources.memory_floor / membrane_floor) and the
efficiency lines of the estimate and flow reports that show them (no tools)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import pysim
from cost.report import FLOOR_NOTE, efficiency_cell, memory_rows
from cost.resources import estimate_network, membrane_floor, memory_floor
from hwplan import plan_network
from pysim.errors import InputError

FAMILIES = ("ice40-up5k", "ecp5-25k", "xc7")


# (neurons, state bits, target) -> (bits floor, shape floor), worked by hand
HAND = {
    # 24,576 bits: 1.33 of an 18-Kbit block -> 2 (1024x18 x 2); 6 x 4 Kbit (1024x4 x 3 wide
    # x 2 deep, or 2048x2 x 6)
    (2048, 12, "ecp5-25k"): (2, 2),
    (2048, 12, "xc7"): (2, 2),
    (2048, 12, "ice40-up5k"): (6, 6),
    # 103,680 bits = 5.6 blocks -> 6; with 9-bit write enables a 15-bit word takes an
    # 18-bit slot (U = 1: 1024x18 x 7 deep); seven to a 105-bit word (padded to 108 = six
    # 18-bit columns, 988 words deep) take 6
    (6912, 15, "ecp5-25k"): (6, 6),
    (6912, 15, "xc7"): (6, 6),
    # 4 Kbit, no write-enable padding: 256x16, 27 ranges of 15 bits side by side = 26
    (6912, 15, "ice40-up5k"): (26, 26),
    # the digits conv net: 5,184 bits, one 18-Kbit block, two 4-Kbit ones
    (576, 9, "ecp5-25k"): (1, 1),
    (576, 9, "ice40-up5k"): (2, 2),
    # 17,576 bits < 18,432, but 13-bit words pad to 18 and no packing U <= 8 fits one block
    (1352, 13, "ecp5-25k"): (1, 2),
    # 13,824 bits -> 4 x 4 Kbit: U = 1, 256x16, 5 ranges of 12 bits side by side = 60 bits
    (1152, 12, "ice40-up5k"): (4, 4),
}


@pytest.mark.parametrize("key", sorted(HAND))
def test_membrane_floor_by_hand(key):
    n, sb, target = key
    f = membrane_floor(n, sb, target)
    assert (f.bits_floor, f.shape_floor) == HAND[key]
    assert f.data_bits == n * sb
    assert f.block_bits == (4096 if target.startswith("ice40") else 18432)
    assert f.bits_floor_ratio == pytest.approx(f.bits_floor * f.block_bits / (n * sb))


def test_membrane_floor_ratios_of_the_mnist_conv3():
    # the trained MNIST conv net's conv3: 32 x 8 x 8 neurons x 12 bits
    ecp5 = membrane_floor(2048, 12, "ecp5-25k")
    assert ecp5.bits_floor_ratio == pytest.approx(1.5)
    assert membrane_floor(2048, 12, "ice40-up5k").bits_floor_ratio == pytest.approx(1.0)
    assert ecp5.as_dict()["bits_floor_units"] == 2


def test_memory_floor_packing_and_rom():
    # iCE40 1152 x 12: 4 blocks with U = 1 (fewest neurons per word on a tie); with the
    # plan's U = 3 (chosen for 18-Kbit blocks) 2 ranges of 36 bits take 5
    f = memory_floor(1152, 12, "ice40-up5k", packings=range(1, 7))
    assert (f.shape_floor, f.packing, f.shape) == (4, 1, (256, 16))
    assert memory_floor(1152, 12, "ice40-up5k", packings=(3,)).shape_floor == 5
    # a ROM pads nothing: 784 x 16 in one 18-Kbit block (1024x18)
    rom = memory_floor(784, 16, "ecp5-25k", writable=False)
    assert (rom.bits_floor, rom.shape_floor) == (1, 1)
    # Xilinx counts RAMB18 halves: a RAMB36 mode never beats two RAMB18
    assert memory_floor(8192, 9, "xc7").shape_floor == 4
    with pytest.raises(InputError):
        memory_floor(0, 12, "ecp5-25k")


@pytest.mark.parametrize("target", FAMILIES)
def test_membrane_floor_below_every_allocation(target):
    # bits floor <= shape floor <= what the exact model (= Yosys) allocates, on random
    # conv nets of several shapes and widths
    rng = np.random.default_rng(7)
    for arch in ("1x12x12-8c3-sp2-10", "2x16x16-6c5-sp2-12c3-7", "1x28x28-8c5-sp2-16c5-sp2-10",
                 "3x20x20-24c3-sp2-5"):
        for sb in (7, 10, 12, 15):
            net = pysim.random_conv_network(rng, arch, state_bits=sb)
            for lay in estimate_network(plan_network(net), target=target).layers:
                f = lay.membrane_floor
                if f is None:
                    assert lay.membrane_bram_units == 0
                    continue
                assert f.bits_floor <= f.shape_floor <= lay.membrane_bram_units
                assert lay.membrane_ratio >= lay.membrane_floor_ratio >= 1.0


def test_efficiency_cell_text():
    assert efficiency_cell(1.5, 1.5) == "1.500 (granularity floor 1.500)"
    assert efficiency_cell(1.2441, None) == "1.244"
    assert efficiency_cell(None, None) == "-"


@pytest.fixture(scope="module")
def mnist_report(tmp_path_factory):
    """Model-only estimate of the trained MNIST conv net's geometry (its memories depend
    on the shapes and widths only), written to a directory."""
    from cost.estimate import estimate
    net = pysim.random_conv_network(np.random.default_rng(0), "1x28x28-12c5-sp2-32c5-sp2-10",
                                    weight_bits=[8, 3, 5], state_bits=[15, 12, 14],
                                    timesteps=2)
    out = tmp_path_factory.mktemp("floor") / "est"
    x = np.zeros((1, 2, 784), np.uint8)
    return estimate(net, targets="ice40-up5k,ecp5-25k", model_only=True, out_dir=out,
                    progress=False, spikes=x), out


def test_estimate_report_lines_show_the_floor(mnist_report):
    rep, out = mnist_report
    rows = {(r[0], r[1]): r for r in memory_rows(rep)}
    assert rows[("ecp5-25k", "conv3")][6] == "1.500 (granularity floor 1.500)"
    assert rows[("ice40-up5k", "conv3")][6] == "1.000 (granularity floor 1.000)"
    # conv1's 15-bit states seven to a 105-bit word: 6 blocks, at the floor
    assert rows[("ecp5-25k", "conv1")][6] == "1.067 (granularity floor 1.067)"
    # the network line: 6 + 2 blocks for 103,680 + 24,576 bits, floor 6 + 2
    total = rows[("ecp5-25k", "(all)")]
    assert total[5] == 8
    assert total[6] == (f"{8 * 18432 / 128256:.3f} (granularity floor "
                        f"{8 * 18432 / 128256:.3f})")
    md = (out / "report.md").read_text()
    assert "1.500 (granularity floor 1.500)" in md and FLOOR_NOTE in md
    data = json.loads((out / "estimate.json").read_text())
    e = data["targets"]["ecp5-25k"]["model"]
    conv3 = next(lay for lay in e["layers"] if lay["name"] == "conv3")
    assert conv3["membrane_floor"]["bits_floor_units"] == 2
    assert conv3["membrane_floor_ratio"] == pytest.approx(1.5)
    assert e["membrane_floor_ratio"] == pytest.approx(8 * 18432 / 128256, abs=1e-4)


def test_flow_report_estimate_table_shows_the_floor(mnist_report):
    from spikeforge.report import _estimate_table
    rep, _ = mnist_report
    lines = "\n".join(_estimate_table(rep.as_dict(), None))
    assert "| ecp5-25k | conv3 | conv2d | 3 | 1.920 (granularity floor 1.280) | 2 | " \
           "1.500 (granularity floor 1.500) |" in lines
    assert "granularity floor = ceil(data bits / block bits)" in lines


def test_bram_efficiency_script_rows_and_totals(tmp_path, capsys):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import bram_efficiency
    from benchlib import load_results
    assert bram_efficiency.main(["--no-grid", "--random", "2", "--out",
                                 str(tmp_path / "r.json")]) == 0
    res = load_results(tmp_path / "r.json")
    mnist = [r for r in res["layers"] if r["network"].startswith("mnist")]
    conv3 = next(r for r in mnist if r["layer"] == "conv3" and r["family"] == "ECP5")
    assert (conv3["units"], conv3["bits_floor"], conv3["verdict"]) == \
        (2, 2, "bits floor (granularity)")
    tot = next(r for r in res["totals"] if r["network"].startswith("mnist")
               and r["family"] == "ECP5")
    assert (tot["mem_alloc"], tot["mem_bits_floor"]) == (8, 8)
    assert tot["mem_ratio"] == pytest.approx(8 * 18432 / 128256)   # 1.150 <= 1.25
    s = res["summary"]
    assert s["at_bits_floor"] + s["at_shape_floor"] + s["plan_packing"] \
        + s["yosys_muxes"] == s["in_block_ram"]
    assert "granularity" in capsys.readouterr().out
