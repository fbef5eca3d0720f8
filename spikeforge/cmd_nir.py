"""``spikeforge import`` and ``spikeforge export``: NIR graphs in and out (docs/interop.md)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .output import emit, format_table

__all__ = ["register"]


def _widths(value: str | None, what: str) -> list[int] | int | None:
    if value is None:
        return None
    from .config import parse_int_list

    vals = parse_int_list(value, what)
    return vals[0] if len(vals) == 1 else vals


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``import`` and ``export`` to the CLI."""
    p = sub.add_parser(
        "import", help="a NIR graph (snnTorch, Norse, Sinabs, ...) to an integer manifest",
        description="Read a NIR graph (nir.write output) and write an integer network "
                    "manifest. A graph written by 'spikeforge export' is restored exactly "
                    "from its metadata; any other graph is mapped onto dense/conv2d/sum-pool "
                    "layers of IF/LIF neurons and quantized: weight widths (--weight-bits, or "
                    "--avg-bits through the MILP), per-layer scales from the weights and "
                    "thresholds (searched on --calibration spikes when given), LIF tau to the "
                    "leak shift (alpha = 1 - dt/tau), state widths from the membrane range. "
                    "Anything not expressible is refused with one line naming the node.",
        epilog="example: spikeforge import model.nir -o net --timesteps 16 --weight-bits 6",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", type=Path, help="the .nir file")
    p.add_argument("-o", "--output", type=Path, required=True, help="manifest directory")
    p.add_argument("--timesteps", "-T", type=int, default=None,
                   help="steps per sample (required unless --calibration/--data give it, or "
                        "the graph came from 'spikeforge export')")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--weight-bits", default=None,
                   help="weight widths, one value or one per neuron layer (default 8)")
    g.add_argument("--avg-bits", type=float, default=None,
                   help="average weight bits: per-layer widths by the MILP (Hessian traces "
                        "with --data, else a data-free sensitivity)")
    p.add_argument("--state-bits", default=None,
                   help="force membrane widths (one value or per layer); default: measured")
    p.add_argument("--calibration", type=Path, default=None,
                   help="spikes .npz (labels optional): search the scales and report "
                        "float-vs-integer agreement (and accuracy with labels)")
    p.add_argument("--data", type=Path, default=None,
                   help="labelled spikes .npz for the Hessian traces of --avg-bits")
    p.add_argument("--dt", type=float, default=None,
                   help="time step of the LIF nodes (alpha = 1 - dt/tau); default: the "
                        "graph's convention (snnTorch 1e-4; Norse 1.1 LIF exports need "
                        "Norse's dt squared, e.g. 1e-6; docs/interop.md)")
    p.add_argument("--reset", default=None, choices=("zero", "subtract"),
                   help="reset mode (default zero: NIR's v_reset = 0; subtract for graphs "
                        "whose framework subtracted but exported v_reset = 0, e.g. snnTorch's "
                        "default and Sinabs' MembraneSubtract)")
    p.add_argument("--headroom", type=int, default=1, help="extra state bits (default 1)")
    p.add_argument("--requantize", action="store_true",
                   help="ignore spikeforge metadata and quantize the graph's float values")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_import)

    p = sub.add_parser(
        "export", help="an integer manifest as a NIR graph",
        description="Write the integer network as a NIR graph (nir.write): integer-valued "
                    "weights, IF/LIF neurons reproducing the integer dynamics as closely as "
                    "NIR allows (v_threshold = threshold - 1/2, tau = 2^k dt, r = 2^k), and "
                    "every integer field in node metadata so that 'spikeforge import' "
                    "restores the same network exactly.",
        epilog="example: spikeforge export net -o model.nir",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("net", type=Path, help="manifest directory")
    p.add_argument("-o", "--output", type=Path, required=True, help="the .nir file to write")
    p.add_argument("--dt", type=float, default=1.0,
                   help="time step written for LIF nodes (tau = 2^k dt; default 1)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_export)


def run_import(args: argparse.Namespace) -> int:
    """Import a NIR graph and write the manifest."""
    from pysim import atomic_dir, save_network
    from quant.nir_import import import_nir

    res = import_nir(
        args.model, timesteps=args.timesteps,
        weight_bits=_widths(args.weight_bits, "--weight-bits"), avg_bits=args.avg_bits,
        state_bits=_widths(args.state_bits, "--state-bits"), calibration=args.calibration,
        data=args.data, dt=args.dt, reset=args.reset, requantize=args.requantize,
        headroom=args.headroom, progress=not args.quiet)
    with atomic_dir(args.output) as tmp:
        save_network(res.net, tmp)
    net = res.net
    rows = []
    for layer in net.layers:
        if not layer.has_neurons:
            rows.append([layer.name, layer.kind.value, "x".join(map(str, layer.out_shape)),
                         "-", "-", "-", "-"])
            continue
        rows.append([layer.name, layer.kind.value, "x".join(map(str, layer.out_shape)),
                     layer.weight_bits, layer.state_bits, layer.threshold,
                     "-" if layer.leak_shift is None else layer.leak_shift])
    table = format_table(["layer", "kind", "out", "w_bits", "state", "thresh", "leak"], rows,
                         align="lllrrrr")
    how = ("restored exactly from spikeforge metadata" if res.exact
           else f"quantized ({net.readout.value} readout, reset "
                f"{net.neuron_layers[0].reset.value})")
    lines = [f"imported {args.model} -> {args.output}: {how}, T={net.timesteps}", table]
    rep = res.report
    for leak in rep.get("leak", []):
        if leak["leak_shift"] is not None or leak["alpha"] != 1.0:
            lines.append(f"  {leak['layer']}: alpha {leak['alpha']:.6g} -> shift "
                         f"{leak['leak_shift']} (alpha {leak['alpha_int']:.6g}, error "
                         f"{leak['alpha_error']:+.3g})")
    cal = rep.get("calibration")
    if cal:
        ag = ", ".join(f"{k} {100 * v:.2f}%" for k, v in cal["spike_agreement"].items())
        lines.append(f"  float vs integer on {cal['samples']} calibration samples: spikes {ag}; "
                     f"predictions {100 * cal['prediction_agreement']:.2f}%")
        if "float_accuracy" in cal:
            lines.append(f"  accuracy: float {100 * cal['float_accuracy']:.2f}%  integer "
                         f"{100 * cal['integer_accuracy']:.2f}%")
    data: dict[str, Any] = {"model": str(args.model), "output": str(args.output),
                            **res.as_dict()}
    emit(args, "\n".join(lines), data)
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Export a manifest as a NIR file."""
    import math

    from pysim import load_network
    from quant.nir_io import write_nir

    from .errors import InputError

    if not (math.isfinite(args.dt) and args.dt > 0):
        raise InputError(f"must be a positive number, not {args.dt!r}", param="dt")
    if args.output.is_dir():
        raise InputError(f"{args.output}: is a directory (give the .nir file to write)")
    net = load_network(args.net)
    write_nir(net, args.output, dt=args.dt)
    data = {"net": str(args.net), "output": str(args.output), "layers": len(net.layers),
            "bytes": args.output.stat().st_size}
    emit(args, f"exported {args.net} -> {args.output} ({len(net.layers)} layers, NIR; "
               "'spikeforge import' restores it exactly)", data)
    return 0
