"""sim: RTL verification of generated designs against the golden model (cocotb + Verilator).

Public API: :func:`verify` (generate, build, simulate, compare), :func:`verify_design`
(any Verilog + portmap), :class:`VerifyResult`, :func:`build_design` /
:func:`run_samples` (build once, run many batches; :data:`CLOCKS` the buffered
testbench's clocks), and the tool finders
:func:`find_verilator` / :func:`find_icarus`. cocotb is imported only when a simulation
runs; torch never.
"""
from __future__ import annotations

from .runner import (
    CLOCKS,
    MODES,
    Build,
    VerifyResult,
    build_design,
    run_samples,
    verify,
    verify_design,
)
from .tools import SIMULATORS, find_icarus, find_verilator

__all__ = [
    "CLOCKS",
    "MODES",
    "SIMULATORS",
    "Build",
    "VerifyResult",
    "build_design",
    "find_icarus",
    "find_verilator",
    "run_samples",
    "verify",
    "verify_design",
]
