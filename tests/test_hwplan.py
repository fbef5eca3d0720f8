"""The hardware plan: geometry by hand, cycle formulas, round trip, the components and the
design directory read it (unit tier: no Amaranth needed except where marked)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import pysim
from hwplan import HardwarePlan, load_design, plan_network
from pysim import InputError, random_network, random_spikes


def _mnist_like() -> pysim.IntNetwork:
    return random_network(np.random.default_rng(0), [784, 256, 10], weight_bits=[3, 6],
                          state_bits=[10, 12])


def test_plan_dense_geometry_by_hand() -> None:
    plan = plan_network(_mnist_like(), {"fc1": 16, "fc2": 1})
    fc1, fc2 = plan.layers
    assert (fc1.lanes, fc1.groups, fc1.update_units, fc1.rows) == (16, 16, 1, 256)
    syn = fc1.synapse.memory
    assert (syn.depth, syn.width, syn.bits) == (784 * 16, 16 * 3, 784 * 16 * 48)
    assert syn.banks == (2048,) * 6 + (784 * 16 - 6 * 2048,)
    assert fc1.synapse.latency == 2 and fc2.synapse.memory.banks == (2048, 512)
    assert fc1.core.deep_pipeline and fc1.core.update_latency == 7
    acc = fc1.core.accumulator
    assert (acc.copies, acc.depth, acc.width) == (2, 16, 16 * fc1.acc_bits)
    assert (fc1.core.membrane.depth, fc1.core.membrane.width) == (256, 10)
    assert fc1.core.bias is None
    assert (fc1.in_index_bits, fc1.out_index_bits) == (10, 8)
    # fc2: 10 neurons, 1 lane -> 10 groups; 256 inputs / 8 nominal = 32 events -> 1 unit
    assert (fc2.groups, fc2.update_units, fc2.rows) == (10, 1, 10)
    assert fc2.core.accumulator.kind == "ram"
    assert (plan.input_index_bits, plan.prediction_bits, plan.count_bits) == (10, 4, 4)  # T = 8: counts 0..8
    assert fc1.weight_memory_bits == 784 * 256 * 3


def test_plan_one_group_accumulator_is_registers_and_tiny_layer_short_pipeline() -> None:
    net = random_network(np.random.default_rng(1), [9, 4], bias=True, state_bits=8)
    lp = plan_network(net, 4).layers[0]
    assert lp.groups == 1 and lp.core.accumulator.kind == "registers"
    assert lp.update_units == 4 and lp.rows == 1 and not lp.core.deep_pipeline
    assert lp.core.update_latency == 3
    assert lp.core.bias is not None and lp.core.bias.width == 4 * 8
    assert lp.core.membrane.depth == 2  # at least 2 rows: no zero-width address
    assert lp.core.last_row_neurons == 4


def test_plan_cycle_bound_by_hand() -> None:
    rng = np.random.default_rng(3)
    net = random_network(rng, [7, 5, 3], timesteps=4)
    x = random_spikes(rng, 3, 4, 7, 0.5)
    gold = pysim.simulate(net, x)
    plan = plan_network(net, {"fc1": 2, "fc2": 3})
    b = plan.cycle_bounds(x, gold.spikes)
    n = 1
    hand = sum(int(x[n, t].sum()) * 3 + 3 + int(gold.spikes["fc1"][n, t].sum()) * 1 + 1
               for t in range(net.timesteps))
    assert b[n] == hand
    cyc = plan.cycles(x, gold.spikes)
    assert cyc["per_sample"] == pytest.approx(b.mean()) and cyc["max"] == b.max()
    assert cyc["model_per_sample"] >= 0 and set(cyc["layers"]) == {"fc1", "fc2"}
    assert plan.worst_case_cycles() > b.max()


def test_plan_round_trips_through_json() -> None:
    rng = np.random.default_rng(7)
    for i in range(12):
        sizes = [int(rng.integers(1, 60)) for _ in range(int(rng.integers(2, 5)))]
        net = random_network(rng, sizes, bias=bool(i % 2),
                             readout="membrane" if i % 3 == 0 else "spike_count")
        plan = plan_network(net, None if i % 4 == 0 else int(rng.integers(1, 9)))
        back = HardwarePlan.from_dict(json.loads(json.dumps(plan.as_dict())))
        assert back == plan
        plan.check_network(net)
    assert plan_network(net).layers[-1].fires is (net.readout.value != "membrane")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(format="x"), "plan: not a spikeforge hardware plan"),
    (lambda d: d.update(version=9), "plan: plan version 9 is not supported"),
    (lambda d: d["layers"][0].update(kind="lstm"), "plan: layers[0]: unknown kind 'lstm'"),
    (lambda d: d["layers"][0].pop("groups"), "plan: malformed plan (KeyError: 'groups')"),
])
def test_plan_from_dict_wrong_input(mutate, message: str) -> None:
    d = plan_network(random_network(np.random.default_rng(0), [4, 3])).as_dict()
    mutate(d)
    with pytest.raises(InputError) as info:
        HardwarePlan.from_dict(d)
    assert str(info.value).startswith(message)


def test_plan_check_network_refuses_another_network() -> None:
    a = random_network(np.random.default_rng(0), [6, 5, 2])
    b = random_network(np.random.default_rng(1), [6, 5, 2], weight_bits=[4, 8])
    with pytest.raises(InputError, match="generated for another network"):
        plan_network(a).check_network(b)


def test_plan_refuses_unrealizable_networks() -> None:
    net = random_network(np.random.default_rng(0), [3, 2], timesteps=70000)
    with pytest.raises(InputError, match="at most 65535 steps"):
        plan_network(net)
    with pytest.raises(InputError, match="^lanes: layer 'fc1': the generator builds at most"):
        plan_network(random_network(np.random.default_rng(0), [3, 80]), 65)


def test_plan_builds_conv_and_pool_layers() -> None:
    # conv2d is a plan entry, the sum-pool a field of the layer after it (issue 12)
    net = pysim.random_conv_network(np.random.default_rng(0), "1x8x8-4c3-sp2-10")
    plan = plan_network(net)
    assert [lp.kind for lp in plan.layers] == ["conv2d", "dense"]
    assert plan.layers[1].pool is not None and plan.layers[1].pool.name == "pool2"
    with pytest.raises(InputError, match="^lanes: layer 'conv1': must be at most "
                                         "out_channels = 4, not 5$"):
        plan_network(net, {"conv1": 5})


def test_hw_errors_name_library_parameters_cli_flags_and_config_keys(tmp_path: Path,
                                                                     capsys) -> None:
    from spikeforge.cli import main
    from spikeforge.config import load_config
    from spikeforge.flow import Flow

    net = random_network(np.random.default_rng(0), [5, 3])
    pysim.save_network(net, tmp_path / "net")
    with pytest.raises(InputError, match="^lanes: layer 'fc1': must be at least 1, not 0$"):
        plan_network(net, 0)
    assert main(["estimate", str(tmp_path / "net"), "--model-only", "--lanes", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "spikeforge: error: --lanes: layer 'fc1': must be at least 1, not 0")
    assert main(["estimate", str(tmp_path / "net"), "--model-only", "--target", "ecp6"]) == 2
    assert "error: --target: unknown target 'ecp6'" in capsys.readouterr().err
    pysim.save_network(net, tmp_path / "run" / "net")
    flow = Flow(load_config(None, {"verify.lanes": "fc1=x"}), tmp_path / "run",
                progress=False)
    with pytest.raises(InputError) as info:
        flow._run_stage("generate")
    assert str(info.value).startswith("config key 'verify.lanes': expected N or NAME=N")


def test_plan_is_what_the_components_build() -> None:
    hdl = pytest.importorskip("hdl")
    net = random_network(np.random.default_rng(5), [40, 24, 10], bias=True,
                         readout="membrane")
    dut = hdl.Network(network=net, lanes={"fc1": 5})
    assert dut.plan == plan_network(net, {"fc1": 5})
    for hw, lp in zip(dut.layers, dut.plan.layers):
        assert hw.plan == lp
        assert (hw.synapses.depth, hw.synapses.width, hw.synapses.banks) == (
            lp.synapse.memory.depth, lp.synapse.memory.width, list(lp.synapse.memory.banks))
        core = hw.neurons
        assert (core.groups, core.rows, core.sum_bits, core.update_latency) == (
            lp.groups, lp.rows, lp.core.sum_bits, lp.core.update_latency)
        assert (core.memory_depth, core.memory_width) == (lp.core.membrane.depth,
                                                          lp.core.membrane.width)
    assert not dut.layers[-1].fires
    from amaranth.hdl import Fragment
    Fragment.get(dut, None)  # the components elaborate from their plans


def test_design_directory_round_trip(tmp_path: Path) -> None:
    hdl = pytest.importorskip("hdl")
    net = random_network(np.random.default_rng(2), [12, 7, 3])
    written = hdl.generate(net, tmp_path / "hw", lanes=3)
    back = load_design(tmp_path / "hw", net)
    assert back.sha256 == written.sha256 and back.plan == written.plan
    assert back.verilog == written.verilog and back.path == tmp_path / "hw"
    other = random_network(np.random.default_rng(3), [12, 7, 3])
    with pytest.raises(InputError, match="generated for another network"):
        load_design(tmp_path / "hw", other)


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "portmap.json").unlink(), "not a design directory"),
    (lambda d: (d / "portmap.json").write_text("{"), "portmap.json: not valid JSON"),
    (lambda d: (d / "spikeforge_top.v").unlink(), "spikeforge_top.v: missing"),
    (lambda d: (d / "spikeforge_top.v").write_text(
        (d / "spikeforge_top.v").read_text().replace("events__ready", "evts_ready")),
     "does not match portmap.json: port 'events__ready'"),
    (lambda d: (d / "portmap.json").write_text(json.dumps(
        {**json.loads((d / "portmap.json").read_text()), "version": 1})),
     "port map version 1 is not supported"),
])
def test_load_design_wrong_input(tmp_path: Path, damage, message: str) -> None:
    hdl = pytest.importorskip("hdl")
    net = random_network(np.random.default_rng(2), [5, 3])
    hdl.generate(net, tmp_path / "hw")
    damage(tmp_path / "hw")
    with pytest.raises(InputError) as info:
        load_design(tmp_path / "hw", net)
    assert message in str(info.value) and "\n" not in str(info.value)
