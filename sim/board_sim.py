"""A serial port backed by Amaranth's simulator of the board's UART link.

:class:`SimSerialPort` has the two methods of a ``serial.Serial`` the host side uses
(``write``, ``read(n)``): bytes written are bit-banged into the simulated ``rx`` pin
(8N1, ``divisor`` cycles per bit), the ``tx`` pin is decoded into bytes, and ``read``
advances the simulation until ``n`` bytes came or ``max_cycles`` passed. So
``spikeforge board run``'s host code runs unchanged against the UART path in
simulation (no board needed).
"""
from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["SimSerialPort"]


class SimSerialPort:
    """``write``/``read`` over the simulated :class:`hdl.board.UartLink` (module doc)."""

    def __init__(self, network: Any, *, divisor: int = 4, max_cycles: int = 2_000_000,
                 lanes: Any = None, weights_in: Any = None) -> None:
        from amaranth.sim import Simulator

        from hdl.board import UartLink

        # weights_in="spram": the SPRAM blocks are replaced by their Amaranth model
        # (hdl.spram.SpramSynapseMemory.use_model), the rest of the link is the board's
        self.dut = dut = UartLink(network=network, divisor=divisor, lanes=lanes,
                                  weights_in=weights_in, spram_model=True)
        self._d = divisor
        self._tx: deque[int] = deque()
        self._rx: bytearray = bytearray()
        self._period = 1e-6
        self._now = 0.0
        self._max = max_cycles
        self.cycles = 0
        self._sim = sim = Simulator(dut)
        sim.add_clock(self._period)
        d = divisor

        async def drive(ctx: Any) -> None:
            ctx.set(dut.rx, 1)
            while True:
                if not self._tx:
                    await ctx.tick()
                    continue
                b = self._tx.popleft()
                for bit in [0] + [(b >> i) & 1 for i in range(8)] + [1]:
                    ctx.set(dut.rx, bit)
                    await ctx.tick().repeat(d)

        async def monitor(ctx: Any) -> None:
            while True:
                await ctx.tick()
                if ctx.get(dut.tx) == 0:
                    await ctx.tick().repeat(d // 2)
                    v = 0
                    for i in range(8):
                        await ctx.tick().repeat(d)
                        v |= ctx.get(dut.tx) << i
                    await ctx.tick().repeat(d)
                    self._rx.append(v)

        sim.add_testbench(drive, background=True)
        sim.add_testbench(monitor, background=True)

    def write(self, data: bytes) -> int:
        self._tx.extend(data)
        return len(data)

    def read(self, n: int) -> bytes:
        chunk = 2000
        spent = 0
        while len(self._rx) < n and spent < self._max:
            self._now += chunk * self._period
            self._sim.run_until(self._now)
            spent += chunk
            self.cycles += chunk
        out, self._rx = bytes(self._rx[:n]), self._rx[n:]
        return out

