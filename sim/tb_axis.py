"""cocotb testbench of the ``axis`` wrapper: cocotbext-axi drivers and monitors, golden model.

* an :class:`~cocotbext.axi.AxiStreamSource` sends each sample as ``T`` frames (one per
  step, TLAST on its last beat; EOS on the sample's last beat; an empty step is one
  NOSPIKE beat), spikes of a step in random order, with random valid gaps;
* an :class:`~cocotbext.axi.AxiStreamSink` receives the result packets under random
  backpressure;
* an :class:`~cocotbext.axi.AxiLiteMaster` reads and writes the registers;
* the golden model (``pysim.simulate``) gives the expected prediction and scores (spike
  counts, or the last step's membranes for a membrane readout).

Phases (``config.json`` from :mod:`sim.axis_runner`, named by ``SPIKEFORGE_TB_CONFIG``):
``stream`` (every sample, compared packet by packet), ``malformed`` (every input error of
the checker, each followed by a good sample that must come out exact), ``control``
(registers, interrupt, soft reset mid-sample, reset mid-sample, a sample offered while
the core is busy). The result goes to ``result.json``.
"""
from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

from hwplan import HardwarePlan
from hwplan.wrapper import FLAGS, AxisWrapperPlan
from pysim import load_network, simulate

CONFIG_ENV = "SPIKEFORGE_TB_CONFIG"
_BIT = {k: b for k, (b, _) in FLAGS.items()}


def _pauses(rng: random.Random, p: float):
    while True:
        yield rng.random() < p


class AxisTB:
    """Drivers, monitors and the golden reference of one run."""

    def __init__(self, dut: Any, cfg: dict[str, Any]) -> None:
        from cocotbext.axi import (
            AxiLiteBus,
            AxiLiteMaster,
            AxiStreamBus,
            AxiStreamSink,
            AxiStreamSource,
        )

        self.dut, self.cfg = dut, cfg
        pm = json.loads(Path(cfg["portmap"]).read_text())
        self.plan = HardwarePlan.from_dict(pm["plan"])
        self.wp = AxisWrapperPlan.from_dict(pm["wrapper"], self.plan)
        self.regs = {r.name: r.offset for r in self.wp.registers}
        self.net = load_network(cfg["network"])
        with np.load(cfg["spikes"]) as z:
            self.spikes = z["spikes"].astype(np.uint8)
        self.rng = random.Random(int(cfg.get("seed", 0)))
        self.golden = simulate(self.net, self.spikes, trace=self.wp.score == "membrane")
        self.clk, self.rstn = dut.aclk, dut.aresetn
        cocotb.start_soon(Clock(self.clk, 10, unit="ns").start())
        self.src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), self.clk,
                                   self.rstn, reset_active_level=False, byte_lanes=1)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), self.clk,
                                  self.rstn, reset_active_level=False, byte_lanes=1)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), self.clk,
                                  self.rstn, reset_active_level=False)
        for log in (self.src.log, self.sink.log, self.axil.write_if.log,
                    self.axil.read_if.log):
            log.setLevel("WARNING")
        self.set_gaps(float(cfg.get("gap", 0.3)), float(cfg.get("backpressure", 0.3)))
        self.mismatches = 0
        self.packets = 0  # result packets since aresetn: the next header's SEQUENCE
        self.first: str | None = None
        self.cases: dict[str, bool] = {}
        self.coverage = {"input_stall_cycles": 0, "output_backpressure_cycles": 0, "duplicates_merged": 0,
                         "core_resets": 0, "soft_resets": 0}
        cocotb.start_soon(self._count())

    def set_gaps(self, gap: float, backpressure: float) -> None:
        self.src.set_pause_generator(_pauses(self.rng, gap) if gap > 0 else None)
        self.sink.set_pause_generator(_pauses(self.rng, backpressure)
                                      if backpressure > 0 else None)

    async def _count(self) -> None:
        d, cov = self.dut, self.coverage
        while True:
            await RisingEdge(self.clk)
            if int(d.aresetn.value) == 0:
                continue
            if int(d.s_axis_tvalid.value) and not int(d.s_axis_tready.value):
                cov["input_stall_cycles"] += 1
            if int(d.m_axis_tvalid.value) and not int(d.m_axis_tready.value):
                cov["output_backpressure_cycles"] += 1

    def fail(self, msg: str) -> None:
        self.mismatches += 1
        if self.first is None:
            self.first = msg

    # ---------------------------------------------------------------- helpers
    async def reset(self) -> None:
        self.rstn.value = 0
        self.packets = 0
        await ClockCycles(self.clk, 4)
        self.rstn.value = 1
        await ClockCycles(self.clk, 2)

    async def rd(self, name: str) -> int:
        return int(await self.axil.read_dword(self.regs[name]))

    async def rd_opt(self, name: str) -> int | None:
        """A register that the wrapper's options may leave out (None then)."""
        return await self.rd(name) if name in self.regs else None

    async def wr(self, name: str, value: int) -> None:
        await self.axil.write_dword(self.regs[name], value)

    def frames(self, x: np.ndarray, *, dup: bool = False) -> list[list[int]]:
        """One beat list per step of sample ``x`` (T, in): spikes in random order."""
        wp, steps = self.wp, []
        T = x.shape[0]
        for t in range(T):
            idx = [int(i) for i in np.flatnonzero(x[t])]
            self.rng.shuffle(idx)
            if dup and idx:
                idx.insert(self.rng.randrange(len(idx) + 1), self.rng.choice(idx))
            words = [wp.encode_beat(i, last=False) for i in idx] or \
                    [wp.encode_beat(None, last=True)]
            if t == T - 1:
                words[-1] |= 1 << wp.eos_bit
            steps.append(words)
        return steps

    async def send(self, steps: list[list[int]], *, last_eos: bool | None = None) -> None:
        from cocotbext.axi import AxiStreamFrame

        for words in steps:
            await self.src.send(AxiStreamFrame(tdata=list(words)))

    async def recv(self, what: str) -> list[int] | None:
        try:
            frame = await with_timeout(self.sink.recv(), int(self.cfg["timeout"]) * 10,
                                       "ns")
        except Exception:  # noqa: BLE001 (cocotb's SimTimeoutError)
            self.fail(f"{what}: no result packet within {self.cfg['timeout']} cycles")
            return None
        words = [int(w) for w in frame.tdata]
        if len(words) != self.wp.packet_beats:
            self.fail(f"{what}: packet of {len(words)} beats, expected "
                      f"{self.wp.packet_beats}")
            return None
        seq = self.wp.decode_header(words[0])["SEQUENCE"]
        if seq != self.packets % 256:
            self.fail(f"{what}: SEQUENCE {seq}, expected {self.packets % 256}")
            return None
        self.packets += 1
        return words

    def expected(self, n: int) -> tuple[int, list[int]]:
        """The golden prediction and the packet's beats after the header: the class
        scores, then (with taps) every tapped layer's spikes over the sample."""
        last = self.net.layers[-1].name
        if self.wp.score == "membrane":
            sc = self.golden.membranes[last][n, -1]
        else:
            sc = self.golden.spikes[last][n].sum(axis=0)
        taps = [int(self.golden.spikes[name][n].sum()) for name, _ in self.wp.taps]
        return int(self.golden.predictions[n]), [int(v) for v in sc] + taps

    def check_packet(self, words: list[int] | None, n: int, what: str,
                     flags: int = 0) -> bool:
        if words is None:
            return False
        hdr = self.wp.decode_header(words[0])
        got_flags = (words[0] >> 16) & 0xFF
        pred, scores = self.expected(n)
        mask = (1 << 32) - 1
        n_cls = self.wp.n_classes
        got_scores = [(w ^ (1 << 31)) - (1 << 31) if self.wp.score == "membrane" and k < n_cls
                      else w for k, w in enumerate(v & mask for v in words[1:])]
        if got_flags != flags:
            self.fail(f"{what}: flags 0x{got_flags:02x}, expected 0x{flags:02x}")
            return False
        if hdr["PREDICTION"] != pred:
            self.fail(f"{what}: prediction {hdr['PREDICTION']}, golden {pred}")
            return False
        if got_scores != scores:
            k = next(i for i, (a, b) in enumerate(zip(got_scores, scores)) if a != b)
            which = (f"score of class {k}" if k < n_cls else
                     f"tap of layer {self.wp.taps[k - n_cls][0]}")
            self.fail(f"{what}: {which} is {got_scores[k]}, golden {scores[k]}")
            return False
        if self.wp.taps:
            self.coverage["tap_beats_checked"] = (self.coverage.get("tap_beats_checked", 0)
                                                  + len(self.wp.taps))
        return True

    async def expect_abort(self, what: str, flag: str) -> bool:
        words = await self.recv(what)
        if words is None:
            return False
        want = (1 << _BIT[flag]) | (1 << _BIT["ABORTED"])
        got = (words[0] >> 16) & 0xFF
        if got != want or any(words[1:]) or words[0] & 0xFFFF:
            self.fail(f"{what}: header 0x{words[0]:08x} scores {words[1:4]}..., expected "
                      f"flags 0x{want:02x} and zeros")
            return False
        return True

    # ---------------------------------------------------------------- phases
    async def phase_stream(self) -> None:
        """Every sample, queued back to back, compared packet by packet."""
        N = self.spikes.shape[0]
        dup_every = int(self.cfg.get("dup_every", 0)) if self.wp.check_duplicates else 0

        async def producer() -> None:
            for n in range(N):
                dup = dup_every > 0 and n % dup_every == dup_every - 1
                await self.send(self.frames(self.spikes[n], dup=dup))

        cocotb.start_soon(producer())
        ok = 0
        for n in range(N):
            dup = dup_every > 0 and n % dup_every == dup_every - 1
            words = await self.recv(f"sample {n}")
            flags = (1 << _BIT["DUPLICATE"]) if dup and self.spikes[n].any() else 0
            if words is None:
                break
            if self.check_packet(words, n, f"sample {n}", flags):
                ok += 1
                self.coverage["duplicates_merged"] += int(bool(flags))
        self.cases["stream"] = ok == N
        self.stream_ok = ok
        samples = await self.rd_opt("SAMPLES")
        if samples is not None and samples != N:
            self.fail(f"SAMPLES register {samples}, expected {N}")
            self.cases["stream"] = False

    async def good(self, n: int, what: str) -> bool:
        await self.send(self.frames(self.spikes[n]))
        return self.check_packet(await self.recv(what), n, what)

    async def phase_reload(self) -> None:
        """Load another network's weights through the weight window, then every sample
        must match that network's golden model; a write while busy is refused."""
        from hwplan.wrapper import WRITE_REFUSED_BIT, weight_writes

        other = load_network(self.cfg["reload"])
        writes = weight_writes(self.plan, self.wp, other, design_net=self.net)
        T = self.net.timesteps
        # refused while a sample is in flight
        await self.wr("ERROR", 0x1F)
        addr0 = await self.rd("MEM_ADDR")
        await self.send(self.frames(self.spikes[0])[: max(1, T // 2)])
        await self.src.wait()
        await ClockCycles(self.clk, 5)
        await self.wr("MEM_COMMIT", 1)
        refused = bool(await self.rd("ERROR") & (1 << WRITE_REFUSED_BIT)) and \
            await self.rd("MEM_ADDR") == addr0
        await self.wr("CTRL", 0b11)
        await self.wr("ERROR", 0x1F)
        if not refused:
            self.fail("a MEM_COMMIT during a sample was not refused")
        self.cases["write_refused_while_busy"] = refused
        t0 = cocotb.utils.get_sim_time("ns")
        for off, val in writes:
            await self.axil.write_dword(off, val)
        self.coverage["weight_load_writes"] = len(writes)
        self.coverage["weight_load_cycles"] = int((cocotb.utils.get_sim_time("ns") - t0) // 10)
        if await self.rd("ERROR"):
            self.fail("ERROR set by the weight load")
        self.net = other
        self.golden = simulate(other, self.spikes, trace=self.wp.score == "membrane")
        before = await self.rd_opt("SAMPLES")
        N = self.spikes.shape[0]

        async def producer() -> None:
            for n in range(N):
                await self.send(self.frames(self.spikes[n]))

        cocotb.start_soon(producer())
        ok = 0
        for n in range(N):
            words = await self.recv(f"reloaded sample {n}")
            if words is None:
                break
            ok += self.check_packet(words, n, f"reloaded sample {n}")
        self.reload_ok = ok
        self.cases["reload"] = ok == N and (before is None
                                            or await self.rd("SAMPLES") == before + N)

    async def phase_malformed(self) -> None:
        """Each input error of the checker, then a good sample (recovery)."""
        wp, T, n_in = self.wp, self.net.timesteps, self.net.input_size
        x = self.spikes[0]
        await self.wr("ERROR", 0xF)
        base_aborted = await self.rd_opt("ABORTED")
        aborted = 0
        # RANGE: an index >= input_size (only when the index field can hold one)
        if n_in < (1 << wp.index_field_bits):
            steps = self.frames(x)
            steps[0].insert(0, wp.encode_beat(n_in + self.rng.randrange(
                min((1 << wp.index_field_bits) - n_in, 7)), last=False))
            await self.send(steps)
            ok = await self.expect_abort("RANGE", "RANGE")
            err = await self.rd("ERROR")
            ok &= bool(err & (1 << _BIT["RANGE"]))
            ok &= await self.good(0, "after RANGE")
            self.cases["range"] = ok
            aborted += 1
        # DUPLICATE: merged, exact result, flag set (when the design checks duplicates)
        if wp.check_duplicates:
            n = next((i for i in range(self.spikes.shape[0]) if self.spikes[i].any()), 0)
            await self.send(self.frames(self.spikes[n], dup=True))
            dup_flag = (1 << _BIT["DUPLICATE"]) if self.spikes[n].any() else 0
            ok = self.check_packet(await self.recv("DUPLICATE"), n, "DUPLICATE", dup_flag)
            if dup_flag:
                ok &= bool(await self.rd("ERROR") & (1 << _BIT["DUPLICATE"]))
            self.cases["duplicate"] = ok
        # SHORT: T-1 steps, EOS on the last
        if T > 1:
            steps = self.frames(x)[:-1]
            steps[-1][-1] |= 1 << wp.eos_bit
            await self.send(steps)
            ok = await self.expect_abort("SHORT (T-1 steps)", "SHORT")
            ok &= await self.good(0, "after SHORT")
            self.cases["short"] = ok
            aborted += 1
        # SHORT: EOS without TLAST (mid-step); a frame's last beat always has TLAST, so
        # the EOS beat is followed by a one-step sample (EOS + TLAST): SHORT as well
        from cocotbext.axi import AxiStreamFrame

        if T > 1:
            await self.send(self.frames(x)[:1])
            await self.src.send(AxiStreamFrame(tdata=[
                wp.encode_beat(None, last=False, eos=True),
                wp.encode_beat(None, last=True, eos=True)]))
            ok = await self.expect_abort("SHORT (EOS without TLAST)", "SHORT")
            ok &= await self.expect_abort("SHORT (one-step sample)", "SHORT")
            ok &= await self.good(0, "after EOS without TLAST")
            self.cases["eos_without_tlast"] = ok
            aborted += 2
        # LONG: T + 2 steps, EOS on the last
        steps = self.frames(x)
        steps[-1][-1] &= ~(1 << wp.eos_bit)
        steps += [[wp.encode_beat(None, last=True)],
                  [wp.encode_beat(None, last=True, eos=True)]]
        await self.send(steps)
        ok = await self.expect_abort("LONG", "LONG")
        ok &= await self.good(0, "after LONG")
        self.cases["long"] = ok
        aborted += 1
        got = None if base_aborted is None else await self.rd("ABORTED") - base_aborted
        if got is not None and got != aborted:
            self.fail(f"ABORTED register counted {got}, expected {aborted}")
            self.cases["long"] = False
        err = await self.rd("ERROR")
        # (with T = 1 no SHORT case can be framed: every EOS beat ends the one step)
        want = sum(1 << _BIT[k] for k in (("SHORT", "LONG") if T > 1 else ("LONG",)))
        if err & want != want:
            self.fail(f"ERROR register 0x{err:x} misses SHORT/LONG")
        await self.wr("ERROR", err)
        if await self.rd("ERROR") != 0:
            self.fail("ERROR register not cleared by writing 1s")

    async def phase_control(self) -> None:
        """Registers, interrupt, soft reset and reset mid-sample, start while busy."""
        regs = self.wp
        ok = True
        if await self.rd("ID") != regs.register("ID").reset:
            self.fail("ID register")
            ok = False
        for name in ("GEOMETRY0", "GEOMETRY1"):
            if await self.rd(name) != regs.register(name).reset:
                self.fail(f"{name} register")
                ok = False
        # interrupt on DONE, cleared by W1C
        await self.wr("IRQ_STATUS", 3)
        await self.wr("IRQ_ENABLE", 1)
        if int(self.dut.irq.value):
            self.fail("irq high before any result")
            ok = False
        ok &= await self.good(0, "irq sample")
        await ClockCycles(self.clk, 2)
        if not int(self.dut.irq.value) or not await self.rd("IRQ_STATUS") & 1:
            self.fail("irq not raised after a result")
            ok = False
        await self.wr("IRQ_STATUS", 1)
        await ClockCycles(self.clk, 2)
        if int(self.dut.irq.value):
            self.fail("irq not cleared by IRQ_STATUS W1C")
            ok = False
        await self.wr("IRQ_ENABLE", 0)
        cyc = await self.rd_opt("CYCLES")
        if cyc is not None and cyc <= 0:
            self.fail("CYCLES register is 0 after a sample")
            ok = False
        res = await self.rd_opt("RESULT")
        if res is not None and res & 0xFFFF != int(self.golden.predictions[0]):
            self.fail(f"RESULT register 0x{res:x}")
            ok = False
        self.cases["registers"] = ok
        # ENABLE = 0 holds the input; 1 releases it
        await self.wr("CTRL", 0)
        await self.send(self.frames(self.spikes[0]))
        await ClockCycles(self.clk, 50)
        st = await self.rd("STATUS")
        held = st & 0b11 == 0 and self.sink.empty()
        await self.wr("CTRL", 1)
        held &= self.check_packet(await self.recv("after ENABLE"), 0, "after ENABLE")
        if not held:
            self.fail("CTRL.ENABLE = 0 did not hold the input")
        self.cases["enable"] = held
        # soft reset mid-sample
        T = self.net.timesteps
        steps = self.frames(self.spikes[0])
        await self.send(steps[: max(1, T // 2)])
        await self.src.wait()
        await ClockCycles(self.clk, 5)
        await self.wr("CTRL", 0b11)
        self.coverage["soft_resets"] += 1
        ok = self.sink.empty()
        ok &= await self.good(1 % self.spikes.shape[0], "after SOFT_RESET")
        self.cases["soft_reset_mid_sample"] = ok
        # a sample offered while the core is busy: it waits, both results exact
        await self.send(self.frames(self.spikes[0]) + self.frames(self.spikes[1 % len(
            self.spikes)]))
        ok = self.check_packet(await self.recv("busy 1"), 0, "busy 1")
        ok &= self.check_packet(await self.recv("busy 2"), 1 % len(self.spikes), "busy 2")
        self.cases["start_while_busy"] = ok
        # aresetn mid-sample
        await self.send(steps[: max(1, T // 2)])
        await self.src.wait()
        await ClockCycles(self.clk, 5)
        await self.reset()
        self.coverage["core_resets"] += 1
        self.src.clear()
        ok = self.sink.empty() and await self.rd_opt("SAMPLES") in (0, None)
        ok &= await self.good(0, "after aresetn")
        self.cases["reset_mid_sample"] = ok


@cocotb.test()
async def axis_wrapper_matches_golden(dut: Any) -> None:
    """Run the configured phases and write the result file."""
    cfg = json.loads(Path(os.environ[CONFIG_ENV]).read_text())
    try:
        tb = AxisTB(dut, cfg)
        await tb.reset()
        t0 = time.perf_counter()
        tb.stream_ok = 0
        phases = cfg.get("phases", ["stream"])
        if "stream" in phases:
            await tb.phase_stream()
        if "malformed" in phases:
            tb.set_gaps(0.2, 0.2)
            await tb.phase_malformed()
        if "control" in phases:
            await tb.phase_control()
        tb.reload_ok = None
        if "reload" in phases:
            await tb.phase_reload()
        res = {
            "samples": int(tb.spikes.shape[0]), "stream_matched": tb.stream_ok,
            "reload_matched": tb.reload_ok,
            "mismatches": tb.mismatches, "first_mismatch": tb.first, "cases": tb.cases,
            "coverage": tb.coverage, "sim_seconds": time.perf_counter() - t0,
            "error": None,
        }
    except Exception as exc:  # reported to the host through the result file
        Path(cfg["result_json"]).write_text(json.dumps(
            {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}))
        raise
    Path(cfg["result_json"]).write_text(json.dumps(res, indent=2))
