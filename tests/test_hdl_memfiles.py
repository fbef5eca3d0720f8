"""``generate --memfiles``: every memory's contents as a ``$readmemh`` file.

Default tier: the hex files hold exactly the plan's packed words (synapse ROM banks
concatenated, bias ROM), the ``$readmemh`` Verilog has no element-wise initial blocks
left, the default Verilog is unchanged, the CLI writes the files. Slow tier: the banked
ROMs of the MNIST-size network, and the ``$readmemh`` Verilog simulated by Verilator
equals the golden model.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from toolcheck import need_verilator

import pysim
from pysim import random_network, random_spikes

FIXTURES = Path(__file__).parent / "fixtures" / "golden_verilog"


def _net() -> pysim.IntNetwork:
    return random_network(np.random.default_rng(11), [23, 13, 5], timesteps=6,
                          weight_bits=[3, 6], state_bits=[9, 10], bias=True)


def _check_plan_words(net: pysim.IntNetwork) -> None:
    hdl = pytest.importorskip("hdl")
    from hdl.memfiles import read_hex, split_memories
    from hwplan import pack_bias_words, pack_synapse_words

    design = hdl.emit_verilog(net)
    text, files = split_memories(design.verilog)
    assert "$readmemh" in text and not any(f"{f.name}[0] =" in text for f in files)
    by = {(f.module.split(".")[1], f.module.split(".")[-1], f.name): f for f in files}
    for layer, lp in zip(net.layers, design.plan.layers, strict=True):
        roms = sorted((k for k in by if k[0] == layer.name and k[1] == "synapses"),
                      key=lambda k: (len(k[2]), k[2]))
        words = [w for k in roms for w in read_hex(by[k].text)]
        assert words == pack_synapse_words(layer.weight, layer.weight_bits, lp.lanes)
        assert sum(by[k].depth for k in roms) == lp.synapse.memory.depth
        if layer.bias is not None:
            f = by[(layer.name, "neurons", "bias_rom")]
            assert read_hex(f.text) == pack_bias_words(layer.bias, layer.state_bits,
                                                       lp.update_units)


def test_memfiles_hold_the_plan_words() -> None:
    _check_plan_words(_net())


@pytest.mark.slow
def test_memfiles_hold_the_plan_words_banked() -> None:
    """The MNIST-size network: its first layer's ROM is banked (several hex files)."""
    _check_plan_words(pysim.load_network(FIXTURES / "mnist_784_256_10_w3_6"))


def test_generate_memfiles_cli_keeps_default_verilog(tmp_path) -> None:
    hdl = pytest.importorskip("hdl")
    from spikeforge.cli import main

    net = _net()
    pysim.save_network(net, tmp_path / "net")
    assert main(["generate", str(tmp_path / "net"), "-o", str(tmp_path / "rtl"),
                 "--memfiles", "--json"]) == 0
    out = tmp_path / "rtl"
    assert (out / "spikeforge_top.v").read_text() == hdl.emit_verilog(net).verilog
    mems = json.loads((out / "mem" / "memories.json").read_text())
    assert len(mems) == 10 and all((out / "mem" / m["file"]).is_file() for m in mems)
    v = (out / "spikeforge_top_readmemh.v").read_text()
    assert v.count("$readmemh(\"mem/") == len(mems)


@pytest.mark.slow
@pytest.mark.rtl
def test_memfiles_verilog_simulates_like_the_golden_model(tmp_path) -> None:
    hdl = pytest.importorskip("hdl")
    from hdl.memfiles import split_memories
    from sim import verify_design

    need_verilator()
    net = _net()
    design = hdl.emit_verilog(net)
    mem = tmp_path / "mem"
    mem.mkdir()
    text, files = split_memories(design.verilog, prefix=f"{mem}/")
    for f in files:
        (mem / f.file).write_text(f.text)
    x = random_spikes(np.random.default_rng(3), 10, net.timesteps, net.input_size, 0.3)
    res = verify_design(net, dataclasses.replace(design, verilog=text), x,
                        build_dir=tmp_path / "b", progress=False)
    assert res.mismatches == 0, res.first_mismatch
