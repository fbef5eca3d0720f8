"""The flow's configuration: one TOML file holds every knob; command-line flags override it.

Sections and keys are fixed (a misspelt key is an error, not a silent default). Each key's
type is its default's type; ``"none"`` stands for "no value" where a key allows it
(TOML has no null).
"""
from __future__ import annotations

import copy
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cost.targets import DEFAULT_TARGETS
from pysim.errors import InputError
from pysim.util import is_int
from quant.config import AllocateConfig, HessianConfig, QuantizeConfig, TrainConfig
from sim.tools import DEFAULT_SIMULATOR, SIMULATORS

from .pareto import ParetoConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DEFAULTS", "OPTIONAL", "config_to_toml", "load_config", "merge_overrides",
           "parse_float_list", "parse_int_list", "parse_set"]

_T, _H, _A, _Q, _P = (TrainConfig(), HessianConfig(), AllocateConfig(), QuantizeConfig(),
                      ParetoConfig())


def _none(value: Any) -> Any:
    return "none" if value is None else value


# section -> key -> default. Comments become the documented reference (docs/flow.md).
# The values come from the library's defaults (quant.config, spikeforge.pareto), the
# one source the command line reads too.
DEFAULTS: dict[str, dict[str, Any]] = {
    "train": {  # quant.train.TrainConfig
        "dataset": _T.dataset,
        "data_path": _none(_T.data_path),
        "arch": _T.arch,
        "timesteps": _T.timesteps,
        "encoding": _T.encoding,
        "gain": _T.gain,
        "epochs": _T.epochs,
        "batch_size": _T.batch_size,
        "lr": _T.lr,
        "seed": _T.seed,
        "leak_shift": _none(_T.leak_shift),
        "reset": _T.reset,
        "readout": _T.readout,
        "bias": _T.bias,
        "threads": _none(_T.threads),
        "limit_train": _none(_T.limit_train),
        "limit_test": _none(_T.limit_test),
    },
    "hessian": {
        "method": _H.method,            # hutchinson | gauss_newton | both
        "probes": _H.probes,            # probe cap
        "min_probes": _H.min_probes,
        "tol": _H.tol,                  # stop when every layer's stderr/|trace| < tol (or it is known small)
        "samples": _H.samples,          # training samples the loss is averaged over
        "seed": _H.seed,
    },
    "quantize": {
        "avg_bits": _Q.avg_bits,        # weight-memory budget as average bits per weight
        "budget_bits": "none",          # or a total weight-bit budget (overrides avg_bits)
        "bits": "none",                 # or fixed widths "4,3,2" (skips the allocation)
        "candidates": list(_A.candidates),
        "policy": _Q.policy,            # Ω source: auto | hutchinson | gauss_newton | measured
        "epochs": _Q.epochs,            # quantization-aware fine-tuning epochs
        "budget_bram": "none",          # or a block-RAM budget on quantize.target
        "budget_scope": _A.budget_scope,  # weights | all (weights + membranes)
        "state_widths": _A.state_policy,  # auto | measured | priced (cost-aware budgets)
        "target": _A.target,            # the target whose block RAMs budget_bram counts
    },
    "pareto": {
        "avg_bits": list(_P.avg_bits),  # budgets for the Hessian/random/reversed sweep
        "uniform_bits": list(_P.uniform_bits),
        "random_seeds": _P.random_seeds,
        "epochs": _P.epochs,            # fine-tuning epochs per Pareto point (0: post-training)
        "seeds": _P.seeds,              # fine-tuning seeds per point (mean and 95% interval)
        "workers": _P.workers,          # local Ray CPUs (1: in the flow's process, no Ray)
        "address": _none(_P.address),   # a running Ray cluster (host:6379), none: local
    },
    "verify": {
        "samples": 100,           # test samples simulated in Verilator
        "simulator": DEFAULT_SIMULATOR,
        "lanes": "none",          # "16" or "fc1=16,fc2=4"
    },
    "estimate": {
        "targets": list(DEFAULT_TARGETS),
        "pnr": True,              # nextpnr place and route where open (iCE40, ECP5): Fmax
        "model_only": False,
        "sweep_bits": [2, 3, 4, 6, 8],
    },
}

# Keys that may be "none".
OPTIONAL = {
    ("train", "data_path"), ("train", "leak_shift"), ("train", "threads"),
    ("train", "limit_train"), ("train", "limit_test"), ("quantize", "budget_bits"),
    ("quantize", "bits"), ("verify", "lanes"),
    ("quantize", "budget_bram"), ("pareto", "address"),
}
# Keys whose string value must be one of a fixed set.
CHOICES = {
    ("train", "dataset"): ("digits", "mnist"),
    ("train", "encoding"): ("rate", "deterministic"),
    ("train", "reset"): ("zero", "subtract"),
    ("train", "readout"): ("spike_count", "membrane"),
    ("hessian", "method"): ("hutchinson", "gauss_newton", "both"),
    ("quantize", "policy"): ("auto", "hutchinson", "gauss_newton", "measured"),
    ("verify", "simulator"): SIMULATORS,
    ("quantize", "budget_scope"): ("weights", "all"),
    ("quantize", "state_widths"): ("auto", "measured", "priced"),
}
# Keys whose value may be a string even though the default is not (or vice versa).
_STRING_OK = {("verify", "lanes"), ("train", "data_path"), ("pareto", "address")}
# Keys holding a list of integers that may also be written as "4,3,2" or a single 4.
_INT_LISTS = {("quantize", "bits")}


def parse_int_list(text: str, what: str) -> list[int]:
    """Parse ``"4,3,2"`` into ``[4, 3, 2]``: the one parser of integer lists.

    Used for command-line flags (``--bits``, ``--candidates``, ``--state-bits``) and
    config keys (``quantize.bits``); ``what`` names the flag or key in the one-line
    InputError. Only the syntax is checked here: the library validates the values.
    """
    return _parse_list(text, what, int, "integers like 4,3,2")


def parse_float_list(text: str, what: str) -> list[float]:
    """Parse ``"2,2.5,3"`` into ``[2.0, 2.5, 3.0]`` (see :func:`parse_int_list`)."""
    return _parse_list(text, what, float, "numbers")


def _parse_list(text: str, what: str, kind: type, noun: str) -> list[Any]:
    try:
        vals = [kind(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise InputError(f"{text!r} is not a comma-separated list of {noun}",
                         param=what) from None
    if not vals:
        raise InputError(f"{text!r} is an empty list", param=what)
    return vals


def _int_list(where: str, value: Any) -> list[int]:
    if isinstance(value, str):
        return parse_int_list(value, where)
    items = value if isinstance(value, list) else [value]
    if not items or any(not is_int(v) for v in items):
        raise InputError(f"must be an integer, a list of integers or a string like "
                         f"\"4,3,2\", not {value!r}", param=where)
    return list(items)


def _where(section: str, key: str | None = None) -> str:
    return f"config key '{section}.{key}'" if key else f"config section '{section}'"


def _coerce(section: str, key: str, value: Any) -> Any:
    default = DEFAULTS[section][key]
    where = _where(section, key)
    if isinstance(value, str) and value.lower() == "none":
        if (section, key) in OPTIONAL:
            return None
        raise InputError(f"{where}: may not be none")
    if value is None:
        if (section, key) in OPTIONAL:
            return None
        raise InputError(f"{where}: may not be none")
    if (section, key) in _INT_LISTS:
        return _int_list(where, value)
    if (section, key) in _STRING_OK and isinstance(value, (str, int)) and not isinstance(
            value, bool):
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"{where}: must be true or false, not {value!r}")
        return value
    if isinstance(default, int) or (default == "none" and (section, key) in OPTIONAL
                                     and not (section, key) in _STRING_OK):
        if not is_int(value):
            raise InputError(f"{where}: must be an integer, not {value!r}")
        if value < 0:
            raise InputError(f"{where}: must be >= 0, not {value}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: must be a number, not {value!r}")
        if math.isnan(value) or value < 0:
            raise InputError(f"{where}: must be a non-negative number, not {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise InputError(f"{where}: must be a string, not {value!r}")
        choices = CHOICES.get((section, key))
        if choices and value not in choices:
            raise InputError(f"{where}: must be one of {', '.join(choices)}, not {value!r}")
        return value
    if isinstance(default, list):
        if not isinstance(value, list) or not value:
            raise InputError(f"{where}: must be a non-empty list, not {value!r}")
        kind = type(default[0])
        out = []
        for v in value:
            if kind is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if not isinstance(v, kind) or isinstance(v, bool):
                raise InputError(f"{where}: every item must be a {kind.__name__}, not {v!r}")
            out.append(v)
        return out
    raise InputError(f"{where}: unsupported value {value!r}")  # pragma: no cover


def _resolved_defaults() -> dict[str, dict[str, Any]]:
    out = copy.deepcopy(DEFAULTS)
    for section, key in OPTIONAL:
        if out[section][key] == "none":
            out[section][key] = None
    return out


def merge_overrides(config: dict[str, dict[str, Any]], overrides: Mapping[str, Any]
                    ) -> dict[str, dict[str, Any]]:
    """Return ``config`` with ``{"section.key": value}`` overrides applied (validated)."""
    out = copy.deepcopy(config)
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        if section not in DEFAULTS or key not in DEFAULTS[section]:
            raise InputError(f"unknown config key '{dotted}'")
        out[section][key] = _coerce(section, key, value)
    return out


def load_config(path: str | os.PathLike[str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Read a TOML config over the defaults, then apply ``overrides``; validate every key.

    Raises
    ------
    InputError
        One line naming the file and the key for an unknown section/key or a bad value.
    """
    config = _resolved_defaults()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such config file")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not valid TOML ({' '.join(str(exc).split())})") from None
        try:
            for section, table in raw.items():
                if section not in DEFAULTS:
                    raise InputError(f"unknown config section '{section}' (sections: "
                                     f"{', '.join(DEFAULTS)})")
                if not isinstance(table, dict):
                    raise InputError(f"{_where(section)}: must be a table")
                for key, value in table.items():
                    if key not in DEFAULTS[section]:
                        raise InputError(f"unknown config key '{section}.{key}'")
                    config[section][key] = _coerce(section, key, value)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
    if overrides:
        config = merge_overrides(config, overrides)
    return config


def config_to_toml(config: Mapping[str, Mapping[str, Any]]) -> str:
    """Render a config as TOML (used to save the resolved config of a run)."""
    lines = []
    for section, table in config.items():
        lines.append(f"[{section}]")
        for key, value in table.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(v: Any) -> str:
    if v is None:
        return '"none"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(type(v))  # pragma: no cover


def parse_set(item: str) -> dict[str, Any]:
    """Parse a ``--set section.key=VALUE`` flag (VALUE in TOML syntax, bare words as strings)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or "." not in key:
        raise InputError(f"--set {item!r}: expected SECTION.KEY=VALUE")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return {key: value}
