"""``spikeforge check`` and ``spikeforge simulate``: the manifest and the golden model."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from pysim import IntNetwork, load_network, load_spikes, save_result, simulate

from .output import emit, format_table

__all__ = ["network_table", "register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``check`` and ``simulate`` to the CLI."""
    p = sub.add_parser(
        "check", help="validate a network manifest and print its layer table",
        description="Validate a manifest directory (network.json + weights.npz) and print "
                    "its layers, widths and weight memory.",
        epilog="example: spikeforge check runs/digits/net",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("net", type=Path, help="manifest directory")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_check)

    p = sub.add_parser(
        "simulate", help="run the bit-accurate golden model on a spike file",
        description="Run the golden model on input spike trains and write predictions and "
                    "every layer's spikes (and membranes with --trace) to an .npz.",
        epilog="example: spikeforge simulate runs/digits/net --input "
               "runs/digits/net/test_spikes.npz -o out.npz --trace",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("net", type=Path, help="manifest directory")
    p.add_argument("--input", "-i", type=Path, required=True, help="input spike file (.npz)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .npz")
    p.add_argument("--trace", action="store_true", help="also store every membrane")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_simulate)


def network_table(net: IntNetwork) -> tuple[str, dict[str, Any]]:
    """Return the layer table as text and as a JSON-ready dict."""
    rows = []
    layers = []
    for layer in net.layers:
        f32 = layer.n_weights * 32
        info = {
            **layer.header(),
            "weights": layer.n_weights,
            "weight_memory_bits": layer.weight_memory_bits,
            "percent_of_float32": 100.0 * layer.weight_memory_bits / f32,
        }
        layers.append(info)
        rows.append([
            layer.name, f"{layer.in_features}x{layer.out_features}", layer.weight_bits,
            layer.state_bits, layer.threshold,
            "-" if layer.leak_shift is None else layer.leak_shift, layer.reset.value,
            "yes" if layer.has_bias else "no", layer.weight_memory_bits,
            f"{info['percent_of_float32']:.1f}%",
        ])
    total_f32 = net.n_weights * 32
    rows.append(["total", "", "", "", "", "", "", "", net.weight_memory_bits,
                 f"{100.0 * net.weight_memory_bits / total_f32:.1f}%"])
    table = format_table(
        ["layer", "size", "w_bits", "state", "thresh", "leak", "reset", "bias", "mem_bits",
         "vs_f32"], rows, align="lllrrrllrr",
    )
    data = {
        "timesteps": net.timesteps,
        "input_size": net.input_size,
        "readout": net.readout.value,
        "layers": layers,
        "weights": net.n_weights,
        "weight_memory_bits": net.weight_memory_bits,
        "float32_bits": total_f32,
        "percent_of_float32": 100.0 * net.weight_memory_bits / total_f32,
        "average_weight_bits": net.weight_memory_bits / net.n_weights,
    }
    return table, data


def run_check(args: argparse.Namespace) -> int:
    """Validate a manifest and print its table."""
    net = load_network(args.net)
    table, data = network_table(net)
    head = (f"{args.net}: valid spikeforge network, T={net.timesteps}, input {net.input_size}, "
            f"readout {net.readout.value}, {data['average_weight_bits']:.2f} avg weight bits")
    emit(args, head + "\n" + table, {"net": str(args.net), "valid": True, **data})
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    """Run the golden model on a spike file and write the outputs."""
    net = load_network(args.net)
    data = load_spikes(args.input, net)
    result = simulate(net, data.spikes, trace=args.trace)
    save_result(args.output, net, result)
    n = data.spikes.shape[0]
    summary: dict[str, Any] = {
        "samples": n,
        "output": str(args.output),
        "spikes_per_sample": {k: float(v.sum()) / n for k, v in result.spikes.items()},
    }
    lines = [f"simulated {n} samples x {net.timesteps} steps -> {args.output}"]
    lines += [f"  {k}: {v:.1f} spikes/sample" for k, v in summary["spikes_per_sample"].items()]
    if data.labels is not None:
        acc = float(np.mean(result.predictions == data.labels))
        summary["accuracy"] = acc
        lines.append(f"  accuracy: {100 * acc:.2f}% ({round(acc * n)}/{n})")
    emit(args, "\n".join(lines), summary)
    return 0
