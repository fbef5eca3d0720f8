"""Verification blind spots of the bare core's testbench: valid gaps, start pulses while
busy, a reset in the middle of a sample, random power-up state, coverage counts.

Default tier: the pure parts (stripping initial state, golden coverage) and one small
design built with random power-up state and driven with every stress at once.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from toolcheck import need_verilator

import pysim
from pysim import random_network, random_spikes


def _net() -> pysim.IntNetwork:
    return random_network(np.random.default_rng(11), [23, 13, 5], timesteps=6,
                          weight_bits=[3, 6], state_bits=[9, 10], reset=["subtract", "zero"],
                          bias=True)


def test_strip_initial_state_keeps_roms_and_yosys_helper() -> None:
    hdl = pytest.importorskip("hdl")
    from sim.xinit import strip_initial_state

    v = hdl.emit_verilog(_net()).verilog
    text, counts = strip_initial_state(v)
    assert counts["rams"] == 6  # two accumulator buffers and the membranes, per layer
    assert counts["registers"] > 50
    assert text.count("initial begin") == v.count("initial begin") - 6
    assert "rom[0] = " in text and "bias_rom[0] = " in text
    assert "acc_mem_0[0] = " not in text and "membranes[0] = " not in text
    assert "reg busy;" in text and "reg busy = " not in text


def test_golden_coverage_counts_corners() -> None:
    from sim.coverage import golden_coverage

    net = random_network(np.random.default_rng(3), [8, 4], timesteps=4, weight_bits=6,
                         state_bits=4, reset="subtract", threshold_scale=0.2)
    x = np.ones((3, 4, 8), np.uint8)
    cov = golden_coverage(net, x)
    gold = pysim.simulate(net, x, trace=True)
    u = gold.membranes["fc1"]
    assert cov["at_upper_clamp"] == int((u == 7).sum())
    assert cov["at_lower_clamp"] == int((u == -8).sum())
    assert cov["resets_subtract"] == int(gold.spikes["fc1"][:, :-1].sum())
    assert cov["resets_zero"] == 0
    assert 0 <= cov["argmax_ties"] <= 3


@pytest.mark.rtl
def test_verify_under_gaps_restarts_reset_and_random_init(tmp_path) -> None:
    """Every spike and prediction matches with random idle input cycles, start pulses
    while busy, a reset in the middle of sample 3 (which then runs again) and random
    power-up registers and RAMs; the report counts each."""

    need_verilator()
    from spikeforge.cli import main

    net = _net()
    pysim.save_network(net, tmp_path / "net")
    x = random_spikes(np.random.default_rng(1), 10, net.timesteps, net.input_size, 0.25)
    np.savez(tmp_path / "x.npz", spikes=x)
    out = tmp_path / "out.json"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["verify", str(tmp_path / "net"), "-i", str(tmp_path / "x.npz"),
                   "--gap", "0.3", "--restart-while-busy", "--reset-mid-run", "3",
                   "--randomize-init", "--seed", "2", "--build-dir", str(tmp_path / "b"),
                   "--json"])
    assert rc == 0
    res = json.loads(buf.getvalue())
    out.write_text(buf.getvalue())
    assert res["mismatches"] == 0 and res["samples"] == 10
    cov = res["coverage"]
    assert cov["mid_run_resets"] == 1 and cov["ignored_starts"] > 0
    assert cov["input_gap_cycles"] > 0 and cov["randomized_initial_state"] is True
    assert cov["resets_zero"] > 0 and cov["resets_subtract"] > 0
