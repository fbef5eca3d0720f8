"""The cost package stands apart from the generator: ``spikeforge estimate --model-only``
(and ``import cost, hwplan``) work in a process where importing Amaranth fails."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import pysim

ROOT = Path(__file__).resolve().parents[1]

BLOCK = """
import sys
class _NoAmaranth:
    def find_spec(self, name, path=None, target=None):
        if name == "amaranth" or name.startswith("amaranth."):
            raise ImportError(f"{name} is blocked in this test")
        return None
sys.meta_path.insert(0, _NoAmaranth())
"""


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], cwd=ROOT, text=True,
                          capture_output=True, timeout=120, check=False,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_estimate_model_only_runs_without_amaranth(tmp_path: Path) -> None:
    net = pysim.random_network(np.random.default_rng(0), [20, 12, 4])
    pysim.save_network(net, tmp_path / "net")
    code = f"""
try:
    import amaranth  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("amaranth imported")
import cost, hwplan  # noqa: F401
from spikeforge.cli import main
sys.exit(main(["estimate", {str(tmp_path / "net")!r}, "--model-only", "--target",
               "ice40-up5k,ecp5-25k", "--json", "-o", {str(tmp_path / "est")!r}]))
"""
    proc = _run(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data["targets"]) == {"ice40-up5k", "ecp5-25k"}
    assert data["targets"]["ecp5-25k"]["source"] == "model"
    assert (tmp_path / "est" / "report.md").is_file()


def test_estimate_with_synthesis_says_what_is_missing_without_amaranth(tmp_path: Path) -> None:
    net = pysim.random_network(np.random.default_rng(0), [6, 3])
    pysim.save_network(net, tmp_path / "net")
    code = f"""
from spikeforge.cli import main
sys.exit(main(["estimate", {str(tmp_path / "net")!r}, "--target", "ecp5-25k"]))
"""
    proc = _run(code, tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--model-only" in lines[0] and "amaranth" in lines[0]
