"""cocotb testbench: a spikeforge network design against the golden model, many samples per run.

Layers: a :class:`TB` owns clock and reset; a **driver** feeds each sample's input beats
(events with ``last=0`` then one ``last=1`` marker per step, ``T`` steps); a **monitor**
per layer tap records ``(sample, layer, last, index)``; the **golden model**
(``pysim.simulate``) is the reference; the in-order **checker** (:mod:`sim.checker`)
counts mismatches per layer and timestep and checks the predictions; cycles per sample
(start -> done) are compared with the event-driven bound.

Two modes (``config.json`` written by :mod:`sim.runner`, named by ``SPIKEFORGE_TB_CONFIG``):

* ``buffered``: the simulation top is the generated wrapper (:mod:`sim.wrapper`), whose
  Verilog driver and monitors do the per-cycle work; this coroutine awaits ``finished``
  and reads the log. The wrapper's clock comes from the simulation's C++ main loop
  (``clock = "cpp"``), from cocotb's GPI clock started here (``"gpi"``: toggled in C, no
  Python per edge) or from the wrapper itself (``"verilog"``).
* ``percycle``: the design is the top; the driver and monitors below await every clock
  edge (the plain cocotb testbench, kept as the correctness twin and throughput baseline).

Every port name and width comes from ``portmap.json``. Never imports torch.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer

from pysim import load_network, simulate

from .checker import (
    KIND_DONE,
    KIND_EARLY_DONE,
    KIND_TAP,
    KIND_TIMEOUT,
    check_events,
    expected_beats,
    parse_log,
)
from .wrapper import PortMap

CONFIG_ENV = "SPIKEFORGE_TB_CONFIG"


class TB:
    """Owns the configuration, the reference results and the result files."""

    def __init__(self, dut: Any, cfg: dict[str, Any]) -> None:
        self.dut = dut
        self.cfg = cfg
        self.pm = PortMap.from_dict(json.loads(Path(cfg["portmap"]).read_text()))
        self.net = load_network(cfg["network"])
        with np.load(cfg["spikes"]) as z:
            self.spikes = z["spikes"]
        self.N = int(self.spikes.shape[0])
        self.golden = simulate(self.net, self.spikes)
        self.events: np.ndarray = np.zeros((0, 4), np.int64)
        self.predictions = np.full(self.N, -1, np.int64)
        self.cycles = np.full(self.N, -1, np.int64)
        self.finished = np.zeros(self.N, bool)
        self.errors: list[str] = []
        self.sim_seconds = 0.0
        self.sim_cpu_seconds = 0.0
        self.stress: dict[str, int] = {}

    # ---------------------------------------------------------------- buffered mode
    async def run_buffered(self) -> None:
        """Await the wrapper's ``finished``; the wrapper drives and records everything."""
        t0, c0 = time.perf_counter(), time.process_time()
        if self.cfg.get("clock", "verilog") == "gpi":
            # the wrapper's clk port, toggled by the GPI in C: first rising edge at 5 ns,
            # as the wrapper's own ``always #5`` would give
            Clock(self.dut.clk, 10, unit="ns", impl="gpi").start(start_high=False)
        if str(self.dut.finished.value) != "1":  # may still be X at time 0 (Icarus)
            await RisingEdge(self.dut.finished)
        await Timer(1, unit="ns")
        self.sim_seconds = time.perf_counter() - t0
        self.sim_cpu_seconds = time.process_time() - c0
        rec = parse_log(Path(self.cfg["log"]).read_text())
        taps = rec[rec[:, 0] == KIND_TAP]
        self.events = taps[:, 1:5]
        for kind, s, a, b, d in rec[rec[:, 0] != KIND_TAP]:
            if kind == KIND_DONE and 0 <= s < self.N:
                self.cycles[s], self.predictions[s], self.finished[s] = a, b, True
            elif kind == KIND_TIMEOUT:
                self.errors.append(f"sample {s}: no done within {self.cfg['timeout']} "
                                   f"cycles ({b} end-of-step markers sent)")
            elif kind == 6:  # stress counters (sim.wrapper)
                self.stress |= {"input_stall_cycles": int(s), "input_gap_cycles": int(a),
                               "ignored_starts": int(b), "mid_run_resets": int(d)}
            elif kind == 7:  # the SPRAM load (sim.wrapper): cycle loaded, error, loaded
                self.stress.update({"spram_loaded_cycle": int(s),
                                    "spram_load_error": int(a)})
                if int(a) or not int(b):
                    self.errors.append(f"SPRAM load: loaded={int(b)} load_error={int(a)}")
            elif kind == KIND_EARLY_DONE:
                self.errors.append(f"sample {s}: done before its input was consumed "
                                   f"({a} markers sent)")

    # ---------------------------------------------------------------- per-cycle mode
    def _port(self, name: str) -> Any:
        return getattr(self.dut, name)

    async def run_percycle(self) -> None:
        """Drive and monitor the design from Python at every clock edge."""
        pm = self.pm
        f = pm.fields
        clk, rst = self._port(pm.clock), self._port(pm.reset)
        cocotb.start_soon(Clock(clk, 10, unit="ns").start())
        inputs: dict[str, int] = {p: 0 for p in pm.input_ports}

        def put(role: str, value: int) -> None:
            fl = f[role]
            mask = ((1 << fl.width) - 1) << fl.lsb
            inputs[fl.port] = (inputs[fl.port] & ~mask) | ((value << fl.lsb) & mask)

        def apply() -> None:
            for p, v in inputs.items():
                self._port(p).value = v

        def get(val: int, fl: Any) -> int:
            return (val >> fl.lsb) & ((1 << fl.width) - 1)

        apply()
        rst.value = 1
        for _ in range(3):
            await RisingEdge(clk)
        rst.value = 0
        await RisingEdge(clk)

        es, el, ei = expected_beats(self.spikes)
        bounds = np.searchsorted(es, np.arange(self.N + 1))
        events: list[tuple[int, int, int, int]] = []
        out_ports = pm.output_ports
        timeout = int(self.cfg["timeout"])

        async def cycle(sample: int) -> dict[str, int]:
            """Apply the inputs for this cycle, sample every output, advance to the next edge.

            Returns the output values seen in the cycle (settled, before the next edge).
            """
            apply()
            await ReadOnly()
            vals = {p: int(self._port(p).value) for p in out_ports}
            for li, tap in enumerate(pm.taps):
                if get(vals[tap["valid"].port], tap["valid"]):
                    events.append((sample, li, get(vals[tap["last"].port], tap["last"]),
                                   get(vals[tap["index"].port], tap["index"])))
            await RisingEdge(clk)
            return vals

        t0, c0 = time.perf_counter(), time.process_time()
        for n in range(self.N):
            beats = list(zip(el[bounds[n]:bounds[n + 1]].tolist(),
                             ei[bounds[n]:bounds[n + 1]].tolist()))
            waited = 0
            while get((await cycle(-1))[f["busy"].port], f["busy"]):
                waited += 1
                if waited > timeout:
                    break
            if waited > timeout:
                self.errors.append(f"sample {n}: busy stayed high for {timeout} cycles "
                                   f"before start")
                break
            put("start", 1)
            await cycle(-1)
            put("start", 0)
            cycles, k, done = 0, 0, False
            while not done:
                if k < len(beats):
                    put("in_valid", 1)
                    put("in_last", beats[k][0])
                    put("in_index", beats[k][1])
                else:
                    put("in_valid", 0)
                valid_now = k < len(beats)
                vals = await cycle(n)
                cycles += 1
                if valid_now and get(vals[f["in_ready"].port], f["in_ready"]):
                    k += 1
                if get(vals[f["done"].port], f["done"]):
                    if k < len(beats):
                        self.errors.append(f"sample {n}: done before its input was consumed")
                    self.cycles[n] = cycles
                    self.predictions[n] = get(vals[f["prediction"].port], f["prediction"])
                    self.finished[n] = True
                    done = True
                elif cycles > timeout:
                    self.errors.append(f"sample {n}: timeout after {timeout} cycles")
                    break
            put("in_valid", 0)
            if not done:
                break
        self.sim_seconds = time.perf_counter() - t0
        self.sim_cpu_seconds = time.process_time() - c0
        self.events = np.array(events, np.int64).reshape(-1, 4)

    # ---------------------------------------------------------------- check + report
    def report(self) -> None:
        """Run the checker and write result.json / result.npz."""
        rep = check_events(self.net, self.golden, self.events, self.predictions,
                           self.finished)
        bounds = self.pm.plan.cycle_bounds(self.spikes, self.golden.spikes)
        first = rep.first_mismatch
        if self.errors:
            first = self.errors[0] if first is None else first
        mism = rep.mismatches
        arrays = {f"spikes.{k}": v for k, v in rep.rtl_spikes.items()}
        arrays.update(predictions=self.predictions, cycles=self.cycles, bounds=bounds,
                      by_layer_step=rep.by_layer_step)
        np.savez(self.cfg["result_npz"], **arrays)
        res = {
            "samples": self.N, "mismatches": mism,
            "mismatches_by_layer": rep.mismatches_by_layer,
            "prediction_mismatches": rep.prediction_mismatches,
            "unfinished": rep.unfinished, "first_mismatch": first,
            "errors": self.errors, "sim_seconds": self.sim_seconds,
            "sim_cpu_seconds": self.sim_cpu_seconds, "error": None,
            "stress": self.stress,
        }
        Path(self.cfg["result_json"]).write_text(json.dumps(res, indent=2))


@cocotb.test()
async def network_matches_golden(dut: Any) -> None:
    """Run every sample through the design and compare with the golden model."""
    cfg = json.loads(Path(os.environ[CONFIG_ENV]).read_text())
    try:
        tb = TB(dut, cfg)
        if cfg["mode"] == "buffered":
            await tb.run_buffered()
        else:
            await tb.run_percycle()
        tb.report()
    except Exception as exc:  # reported to the host through the result file
        Path(cfg["result_json"]).write_text(json.dumps(
            {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}))
        raise
