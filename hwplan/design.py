"""A generated design as files: the Verilog, its port and memory map, and its plan.

``spikeforge generate`` writes a design directory (``<top>.v`` and ``portmap.json``);
verification, estimation and reports read that directory back with :func:`load_design`
instead of generating the design again, so what was verified and costed is, by
construction, the file that ships. The Verilog's SHA-256 names it in every report.
Amaranth-free: the cost model and the testbenches load designs without the generator.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pysim import InputError, IntNetwork

from .plan import HardwarePlan

__all__ = [
    "PORTMAP_FORMAT",
    "PORTMAP_VERSION",
    "TOP_RE",
    "GeneratedDesign",
    "check_ports",
    "load_design",
    "verilog_ports",
]

PORTMAP_FORMAT = "spikeforge.portmap"
PORTMAP_VERSION = 2
TOP_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
"""A top module name: a Verilog identifier of at most 64 characters (``fullmatch``)."""


@dataclass(frozen=True)
class GeneratedDesign:
    """A generated design held in memory.

    Attributes
    ----------
    verilog : str
        The Verilog text (the top module ``top`` and its submodules).
    portmap : dict
        The machine-readable port and memory map (``portmap.json``), plan included.
    top : str
        Name of the top module.
    plan : HardwarePlan
        Every geometric and timing fact of the design.
    path : Path or None
        The design directory it was read from or written to.
    """

    verilog: str
    portmap: dict[str, Any] = field(repr=False)
    top: str
    plan: HardwarePlan = field(repr=False)
    path: Path | None = None

    @property
    def lanes(self) -> dict[str, int]:
        """Lanes chosen for each layer."""
        return self.plan.lanes

    @property
    def sha256(self) -> str:
        """SHA-256 of the Verilog text (UTF-8): the name of this exact design."""
        return hashlib.sha256(self.verilog.encode("utf-8")).hexdigest()

    @property
    def verilog_file(self) -> str:
        """File name of the Verilog in a design directory."""
        return f"{self.top}.v"


_PORT_DECL = re.compile(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):0\]\s+)?"
                        r"([A-Za-z_][A-Za-z0-9_$]*)\s*;", re.MULTILINE)


def verilog_ports(text: str, top: str) -> dict[str, tuple[str, int]]:
    """Return ``{port: (direction, width)}`` of module ``top`` in Verilog ``text``."""
    start = re.search(rf"^module\s+{re.escape(top)}\s*\(", text, re.MULTILINE)
    if start is None:
        raise ValueError(f"module {top} not found")
    end = text.index("endmodule", start.end())
    body = text[start.end():end]
    return {m.group(3): (m.group(1), int(m.group(2) or 0) + 1)
            for m in _PORT_DECL.finditer(body)}


def check_ports(text: str, top: str, pmap: Mapping[str, Any]) -> str | None:
    """Return None when every port named in the map exists in the Verilog with a width
    that holds its fields, else a one-line description of the first that does not."""
    try:
        decl = verilog_ports(text, top)
    except ValueError as exc:
        return str(exc)
    fields = list(pmap["ports"].values())
    for tap in pmap["taps"]:
        fields += [tap["valid"], tap["index"], tap["last"]]
    for name in (pmap["clock"], pmap["reset"]):
        fields.append({"name": name, "width": 1})
    for f in fields:
        if f["name"] not in decl or decl[f["name"]][1] < f.get("lsb", 0) + f["width"]:
            return f"port {f['name']!r} (bits {f.get('lsb', 0)}+{f['width']}) is not in " \
                   f"the Verilog module {top!r}"
    return None


def load_design(directory: str | os.PathLike[str], net: IntNetwork | None = None
                ) -> GeneratedDesign:
    """Read a design directory written by ``spikeforge generate``.

    Parameters
    ----------
    directory
        Holds ``portmap.json`` and the Verilog file it names (``<top>.v``).
    net
        When given, the design must have been generated for this network (its plan is
        compared with the plan of ``net`` at the design's lanes).

    Raises
    ------
    pysim.InputError
        One line naming the file and what is wrong (missing, not JSON, another format or
        version, a malformed plan, ports that do not match the Verilog, another network).
    """
    d = Path(directory)
    pm_path = d / "portmap.json"
    if not pm_path.is_file():
        raise InputError(f"{d}: not a design directory (no portmap.json; write one with "
                         f"'spikeforge generate')")
    try:
        pmap = json.loads(pm_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{pm_path}: not valid JSON ({' '.join(str(exc).split())})"
                         ) from None
    if not isinstance(pmap, dict) or pmap.get("format") != PORTMAP_FORMAT:
        raise InputError(f"{pm_path}: not a spikeforge port map (format "
                         f"{PORTMAP_FORMAT!r} expected)")
    if pmap.get("version") != PORTMAP_VERSION:
        raise InputError(f"{pm_path}: port map version {pmap.get('version')!r} is not "
                         f"supported (expected {PORTMAP_VERSION}); generate the design again")
    top = pmap.get("top")
    if not isinstance(top, str) or not TOP_RE.fullmatch(top):
        raise InputError(f"{pm_path}: field 'top' must be a Verilog identifier, not {top!r}")
    plan = HardwarePlan.from_dict(pmap.get("plan"), where=f"{pm_path}: field 'plan'")
    v_path = d / f"{top}.v"
    if not v_path.is_file():
        raise InputError(f"{v_path}: missing (the port map names top module {top!r})")
    text = v_path.read_text(encoding="utf-8")
    try:
        bad = check_ports(text, top, pmap)
    except (KeyError, TypeError) as exc:
        raise InputError(f"{pm_path}: malformed port map (missing {exc})") from None
    if bad:
        raise InputError(f"{v_path}: does not match {pm_path.name}: {bad}")
    if net is not None:
        plan.check_network(net, where=f"{d}")
    return GeneratedDesign(verilog=text, portmap=pmap, top=top, plan=plan, path=d)
