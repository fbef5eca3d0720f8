"""Small Amaranth building blocks shared by the generator's components."""
from __future__ import annotations

from typing import Any

from amaranth.hdl import Mux

__all__ = ["mux_tree"]


def mux_tree(choices: list[Any], sel: Any) -> Any:
    """``choices[sel]`` as a binary tree of 2:1 multiplexers on the bits of ``sel``.

    Yosys lowers an ``Array`` index (a parallel case) to AND/OR trees with one
    comparator per choice; a tree of ``Mux`` maps to LUT4 + PFUMX/L6MUX directly (about
    a third of the logic for a 16:1 select). Indices past the end select the last choice.
    """
    level = list(choices)
    bit = 0
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            nxt.append(level[i] if i + 1 == len(level) else Mux(sel[bit], level[i + 1], level[i]))
        level = nxt
        bit += 1
    return level[0]
