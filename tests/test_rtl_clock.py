"""The buffered testbench's clock (sim.wrapper.CLOCKS): the C++ main-loop clock (Verilator's
default), cocotb's GPI clock and the wrapper's own Verilog clock must give the same run.

Unit tests (no simulator): the wrapper text and the build options of each clock, the
argument checks. RTL (Verilator): one small design built with each clock; every spike,
cycle count and prediction of the three runs equal (and equal to the golden model), the
stress plusargs on the C++ clock, and the simulator's CPU time reported.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from toolcheck import need_verilator

from hwplan import plan_network
from pysim import random_network, random_spikes
from pysim.errors import InputError
from sim.runner import MAIN_CPP, _verilator_args
from sim.wrapper import CLOCKS, PortMap, wrapper_verilog


def _net(seed: int = 5):
    return random_network(np.random.default_rng(seed), [19, 11, 4], timesteps=5,
                          weight_bits=[4, 5], state_bits=[9, 10], bias=True)


def _portmap(net) -> PortMap:
    import hdl

    return PortMap.from_dict(hdl.emit_verilog(net).portmap)


def test_wrapper_clock_port_or_delay():
    pm = _portmap(_net())
    for clock in ("cpp", "gpi"):
        v = wrapper_verilog(pm, clock=clock)
        assert "module sf_tb_wrapper(input clk," in v
        assert "#5" not in v and "reg clk" not in v
    v = wrapper_verilog(pm, clock="verilog")
    assert "module sf_tb_wrapper(output reg finished" in v
    assert "  reg clk = 1'b0;\n  always #5 clk = ~clk;\n" in v
    assert wrapper_verilog(pm) == wrapper_verilog(pm, clock="cpp")
    with pytest.raises(InputError, match="unknown clock 'ext'") as exc:
        wrapper_verilog(pm, clock="ext")
    assert exc.value.param == "clock"


def test_wrapper_clock_build_options():
    assert CLOCKS == ("cpp", "gpi", "verilog")
    assert "--timing" in _verilator_args("buffered", "verilog")
    for clock in ("cpp", "gpi"):
        args = _verilator_args("buffered", clock)
        assert "--no-timing" in args and "--timing" not in args
    assert "--timing" not in _verilator_args("percycle", "verilog")
    text = MAIN_CPP.read_text()
    assert MAIN_CPP.is_file() and "top->clk = !top->clk;" in text
    assert "VerilatedVpi::callTimedCbs();" in text  # cocotb's time-step sequence kept


def test_build_design_clock_checked(tmp_path):
    from sim import build_design

    net = _net()
    import hdl

    d = hdl.emit_verilog(net)
    with pytest.raises(InputError, match="unknown clock 'fast'") as exc:
        build_design(d.verilog, d.portmap, tmp_path / "b", clock="fast")
    assert exc.value.param == "clock"
    with pytest.raises(InputError, match="C\\+\\+ clock needs verilator"):
        build_design(d.verilog, d.portmap, tmp_path / "b", simulator="icarus", clock="cpp")
    assert plan_network(net, None).lanes == d.lanes  # the design is the default one


@pytest.mark.rtl
def test_rtl_clock_modes_agree(tmp_path):
    """The three clocks: the same spikes, cycles and predictions, all == golden."""
    need_verilator()
    import hdl
    from sim import build_design, run_samples

    net = _net()
    x = random_spikes(np.random.default_rng(3), 6, net.timesteps, net.input_size, 0.35)
    d = hdl.emit_verilog(net)
    res, builds = {}, {}
    for clock in CLOCKS:
        b = builds[clock] = build_design(d.verilog, d.portmap, tmp_path / f"b-{clock}",
                                         clock=clock)
        assert b.clock == clock and b.cpu_seconds > 0
        res[clock] = run_samples(b, net, x, tmp_path / f"r-{clock}")
        r = res[clock]
        assert r.mismatches == 0, (clock, r.first_mismatch)
        assert r.clock == clock and 0 < r.sim_cpu_seconds < 60
        assert r.samples_per_cpu_second == pytest.approx(6 / r.sim_cpu_seconds)
        d_ = r.as_dict()
        assert d_["clock"] == clock and d_["sim_cpu_seconds"] == r.sim_cpu_seconds
        json.dumps(d_)
    ref = res["verilog"]
    assert (ref.cycles > 0).all()
    logs = {c: (tmp_path / f"r-{c}" / "taps.log").read_bytes() for c in CLOCKS}
    for clock in ("cpp", "gpi"):
        r = res[clock]
        np.testing.assert_array_equal(r.cycles, ref.cycles)
        np.testing.assert_array_equal(r.rtl_predictions, ref.rtl_predictions)
        for k, s in ref.rtl_spikes.items():
            np.testing.assert_array_equal(r.rtl_spikes[k], s)
        assert logs[clock] == logs["verilog"]  # every record, every cycle number
    # the stress plusargs on the C++ clock: gaps, restarts while busy, a reset mid-run
    r = run_samples(builds["cpp"], net, x, tmp_path / "r-stress", gap=0.3, restart=True,
                    reset_sample=2, seed=4)
    assert r.mismatches == 0, r.first_mismatch
    cov = r.coverage
    assert cov["input_gap_cycles"] > 0 and cov["ignored_starts"] > 0
    assert cov["mid_run_resets"] == 1


@pytest.mark.rtl
def test_rtl_cpp_clock_watchdog(tmp_path):
    """A design that never raises done stops at the wrapper's watchdog under the C++
    clock (the main loop's fast path hands the time step back to cocotb when
    ``finished`` rises) and every sample counts as a mismatch."""
    need_verilator()
    from test_rtl_standin import standin_design

    from sim.runner import verify_design

    net = random_network(np.random.default_rng(7), [13, 7], timesteps=5)
    x = random_spikes(np.random.default_rng(8), 3, net.timesteps, net.input_size, 0.3)
    d = standin_design(net)
    d = dataclasses.replace(d, verilog=d.verilog.replace("done <= 1'b1; busy <= 1'b0;", ""))
    res = verify_design(net, d, x, build_dir=tmp_path, progress=False, clock="cpp")
    assert res.clock == "cpp"
    assert res.mismatches >= 3  # every sample unfinished
    assert "no done" in res.first_mismatch
    assert (res.rtl_predictions == -1).all()


@pytest.mark.rtl
@pytest.mark.slow
def test_bench_rtl_conv_quick_runs(tmp_path):
    """scripts/bench_rtl_conv.py --quick: baseline and C++ clock agree, the JSON rows."""
    need_verilator()
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "b.json"
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, str(root / "scripts" / "bench_rtl_conv.py"), "--quick",
                    "--clocks", "verilog,cpp,bare", "--work", str(tmp_path / "w"),
                    "--out", str(out), "--md", str(tmp_path / "b.md")],
                   check=True, env=env, capture_output=True)
    doc = json.loads(out.read_text())
    rows = doc["results"]["rows"]
    assert [r["clock"] for r in rows] == ["verilog", "cpp", "bare"]
    assert all(r["mismatches"] == 0 for r in rows[:2]) and rows[2]["same_log"]
    assert rows[0]["cpu_speedup_vs_baseline"] == 1
    assert all(r["samples_per_cpu_second"] > 0 for r in rows)
    assert "images/CPU-s" in (tmp_path / "b.md").read_text()
