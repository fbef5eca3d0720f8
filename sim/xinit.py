"""Randomised initial state: what the design does when registers and RAMs power up unknown.

Amaranth gives every register an initializer (``reg x = 1'h0;``) and every memory an
``initial`` block, and Verilator by default starts everything else at zero, so a design
that silently relied on power-up zeros (instead of its reset) would pass every test.
:func:`strip_initial_state` removes the register initializers and the initial contents
of the RAMs (memories the design writes; ROMs keep their contents, which are the
weights); simulated with Verilator's ``--x-initial unique`` and
``+verilator+rand+reset+2`` every such bit then starts random (seeded), and only the
reset sequence defines the state, as on an ASIC or an FPGA without initialisation.
"""
from __future__ import annotations

import re

__all__ = ["VERILATOR_RANDOM_ARGS", "random_plusargs", "strip_initial_state"]

VERILATOR_RANDOM_ARGS = ["--x-initial", "unique", "--x-assign", "unique"]
"""Verilator build flags: every variable without an initial value starts random."""

_REG_INIT = re.compile(r"^(\s*reg\s+(?:signed\s+)?(?:\[\d+:\d+\]\s+)?(\\\S+\s|[A-Za-z_][\w$]*)"
                       r")\s*=\s*[^;]+;", re.MULTILINE)
_MEM_INIT = re.compile(
    r"^(?P<indent>[ \t]*)(?P<decl>reg\s+\[\d+:0\]\s+(?P<name>[A-Za-z_][\w$]*)\s+\[\d+:0\];)\n"
    r"(?P=indent)initial begin\n(?:[ \t]*(?P=name)\[\d+\] = \d+'h[0-9a-fA-Fxz]+;\n)+"
    r"(?P=indent)end\n", re.MULTILINE)


def random_plusargs(seed: int) -> list[str]:
    """Run-time plusargs: randomise (seeded) every bit without an initial value."""
    return ["+verilator+rand+reset+2", f"+verilator+seed+{max(1, int(seed))}"]


def strip_initial_state(verilog: str) -> tuple[str, dict[str, int]]:
    """Return (Verilog without register initializers and RAM initial contents, counts).

    Yosys' own helper register (``$auto$verilog_backend...``) keeps its initializer; a
    memory counts as a RAM when the module assigns one of its elements with ``<=``.
    """
    regs = 0

    def drop_reg(m: re.Match) -> str:
        nonlocal regs
        if "verilog_backend" in m.group(2):
            return m.group(0)
        regs += 1
        return m.group(1) + ";"

    text = _REG_INIT.sub(drop_reg, verilog)
    rams = 0
    out, pos = [], 0
    for m in _MEM_INIT.finditer(text):
        module_end = text.find("endmodule", m.end())
        body = text[m.end():module_end]
        if re.search(rf"\b{re.escape(m['name'])}\[[^\]]*\]\s*<=", body):
            rams += 1
            out += [text[pos:m.start()], m["indent"], m["decl"], "\n"]
            pos = m.end()
    out.append(text[pos:])
    return "".join(out), {"registers": regs, "rams": rams}
