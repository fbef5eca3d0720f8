"""Parsing Yosys ``stat -json`` and nextpnr reports captured from real runs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cost.synth import parse_nextpnr_report, parse_stat, wrap_top, yosys_script
from cost.targets import get_target
from pysim.errors import InputError

FIX = Path(__file__).parent / "fixtures" / "estimate"


def test_stat_ecp5_counts_carry_luts_and_lutram():
    r = parse_stat((FIX / "stat_ecp5_digits.json").read_text(), "ecp5-25k")
    assert r["luts"] == 3196 + 2 * 662      # LUT4 + two per CCU2C
    assert r["carry"] == 662
    assert r["ffs"] == 476
    assert (r["bram_count"], r["bram_bits"]) == (4, 4 * 18432)
    assert r["lutram"] == 85 * 64
    assert r["cells"]["PFUMX"] == 883       # kept in the raw cell table


def test_stat_xc7_excludes_io_buffers_and_counts_ramb36_as_two_units():
    r = parse_stat(json.loads((FIX / "stat_xc7_digits.json").read_text()), "xc7")
    assert r["luts"] == 484 + 318 + 828 + 247 + 308
    assert r["ffs"] == 476
    assert (r["bram_count"], r["bram_units"], r["bram_bits"]) == (2, 4, 2 * 36864)
    assert r["lutram"] == 57 * 128
    assert r["dsp"] == 0


def test_stat_ice40():
    r = parse_stat((FIX / "stat_ice40_digits.json").read_text(), "ice40-up5k")
    assert (r["luts"], r["carry"], r["ffs"]) == (2794, 1187, 599 + 110 + 28)
    assert (r["bram_count"], r["bram_bits"]) == (24, 24 * 4096)


def test_stat_sums_modules_without_design_section():
    doc = {"modules": {"\\a": {"num_cells_by_type": {"SB_LUT4": 3}},
                       "\\b": {"num_cells_by_type": {"SB_LUT4": 2, "SB_DFF": 1}}}}
    r = parse_stat(doc, "ice40-hx8k")
    assert (r["luts"], r["ffs"]) == (5, 1)


def test_nextpnr_report_fmax_and_utilization():
    fmax, util = parse_nextpnr_report((FIX / "nextpnr_report_ecp5.json").read_text())
    assert fmax == pytest.approx(120.71, abs=0.01)
    assert util["DP16KD"] == {"used": 1, "available": 56}


def test_yosys_script_hides_array_names_before_the_lut_mapping():
    s = yosys_script(get_target("ecp5-25k"), "t", hide_array_names=True)
    lines = s.splitlines()
    i = lines.index("rename -hide w:\\\\*[[]*")
    assert lines[i - 1] == "synth_ecp5 -top t -run begin:map_luts"
    assert lines[i + 1] == "synth_ecp5 -top t -run map_luts:"
    d = yosys_script(get_target("ecp5-25k"), "t", hide_array_names=True, abc9_delay_ps=9000)
    assert d.index("rename -hide") < d.index("abc9 -W 300 -D 9000")
    for plain in (yosys_script(get_target("ecp5-25k"), "t"),
                  yosys_script(get_target("ice40-up5k"), "t", hide_array_names=True),
                  yosys_script(get_target("ecp5-25k"), "t", hide_array_names=True,
                               abc_fallback=True)):
        assert "rename" not in plain


def test_yosys_script_per_family():
    assert "synth_xilinx -family xc7 -top t -flatten" in yosys_script(get_target("xc7"), "t")
    s = yosys_script(get_target("ice40-up5k"), "t", netlist="n.json")
    assert "synth_ice40 -top t" in s and "write_json n.json" in s
    assert "tee -q -o stat.json stat -json" in s


def test_wrap_top_drops_ports():
    src = ("module t (\n  input clk,\n  input [3:0] a,\n  output [1:0] tap,\n"
           "  output y\n);\n  input clk;\n  input [3:0] a;\n  output [1:0] tap;\n"
           "  output y;\nendmodule\n")
    text, top = wrap_top(src, "t", ["tap"])
    wrapper = text[text.index(f"module {top}"):]
    assert "input wire [3:0] a" in wrapper and "tap" not in wrapper.split(");")[0]
    assert ".tap()" in wrapper
    with pytest.raises(InputError, match="not found"):
        wrap_top(src, "t", ["nope"])
