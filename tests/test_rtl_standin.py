"""The RTL testbench against a hand-written 1-layer Verilog stand-in that follows the interface.

The stand-in is deliberately plain behavioural Verilog (one neuron per cycle, 64-bit
arithmetic, packed stream ports), written independently of ``hdl/``: it proves the
testbench chain (wrapper driver, monitors, checker, cycle accounting, both testbench
modes) on its own, and that a wrong design is caught.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from toolcheck import need_verilator

import pysim
from hwplan import GeneratedDesign, plan_network
from pysim import IntNetwork, random_network, random_spikes

pytestmark = [pytest.mark.rtl, pytest.mark.slow]


def _clog2(n: int) -> int:
    return max(1, (n - 1).bit_length())


def standin_design(net: IntNetwork, *, flip: tuple[int, int] | None = None
                   ) -> GeneratedDesign:
    """Verilog + portmap of a 1-layer network following docs/hardware.md's interface (lanes = 1).

    ``flip=(i, j)`` negates-and-offsets weight W[i, j] in the Verilog only (a wrong design).
    """
    assert len(net.layers) == 1
    la = net.layers[0]
    OUT, IN, T = la.out_features, la.in_features, net.timesteps
    iw, ow, pw = _clog2(IN), _clog2(OUT), _clog2(OUT)
    p = la.state_precision
    membrane = net.readout.value == "membrane"
    w = la.weight.astype(np.int64).copy()
    if flip is not None:
        w[flip] = -w[flip] - 1
    b = la.bias if la.bias is not None else np.zeros(OUT, np.int64)
    init = "\n".join(f"    w[{i * IN + j}] = {int(w[i, j])};" for i in range(OUT)
                     for j in range(IN))
    init += "\n" + "\n".join(f"    bias[{i}] = {int(b[i])};" for i in range(OUT))
    if membrane:
        reset_expr = "u[i]"
    elif la.reset.value == "zero":
        reset_expr = "(s[i] ? 64'sd0 : u[i])"
    else:
        reset_expr = f"(u[i] - (s[i] ? 64'sd{la.threshold} : 64'sd0))"
    leak = "r" if la.leak_shift is None else f"(r - (r >>> {la.leak_shift}))"
    fire = "1'b0" if membrane else f"(a >= 64'sd{la.threshold})"
    score = "u[j]" if membrane else "$signed({32'd0, cnt[j]})"
    v = f"""module standin_top(
  input clk, input rst, input start, output reg busy, output reg done,
  output reg [{pw - 1}:0] prediction,
  input in_valid, output in_ready, input [{iw}:0] in_payload,
  output reg tap_valid, output reg [{ow}:0] tap_payload);
  reg signed [63:0] w [0:{OUT * IN - 1}];
  reg signed [63:0] bias [0:{OUT - 1}];
  reg signed [63:0] u [0:{OUT - 1}];
  reg signed [63:0] acc [0:{OUT - 1}];
  reg s [0:{OUT - 1}];
  reg [31:0] cnt [0:{OUT - 1}];
  initial begin
{init}
  end
  localparam IDLE = 0, WAIT = 1, ACC = 2, UPD = 3, MARK = 4, PRED = 5;
  reg [2:0] state = IDLE;
  integer i, j, t;
  reg [{iw - 1}:0] idx;
  reg signed [63:0] r, a, best;
  integer besti;
  assign in_ready = (state == WAIT);
  always @(posedge clk) begin
    done <= 1'b0;
    tap_valid <= 1'b0;
    if (rst) begin
      state <= IDLE; busy <= 1'b0; prediction <= 0;
    end else case (state)
      IDLE: if (start) begin
        for (j = 0; j < {OUT}; j = j + 1) begin u[j] = 0; acc[j] = 0; s[j] = 0; cnt[j] = 0; end
        busy <= 1'b1; t = 0; state <= WAIT;
      end
      WAIT: if (in_valid) begin
        if (in_payload[{iw}]) begin i = 0; state <= UPD; end
        else begin idx <= in_payload[{iw - 1}:0]; i = 0; state <= ACC; end
      end
      ACC: begin
        acc[i] = acc[i] + w[i * {IN} + idx];
        if (i == {OUT - 1}) state <= WAIT;
        i = i + 1;
      end
      UPD: begin
        r = {reset_expr};
        a = {leak} + acc[i] + bias[i];
        if (a > 64'sd{p.max}) a = 64'sd{p.max};
        if (a < -64'sd{-p.min}) a = -64'sd{-p.min};
        u[i] = a;
        s[i] = {fire};
        acc[i] = 0;
        if (s[i]) begin
          cnt[i] = cnt[i] + 1;
          tap_valid <= 1'b1; tap_payload <= {{1'b0, i[{ow - 1}:0]}};
        end
        if (i == {OUT - 1}) state <= MARK;
        i = i + 1;
      end
      MARK: begin
        tap_valid <= 1'b1; tap_payload <= {{1'b1, {ow}'d0}};
        t = t + 1;
        state <= (t == {T}) ? PRED : WAIT;
      end
      PRED: begin
        besti = 0; best = {score.replace('j', '0')};
        for (j = 1; j < {OUT}; j = j + 1)
          if ({score} > best) begin best = {score}; besti = j; end
        prediction <= besti[{pw - 1}:0];
        done <= 1'b1; busy <= 1'b0; state <= IDLE;
      end
      default: state <= IDLE;
    endcase
  end
endmodule
"""
    plan = plan_network(net, 1)   # the stand-in follows the plan's interface at 1 lane
    portmap = {
        "format": "spikeforge.portmap", "version": 2, "top": "standin_top",
        "clock": "clk", "reset": "rst",
        "ports": {
            "start": {"name": "start", "width": 1}, "busy": {"name": "busy", "width": 1},
            "done": {"name": "done", "width": 1},
            "prediction": {"name": "prediction", "width": pw},
            "in_valid": {"name": "in_valid", "width": 1},
            "in_ready": {"name": "in_ready", "width": 1},
            "in_index": {"name": "in_payload", "lsb": 0, "width": iw},
            "in_last": {"name": "in_payload", "lsb": iw, "width": 1},
        },
        "taps": [{"layer": la.name, "valid": {"name": "tap_valid", "lsb": 0, "width": 1},
                  "index": {"name": "tap_payload", "lsb": 0, "width": ow},
                  "last": {"name": "tap_payload", "lsb": ow, "width": 1}}],
        "plan": plan.as_dict(),
    }
    return GeneratedDesign(verilog=v, portmap=portmap, top="standin_top", plan=plan)


def _net(seed: int, readout: str = "spike_count", reset: str = "zero", **kw) -> IntNetwork:
    rng = np.random.default_rng(seed)
    return random_network(rng, [13, 7], timesteps=5, readout=readout, reset=reset, **kw)


def test_standin_buffered_matches_golden(tmp_path):
    """The whole buffered chain reports 0 mismatches and a sane cycle ratio."""
    need_verilator()
    from sim.runner import verify_design

    net = _net(1, bias=True, state_bits=8)
    x = random_spikes(np.random.default_rng(2), 6, net.timesteps, net.input_size, 0.3)
    d = standin_design(net)
    res = verify_design(net, d, x, build_dir=tmp_path, progress=False)
    assert res.mismatches == 0, res.first_mismatch
    assert res.samples == 6
    gold = pysim.simulate(net, x)
    np.testing.assert_array_equal(res.rtl_predictions, gold.predictions)
    np.testing.assert_array_equal(res.rtl_spikes["fc1"], gold.spikes["fc1"])
    # the stand-in spends out+1 cycles per event (bound: out), so it is above the bound
    assert (res.cycles >= res.cycle_bounds).all()
    assert 1.0 <= res.bound_ratio < 2.0
    json.dumps(res.as_dict())


def test_standin_percycle_equals_buffered(tmp_path):
    """The per-cycle cocotb driver/monitor sees exactly what the Verilog wrapper sees."""
    need_verilator()
    from sim.runner import verify_design

    net = _net(3, readout="membrane", reset="subtract", leak_shift=None)
    x = random_spikes(np.random.default_rng(4), 4, net.timesteps, net.input_size, 0.4)
    d = standin_design(net)
    a = verify_design(net, d, x, build_dir=tmp_path / "a", progress=False)
    b = verify_design(net, d, x, build_dir=tmp_path / "b", progress=False,
                      mode="percycle")
    assert a.mismatches == 0 and b.mismatches == 0, (a.first_mismatch, b.first_mismatch)
    np.testing.assert_array_equal(a.cycles, b.cycles)
    np.testing.assert_array_equal(a.rtl_predictions, b.rtl_predictions)


def test_standin_wrong_weight_is_caught(tmp_path):
    """A single weight changed in the Verilog only is reported, with where it shows."""
    need_verilator()
    from sim.runner import verify_design

    net = _net(5)
    x = random_spikes(np.random.default_rng(6), 3, net.timesteps, net.input_size, 0.6)
    gold = pysim.simulate(net, x)
    flip = None
    for i, j in np.ndindex(net.layers[0].weight.shape):  # a weight whose change shows
        w = net.layers[0].weight.copy()
        w[i, j] = -w[i, j] - 1
        alt = pysim.simulate(net.replace(layers=(net.layers[0].replace(weight=w),)), x)
        if not np.array_equal(alt.spikes["fc1"], gold.spikes["fc1"]):
            flip = (i, j)
            break
    assert flip is not None
    d = standin_design(net, flip=flip)
    res = verify_design(net, d, x, build_dir=tmp_path, progress=False)
    assert res.mismatches > 0
    assert res.first_mismatch is not None and "fc1" in res.first_mismatch


def test_standin_hang_is_reported_not_waited_for(tmp_path):
    """A design that never raises done stops at the watchdog and counts as a mismatch."""
    need_verilator()
    from sim.runner import verify_design

    net = _net(7)
    x = random_spikes(np.random.default_rng(8), 3, net.timesteps, net.input_size, 0.3)
    d = standin_design(net)
    d = dataclasses.replace(d, verilog=d.verilog.replace("done <= 1'b1; busy <= 1'b0;", ""))
    res = verify_design(net, d, x, build_dir=tmp_path, progress=False)
    assert res.mismatches >= 3  # every sample unfinished
    assert "no done" in res.first_mismatch
