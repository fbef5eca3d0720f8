"""``spikeforge check`` and ``spikeforge simulate``: the manifest and the golden model."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from pysim import IntNetwork, LayerKind, load_network, load_spikes, save_result, simulate

from .output import emit, format_table

__all__ = ["network_table", "register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``check`` and ``simulate`` to the CLI."""
    p = sub.add_parser(
        "check", help="validate a network manifest and print its layer table",
        description="Validate a manifest directory (network.json + weights.npz) and print "
                    "its layers (kind, shapes, kernel/stride/padding), widths, weights, "
                    "neurons, weight memory and membrane memory.",
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


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def _pair_text(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _geometry_text(layer: Any) -> str:
    """``k3 s2 p1`` (square) or ``k3x5 s1x2 p0x1``; ``-`` for a dense layer."""
    if layer.kind is LayerKind.DENSE:
        return "-"
    text = f"k{_pair_text(layer.kernel)} s{_pair_text(layer.stride)}"
    if layer.kind is LayerKind.CONV2D:
        text += f" p{_pair_text(layer.padding)}"
    return text


def network_table(net: IntNetwork) -> tuple[str, dict[str, Any]]:
    """Return the layer table as text and as a JSON-ready dict.

    Per layer: kind, input -> output shape, kernel/stride/padding, widths and neuron
    constants, weights, neurons, weight memory bits and membrane memory bits; then the
    totals. A sum-pool has no weights, neurons or state (``-`` in the table).
    """
    rows = []
    layers = []
    for layer in net.layers:
        header = layer.header()
        header = {"name": header["name"], "kind": layer.kind.value,
                  **{k: v for k, v in header.items() if k not in ("name", "kind")}}
        pct = (100.0 * layer.weight_memory_bits / (layer.n_weights * 32)
               if layer.n_weights else None)
        info = {
            **header,
            "in_shape": list(layer.in_shape),
            "out_shape": list(layer.out_shape),
            "weights": layer.n_weights,
            "neurons": layer.n_neurons,
            "weight_memory_bits": layer.weight_memory_bits,
            "membrane_memory_bits": layer.membrane_memory_bits,
            "percent_of_float32": pct,
        }
        layers.append(info)
        if layer.has_neurons:
            neuron_cells = [
                layer.weight_bits, layer.state_bits, layer.threshold,
                "-" if layer.leak_shift is None else layer.leak_shift, layer.reset.value,
                "yes" if layer.has_bias else "no",
            ]
        else:
            neuron_cells = ["-"] * 6
        rows.append([
            layer.name, layer.kind.value,
            f"{_shape_text(layer.in_shape)} -> {_shape_text(layer.out_shape)}",
            _geometry_text(layer), *neuron_cells, layer.n_weights, layer.n_neurons,
            layer.weight_memory_bits, "-" if pct is None else f"{pct:.1f}%",
            layer.membrane_memory_bits,
        ])
    total_f32 = net.n_weights * 32
    rows.append(["total", "", "", "", "", "", "", "", "", "", net.n_weights, net.n_neurons,
                 net.weight_memory_bits, f"{100.0 * net.weight_memory_bits / total_f32:.1f}%",
                 net.membrane_memory_bits])
    table = format_table(
        ["layer", "kind", "in -> out", "k/s/p", "w_bits", "state", "thresh", "leak", "reset",
         "bias", "weights", "neurons", "w_mem_bits", "vs_f32", "membrane_bits"], rows,
        align="llllrrrrllrrrrr",
    )
    data = {
        "version": net.format_version,
        "timesteps": net.timesteps,
        "input_shape": list(net.input_shape),
        "input_size": net.input_size,
        "readout": net.readout.value,
        "layers": layers,
        "weights": net.n_weights,
        "neurons": net.n_neurons,
        "weight_memory_bits": net.weight_memory_bits,
        "membrane_memory_bits": net.membrane_memory_bits,
        "float32_bits": total_f32,
        "percent_of_float32": 100.0 * net.weight_memory_bits / total_f32,
        "average_weight_bits": net.weight_memory_bits / net.n_weights,
    }
    return table, data


def run_check(args: argparse.Namespace) -> int:
    """Validate a manifest and print its table."""
    net = load_network(args.net)
    table, data = network_table(net)
    head = (f"{args.net}: valid spikeforge network (version {net.format_version}), "
            f"T={net.timesteps}, input {_shape_text(net.input_shape)}, "
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
