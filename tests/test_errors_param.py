"""InputError names the library's parameter; the CLI and the flow show their own names."""
from __future__ import annotations

import pickle

import pytest

from pysim.errors import InputError, ManifestError
from pysim.util import check_int
from spikeforge.cli import build_parser, main, param_flags


def test_input_error_param_prefixes_the_message():
    exc = InputError("3 widths given for a network of 2 layers", param="bits")
    assert str(exc) == "bits: 3 widths given for a network of 2 layers"
    assert exc.param == "bits" and exc.detail == "3 widths given for a network of 2 layers"
    plain = InputError("no such file")
    assert str(plain) == "no such file" and plain.param is None


def test_input_error_renamed():
    exc = InputError("must be >= 0, not -1", param="epochs")
    cli = exc.renamed({"epochs": "--epochs"})
    assert str(cli) == "--epochs: must be >= 0, not -1" and cli.param == "--epochs"
    assert str(exc) == "epochs: must be >= 0, not -1"  # the original is unchanged
    flow = exc.renamed({"epochs": "config key 'quantize.epochs'"})
    assert str(flow) == "config key 'quantize.epochs': must be >= 0, not -1"
    # a label is translated once: no map holds it as a parameter name
    assert cli.renamed({"epochs": "--other"}) is cli
    assert exc.renamed({"bits": "--bits"}) is exc
    assert InputError("x").renamed({"x": "y"}).param is None
    # library -> library rename keeps it translatable
    lib = InputError("bad", param="method").renamed({"method": "policy"})
    assert str(lib.renamed({"policy": "--policy"})) == "--policy: bad"


def test_input_error_renamed_keeps_class_and_pickles():
    exc = ManifestError("width 40", param="state_bits").renamed({"state_bits": "--state-bits"})
    assert isinstance(exc, ManifestError) and str(exc) == "--state-bits: width 40"
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is ManifestError and str(back) == str(exc)


def test_input_error_for_param_with_check_int():
    with pytest.raises(InputError, match="^bits: every width must be an integer between 2 "
                                         "and 16, not 17$") as info:
        check_int(17, 2, 16, "every width", InputError.for_param("bits"))
    assert info.value.param == "bits"


def test_cli_param_flags_default_and_explicit():
    parser = build_parser()
    args = parser.parse_args(["quantize", "r", "--avg-bits", "3", "-o", "n"])
    assert args.param_flags["calib_samples"] == "--calib-samples"
    assert args.param_flags["method"] == "--quantizer"
    args = parser.parse_args(["hessian", "r"])
    assert args.param_flags["max_probes"] == "--probes"
    assert args.param_flags["rel_tol"] == "--tol"
    assert parser.parse_args(["flow"]).param_flags == {}  # the flow names config keys
    assert param_flags(parser, None) == {}


# ------------------------------------------------------------ library names, CLI flags
def test_library_uses_its_own_names():
    from quant.config import TrainConfig
    from quant.export import check_bits

    with pytest.raises(InputError, match="^bits: 3 widths given for a network of 2 layers$"):
        check_bits([4, 3, 2], 2)
    with pytest.raises(InputError, match="^bits: must be an integer or a list"):
        check_bits("4,3", 2)
    assert check_bits(4, 3) == [4, 4, 4]
    with pytest.raises(InputError, match="^epochs: must be an integer >= 0") as info:
        TrainConfig(epochs=-1).validate()
    assert info.value.param == "epochs"
    with pytest.raises(InputError, match="^batch_size: "):
        TrainConfig(batch_size=0).validate()


def _err(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_cli_shows_flags(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert "error: --epochs: must be an integer >= 0" in _err(
        ["train", "--epochs", "-1", "-o", out], capsys)
    assert "error: --batch-size: " in _err(["train", "--batch-size", "0", "-o", out], capsys)
    assert "error: --lr: must be > 0" in _err(["train", "--lr", "0", "-o", out], capsys)
    assert "error: --data: dataset 'digits'" in _err(
        ["train", "--data", str(tmp_path), "--quiet", "-o", out], capsys)
    assert "error: --probes: must be an integer >= 2" in _err(
        ["hessian", out, "--probes", "1"], capsys)
    assert "error: --tol: must be > 0" in _err(["hessian", out, "--tol", "0"], capsys)
    assert "error: --candidates: must be distinct integer widths in 2..16" in _err(
        ["allocate", out, "--avg-bits", "3", "--candidates", "1,4"], capsys)
    assert "error: --candidates: '2,x' is not a comma-separated list" in _err(
        ["allocate", out, "--avg-bits", "3", "--candidates", "2,x"], capsys)
    assert "error: --pareto: " in _err(
        ["allocate", out, "--avg-bits", "3", "--pareto", "2,y"], capsys)
    assert not (tmp_path / "r").exists()
