"""A single-port RAM that maps to the iCE40UP's SPRAM on boards that have it.

The accelerator's dense weight memory is the largest it has, and it is used by one side at a
time: the host fills it while no program runs, the feeder reads it while one does. A
single-port RAM serves both, so on the iCE40UP5K it can live in the four 256-kbit
``SB_SPRAM256KA`` blocks (16 K × 16 bits each) instead of the 30 small EBRs.

Without such a platform (simulation, Verilog for any target, ECP5 boards) it is an
:class:`amaranth.lib.memory.Memory` with one write and one read port on the same address, which
every open toolchain maps to block RAM. Both behave the same at the ports:

* a write (``we`` ≠ 0) stores the bytes of ``wdata`` selected by ``we``;
* a read (``re`` and ``we`` = 0) shows the word at ``addr`` on ``rdata`` the next cycle;
* ``rdata`` holds its value on every other cycle.
"""

from __future__ import annotations

from amaranth import Cat, ClockSignal, Module, Signal
from amaranth.hdl import Instance
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..arith.dsp import is_ice40

__all__ = ["SPRAM_DEPTH", "SPRAM_WIDTH", "SinglePortRam", "spram_blocks"]

#: Words and bits of one ``SB_SPRAM256KA``.
SPRAM_DEPTH, SPRAM_WIDTH = 16384, 16


def spram_blocks(width: int, depth: int) -> int:
    """``SB_SPRAM256KA`` blocks a ``width``-bit, ``depth``-word RAM takes."""
    return -(-width // SPRAM_WIDTH) * -(-depth // SPRAM_DEPTH)


def _has_spram(platform) -> bool:
    return is_ice40(platform) and str(getattr(platform, "device", "")).startswith("iCE40UP")


class SinglePortRam(wiring.Component):
    """``depth`` words of ``width`` bits (a multiple of 8), one port.

    Parameters
    ----------
    width : int
        Word width in bits, a multiple of 8.
    depth : int
        Words.
    spram : bool
        Use ``SB_SPRAM256KA`` blocks when the platform has them (iCE40UP devices).

    Members
    -------
    addr : In(range(depth))
    wdata : In(width)
    we : In(width // 8)
        Byte write enables.
    re : In(1)
        Read (ignored while ``we`` is set).
    rdata : Out(width)
    """

    def __init__(self, width: int, depth: int, *, spram: bool = True):
        if width <= 0 or width % 8:
            raise ValueError(f"RAM width must be a positive multiple of 8, not {width}")
        if depth < 1:
            raise ValueError(f"RAM depth must be at least 1, not {depth}")
        self.width, self.depth, self.spram = width, depth, spram
        super().__init__({
            "addr": In(range(depth)), "wdata": In(width), "we": In(width // 8), "re": In(1),
            "rdata": Out(width),
        })

    @property
    def parameters(self) -> dict:
        """Parameters for manifests and benches."""
        return {"width": self.width, "depth": self.depth}

    def elaborate(self, platform):
        if self.spram and _has_spram(platform):
            return self._elaborate_spram()
        m = Module()
        m.submodules.mem = mem = Memory(shape=self.width, depth=self.depth, init=[])
        wr = mem.write_port(granularity=8)
        rd = mem.read_port()
        m.d.comb += [
            wr.addr.eq(self.addr), wr.data.eq(self.wdata), wr.en.eq(self.we),
            rd.addr.eq(self.addr), rd.en.eq(self.re & ~self.we.any()),
            self.rdata.eq(rd.data),
        ]
        return m

    def _elaborate_spram(self):
        m = Module()
        lanes = -(-self.width // SPRAM_WIDTH)
        banks = -(-self.depth // SPRAM_DEPTH)
        bank_bits = ceil_log2(banks)
        bank = self.addr[14:14 + bank_bits] if bank_bits else 0
        last_bank = Signal(max(bank_bits, 1))
        with m.If(self.re & ~self.we.any()):
            m.d.sync += last_bank.eq(bank)
        wdata = Cat(self.wdata, Signal(lanes * SPRAM_WIDTH - self.width))
        we = Cat(self.we, Signal(2 * lanes - self.width // 8))
        outs = []
        read = self.re & ~self.we.any()
        addr = Signal(14)
        m.d.comb += addr.eq(self.addr[:14])
        for b in range(banks):
            out = Signal(lanes * SPRAM_WIDTH, name=f"bank{b}_data")
            outs.append(out)
            for lane in range(lanes):
                byte_we = we[2 * lane:2 * lane + 2]
                # A lane is enabled for a read, or for a write to one of its bytes (a lane
                # not written keeps its output).
                select = (bank == b) & (read | byte_we.any())
                m.submodules[f"spram_{b}_{lane}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=addr,
                    i_DATAIN=wdata[lane * SPRAM_WIDTH:(lane + 1) * SPRAM_WIDTH],
                    # MASKWREN enables nibbles: two per byte.
                    i_MASKWREN=Cat(byte_we[0], byte_we[0], byte_we[1], byte_we[1]),
                    i_WREN=byte_we.any(),
                    i_CHIPSELECT=select,
                    i_CLOCK=ClockSignal("sync"),
                    i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1,
                    o_DATAOUT=out[lane * SPRAM_WIDTH:(lane + 1) * SPRAM_WIDTH],
                )
        if banks == 1:
            m.d.comb += self.rdata.eq(outs[0][:self.width])
        else:
            with m.Switch(last_bank):
                for b, out in enumerate(outs):
                    with m.Case(b):
                        m.d.comb += self.rdata.eq(out[:self.width])
        return m
