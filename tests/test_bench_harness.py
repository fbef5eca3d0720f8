"""The benchmark harness of scripts/ (scripts/benchlib.py) and one script end to end."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))

import benchlib
from benchlib import Bench, Table


def test_parser_common_flags(tmp_path):
    bench = Bench("bench_x", "doc")
    ap = bench.parser(quick="smaller", seed=7)
    ap.add_argument("--samples", type=int, default=3)
    args = bench.parse(ap, ["--out", str(tmp_path / "r.json"), "--md", str(tmp_path / "r.md"),
                            "--quick", "--samples", "5"])
    assert args.out == tmp_path / "r.json" and args.md == tmp_path / "r.md"
    assert args.quick and args.seed == 7 and args.samples == 5
    assert bench.command.startswith("python scripts/bench_x.py --out ")
    # --json is an alias of --out (older command lines keep working)
    assert bench.parse(ap, ["--json", "a.json"]).out == Path("a.json")
    # defaults: nothing written, seed as documented
    args = bench.parse(ap, [])
    assert args.out is None and args.md is None and not args.quick and args.seed == 7


def test_parser_optional_flags():
    ap = Bench("bench_y").parser()
    args = ap.parse_args([])
    assert not hasattr(args, "quick") and not hasattr(args, "seed")
    with pytest.raises(SystemExit):
        ap.parse_args(["--quick"])
    ap = Bench("bench_z").parser(out="d/default.json")
    assert ap.parse_args([]).out == Path("d/default.json")


def test_markdown_table():
    md = benchlib.markdown_table(["a", "b", "c"], [("x|y", 1.23456, None), ("z", 2, "w")],
                                 align="lrl")
    lines = md.splitlines()
    assert lines[0] == "| a | b | c |"
    assert lines[1] == "|---|---:|---|"
    assert lines[2] == "| x\\|y | 1.235 | - |"
    assert lines[3] == "| z | 2 | w |"
    with pytest.raises(ValueError):
        benchlib.markdown_table(["a", "b"], [(1,)])
    with pytest.raises(ValueError):
        benchlib.markdown_table(["a", "b"], [], align="l")


def test_table_text_and_markdown():
    t = Table(["name", "value"], [("one", 1), ("three", 3.5)], title="T", notes=["n"])
    text = t.text().splitlines()
    assert text[0] == "T" and text[-1] == "n"
    assert text[1].split() == ["name", "value"] and set(text[2]) <= {"-", " "}
    assert text[3].split() == ["one", "1"]
    md = t.markdown()
    assert md.startswith("T\n\n| name | value |") and md.endswith("\n\nn")


def test_json_envelope_and_load(tmp_path):
    bench = Bench("bench_x", "doc")
    bench.parse(bench.parser(seed=0), ["--out", str(tmp_path / "sub" / "r.json")])
    results = {"ratio": np.float64(1.5), "counts": np.arange(3), "path": tmp_path}
    p = bench.write_json(results)
    doc = json.loads(p.read_text())
    assert doc["format"] == "spikeforge.bench" and doc["benchmark"] == "bench_x"
    assert doc["command"] == f"python scripts/bench_x.py --out {tmp_path / 'sub' / 'r.json'}"
    assert doc["date"][:2] == "20" and "T" in doc["date"]
    m = doc["machine"]
    assert m["cores"] >= 1 and m["python"].count(".") == 2 and m["numpy"] == np.__version__
    assert doc["settings"]["seed"] == 0
    assert doc["results"] == {"ratio": 1.5, "counts": [0, 1, 2], "path": str(tmp_path)}
    assert benchlib.load_results(p) == doc["results"]
    # a file written before the harness (no envelope) is returned whole
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"records": [1]}))
    assert benchlib.load_results(old) == {"records": [1]}


def test_finish_prints_and_writes(tmp_path, capsys):
    bench = Bench("bench_x", "doc")
    bench.parse(bench.parser(), ["--out", str(tmp_path / "r.json"),
                                 "--md", str(tmp_path / "r.md")])
    bench.finish({"x": 1}, [Table(["k", "v"], [("a", 1)])], intro="hello")
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "hello" and "a  1" in out
    assert "wrote" in err and "wrote" not in out
    assert json.loads((tmp_path / "r.json").read_text())["results"] == {"x": 1}
    md = (tmp_path / "r.md").read_text()
    assert md.startswith("# bench_x\n") and "| k | v |" in md and md.endswith("|\n")


def test_ratio_and_alternating_best():
    assert benchlib.ratio(3.0, 2.0) == 1.5
    assert benchlib.ratio(1.0, 0) is None and benchlib.ratio(None, 1.0) is None
    calls = []
    best = benchlib.alternating_best([lambda: calls.append("a"), lambda: calls.append("b")], 2)
    assert calls == ["a", "b", "a", "b"] and len(best) == 2 and all(t >= 0 for t in best)


def _run(script: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPTS / script), *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.py")
                                          if p.name != "benchlib.py"))
def test_every_script_has_the_common_flags(script, tmp_path):
    r = _run(script, "--help", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "--out FILE.json" in r.stdout and "--md FILE.md" in r.stdout


def test_bench_golden_end_to_end(tmp_path):
    out, md = tmp_path / "g.json", tmp_path / "g.md"
    r = _run("bench_golden.py", "--quick", "--samples", "50", "--threads", "1",
             "--out", str(out), "--md", str(md), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "golden model (pysim, int exact)" in r.stdout and "wrote" in r.stderr
    doc = json.loads(out.read_text())
    res = doc["results"]
    assert doc["benchmark"] == "bench_golden" and res["samples"] == 50
    assert res["ratio_golden_over_torch"] > 0 and "torch" in doc["machine"]
    assert "| golden model (pysim, int exact) |" in md.read_text()
