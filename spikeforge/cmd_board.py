"""``spikeforge board``: a bitstream for a board, and the host side of its UART link.

* ``spikeforge board --target icebreaker|ulx3s NET -o DIR``: the core inside the AXI
  wrapper behind a UART (see :mod:`hdl.board`), with the board's PLL and a reset
  synchroniser, built with amaranth-boards and the pip YoWASP tools;
* ``spikeforge board run NET --port DEV --input SPIKES``: send each sample's spikes over
  the serial port (pyserial), read its result packet, compare with the golden model;
* ``--weights-in spram`` (iCEBreaker): weights in the UP5K's SPRAM, sent over the UART
  after reset (``board run`` sends them first and checks the board's acknowledgement).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .errors import InputError
from .output import emit

__all__ = ["load_over_port", "register", "run_board", "run_over_port"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``board`` to the CLI."""
    p = sub.add_parser(
        "board", help="build a board bitstream (UART host link), or run samples on a board",
        description="'board --target T NET -o DIR' writes the board design (PLL, reset "
                    "synchroniser, UART link, the AXI-wrapped core, constraints) and builds "
                    "its bitstream with the pip YoWASP tools. 'board run NET --port DEV "
                    "--input SPIKES' sends samples over the serial port and compares every "
                    "result with the golden model (exit 1 on a mismatch).",
        epilog="examples: spikeforge board --target icebreaker runs/digits/net -o "
               "runs/digits/board; spikeforge board run runs/digits/net --port /dev/ttyUSB1 "
               "--input runs/digits/net/test_spikes.npz -n 100",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("args", nargs="+", metavar="[run] NET", help="manifest directory, after "
                   "'run' for the host side")
    p.add_argument("--target", choices=("icebreaker", "ulx3s"), default=None,
                   help="the board (build)")
    p.add_argument("-o", "--output", type=Path, default=None, help="output directory (build)")
    p.add_argument("--lanes", default=None, help="parallel neurons per layer (as generate)")
    p.add_argument("--baud", type=int, default=115200, help="UART baud rate (default 115200)")
    p.add_argument("--weights-in", choices=("bram", "spram"), default="bram",
                   help="where the weights live: block RAM in the bitstream (default), or "
                        "the iCE40 UP5K's SPRAM, sent over the UART after reset (icebreaker "
                        "only; 'board run' then sends them first)")
    p.add_argument("--no-build", action="store_true",
                   help="write the design and build script only (no bitstream)")
    p.add_argument("--port", default=None, help="serial port (run), e.g. /dev/ttyUSB1")
    p.add_argument("--input", "-i", type=Path, default=None, help="spike file (run)")
    p.add_argument("--samples", "-n", type=int, default=None, help="first N samples (run)")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for a result packet (run; default 5)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_board)


def load_over_port(port: Any, net: Any, plan: Any) -> int:
    """Send the SPRAM load image of ``net`` (:func:`hwplan.load_image`) and check the
    board's acknowledgement (:func:`hwplan.load_ack`); return the bytes sent.

    Raises :class:`pysim.errors.CheckFailed` when the acknowledgement is missing or
    wrong (the board was not freshly reset, or bytes were lost)."""
    from hwplan import load_ack, load_image
    from pysim.errors import CheckFailed

    image = load_image(net, plan)
    port.write(image)
    ack = bytes(port.read(4))
    if ack != load_ack(image):
        raise CheckFailed(f"the board did not acknowledge the {len(image)}-byte weight load "
                          f"(got {ack.hex() or 'nothing'}, expected {load_ack(image).hex()}); "
                          f"reset the board and try again")
    return len(image)


def run_over_port(port: Any, net: Any, spikes: Any, *, lanes: Any = None,
                  weights_in: Any = None) -> dict[str, Any]:
    """Send every sample of ``spikes`` (N, T, in) over ``port`` (pyserial-like: ``write``,
    ``read(n)``) and compare each result packet with the golden model of ``net``.

    One sample is in flight at a time (the next is sent when the previous packet has
    arrived), so the board's input FIFO never overflows. With ``weights_in="spram"``
    (the board built so) the weights are loaded first (:func:`load_over_port`); the
    board must have been reset (or just programmed).
    """
    import numpy as np

    from hwplan import plan_network
    from hwplan.wrapper import axis_wrapper_plan, decode_packet, encode_uart_sample, packet_bytes
    from pysim import Readout, simulate

    plan = plan_network(net, lanes, weights_in=weights_in)
    loaded = load_over_port(port, net, plan) if plan.spram_layers else 0
    wp = axis_wrapper_plan(plan)
    x = np.asarray(spikes)
    gold = simulate(net, x, trace=net.readout is Readout.MEMBRANE)
    last = net.layers[-1].name
    want = (gold.membranes[last][:, -1] if net.readout is Readout.MEMBRANE
            else gold.spikes[last].sum(axis=1))
    n_bytes = packet_bytes(wp)
    preds, mism, first, lost = [], 0, None, 0
    for n in range(x.shape[0]):
        port.write(encode_uart_sample(wp, x[n]))
        data = port.read(n_bytes)
        if len(data) != n_bytes:
            lost += 1
            mism += 1
            first = first or f"sample {n}: {len(data)} of {n_bytes} bytes before the timeout"
            break
        pk = decode_packet(wp, bytes(data))
        preds.append(pk["prediction"])
        ok = (not pk["aborted"] and pk["prediction"] == int(gold.predictions[n])
              and pk["scores"] == [int(v) for v in want[n]])
        if not ok:
            mism += 1
            first = first or (f"sample {n}: prediction {pk['prediction']} scores "
                              f"{pk['scores']} flags {pk['flags']}, golden "
                              f"{int(gold.predictions[n])} {[int(v) for v in want[n]]}")
    return {"samples": len(preds), "mismatches": mism, "first_mismatch": first,
            "lost": lost, "predictions": preds} | (
                {"spram_load_bytes": loaded} if loaded else {})


def run_board(args: argparse.Namespace) -> int:
    """Build a board bitstream, or run samples on a board."""
    from pysim import load_network
    from pysim.errors import CheckFailed

    from .cmd_hw import parse_lanes

    rest = list(args.args)
    if rest[0] == "run":
        if len(rest) != 2:
            raise InputError("usage: spikeforge board run NET --port DEV --input SPIKES")
        if args.port is None or args.input is None:
            raise InputError("board run needs --port and --input")
        from pysim import load_spikes

        net = load_network(Path(rest[1]))
        data = load_spikes(args.input, net)
        x = data.spikes if args.samples is None else data.spikes[:args.samples]
        try:
            import serial
        except ImportError:
            raise InputError("board run needs pyserial (pip install pyserial)") from None
        try:
            port = serial.Serial(args.port, args.baud, timeout=args.timeout)
        except (serial.SerialException, ValueError) as exc:
            raise InputError(f"--port: cannot open {args.port}: {exc}") from None
        with port:
            res = run_over_port(port, net, x, lanes=parse_lanes(args.lanes),
                                weights_in=args.weights_in)
        emit(args, f"{rest[1]}: {res['samples']} samples on the board over {args.port}; "
                   f"mismatches {res['mismatches']}"
                   + (f" (first: {res['first_mismatch']})" if res["mismatches"] else ""),
             {k: v for k, v in res.items() if k != "predictions"})
        if res["mismatches"]:
            raise CheckFailed(f"board results differ from the golden model: "
                              f"{res['first_mismatch']}")
        return 0
    if len(rest) != 1:
        raise InputError("usage: spikeforge board --target T NET -o DIR")
    if args.target is None or args.output is None:
        raise InputError("board needs --target and -o DIR")
    from hdl.board import build_board

    net = load_network(Path(rest[0]))
    info = build_board(net, args.target, args.output, baud=args.baud,
                       lanes=parse_lanes(args.lanes), do_build=not args.no_build,
                       weights_in=args.weights_in)
    head = (f"{rest[0]}: {args.target} design in {args.output} (clock {info['clock_mhz']} MHz "
            f"via PLL, UART {info['baud']} baud)")
    if info["built"]:
        head += (f"; bitstream {info['bitstream']} in {info['seconds']:.0f} s, nextpnr Fmax "
                 f"{info['fmax_mhz']} MHz")
    elif not args.no_build:
        raise InputError(f"the build produced no bitstream (see the logs in {args.output})")
    emit(args, head, info)
    return 0
