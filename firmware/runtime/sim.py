"""SimTransport: the driver's transport into a cocotb simulation of the accelerator top.

The driver is ordinary blocking code; the cocotb test runs it in a thread with
:func:`cocotb.task.bridge`, and this transport's methods hand each transfer to the simulator
with :func:`cocotb.task.resume`. No simulated time passes while the driver computes.

Two ways in:

* ``"stream"``: the top's byte streams ``host_rx``/``host_tx`` (one byte per cycle; the reply
  is taken with ``ready`` only while the driver reads, so nothing is lost);
* ``"burst"``: the same byte streams in words of up to ``width`` bytes
  (:mod:`corolla.hw.io.burst`): a frame goes in one word per cycle and a reply comes out in a
  few words, so Python wakes up once per word instead of twice per byte (the link behind them
  is the same; the ``stream`` mode keeps the byte-wise path tested);
* ``"uart"``: the real ``rx``/``tx`` pins at the top's baud rate, 8N1, with a receiver that
  watches ``tx`` all the time.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["SimTransport"]


class SimTransport:
    """Byte transport into a running cocotb simulation.

    Parameters
    ----------
    dut
        The cocotb handle of :class:`corolla.hw.top.Accelerator`.
    clock_hz : float
        The simulated clock (converts the driver's seconds to cycles).
    mode : str
        ``"stream"``, ``"burst"`` or ``"uart"``.
    divisor : int
        UART clock cycles per bit (``"uart"``).
    width : int
        Bytes per word (``"burst"``).
    device_hz : float, optional
        The clock the simulated design stands for (default ``clock_hz``): :meth:`now` counts
        its cycles, so rates measured in simulation are the device's.
    """

    def __init__(self, dut, *, clock_hz: float, mode: str = "stream", divisor: int = 0,
                 width: int = 16, device_hz: float | None = None):
        import cocotb
        from cocotb.task import resume

        if mode not in ("stream", "burst", "uart"):
            raise ValueError(f"mode must be 'stream', 'burst' or 'uart', not {mode!r}")
        self.width = width
        self.dut = dut
        self.clock_hz = clock_hz
        self.device_hz = device_hz or clock_hz
        self.mode = mode
        self.divisor = divisor
        self._rx = deque()
        self._write = resume(self._send)
        self._read = resume(self._recv)
        self._sleep = resume(self._wait)
        self._time = resume(self._sim_time)
        if mode == "uart":
            dut.rx.value = 1
            cocotb.start_soon(self._uart_monitor())
        elif mode == "burst":
            dut.host_rx__valid.value = 0
            dut.host_tx__ready.value = 0
        else:
            dut.host_rx__valid.value = 0
            dut.host_tx__ready.value = 0

    def _cycles(self, seconds: float) -> int:
        return max(1, int(seconds * self.clock_hz))

    # -- the driver's interface (called from the bridge thread) -----------------------------
    def write(self, data: bytes):
        self._write(bytes(data))

    def read(self, n: int, timeout: float) -> bytes:
        return self._read(n, self._cycles(timeout))

    def sleep(self, seconds: float):
        self._sleep(self._cycles(seconds))

    def now(self) -> float:
        """The device's seconds: simulated clock cycles at ``device_hz``."""
        return self._time() * self.clock_hz / self.device_hz

    # -- coroutines --------------------------------------------------------------------------
    async def _sim_time(self) -> float:
        from cocotb.utils import get_sim_time

        return get_sim_time(unit="ns") * 1e-9

    async def _wait(self, cycles: int):
        from cocotb.triggers import Timer

        # One timer, not ClockCycles: that wakes Python on every clock edge it counts.
        await Timer(cycles * math.ceil(1e9 / self.clock_hz), unit="ns")

    async def _send(self, data: bytes):
        from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

        dut = self.dut
        if self.mode == "burst":
            # One word per cycle while the FIFO has room; `ready` only changes on a clock edge,
            # so it is read on the falling edge where the word is presented.
            w = self.width
            words = deque(data[k:k + w] for k in range(0, len(data), w))
            await FallingEdge(dut.clk)
            while words:
                if int(dut.host_rx__ready.value):
                    word = words.popleft()
                    dut.host_rx__valid.value = 1
                    dut.host_rx__payload.value = (int.from_bytes(word, "little")
                                                  | len(word) << 8 * w)
                else:
                    dut.host_rx__valid.value = 0
                await FallingEdge(dut.clk)
            dut.host_rx__valid.value = 0
            return
        if self.mode == "uart":
            for byte in data:
                for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                    dut.rx.value = bit
                    await ClockCycles(dut.clk, self.divisor)
            return
        await FallingEdge(dut.clk)
        for byte in data:
            dut.host_rx__valid.value = 1
            dut.host_rx__payload.value = byte
            await RisingEdge(dut.clk)
            await FallingEdge(dut.clk)
        dut.host_rx__valid.value = 0

    async def _recv(self, n: int, cycles: int) -> bytes:
        from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

        dut = self.dut
        out = bytearray()
        if self.mode == "uart":
            waited = 0
            step = 10 * self.divisor
            while len(self._rx) < n and waited < cycles:
                await ClockCycles(dut.clk, step)
                waited += step
            while self._rx and len(out) < n:
                out.append(self._rx.popleft())
        elif self.mode == "burst":
            from cocotb.triggers import First, Timer
            from cocotb.utils import get_sim_time

            w = self.width
            period = math.ceil(1e9 / self.clock_hz)
            deadline = math.ceil(get_sim_time("ns")) + cycles * period
            while len(self._rx) < n:
                await FallingEdge(dut.clk)
                if int(dut.host_tx__valid.value):
                    # Take every word that is there, one per cycle.
                    dut.host_tx__ready.value = 1
                    while int(dut.host_tx__valid.value):
                        raw = int(dut.host_tx__payload.value)
                        count = raw >> 8 * w
                        self._rx.extend(raw.to_bytes(w + 2, "little")[:count])
                        await FallingEdge(dut.clk)
                    dut.host_tx__ready.value = 0
                    continue
                left = deadline - math.ceil(get_sim_time("ns"))
                if left <= 0:
                    break
                await First(RisingEdge(dut.host_tx__valid), Timer(left, unit="ns"))
            while self._rx and len(out) < n:
                out.append(self._rx.popleft())
        else:
            from cocotb.triggers import First, Timer
            from cocotb.utils import get_sim_time

            # Whole nanoseconds, so every Timer is exactly representable.
            period = math.ceil(1e9 / self.clock_hz)
            deadline = math.ceil(get_sim_time("ns")) + cycles * period
            await FallingEdge(dut.clk)
            dut.host_tx__ready.value = 1
            while len(out) < n:
                await ReadOnly()
                if int(dut.host_tx__valid.value):
                    out.append(int(dut.host_tx__payload.value))
                    await RisingEdge(dut.clk)
                    continue
                left = deadline - math.ceil(get_sim_time("ns"))
                if left <= 0:
                    break
                # Nothing to take: skip ahead to the next byte (or the deadline).
                await First(RisingEdge(dut.host_tx__valid), Timer(left, unit="ns"))
            await FallingEdge(dut.clk)
            dut.host_tx__ready.value = 0
        return bytes(out)

    async def _uart_monitor(self):
        from cocotb.triggers import ClockCycles, FallingEdge

        dut = self.dut
        d = self.divisor
        while True:
            await FallingEdge(dut.tx)
            await ClockCycles(dut.clk, d // 2)
            if int(dut.tx.value):
                continue
            byte = 0
            for i in range(8):
                await ClockCycles(dut.clk, d)
                byte |= int(dut.tx.value) << i
            await ClockCycles(dut.clk, d)
            if int(dut.tx.value):
                self._rx.append(byte)
