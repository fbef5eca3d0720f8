"""``spikeforge train`` and ``spikeforge quantize``: the torch frontend (quant.train/export)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from quant.config import ENCODINGS, READOUTS, RESETS, QuantizeConfig, TrainConfig

from .output import emit, format_table

__all__ = ["register"]

_T, _Q = TrainConfig(), QuantizeConfig()


def _leak(value: str) -> int | None:
    if value.lower() in ("none", "off", "no"):
        return None
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 or 'none', not {value!r}"
                                         ) from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 or 'none', not {value!r}")
    return k


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``quantize`` to the CLI."""
    p = sub.add_parser(
        "train", help="train a float spiking network (simplified LIF, surrogate gradients)",
        description="Train a spiking network (dense, or conv2d + sum-pool + dense) of "
                    "simplified LIF neurons with BPTT and "
                    "surrogate gradients (Adam, cosine decay) on rate- or deterministically-"
                    "encoded images, and write a run directory (model.pt, run.json, "
                    "checkpoint.pt). Re-running with the same options resumes it.",
        epilog="example: spikeforge train --dataset digits --arch 64-128-10 --timesteps 16 "
               "-o runs/digits/train",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", default=_T.dataset, help="digits (built in) or mnist")
    p.add_argument("--data", default=_T.data_path, help="MNIST files (directory of IDX files "
                   "or .npz); default: the 'spikeforge data fetch mnist' cache")
    p.add_argument("--arch", default=_T.arch, help="layer sizes, e.g. 784-400-200-10, or "
                   "a conv net: input CxHxW, then <O>c<K>[s<S>][p<P>] (conv2d), sp<K> "
                   "(sum-pool), <N> (dense), e.g. 1x28x28-8c5-sp2-16c5-sp2-10 "
                   f"(default {_T.arch})")
    p.add_argument("--timesteps", "-T", type=int, default=_T.timesteps,
                   help=f"time steps per sample (default {_T.timesteps})")
    p.add_argument("--encoding", default=_T.encoding,
                   help=f"{' or '.join(ENCODINGS)} (default {_T.encoding})")
    p.add_argument("--epochs", type=int, default=_T.epochs,
                   help=f"training epochs (default {_T.epochs})")
    p.add_argument("--batch-size", type=int, default=_T.batch_size,
                   help=f"(default {_T.batch_size})")
    p.add_argument("--lr", type=float, default=_T.lr,
                   help=f"Adam learning rate (default {_T.lr:g})")
    p.add_argument("--seed", type=int, default=_T.seed, help=f"(default {_T.seed})")
    p.add_argument("--leak-shift", type=_leak, default=_T.leak_shift,
                   help=f"k of the leak alpha = 1 - 2^-k, or 'none' (default {_T.leak_shift})")
    p.add_argument("--reset", default=_T.reset,
                   help=f"{' or '.join(RESETS)} (default {_T.reset})")
    p.add_argument("--readout", default=_T.readout,
                   help=f"{' or '.join(READOUTS)} (default {_T.readout})")
    p.add_argument("--bias", action="store_true", default=_T.bias,
                   help="give each layer a bias")
    p.add_argument("--threads", type=int, default=_T.threads,
                   help="torch threads (default: 1 for small layers, else torch's)")
    p.add_argument("--limit-train", type=int, default=_T.limit_train,
                   help="use the first N training samples only")
    p.add_argument("--limit-test", type=int, default=_T.limit_test,
                   help="use the first N test samples")
    p.add_argument("-o", "--output", type=Path, required=True, help="run directory")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_train)

    p = sub.add_parser(
        "quantize", help="quantize a trained run (QAT) and write the integer manifest",
        description="Choose per-layer weight widths (explicit --bits, or the Hessian-aware "
                    "allocation for a budget), per-layer scales, thresholds and state widths; "
                    "fine-tune with fake quantization (STE); export the integer network; "
                    "check torch integer mode against the golden model on every spike of "
                    "the test set; write NET (network.json, weights.npz, test_spikes.npz).",
        epilog="example: spikeforge quantize runs/digits/train --avg-bits 3 "
               "-o runs/digits/net",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", type=Path, help="run directory from 'spikeforge train'")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--bits", default=None, help="widths per layer, e.g. 4,3,2 (one value: all)")
    g.add_argument("--avg-bits", type=float, default=None,
                   help="average weight bits budget (Hessian allocation)")
    g.add_argument("--budget-bits", type=int, default=None,
                   help="total weight-memory budget in bits (Hessian allocation)")
    g.add_argument("--budget-bram", type=int, default=None,
                   help="block-RAM budget on --target (weight and state widths together)")
    from .cmd_hessian import add_budget_flags

    add_budget_flags(p)
    p.add_argument("--policy", default=_Q.policy,
                   help="sensitivity source of the budget allocation: auto, hutchinson, "
                        "gauss_newton or measured (see 'spikeforge allocate'; "
                        f"default {_Q.policy})")
    p.add_argument("--epochs", type=int, default=_Q.epochs,
                   help=f"QAT epochs (default {_Q.epochs}; 0: PTQ)")
    p.add_argument("--lr", type=float, default=_Q.lr,
                   help=f"QAT learning rate (default {_Q.lr:g})")
    p.add_argument("--quantizer", default=_Q.method,
                   help=f"scale method: mse, max or mean (default {_Q.method})")
    p.add_argument("--state-bits", default=None,
                   help="force membrane widths (one value or per layer); default: measured")
    p.add_argument("--headroom", type=int, default=_Q.headroom,
                   help=f"extra state bits (default {_Q.headroom})")
    p.add_argument("--calib-samples", type=int, default=_Q.calib_samples,
                   help="training samples for the state-range measurement "
                        f"(default {_Q.calib_samples})")
    p.add_argument("-o", "--output", type=Path, required=True, help="manifest directory")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_quantize)


def run_train(args: argparse.Namespace) -> int:
    """Train and write the run directory."""
    from quant.train import train

    cfg = TrainConfig(
        dataset=args.dataset, arch=args.arch, timesteps=args.timesteps, encoding=args.encoding,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        leak_shift=args.leak_shift, reset=args.reset, readout=args.readout, bias=args.bias,
        threads=args.threads, data_path=None if args.data is None else str(args.data),
        limit_train=args.limit_train, limit_test=args.limit_test,
    )
    cfg.validate()
    res = train(cfg, args.output, progress=not args.quiet)
    data: dict[str, Any] = {
        "run": str(args.output), "test_accuracy": res.test_accuracy,
        "train_seconds": res.train_seconds, "epochs": len(res.history),
        "config": cfg.to_dict(), "history": res.history,
    }
    per_epoch = res.train_seconds / max(1, len(res.history))
    text = (f"trained {cfg.arch} on {cfg.dataset} (T={cfg.timesteps}, {len(res.history)} "
            f"epochs, {per_epoch:.2f} s/epoch) -> {args.output}\n"
            f"  float test accuracy: {100 * res.test_accuracy:.2f}%")
    emit(args, text, data)
    return 0


def _widths(value: str | None, what: str) -> list[int] | int | None:
    """``"4"`` -> 4 (every layer), ``"4,3"`` -> [4, 3]; the library checks the values."""
    if value is None:
        return None
    from .config import parse_int_list

    vals = parse_int_list(value, what)
    return vals[0] if len(vals) == 1 else vals


def run_quantize(args: argparse.Namespace) -> int:
    """Quantize a run and write the manifest + test spikes."""
    from quant.export import quantize_run

    bits, avg_bits, budget_bits = _widths(args.bits, "--bits"), args.avg_bits, args.budget_bits
    state_bits = _widths(args.state_bits, "--state-bits")
    from pysim.errors import InputError

    from .cmd_hessian import budget_kwargs

    try:
        res = quantize_run(
            args.run, args.output, bits=bits, avg_bits=avg_bits,
            budget_bits=budget_bits, epochs=args.epochs, lr=args.lr, method=args.quantizer,
            headroom=args.headroom, state_bits=state_bits,
            calib_samples=args.calib_samples, progress=not args.quiet, policy=args.policy,
            **budget_kwargs(args),
        )
    except InputError as exc:
        raise exc.renamed({"state_policy": "state_widths"}) from None
    alloc = res.net.meta.get("allocation", {})
    cost_alloc = alloc if alloc.get("state_bits") is not None else None
    net = res.net
    rows = []
    for i, layer in enumerate(net.neuron_layers):
        if layer.kind.value == "conv2d":
            size = (f"{'x'.join(map(str, layer.in_shape))}->"
                    f"{'x'.join(map(str, layer.out_shape))} k{layer.kernel[0]}")
        else:
            size = f"{layer.in_features}x{layer.out_features}"
        rows.append([layer.name, size, layer.weight_bits, layer.weight_memory_bits,
                     layer.state_bits, layer.membrane_memory_bits, layer.threshold,
                     "-" if layer.leak_shift is None else layer.leak_shift,
                     f"{net.meta['scales'][i]:.4g}"])
    table = format_table(["layer", "size", "w_bits", "weight mem", "state", "membrane mem",
                          "thresh", "leak", "scale"], rows, align="llrrrrrrr")
    d = res.as_dict()
    text = (f"quantized {args.run} -> {args.output} ({d['percent_of_float32']:.1f}% of float32 "
            f"weight memory)\n{table}\n"
            f"  memory: weights {net.weight_memory_bits:,} bits + membranes "
            f"{net.membrane_memory_bits:,} bits = "
            f"{net.weight_memory_bits + net.membrane_memory_bits:,} bits\n"
            f"  accuracy: float {100 * res.float_accuracy:.2f}%  after PTQ "
            f"{100 * res.ptq_accuracy:.2f}%  after QAT {100 * res.qat_accuracy:.2f}%  "
            f"integer {100 * res.integer_accuracy:.2f}%  golden {100 * res.golden_accuracy:.2f}%\n"
            f"  torch integer mode == golden model on all {res.check['spikes_compared']} spikes "
            f"and {res.check['samples']} predictions")
    if cost_alloc is not None:
        text += (f"\n  allocation: {cost_alloc['unit']} budget {cost_alloc['budget']:g}, used "
                 f"{cost_alloc['used']:g} (scope {cost_alloc['scope']}"
                 + (f", target {cost_alloc['target']}" if cost_alloc["unit"] == "bram"
                    else "") + ")")
        d["cost_allocation"] = cost_alloc
    emit(args, text, {**d, "meta": {k: v for k, v in net.meta.items()
                                    if k in ("allocation", "scales", "state_width", "leak")}})
    return 0
