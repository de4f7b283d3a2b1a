"""Host link: frame parser, command executor and reply framer over a byte stream.

The wire format is :mod:`corolla.protocol`. The link receives a whole request into its
frame buffer while checking the CRC, then executes it and sends one reply. Memory accesses go
through a byte-wide bus to the accelerator core (:class:`corolla.hw.top.AcceleratorCore`):
``we``/``re`` with ``space`` and ``addr`` (:class:`~corolla.hw.bus.MemBusSignature`), read
data one cycle after ``re``. A write's range is checked before its first byte; EIE load
records are first run through the core's record check (``check``, with ``bad`` answering)
and written only when every record passed, so a refused request changes nothing.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import crc, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from corolla import protocol as proto
from corolla.hw.bus import MemBusSignature, RunSignature, status_bits
from corolla.params import SpaceInfo

__all__ = ["HostLink", "SpaceInfo"]


class HostLink(wiring.Component):
    """Request/response host link (see :mod:`corolla.protocol` for the commands).

    Parameters
    ----------
    spaces : dict of Space -> SpaceInfo
        The memory spaces the core offers.
    info : bytes
        The PING reply payload.
    program_depth : int
        Program steps, for the RUN range check.
    max_payload : int
        Largest request payload (and READ count), at least 16.
    frame_timeout : int
        Idle cycles after which a half-received frame is dropped (TIMEOUT reply), and after
        which a discarded frame is answered.

    Members
    -------
    rx : In(stream.Signature(8))
        Bytes from the host (always ready: bytes that arrive while a reply is being sent are
        dropped).
    tx : Out(stream.Signature(8))
        Bytes to the host.
    bus : Out(MemBusSignature)
        Memory bus to the core (:class:`~corolla.hw.bus.MemBusSignature`); read data one cycle
        after ``re``; ``bad`` answers a checking write of a record.
    run : Out(RunSignature)
        ``start`` pulses for one cycle to run ``count`` steps from ``first`` with ``watchdog``
        cycles per step; ``busy`` (a program runs: writes and reads are refused) and
        ``status`` (the STATUS reply payload, fields of ``protocol.STATUS_FIELDS``) come back.
    """

    def __init__(self, *, spaces: dict, info: bytes, program_depth: int,
                 max_payload: int = 1024, frame_timeout: int = 1000):
        if not isinstance(max_payload, int) or not 16 <= max_payload <= 0xFFFF:
            raise ValueError(f"max_payload must be an integer from 16 to 65535, not "
                             f"{max_payload!r}")
        if not isinstance(frame_timeout, int) or frame_timeout < 16:
            raise ValueError(f"frame_timeout must be an integer of at least 16 cycles, not "
                             f"{frame_timeout!r}")
        self._spaces = dict(spaces)
        self._info = bytes(info)
        self._program_depth = program_depth
        self._max_payload = max_payload
        self._timeout = frame_timeout
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "bus": Out(MemBusSignature()),
            "run": Out(RunSignature()),
        })

    @property
    def parameters(self) -> dict:
        """Parameters for manifests and benches (spaces as ``[size, readable, writable,
        records]``, the PING payload in hex)."""
        return {"spaces": {int(k): [v.size, v.readable, v.writable, v.records]
                           for k, v in self._spaces.items()},
                "info": self._info.hex(), "program_depth": self._program_depth,
                "max_payload": self._max_payload, "frame_timeout": self._timeout}

    def elaborate(self, platform):
        m = Module()
        st = proto.Status
        maxp = self._max_payload

        m.submodules.frame = frame = Memory(shape=8, depth=maxp, init=[])
        fw = frame.write_port()
        fr = frame.read_port()
        m.submodules.rx_crc = rx_crc = crc.catalog.CRC16_CCITT_FALSE(data_width=8).create()
        m.submodules.tx_crc = tx_crc = crc.catalog.CRC16_CCITT_FALSE(data_width=8).create()

        # Each received byte is registered before the parser looks at it.
        byte = Signal(8)
        got = Signal()
        m.d.comb += self.rx.ready.eq(1)
        m.d.sync += [byte.eq(self.rx.payload), got.eq(self.rx.valid)]

        quiet = Signal(range(self._timeout + 1))
        with m.If(got):
            m.d.sync += quiet.eq(0)
        with m.Elif(quiet != self._timeout):
            m.d.sync += quiet.eq(quiet + 1)
        timed_out = quiet == self._timeout

        code = Signal(8)
        tag = Signal(8)
        length = Signal(16)
        idx = Signal(17)
        left = Signal(17)             # bytes left: of the payload received, copied or sent
        # ... compared a cycle ahead, so that no comparison drives the counters' enables:
        # `more` is left ≠ 0, `one` is left = 1.
        more = Signal()
        one = Signal()
        head = Signal(8 * 7)
        status = Signal(8)
        reply_len = Signal(16)
        source = Signal(2)            # 0 none, 1 info, 2 status, 3 memory
        checking = Signal()
        bad_seen = Signal()
        wpend = Signal()              # a buffer byte read last cycle is to be written now
        bus_addr = Signal(32)         # the bus address: of that byte, or of a reply byte
        bus_re = Signal()

        space = head[0:8]
        addr = head[8:40]
        count = head[40:56]
        first, steps, flags = head[0:8], head[8:16], head[48:56]

        m.d.sync += self.run.start.eq(0)
        m.d.comb += [
            self.run.first.eq(first),
            self.run.count.eq(steps),
            self.run.watchdog.eq(head[16:48]),
            self.bus.space.eq(space),
            # The bus is driven from registers only (wpend is low outside COPY).
            self.bus.addr.eq(bus_addr), self.bus.we.eq(wpend), self.bus.check.eq(checking),
            self.bus.re.eq(bus_re),
        ]
        m.d.sync += bus_re.eq(0)

        # The request's checks, registered in the DECODE stages so that EXEC only looks at
        # flags: the space's properties, the end of the range and every length rule.
        size = Signal(33)
        readable = Signal()
        writable = Signal()
        records = Signal()
        data_len = Signal(16)
        end = Signal(34)
        over = Signal()               # the range passes the space's end
        is_write = Signal()
        len_is = {n: Signal(name=f"len_is_{n}") for n in (0, 6, 7)}
        len_short = Signal()          # a WRITE shorter than its header
        count_bad = Signal()          # a READ of 0 or of more than max_payload bytes
        steps_bad = Signal()          # a RUN of no steps or past the program's end
        flags_bad = Signal()
        misaligned = Signal()         # a record write not on whole records
        verdict = Signal(8)           # the reply's status, decided in JUDGE

        # Reply: header (SYNC, status, tag, length), payload (`j` counts it), CRC.
        info_len = max(1, len(self._info))
        m.submodules.info = info_rom = Memory(shape=8, depth=info_len,
                                              init=list(self._info) or [0])
        info_rd = info_rom.read_port()
        r_phase = Signal(2)           # 0 header, 1 payload, 2 CRC
        r_pos = Signal(3)
        r_byte = Signal(8)
        r_data = Signal(8)            # the memory's byte, registered
        j = Signal(16)
        m.d.comb += [info_rd.addr.eq(j), info_rd.en.eq(1)]

        with m.FSM():
            with m.State("SYNC"), m.If(got & (byte == proto.SYNC_REQUEST)):
                m.d.comb += rx_crc.start.eq(1)
                # An error reply has no payload: nothing of the last reply may carry over.
                m.d.sync += [idx.eq(0), tag.eq(0), status.eq(st.OK), reply_len.eq(0),
                             source.eq(0)]
                m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += [rx_crc.valid.eq(got), rx_crc.data.eq(byte)]
                with m.If(got):
                    m.d.sync += idx.eq(idx + 1)
                    with m.Switch(idx):
                        with m.Case(0):
                            m.d.sync += code.eq(byte)
                        with m.Case(1):
                            m.d.sync += tag.eq(byte)
                        with m.Case(2):
                            m.d.sync += length[:8].eq(byte)
                        with m.Case(3):
                            n = Cat(length[:8], byte)
                            m.d.sync += [length[8:].eq(byte), idx.eq(0), head.eq(0),
                                         left.eq(n), one.eq(n == 1)]
                            with m.If(n > maxp):
                                m.d.sync += status.eq(st.BAD_LENGTH)
                                m.next = "DISCARD"
                            with m.Elif(n == 0):
                                m.next = "CRC"
                            with m.Else():
                                m.next = "PAYLOAD"
                with m.Elif(timed_out):
                    m.d.sync += status.eq(st.TIMEOUT)
                    m.next = "REPLY_START"
            with m.State("PAYLOAD"):
                m.d.comb += [rx_crc.valid.eq(got), rx_crc.data.eq(byte),
                             fw.addr.eq(idx), fw.data.eq(byte), fw.en.eq(got)]
                with m.If(got):
                    m.d.sync += [idx.eq(idx + 1), left.eq(left - 1), one.eq(left == 2)]
                    for k in range(7):
                        with m.If(idx == k):
                            m.d.sync += head[8 * k:8 * k + 8].eq(byte)
                    with m.If(one):
                        m.d.sync += idx.eq(0)
                        m.next = "CRC"
                with m.Elif(timed_out):
                    m.d.sync += status.eq(st.TIMEOUT)
                    m.next = "REPLY_START"
            with m.State("CRC"):
                m.d.comb += [rx_crc.valid.eq(got), rx_crc.data.eq(byte)]
                with m.If(got):
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(idx == 1):
                        m.next = "CHECK"
                with m.Elif(timed_out):
                    m.d.sync += status.eq(st.TIMEOUT)
                    m.next = "REPLY_START"
            with m.State("CHECK"):
                with m.If(rx_crc.match_detected):
                    m.next = "DECODE"
                with m.Else():
                    m.d.sync += status.eq(st.BAD_CRC)
                    m.next = "DISCARD"
            with m.State("DISCARD"), m.If(timed_out):
                # Swallow the rest of a damaged frame; answer once the line is quiet.
                m.next = "REPLY_START"
            with m.State("DECODE"):
                m.d.sync += [
                    data_len.eq(length - 5), is_write.eq(code == proto.Command.WRITE),
                    len_short.eq(length < 6), count_bad.eq((count == 0) | (count > maxp)),
                    steps_bad.eq((steps == 0) | (first + steps > self._program_depth)),
                    flags_bad.eq(flags[1:] != 0),
                    *(flag.eq(length == n) for n, flag in len_is.items()),
                    size.eq(0), readable.eq(0), writable.eq(0), records.eq(0),
                ]
                with m.Switch(space):
                    for sp, sp_info in self._spaces.items():
                        with m.Case(int(sp)):
                            m.d.sync += [size.eq(sp_info.size),
                                         readable.eq(int(sp_info.readable)),
                                         writable.eq(int(sp_info.writable)),
                                         records.eq(int(sp_info.records))]
                m.next = "DECODE_END"
            with m.State("DECODE_END"):
                m.d.sync += [end.eq(addr + Mux(is_write, data_len, count)),
                             misaligned.eq((addr[:3] != 0) | (data_len[:3] != 0))]
                m.next = "DECODE_RANGE"
            with m.State("DECODE_RANGE"):
                m.d.sync += over.eq(end > size)
                m.next = "JUDGE"
            with m.State("JUDGE"):
                # The request's verdict from the registered checks; EXEC acts on it.
                m.d.sync += verdict.eq(st.OK)
                with m.Switch(code):
                    with m.Case(proto.Command.PING, proto.Command.STATUS), m.If(~len_is[0]):
                        m.d.sync += verdict.eq(st.BAD_LENGTH)
                    with m.Case(proto.Command.RUN):
                        with m.If(~len_is[6] & (~len_is[7] | flags_bad)):
                            m.d.sync += verdict.eq(st.BAD_LENGTH)
                        with m.Elif(self.run.busy):
                            m.d.sync += verdict.eq(st.BUSY)
                        with m.Elif(steps_bad):
                            m.d.sync += verdict.eq(st.BAD_ADDRESS)
                    with m.Case(proto.Command.WRITE):
                        with m.If(len_short):
                            m.d.sync += verdict.eq(st.BAD_LENGTH)
                        with m.Elif(self.run.busy):
                            m.d.sync += verdict.eq(st.BUSY)
                        with m.Elif(~writable):
                            m.d.sync += verdict.eq(st.BAD_SPACE)
                        with m.Elif(over | (records & misaligned)):
                            m.d.sync += verdict.eq(st.BAD_ADDRESS)
                    with m.Case(proto.Command.READ):
                        with m.If(~len_is[7]):
                            m.d.sync += verdict.eq(st.BAD_LENGTH)
                        with m.Elif(self.run.busy):
                            m.d.sync += verdict.eq(st.BUSY)
                        with m.Elif(~readable):
                            m.d.sync += verdict.eq(st.BAD_SPACE)
                        with m.Elif(count_bad):
                            m.d.sync += verdict.eq(st.BAD_LENGTH)
                        with m.Elif(over):
                            m.d.sync += verdict.eq(st.BAD_ADDRESS)
                    with m.Default():
                        m.d.sync += verdict.eq(st.UNKNOWN_COMMAND)
                m.next = "EXEC"
            with m.State("EXEC"):
                m.d.sync += [reply_len.eq(0), source.eq(0), status.eq(verdict)]
                m.next = "REPLY_START"
                with m.If(verdict == st.OK), m.Switch(code):
                    with m.Case(proto.Command.PING):
                        m.d.sync += [reply_len.eq(len(self._info)), source.eq(1)]
                    with m.Case(proto.Command.STATUS):
                        m.d.sync += [reply_len.eq(status_bits() // 8), source.eq(2)]
                    with m.Case(proto.Command.RUN):
                        m.d.sync += self.run.start.eq(1)
                        with m.If(len_is[7] & flags[0]):
                            # RUN_WAIT: the reply is the STATUS once the program ends.
                            m.d.sync += [reply_len.eq(status_bits() // 8), source.eq(2)]
                            m.next = "RUN_WAIT"
                    with m.Case(proto.Command.WRITE):
                        m.d.sync += [idx.eq(5), left.eq(data_len), more.eq(data_len != 0),
                                     bus_addr.eq(addr - 1),
                                     checking.eq(records), bad_seen.eq(0), wpend.eq(0)]
                        m.next = "COPY"
                    with m.Case(proto.Command.READ):
                        m.d.sync += [reply_len.eq(count), source.eq(3)]
            with m.State("COPY"):
                # Buffer byte idx is read this cycle and written to the bus at bus_addr the next.
                m.d.comb += [fr.addr.eq(idx), fr.en.eq(1), self.bus.wdata.eq(fr.data)]
                with m.If(wpend & self.bus.bad):
                    m.d.sync += bad_seen.eq(1)
                m.d.sync += wpend.eq(more)
                with m.If(more):
                    m.d.sync += [idx.eq(idx + 1), left.eq(left - 1), more.eq(left != 1),
                                 bus_addr.eq(bus_addr + 1)]
                with m.Elif(~wpend):
                    with m.If(checking & bad_seen):
                        m.d.sync += status.eq(st.BAD_RECORD)
                        m.next = "REPLY_START"
                    with m.Elif(checking):
                        # Every record passed: now write them.
                        m.d.sync += [checking.eq(0), idx.eq(5), left.eq(data_len),
                                     more.eq(data_len != 0),
                                     bus_addr.eq(addr - 1)]
                    with m.Else():
                        m.next = "REPLY_START"
            # RUN_WAIT: the sequencer is busy from the cycle after ``start`` until the end.
            with m.State("RUN_WAIT"), m.If(~self.run.busy & ~self.run.start):
                m.next = "REPLY_START"
            with m.State("REPLY_START"):
                m.d.comb += tx_crc.start.eq(1)
                m.d.sync += [r_phase.eq(0), r_pos.eq(0), j.eq(0), bus_addr.eq(addr),
                             left.eq(reply_len), more.eq(reply_len != 0),
                             one.eq(reply_len == 1)]
                m.next = "REPLY_FETCH"
            with m.State("REPLY_FETCH"):
                m.d.sync += bus_re.eq((r_phase == 1) & (source == 3))
                m.next = "REPLY_READ"
            with m.State("REPLY_READ"):   # bus.re is up
                m.next = "REPLY_WAIT"
            with m.State("REPLY_WAIT"):
                m.d.sync += r_data.eq(self.bus.rdata)
                m.next = "REPLY_LOAD"
            with m.State("REPLY_LOAD"):
                with m.Switch(r_phase):
                    with m.Case(0), m.Switch(r_pos):
                        for k, value in enumerate((proto.SYNC_REPLY, status, tag,
                                                   reply_len[:8], reply_len[8:])):
                            with m.Case(k):
                                m.d.sync += r_byte.eq(value)
                    with m.Case(1), m.Switch(source):
                        with m.Case(1):
                            m.d.sync += r_byte.eq(info_rd.data)
                        with m.Case(2):
                            status_sel = j[:bits_for(status_bits() // 8)]
                            m.d.sync += r_byte.eq(self.run.status.word_select(status_sel,
                                                                              8))
                        with m.Default():
                            m.d.sync += r_byte.eq(r_data)
                    with m.Default():
                        m.d.sync += r_byte.eq(Mux(r_pos[0], tx_crc.crc[:8], tx_crc.crc[8:]))
                m.next = "REPLY_SEND"
            with m.State("REPLY_SEND"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(r_byte)]
                with m.If(self.tx.ready):
                    # The CRC covers the header after SYNC and the payload.
                    feed = (r_phase == 1) | ((r_phase == 0) & (r_pos != 0))
                    m.d.comb += [tx_crc.valid.eq(feed), tx_crc.data.eq(r_byte)]
                    m.next = "REPLY_FETCH"
                    with m.Switch(r_phase):
                        with m.Case(0):
                            m.d.sync += r_pos.eq(r_pos + 1)
                            with m.If(r_pos == 4):
                                m.d.sync += [r_pos.eq(0), r_phase.eq(Mux(more, 1, 2))]
                        with m.Case(1):
                            m.d.sync += [j.eq(j + 1), bus_addr.eq(bus_addr + 1),
                                         left.eq(left - 1), one.eq(left == 2)]
                            with m.If(one):
                                m.d.sync += r_phase.eq(2)
                        with m.Default():
                            m.d.sync += r_pos.eq(1)
                            with m.If(r_pos == 1):
                                m.next = "SYNC"
        return m

