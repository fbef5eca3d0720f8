"""scripts/fit_resource_model.py: a cached synthesis run counts only for the design it
synthesized (the Verilog's SHA-256), so a fit never mixes hardware versions."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("amaranth")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import fit_resource_model as F


def test_fit_cache_stale_design_left_out(tmp_path, capsys):
    cfg = F.CONV_TRAIN[0]
    path = tmp_path / "ecp5" / f"{F.config_key(cfg)}.json"
    path.parent.mkdir(parents=True)
    rec = {"config": list(cfg), "family": "ecp5", "synth": {"luts": 1}}
    # no hash (a run cached before the check) and a wrong hash: stale
    for sha in (None, "0" * 64):
        path.write_text(json.dumps(rec | ({} if sha is None else {"verilog_sha256": sha})))
        assert F.cached(tmp_path, "ecp5", cfg) is None
        assert F.load_records(tmp_path, "ecp5", [cfg]) == []
        assert "another design" in capsys.readouterr().err
    # the current design's hash: used
    path.write_text(json.dumps(rec | {"verilog_sha256": F.design_sha256(cfg)}))
    assert F.load_records(tmp_path, "ecp5", [cfg])[0]["synth"]["luts"] == 1
