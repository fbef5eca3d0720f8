#!/usr/bin/env python
"""The MNIST result: the whole flow on MNIST, reported as the paper reports its headline.

Lui & Neftci (2021): a 58% smaller network for a 0.2% accuracy drop. Here: % smaller than
float32, the accuracy change on the 10k test set with an exact McNemar test, RTL
verification on >= 1,000 test samples, and the hardware figures. The flow's stages are
cached in the run directory, so an interrupted benchmark resumes.

    spikeforge data fetch mnist          # once: MNIST into the cache (MD5-checked)
    python scripts/bench_mnist.py --run runs/mnist --pnr --out bench_mnist.json
    python scripts/bench_mnist.py --data MNIST.npz --epochs 8 --budget 3.0

Without --data the 'spikeforge data fetch mnist' cache is used; ``--data`` takes a
directory of IDX files or an ``.npz`` of your own. The figures in docs/results.md (*The
headline*) are ``--pnr`` at the defaults. ``--quick`` is a smoke run (a fraction of the
data, one epoch, model-only estimate), not the result.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from benchlib import Bench, Table

from pysim import load_network
from spikeforge.config import load_config
from spikeforge.flow import Flow


def main(argv=None) -> int:
    bench = Bench("bench_mnist", __doc__)
    ap = bench.parser(quick="2,000 training / 500 test images, 1 epoch, 1 QAT epoch, 16 "
                      "probes, 20 RTL samples, one Pareto budget, model-only estimate",
                      seed=0)
    ap.add_argument("--data", default=None, help="MNIST IDX directory or .npz "
                    "(default: the 'spikeforge data fetch mnist' cache)")
    ap.add_argument("--dataset", default="mnist", choices=("mnist", "digits"),
                    help="digits: the same report on the embedded data (a smoke test)")
    ap.add_argument("--run", type=Path, default=Path("runs/mnist"))
    ap.add_argument("--arch", default=None,
                    help="default 784-400-200-10 (mnist), 64-128-10 (digits)")
    ap.add_argument("--timesteps", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--budget", type=float, default=3.0, help="average weight bits")
    ap.add_argument("--qat-epochs", type=int, default=2)
    ap.add_argument("--probes", type=int, default=60)
    ap.add_argument("--verify-samples", type=int, default=1000)
    ap.add_argument("--pareto", default="2.5,3.0", help="average-bit budgets for the sweep")
    ap.add_argument("--pnr", action="store_true", help="nextpnr for Fmax (slower)")
    ap.add_argument("--targets", default="ecp5-85k,xc7",
                    help="estimate targets (MNIST weights exceed the UP5K and ECP5-25K BRAM)")
    ap.add_argument("--stages", default=None, help="run only these flow stages (and needs)")
    args = bench.parse(ap, argv)
    args.arch = args.arch or ("784-400-200-10" if args.dataset == "mnist" else "64-128-10")

    overrides = {
        "train.dataset": args.dataset, "train.arch": args.arch, "train.seed": args.seed,
        "train.timesteps": args.timesteps,
        "train.epochs": args.epochs, "train.batch_size": args.batch_size,
        "hessian.probes": args.probes, "hessian.samples": 256,
        "quantize.avg_bits": args.budget, "quantize.epochs": args.qat_epochs,
        "pareto.avg_bits": [float(v) for v in args.pareto.split(",")],
        "pareto.uniform_bits": [2, 3, 4], "pareto.random_seeds": 2, "pareto.epochs": 1,
        "verify.samples": args.verify_samples,
        "estimate.pnr": args.pnr, "estimate.sweep_bits": [2, 4, 8],
        "estimate.targets": args.targets.split(","),
    }
    if args.quick:
        overrides.update({
            "train.limit_train": 2000, "train.limit_test": 500, "train.epochs": 1,
            "hessian.probes": 16, "hessian.samples": 64, "quantize.epochs": 1,
            "pareto.avg_bits": [args.budget], "pareto.uniform_bits": [2],
            "pareto.random_seeds": 1, "verify.samples": 20, "estimate.model_only": True,
            "estimate.pnr": False})
    if args.data:
        overrides["train.data_path"] = str(Path(args.data).resolve())
    config = load_config(None, overrides)
    bench.progress(f"flow on {args.dataset} {args.arch} in {args.run} (cached stages resume)")
    t0 = time.perf_counter()
    Flow(config, args.run).run_all(args.stages.split(",") if args.stages else None)
    wall = time.perf_counter() - t0

    def read(name):
        p = args.run / name
        return json.loads(p.read_text()) if p.is_file() else {}

    golden, verify, est = read("golden_check.json"), read("verify.json"), \
        read("estimate/estimate.json")
    net = load_network(args.run / "net")
    f32 = 32 * net.n_weights
    result = {
        "dataset": args.dataset,
        "paper": {"size_reduction_percent": 58.4, "accuracy_drop_points": 0.2},
        "arch": args.arch, "timesteps": args.timesteps, "epochs": args.epochs,
        "bits": [layer.weight_bits for layer in net.layers],
        "average_bits": net.weight_memory_bits / net.n_weights,
        "smaller_than_float32_percent": 100 - 100 * net.weight_memory_bits / f32,
        "float_accuracy": golden.get("float_accuracy"),
        "quantized_accuracy": golden.get("golden_accuracy"),
        "mcnemar": golden.get("mcnemar_float_vs_quantized"),
        "test_samples": golden.get("samples"),
        "torch_vs_golden_mismatches": golden.get("mismatches"),
        "rtl_samples": verify.get("samples"), "rtl_mismatches": verify.get("mismatches"),
        "rtl_cycles_per_sample": verify.get("cycles_per_sample"),
        "rtl_bound_ratio": verify.get("bound_ratio"),
        "hardware": est.get("targets"),
        "wall_seconds_this_invocation": wall,
    }
    rows = [
        ("bits per layer", "-".join(map(str, result["bits"]))),
        ("average weight bits", f"{result['average_bits']:.3f}"),
        ("smaller than float32", f"{result['smaller_than_float32_percent']:.1f}% (paper 58.4%)"),
    ]
    if result["float_accuracy"] is not None:
        drop = 100 * (result["float_accuracy"] - result["quantized_accuracy"])
        m = result["mcnemar"]
        rows += [
            ("float accuracy", f"{100 * result['float_accuracy']:.2f}%"),
            ("quantized accuracy (golden model)", f"{100 * result['quantized_accuracy']:.2f}%"),
            ("accuracy drop", f"{drop:.2f} points (paper 0.2)"),
            ("McNemar (float-only / quant-only, p)",
             f"{m['a_only']} / {m['b_only']}, p = {m['p_value']:.3g}"),
        ]
    rows += [("RTL mismatches", f"{result['rtl_mismatches']} on {result['rtl_samples']} samples"),
             ("RTL cycles per sample", f"{result['rtl_cycles_per_sample']}")]
    bench.finish(result, [Table(["quantity", "value"], rows, align="ll")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
