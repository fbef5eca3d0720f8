"""Verilog emission: an integer network -> one Verilog module + a port/memory map."""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from amaranth.back import verilog

from hwplan import plan_network
from hwplan.design import (
    PORTMAP_FORMAT,
    PORTMAP_VERSION,
    TOP_RE,
    GeneratedDesign,
    check_ports,
    load_design,
)
from pysim import InputError, IntNetwork, atomic_dir

from .network import Network

__all__ = [
    "PORTMAP_FORMAT",
    "PORTMAP_VERSION",
    "GeneratedDesign",
    "emit_verilog",
    "generate",
    "load_design",
    "portmap",
]

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

def _check_top(top: Any) -> str:
    if not isinstance(top, str) or not TOP_RE.fullmatch(top):
        raise InputError(f"top: must be a Verilog identifier of at most 64 characters, "
                         f"not {top!r}")
    return top


def portmap(design: Network, top: str = "spikeforge_top") -> dict[str, Any]:
    """Return the port and memory map of ``design`` (names as the Verilog emitter writes).

    Amaranth names a port by its signature path joined with ``__``; a stream's payload
    is one packed port whose fields are given with their ``lsb``. Every width comes
    from the design's plan, which the map carries whole under ``plan``.
    """
    plan = design.plan
    iw = plan.input_index_bits

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
        "prediction": port("prediction", plan.prediction_bits),
        "in_valid": port("events__valid", 1),
        "in_ready": port("events__ready", 1),
        "in_index": port("events__payload", iw, 0),
        "in_last": port("events__payload", 1, iw),
    }
    taps = []
    for lp in plan.layers:
        prefix = f"tap_{lp.name}"
        taps.append({
            "layer": lp.name,
            "valid": port(f"{prefix}__valid", 1, 0),
            "index": port(f"{prefix}__index", lp.out_index_bits, 0),
            "last": port(f"{prefix}__last", 1, 0),
        })
    return {
        "format": PORTMAP_FORMAT,
        "version": PORTMAP_VERSION,
        "top": top,
        "clock": "clk",
        "reset": "rst",
        "ports": ports,
        "taps": taps,
        "plan": plan.as_dict(),
    }


WRAPS = ("axis",)
"""Wrappers ``emit_verilog(wrap=...)`` builds around the core (see :mod:`hdl.axis`)."""


def emit_verilog(net: IntNetwork, *, lanes: int | Mapping[str, int] | None = None,
                 top: str = "spikeforge_top", wrap: str | None = None,
                 writable_weights: bool = False,
                 weights_in: str | Mapping[str, str] | None = None,
                 wrap_options: Mapping[str, Any] | None = None,
                 membrane_packing: Mapping[str, int] | None = None) -> GeneratedDesign:
    """Generate the Verilog of ``net`` in memory.

    Parameters
    ----------
    net : pysim.IntNetwork
    lanes : int, dict or None
        Lanes per layer (see :func:`hwplan.resolve_lanes`).
    top : str
        Name of the top module.
    wrap : None or "axis"
        None (default): the bare core. ``"axis"``: the core inside the AXI4-Stream /
        AXI-Lite wrapper (:class:`hdl.axis.AxisWrapper`); the port map then lists the
        wrapper's ports and carries its plan under ``wrapper``.
    writable_weights : bool
        With ``wrap="axis"``: run-time writable synapse memories behind the AXI-Lite
        weight window (default False).
    weights_in : None, "bram", "spram" or dict
        Where the synapse memories live (:func:`hwplan.resolve_weights_in`). With
        SPRAM memories the top is :class:`hdl.spram.SpramNetwork` (iCE40 UP5K
        ``SB_SPRAM256KA`` instances, a load port; not with ``wrap``). Default: block RAM.
    wrap_options : dict or None
        With ``wrap``: further keyword options of the wrapper (:class:`hdl.axis.AxisWrapper`).
    membrane_packing : dict or None
        Neurons per membrane word of some conv layers (see :func:`hwplan.plan_network`;
        default: the plan's choice).

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
    plan = plan_network(net, lanes, weights_in=weights_in, membrane_packing=membrane_packing)
    if plan.spram_layers:
        if wrap is not None:
            raise InputError("SPRAM weights come with the bare core or a board's UART link "
                             "(not with a wrapper yet)", param="weights_in")
        from .spram import SpramNetwork, spram_portmap

        core = SpramNetwork(network=net, plan=plan)
        return _convert(core, spram_portmap(core, top), top, plan)
    if writable_weights and wrap is None:
        raise InputError("writable weights need a wrapper (wrap='axis')",
                         param="writable_weights")
    if wrap_options and wrap is None:
        raise InputError("wrapper options need a wrapper (wrap='axis')", param="wrap")
    if wrap is not None:
        if wrap not in WRAPS:
            raise InputError(f"unknown wrapper {wrap!r}: choose one of {', '.join(WRAPS)}",
                             param="wrap")
        from .axis import AxisWrapper, axis_portmap

        wrapped = AxisWrapper(network=net, plan=plan, writable=bool(writable_weights),
                              **dict(wrap_options or {}))
        return _convert(wrapped, axis_portmap(wrapped, top), top, plan)
    design = Network(network=net, plan=plan)
    return _convert(design, portmap(design, top), top, plan)


def _convert(component: Any, pmap: dict[str, Any], top: str, plan: Any) -> GeneratedDesign:
    """The Verilog of ``component`` as module ``top``, checked against its port map."""
    text = verilog.convert(component, name=top, emit_src=False, strip_internal_attrs=True)
    bad = check_ports(text, top, pmap)
    if bad:  # pragma: no cover - the generator's own consistency check
        raise AssertionError(f"portmap does not match the emitted Verilog: {bad}")
    return GeneratedDesign(verilog=text, portmap=pmap, top=top, plan=plan)



def generate(net: IntNetwork, out_dir: str | os.PathLike[str], *,
             lanes: int | Mapping[str, int] | None = None,
             top: str = "spikeforge_top", wrap: str | None = None,
             memfiles: bool = False, writable_weights: bool = False,
             weights_in: str | Mapping[str, str] | None = None,
             wrap_options: Mapping[str, Any] | None = None) -> GeneratedDesign:
    """Write ``out_dir/<top>.v`` and ``out_dir/portmap.json`` (atomically, deterministic).

    The directory is replaced as a whole only when both files are complete. ``wrap``: see
    :func:`emit_verilog`. ``memfiles``: also write every memory's contents as a
    ``$readmemh`` file ``mem/<layer>_<block>_<memory>.hex``, their list
    ``mem/memories.json`` and ``<top>_readmemh.v``, the same design loading them (see
    :mod:`hdl.memfiles`); ``<top>.v`` is unchanged. ``weights_in``: see
    :func:`emit_verilog`; with SPRAM memories also ``spram_weights.bin``, the load image
    of the network's weights (:func:`hwplan.load_image`).
    """
    design = emit_verilog(net, lanes=lanes, top=top, wrap=wrap,
                          writable_weights=writable_weights, weights_in=weights_in,
                          wrap_options=wrap_options)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        (tmp / f"{design.top}.v").write_text(design.verilog, encoding="utf-8")
        (tmp / "portmap.json").write_text(json.dumps(design.portmap, indent=2) + "\n",
                                          encoding="utf-8")
        if design.plan.spram_layers:
            from hwplan import load_image

            (tmp / "spram_weights.bin").write_bytes(load_image(net, design.plan))
        if memfiles:
            from .memfiles import split_memories

            text, files = split_memories(design.verilog, prefix="mem/")
            (tmp / "mem").mkdir()
            for f in files:
                (tmp / "mem" / f.file).write_text(f.text, encoding="utf-8")
            (tmp / "mem" / "memories.json").write_text(
                json.dumps([f.as_dict() for f in files], indent=2) + "\n", encoding="utf-8")
            (tmp / f"{design.top}_readmemh.v").write_text(text, encoding="utf-8")
    return dataclasses.replace(design, path=out_dir)
