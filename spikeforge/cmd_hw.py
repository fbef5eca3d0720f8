"""``spikeforge generate``: Verilog and a port/memory map for an integer network."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .errors import InputError
from .output import emit, format_table

__all__ = ["parse_lanes", "register", "run_generate"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``generate`` to the CLI."""
    p = sub.add_parser(
        "generate", help="write the network's Verilog and its port/memory map",
        description="Generate one Verilog file for the network top (event-driven layers, "
                    "block-RAM synapse memories) plus portmap.json, the machine-readable "
                    "port and memory map with the design's hardware plan (lanes, groups, "
                    "rows, widths, every memory's shape, the cycle formulas). The same "
                    "manifest gives byte-identical output; 'verify --design DIR' and "
                    "'estimate --design DIR' work on the files written here.",
        epilog="example: spikeforge generate runs/digits/net -o runs/digits/rtl "
               "--lanes fc1=16,fc2=10",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("net", type=Path, help="manifest directory")
    p.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    p.add_argument("--lanes", default=None,
                   help="parallel neurons per layer: N for every layer (capped at its size) "
                        "or NAME=N,NAME=N,... (others default)")
    p.add_argument("--top", default="spikeforge_top", help="top module name")
    p.add_argument("--wrap", choices=("axis",), default=None,
                   help="put the core inside a standard wrapper: 'axis' = AXI4-Stream "
                        "events in, AXI4-Stream results out, AXI-Lite control and status "
                        "(see docs/integration.md)")
    p.add_argument("--writable-weights", action="store_true",
                   help="with --wrap axis: run-time writable synapse memories behind the "
                        "AXI-Lite weight window (MEM_* registers)")
    p.add_argument("--weights-in", choices=("bram", "spram"), default=None,
                   help="where the synapse memories live: block RAM (default) or the iCE40 "
                        "UP5K's SB_SPRAM256KA blocks ('spram': the largest memories that "
                        "fit its 4 blocks, filled at run time through the load port; the "
                        "load image is written as spram_weights.bin)")
    p.add_argument("--taps", action="store_true",
                   help="with --wrap axis: per-layer spike-count taps (one beat per layer "
                        "after the class scores in every result packet)")
    p.add_argument("--no-counters", action="store_true",
                   help="with --wrap axis: leave out the SAMPLES and CYCLES (and "
                        "ABORTED) registers (fewer LUTs)")
    p.add_argument("--result-registers", action="store_true",
                   help="with --wrap axis: also the RESULT register (the last packet's "
                        "header) and the ABORTED counter")
    p.add_argument("--no-dedup", action="store_true",
                   help="with --wrap axis: leave out the duplicate-index check (fewer LUTs, "
                        "one block RAM less; the input must not repeat an index in a step)")
    p.add_argument("--memfiles", action="store_true",
                   help="also write every memory's contents as a $readmemh file (mem/*.hex, "
                        "listed in mem/memories.json) and <top>_readmemh.v loading them, for "
                        "icebram/ecpbram/updatemem; <top>.v is unchanged")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_generate)



def parse_lanes(text: str | None) -> int | dict[str, int] | None:
    """Parse ``--lanes``: None, ``"16"`` or ``"fc1=16,fc2=4"``."""
    if text is None:
        return None
    text = text.strip()
    try:
        if "=" not in text:
            return int(text)
        pairs = [(name.strip(), int(value))
                 for name, _, value in (part.partition("=") for part in text.split(","))]
        if not all(name for name, _ in pairs):
            raise ValueError
    except ValueError:
        raise InputError(f"expected N or NAME=N,NAME=N,..., not {text!r}",
                         param="lanes") from None
    out: dict[str, int] = {}
    for name, value in pairs:
        if name in out:
            raise InputError(f"layer {name!r} given twice in {text!r}", param="lanes")
        out[name] = value
    return out


def run_generate(args: argparse.Namespace) -> int:
    """Generate the Verilog and portmap.json of a manifest."""
    import hdl
    from pysim import load_network

    lanes = parse_lanes(args.lanes)
    net = load_network(args.net)
    wrap = getattr(args, "wrap", None)
    memfiles = bool(getattr(args, "memfiles", False))
    writable = bool(getattr(args, "writable_weights", False))
    if writable and wrap is None:
        raise InputError("needs --wrap axis", param="writable_weights")
    wrap_options = {}
    if getattr(args, "taps", False):
        if wrap is None:
            raise InputError("needs --wrap axis", param="taps")
        wrap_options["taps"] = True
    for flag, key in (("no_counters", "counters"), ("no_dedup", "check_duplicates")):
        if getattr(args, flag, False):
            if wrap is None:
                raise InputError("needs --wrap axis", param=flag)
            wrap_options[key] = False
    if getattr(args, "result_registers", False):
        if wrap is None:
            raise InputError("needs --wrap axis", param="result_registers")
        wrap_options["result_registers"] = True
    weights_in = getattr(args, "weights_in", None)
    design = hdl.generate(net, args.output, lanes=lanes, top=args.top, wrap=wrap,
                          memfiles=memfiles, writable_weights=writable,
                          weights_in=weights_in, wrap_options=wrap_options or None)
    rows = []
    for lp in design.plan.layers:
        syn, acc, mem = lp.synapse.memory, lp.core.accumulator, lp.core.membrane
        rows.append([
            lp.name, (f"{lp.in_features}x{lp.out_features}" if lp.kind == "dense" else
                      "x".join(map(str, lp.in_shape)) + "->" + "x".join(map(str, lp.out_shape))),
            lp.lanes, lp.groups,
            lp.update_units, lp.weight_bits, lp.acc_bits, f"{syn.depth}x{syn.width}",
            syn.bits, f"{acc.copies}x{acc.depth}x{acc.width}", f"{mem.depth}x{mem.width}",
        ])
    table = format_table(
        ["layer", "size", "lanes", "groups", "units", "w_bits", "acc_bits", "synapse_mem",
         "syn_bits", "acc_mem", "membrane_mem"], rows, align="llrrrrrrrrr")
    files = [args.output / design.verilog_file, args.output / "portmap.json"]
    head = (f"{args.net}: wrote {files[0]} ({len(design.verilog.splitlines())} lines, "
            f"sha256 {design.sha256[:16]}) and {files[1]}; top {design.top}")
    data: dict[str, Any] = {
        "net": str(args.net),
        "output": str(args.output),
        "files": [str(f) for f in files],
        "top": design.top,
        "verilog_sha256": design.sha256,
        "lanes": design.lanes,
        "plan": design.portmap["plan"],
        "synapse_memory_bits": sum(lp.synapse.memory.bits for lp in design.plan.layers),
    }
    if memfiles:
        import json

        mems = json.loads((args.output / "mem" / "memories.json").read_text())
        head += (f"\nmemory files: {len(mems)} in {args.output / 'mem'} and "
                 f"{args.output / (design.top + '_readmemh.v')}")
        data["memory_files"] = mems
    if design.plan.spram_layers:
        wi = design.portmap["weights_in"]
        head += (f"\nweights in SPRAM: {', '.join(e['layer'] for e in wi['memories'])} "
                 f"({sum(e['spram_blocks'] for e in wi['memories'])} SB_SPRAM256KA); load "
                 f"image {args.output / wi['image_file']} ({wi['image_bytes']} bytes)")
        data["weights_in"] = wi
    if wrap is not None:
        wp = design.portmap["wrapper"]
        head += (f"\nwrapper {wrap}: s_axis {wp['in_data_bits']} bits, m_axis "
                 f"{wp['out_data_bits']} bits ({wp['packet_beats']} beats per sample), "
                 f"AXI-Lite {len(wp['registers'])} registers")
        data["wrap"] = wrap
        data["wrapper"] = wp
    emit(args, head + "\n" + table, data)
    return 0
