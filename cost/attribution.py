"""Which LUTs of a synthesized wrapper belong to the wrapper, which to the wrapped core.

A flattened netlist has no module boundaries, and Yosys' ``abc9`` maps the whole design
at once: putting a core inside a wrapper can change how the *core's* logic is mapped
(its LUT count moves by a few percent of the core with no change to the core's RTL).
So "wrapped design minus bare core" mixes two things. :func:`attribute_luts` separates
them: every LUT (``LUT4``, ``SB_LUT4``, ``LUT1``..``LUT6``; a ``CCU2C`` counts two, as
everywhere in :mod:`cost.synth`) is traced forward through the combinational cells to
the flip-flops, memories and output ports it feeds, and is

* **wrapper** when it feeds only wrapper endpoints,
* **core** when it feeds only core endpoints,
* **shared** when it feeds both (logic the two use together, e.g. the core's counter
  select that the wrapper reads the class scores through).

An endpoint (a flip-flop, a memory, any other sequential cell) is the core's when every
name of its output net lies inside the core instance (``core.``...); a wrapper register
that drives a core input also carries the wrapper's name and so counts as the wrapper's;
the top's output ports are the wrapper's. Doubtful cases therefore go to the wrapper:
the wrapper's figure is an upper bound of its own logic.

With ``parts`` (a name and the name prefixes of its registers, e.g. ``{"counters":
["datapath.cyc"]}``) the wrapper's LUTs are also split by the part whose registers they
feed; a LUT that feeds registers of several parts counts as ``"(several)"``, one whose
registers match no part as ``"(other)"``. A flip-flop's name is the shortest name of its
output net outside the core, a memory's its cell name, a top output port ``port:<name>``.

Nothing here imports Amaranth; it reads the ``write_json`` netlist of a synthesis
(:func:`cost.synth.synthesize` with ``netlist=True`` keeps it as ``netlist.json``).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysim import InputError

__all__ = ["LutAttribution", "attribute_luts"]

#: LUT-equivalents of each combinational cell (carry and wide-mux cells that sit beside
#: the LUTs they extend count 0; an ECP5 CCU2C holds two LUT4s).
_COST = {"LUT4": 1, "CCU2C": 2, "SB_LUT4": 1, "LUT1": 1, "LUT2": 1, "LUT3": 1,
         "LUT5": 1, "LUT6": 1}
_COMB = set(_COST) | {"PFUMX", "L6MUX21", "SB_CARRY", "MUXF7", "MUXF8", "CARRY4",
                      "$_NOT_", "$buf"}


@dataclass(frozen=True)
class LutAttribution:
    """LUTs of one netlist by owner (see the module docstring)."""

    wrapper: int
    shared: int
    core: int
    parts: tuple[tuple[str, int], ...] = ()

    @property
    def total(self) -> int:
        return self.wrapper + self.shared + self.core

    def as_dict(self) -> dict[str, int]:
        d: dict[str, Any] = {"wrapper": self.wrapper, "shared": self.shared,
                             "core": self.core, "total": self.total}
        if self.parts:
            d["parts"] = dict(self.parts)
        return d


def attribute_luts(netlist: str | os.PathLike[str] | Mapping[str, Any], top: str, *,
                   core: str = "core", parts: Mapping[str, Any] | None = None
                   ) -> LutAttribution:
    """Split the LUTs of the flattened module ``top`` of a Yosys JSON netlist between
    the wrapper and its core instance ``core``.

    Raises
    ------
    InputError
        The netlist cannot be read or has no module ``top``.
    """
    if isinstance(netlist, Mapping):
        doc = netlist
        where = "netlist"
    else:
        where = str(netlist)
        try:
            doc = json.loads(Path(netlist).read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"{where}: cannot read the netlist ({e})") from None
    mods = doc.get("modules") if isinstance(doc, Mapping) else None
    mod = mods.get(top) if isinstance(mods, Mapping) else None
    if not isinstance(mod, Mapping):
        raise InputError(f"{where}: no module {top!r}")
    prefix = core + "."
    names: dict[int, list[str]] = {}
    for name, net in mod.get("netnames", {}).items():
        for b in net.get("bits", ()):
            if isinstance(b, int):
                names.setdefault(b, []).append(name.lstrip("\\"))
    readers: dict[int, list[str]] = {}
    outputs: dict[str, list[int]] = {}
    cells = mod.get("cells", {})
    for cname, cell in cells.items():
        dirs = cell.get("port_directions", {})
        outs = []
        for port, bits in cell.get("connections", {}).items():
            for b in bits:
                if not isinstance(b, int):
                    continue
                if dirs.get(port) == "output":
                    outs.append(b)
                else:
                    readers.setdefault(b, []).append(cname)
        outputs[cname] = outs
    port_name = {b: f"port:{pn}" for pn, p in mod.get("ports", {}).items()
                 if p.get("direction") == "output" for b in p.get("bits", ())
                 if isinstance(b, int)}

    def endpoint_is_core(cname: str) -> bool:
        own = [n for b in outputs[cname] for n in names.get(b, ())]
        if not own:
            return cname.lstrip("\\").startswith(prefix)
        return all(n.startswith(prefix) for n in own)

    part_of = {}
    for pname, prefixes in (parts or {}).items():
        for pre in ([prefixes] if isinstance(prefixes, str) else prefixes):
            part_of[str(pre)] = str(pname)

    def part_named(name: str) -> str:
        hits = {p for pre, p in part_of.items() if name.startswith(pre)}
        return hits.pop() if len(hits) == 1 else "(other)"

    def endpoint(cname: str) -> tuple[bool, str]:
        """(the endpoint is the core's, its part). A flip-flop is named by its output
        net, a memory (any other cell) by itself."""
        if endpoint_is_core(cname):
            return True, ""
        q = cells[cname].get("connections", {}).get("Q")
        outside = sorted((n for b in (q or ()) if isinstance(b, int)
                          for n in names.get(b, ()) if not n.startswith(prefix)),
                         key=lambda n: (len(n), n))
        return False, part_named(outside[0] if outside else cname.lstrip("\\"))

    memo: dict[str, frozenset[tuple[bool, str]]] = {}

    def reach(start: str) -> frozenset[tuple[bool, str]]:
        """The endpoints (as :func:`endpoint`) the combinational cell ``start`` feeds
        (depth first, without recursion: carry chains are long)."""
        stack = [(start, False)]
        while stack:
            cname, done = stack.pop()
            if cname in memo and not done:
                continue
            comb_next = [r for b in outputs[cname] for r in readers.get(b, ())
                         if cells[r].get("type") in _COMB]
            if not done:
                memo[cname] = frozenset()  # (a combinational loop ends here)
                stack.append((cname, True))
                stack.extend((r, False) for r in comb_next if r not in memo)
                continue
            found: set[tuple[bool, str]] = set()
            for b in outputs[cname]:
                if b in port_name:
                    found.add((False, part_named(port_name[b])))
                for r in readers.get(b, ()):
                    if cells[r].get("type") not in _COMB:
                        found.add(endpoint(r))
            for r in comb_next:
                found |= memo.get(r, frozenset())
            memo[cname] = frozenset(found)
        return memo[start]

    tally = {"wrapper": 0, "shared": 0, "core": 0}
    by_part: dict[str, int] = {}
    for cname, cell in cells.items():
        cost = _COST.get(cell.get("type"))
        if not cost:
            continue
        ends = reach(cname)
        who = {is_core for is_core, _ in ends}
        key = "shared" if len(who) == 2 else "core" if who == {True} else "wrapper"
        tally[key] += cost
        if parts and key == "wrapper":
            ps = {part for _, part in ends}
            p = next(iter(ps)) if len(ps) == 1 else "(several)" if ps else "(other)"
            by_part[p] = by_part.get(p, 0) + cost
    return LutAttribution(**tally, parts=tuple(sorted(by_part.items(),
                                                      key=lambda kv: (-kv[1], kv[0]))))
