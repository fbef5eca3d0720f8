"""The testbench's pure layers (no simulator): beat encoding and the in-order checker."""
from __future__ import annotations

import numpy as np

import pysim
from hwplan import plan_network
from pysim import random_network, random_spikes
from sim.checker import check_events, encode_beats, expected_beats, parse_log
from sim.wrapper import PortMap, wrapper_verilog


def _case(seed: int = 0):
    rng = np.random.default_rng(seed)
    net = random_network(rng, [7, 5, 3], timesteps=4)
    x = random_spikes(rng, 3, 4, 7, 0.5)
    return net, x, pysim.simulate(net, x)


def _events_from(gold: pysim.SimResult) -> np.ndarray:
    rows = []
    for li, s in enumerate(gold.spikes.values()):
        n, last, idx = expected_beats(s)
        rows.append(np.stack([n, np.full_like(n, li), last, idx], axis=1))
    return np.concatenate(rows)


def test_checker_encode_beats_contract_order():
    x = np.zeros((2, 2, 5), np.uint8)
    x[0, 0, [3, 1]] = 1
    x[1, 1, 4] = 1
    words = encode_beats(x, 3)  # last is bit 3
    assert words.tolist() == [1, 3, 8, 8, 8, 4, 8]


def test_checker_accepts_golden_stream():
    net, _x, gold = _case()
    rep = check_events(net, gold, _events_from(gold), gold.predictions, np.ones(3, bool))
    assert rep.mismatches == 0 and rep.first_mismatch is None
    for name, s in gold.spikes.items():
        np.testing.assert_array_equal(rep.rtl_spikes[name], s)


def test_checker_counts_extra_missing_and_order():
    net, _x, gold = _case(1)
    ev = _events_from(gold)
    fired = np.flatnonzero((ev[:, 1] == 0) & (ev[:, 2] == 0))
    assert len(fired) >= 2
    # drop one spike event
    rep = check_events(net, gold, np.delete(ev, fired[0], axis=0), gold.predictions,
                       np.ones(3, bool))
    assert rep.mismatches_by_layer["fc1"] == 1 and "fc1" in rep.first_mismatch
    # a spike of a neuron that should not fire
    s, t = np.argwhere(gold.spikes["fc1"].sum(axis=2) < 5)[0]
    silent = int(np.flatnonzero(gold.spikes["fc1"][s, t] == 0)[0])
    marker = np.flatnonzero((ev[:, 0] == s) & (ev[:, 1] == 0) & (ev[:, 2] == 1))[t]
    extra = np.insert(ev, marker, [s, 0, 0, silent], axis=0)
    rep = check_events(net, gold, extra, gold.predictions, np.ones(3, bool))
    assert rep.by_layer_step[0, t] >= 1
    # a missing end-of-step marker is a protocol error
    markers = np.flatnonzero((ev[:, 1] == 1) & (ev[:, 2] == 1))
    rep = check_events(net, gold, np.delete(ev, markers[-1], axis=0), gold.predictions,
                       np.ones(3, bool))
    assert rep.protocol_errors["fc2"] == 1 and rep.mismatches >= 1
    # events out of order within a step (same set): counted once
    n0 = np.flatnonzero(gold.spikes["fc1"].sum(axis=2) >= 2)
    if len(n0):
        flat = gold.spikes["fc1"].sum(axis=2)
        s, t = np.argwhere(flat >= 2)[0]
        rows = np.flatnonzero((ev[:, 0] == s) & (ev[:, 1] == 0))
        step_rows = []
        k = 0
        for r in rows:
            if ev[r, 2] == 1:
                k += 1
            elif k == t:
                step_rows.append(r)
        sw = ev.copy()
        sw[[step_rows[0], step_rows[1]]] = sw[[step_rows[1], step_rows[0]]]
        rep = check_events(net, gold, sw, gold.predictions, np.ones(3, bool))
        assert rep.by_layer_step[0, t] == 1


def test_checker_predictions_and_unfinished():
    net, _x, gold = _case(2)
    ev = _events_from(gold)
    wrong = gold.predictions.copy()
    wrong[1] = (wrong[1] + 1) % 3
    rep = check_events(net, gold, ev, wrong, np.ones(3, bool))
    assert rep.prediction_mismatches == 1 and "prediction" in rep.first_mismatch
    rep = check_events(net, gold, ev, gold.predictions, np.array([True, False, True]))
    assert rep.unfinished == 1 and rep.mismatches == 1



def test_wrapper_reads_packed_ports_from_portmap():
    net = random_network(np.random.default_rng(0), [9, 2], timesteps=3)
    pm = PortMap.from_dict({
        "top": "dut", "clock": "ck", "reset": "rs",
        "ports": {"start": {"name": "go", "width": 1}, "busy": {"name": "b", "width": 1},
                  "done": {"name": "d", "width": 1}, "prediction": {"name": "p", "width": 1},
                  "in_valid": {"name": "iv", "width": 1}, "in_ready": {"name": "ir", "width": 1},
                  "in_index": {"name": "ip", "lsb": 0, "width": 4},
                  "in_last": {"name": "ip", "lsb": 4, "width": 1}},
        "taps": [{"layer": "fc1", "valid": {"name": "tv", "width": 1},
                  "index": {"name": "tp", "lsb": 1, "width": 2},
                  "last": {"name": "tp", "lsb": 0, "width": 1}}],
        "plan": plan_network(net, 2).as_dict(),
    })
    assert (pm.timesteps, pm.input_size, pm.n_classes, pm.lanes) == (3, 9, 2, {"fc1": 2})
    v = wrapper_verilog(pm)
    assert "dut dut (" in v and ".ck(clk)" in v and ".rs(rst)" in v
    assert "wire [4:0] p_ip;" in v and "assign p_ip[3:0] = in_index;" in v
    assert "assign p_ip[4] = in_last;" in v and "tap0_index = p_tp[2:1];" in v


def test_parse_log_roundtrip():
    rec = parse_log("0 1 0 1 5\n2 1 40 3 0\n")
    assert rec.shape == (2, 5) and rec[1, 2] == 40
    assert parse_log("").shape == (0, 5)
