"""Verilog emission: an integer network -> one Verilog module + a port/memory map."""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amaranth.back import verilog

from pysim import InputError, IntNetwork, atomic_dir

from ._params import index_bits
from .network import Network, prediction_bits

__all__ = [
    "PORTMAP_FORMAT",
    "PORTMAP_VERSION",
    "GeneratedDesign",
    "emit_verilog",
    "generate",
    "portmap",
]

PORTMAP_FORMAT = "spikeforge.portmap"
PORTMAP_VERSION = 1
KNOWN_LINT_WARNINGS: dict[str, str] = {
    "UNUSEDSIGNAL": "Amaranth emits a named wire for every field of a layout/View "
                    "(payload.u[3], weights[0], ...) and for intermediate results whose upper "
                    "bits are dropped; unused ports of submodules (readout of hidden layers).",
    "WIDTHEXPAND": "Amaranth/Yosys write constants and operands at their natural width "
                   "(e.g. $signed(x[12:0]) > $signed(12'h7ff)); Verilog extends them, exactly "
                   "as Amaranth's semantics specify.",
    "PROCASSINIT": "Amaranth gives every register its reset value as a declaration initializer "
                   "(reg x = 1'h0;) and also assigns it in always blocks.",
    "CASEINCOMPLETE": "Amaranth lowers Switch/Array to casez without a default where the "
                      "remaining patterns are don't-care.",
    "DECLFILENAME": "submodules are named '<top>.<path>' (escaped identifiers), not after the "
                    "file.",
}
"""``verilator --lint-only -Wall`` warning codes the emitted Verilog still shows, each due to
Amaranth's Verilog emitter (Yosys ``write_verilog``), not to the design; see
docs/hardware.md."""

_TOP_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class GeneratedDesign:
    """A generated design held in memory.

    Attributes
    ----------
    verilog : str
        The Verilog text (the top module ``top`` and its submodules).
    portmap : dict
        The machine-readable port and memory map (``portmap.json``).
    top : str
        Name of the top module.
    lanes : dict of str -> int
        Lanes chosen for each layer.
    """

    verilog: str
    portmap: dict[str, Any] = field(repr=False)
    top: str
    lanes: dict[str, int]


def _check_top(top: Any) -> str:
    if not isinstance(top, str) or not _TOP_RE.match(top):
        raise InputError(f"top: must be a Verilog identifier of at most 64 characters, "
                         f"not {top!r}")
    return top


def portmap(design: Network, top: str = "spikeforge_top") -> dict[str, Any]:
    """Return the port and memory map of ``design`` (names as the Verilog emitter writes).

    Amaranth names a port by its signature path joined with ``__``; a stream's payload
    is one packed port whose fields are given with their ``lsb``.
    """
    net = design.network
    iw = index_bits(net.input_size)

    def port(name: str, width: int, lsb: int | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": name}
        if lsb is not None:
            entry["lsb"] = lsb
        entry["width"] = width
        return entry

    ports = {
        "start": port("start", 1),
        "busy": port("busy", 1),
        "done": port("done", 1),
        "prediction": port("prediction", prediction_bits(net.output_size)),
        "in_valid": port("events__valid", 1),
        "in_ready": port("events__ready", 1),
        "in_index": port("events__payload", iw, 0),
        "in_last": port("events__payload", 1, iw),
    }
    taps = []
    layers = []
    for hw in design.layers:
        layer = hw.layer
        ow = index_bits(layer.out_features)
        prefix = f"tap_{layer.name}"
        taps.append({
            "layer": layer.name,
            "valid": port(f"{prefix}__valid", 1, 0),
            "index": port(f"{prefix}__index", ow, 0),
            "last": port(f"{prefix}__last", 1, 0),
        })
        syn, core = hw.synapses, hw.neurons
        layers.append({
            "name": layer.name,
            "in_features": layer.in_features,
            "out_features": layer.out_features,
            "lanes": hw.lanes,
            "groups": hw.groups,
            "weight_bits": layer.weight_bits,
            "state_bits": layer.state_bits,
            "acc_bits": hw.acc_bits,
            "fires": hw.fires,
            "synapse_memory": {"depth": syn.depth, "width": syn.width, "bits": syn.bits,
                               "ram_style": "block", "banks": syn.banks},
            "update_units": hw.update_units,
            "rows": hw.rows,
            "accumulator_memory": {"depth": core.acc_memory_depth,
                                   "width": core.acc_memory_width,
                                   "bits": core.acc_memory_depth * core.acc_memory_width},
            "membrane_memory": {"depth": core.memory_depth, "width": core.memory_width,
                                "bits": core.memory_depth * core.memory_width},
            "bias_memory": (None if core.bias_data is None else {
                "depth": core.bias_data.depth, "width": core.memory_width,
                "bits": core.bias_data.depth * core.memory_width}),
        })
    return {
        "format": PORTMAP_FORMAT,
        "version": PORTMAP_VERSION,
        "top": top,
        "clock": "clk",
        "reset": "rst",
        "timesteps": net.timesteps,
        "input_size": net.input_size,
        "n_classes": net.output_size,
        "readout": net.readout.value,
        "ports": ports,
        "taps": taps,
        "layers": layers,
        "cycle_bound": "sum over layers of (input_events * groups + groups) per timestep",
        "cycle_model": "per layer and timestep about max(input_events * groups + 1, rows)",
    }


def emit_verilog(net: IntNetwork, *, lanes: int | Mapping[str, int] | None = None,
                 top: str = "spikeforge_top") -> GeneratedDesign:
    """Generate the Verilog of ``net`` in memory.

    Parameters
    ----------
    net : pysim.IntNetwork
    lanes : int, dict or None
        Lanes per layer (see :func:`hdl.network.resolve_lanes`).
    top : str
        Name of the top module.

    Returns
    -------
    GeneratedDesign

    Raises
    ------
    pysim.InputError
        When the network or the options cannot be realized (one line).
    """
    top = _check_top(top)
    if not isinstance(net, IntNetwork):
        raise InputError(f"network: expected a pysim.IntNetwork, not {type(net).__name__}")
    design = Network(network=net, lanes=lanes)
    pmap = portmap(design, top)
    text = verilog.convert(design, name=top, emit_src=False, strip_internal_attrs=True)
    _check_ports(text, top, pmap)
    return GeneratedDesign(verilog=text, portmap=pmap, top=top, lanes=design.lanes)


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


def _check_ports(text: str, top: str, pmap: dict[str, Any]) -> None:
    """Assert every port named in the map exists with a width that holds its fields."""
    decl = verilog_ports(text, top)
    fields = list(pmap["ports"].values())
    for tap in pmap["taps"]:
        fields += [tap["valid"], tap["index"], tap["last"]]
    for name in (pmap["clock"], pmap["reset"]):
        fields.append({"name": name, "width": 1})
    for f in fields:
        if f["name"] not in decl or decl[f["name"]][1] < f.get("lsb", 0) + f["width"]:
            raise AssertionError(f"portmap field {f} does not match the emitted Verilog "
                                 f"ports {decl}")


def generate(net: IntNetwork, out_dir: str | os.PathLike[str], *,
             lanes: int | Mapping[str, int] | None = None,
             top: str = "spikeforge_top") -> GeneratedDesign:
    """Write ``out_dir/<top>.v`` and ``out_dir/portmap.json`` (atomically, deterministic).

    The directory is replaced as a whole only when both files are complete.
    """
    design = emit_verilog(net, lanes=lanes, top=top)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        (tmp / f"{design.top}.v").write_text(design.verilog, encoding="utf-8")
        (tmp / "portmap.json").write_text(json.dumps(design.portmap, indent=2) + "\n",
                                          encoding="utf-8")
    return design
