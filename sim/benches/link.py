"""cocotb bench of :class:`corolla.hw.io.link.HostLink` on its own, against the link's golden
model (:func:`corolla.sim.models.link.link_reference`).

The bench plays the core behind the link: byte memories for every space (read data a cycle
after ``re``), the record check of record spaces (a record is valid when its last byte is 0),
``run.busy`` set at random between requests, and a fixed STATUS payload. Requests are seeded
random: every command, good and bad (lengths, spaces, addresses, misaligned or invalid
records, RUN ranges and flags (RUN_WAIT replies with the STATUS payload once ``run.busy`` is
low), BUSY, unknown commands, damaged CRCs, frames that stop half way, noise
between frames), sent with idle cycles between bytes while the reply stream is read with
back-pressure. Every reply must equal the model's byte for byte, the memories must hold the
model's contents after each request, and every RUN the model starts must pulse ``run.start``
with its fields.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import ReadOnly

from corolla import protocol as proto
from corolla.params import SpaceInfo
from corolla.sim.benches.common import TB, golden, params, record_stats, rng
from corolla.sim.models.link import LinkState, link_reference, link_timeout_reference


def _record_ok(space, record: bytes) -> bool:
    return record[-1] == 0


class LinkTB(TB):
    def __init__(self, dut, p, gen):
        super().__init__(dut)
        self.gen = gen
        self.spaces = {int(k): SpaceInfo(*v) for k, v in p["spaces"].items()}
        self.memories = {k: bytearray(s.size) for k, s in self.spaces.items()}
        self.pending_record = bytearray()
        self.starts = []
        dut.rx__valid.value = 0
        dut.tx__ready.value = 0
        dut.bus__rdata.value = 0
        dut.bus__bad.value = 0
        dut.run__busy.value = 0

    def serve(self):
        """The core's side of the bus and run controls, on a falling edge (the link drives
        them from registers, so they are settled)."""
        d = self.dut
        space, addr = int(d.bus__space.value), int(d.bus__addr.value)
        bad = 0
        if int(d.bus__we.value):
            sp = self.spaces.get(space)
            byte = int(d.bus__wdata.value)
            if int(d.bus__check.value):
                if sp is not None and sp.records and addr % 8 == 7:
                    bad = int(byte != 0)
            elif sp is not None and addr < sp.size:
                self.memories[space][addr] = byte
        d.bus__bad.value = bad
        if int(d.bus__re.value) and space in self.memories and addr < len(self.memories[space]):
            d.bus__rdata.value = self.memories[space][addr]
        if int(d.run__start.value):
            self.starts.append((int(d.run__first.value), int(d.run__count.value),
                                int(d.run__watchdog.value)))

    async def clock(self, rx=None, ready=1):
        d = self.dut
        d.rx__valid.value = int(rx is not None)
        d.rx__payload.value = rx if rx is not None else int(self.gen.integers(256))
        d.tx__ready.value = ready
        await ReadOnly()
        out = int(d.tx__payload.value) if int(d.tx__valid.value) and ready else None
        await self.tick()
        self.serve()
        return out

    async def exchange(self, frame: bytes, expect_reply: bool, budget: int):
        """Send ``frame`` with idle cycles, then read one reply with back-pressure."""
        got = bytearray()
        for byte in frame:
            while self.gen.random() < 0.25:
                await self.clock(None, 0)
            await self.clock(byte, 0)
        for _ in range(budget):
            b = await self.clock(None, int(self.gen.random() < 0.7))
            if b is not None:
                got.append(b)
            if len(got) >= 7 and len(got) == 7 + int.from_bytes(got[3:5], "little"):
                break
        return bytes(got)


def _request(gen, p, spaces, program_depth):
    """A random request: ``(frame, cut)``; ``cut`` is where the frame stops (or None)."""
    maxp = p["max_payload"]
    tag = int(gen.integers(256))
    kind = gen.random()
    space = int(gen.choice([*spaces, 7, 200]))
    size = spaces[space].size if space in spaces else 64
    addr = int(gen.integers(0, size + 4))
    if spaces.get(space) is not None and spaces[space].records and gen.random() < 0.8:
        addr -= addr % 8
    if kind < 0.35:
        n = int(gen.integers(1, max(2, min(maxp - 5, size - addr) + 1))) if size > addr else 3
        if spaces.get(space) is not None and spaces[space].records and gen.random() < 0.8:
            n = max(8, n - n % 8)
        data = bytearray(gen.integers(0, 256, n).astype("u1").tobytes())
        if spaces.get(space) is not None and spaces[space].records:
            for k in range(7, len(data), 8):
                data[k] = 0 if gen.random() < 0.9 else 1
        payload = bytes([space]) + addr.to_bytes(4, "little") + bytes(data)
        code = proto.Command.WRITE
    elif kind < 0.6:
        count = int(gen.integers(0, maxp + 3))
        payload = bytes([space]) + addr.to_bytes(4, "little") + count.to_bytes(2, "little")
        code = proto.Command.READ
    elif kind < 0.72:
        first, count = int(gen.integers(0, program_depth + 1)), int(gen.integers(0, 4))
        payload = bytes([first, count]) + int(gen.integers(0, 1 << 32)).to_bytes(4, "little")
        if gen.random() < 0.5:                          # flags: wait for the end, or bad ones
            payload += bytes([int(gen.choice([0, proto.RUN_WAIT, proto.RUN_WAIT, 2, 0x81]))])
        code = proto.Command.RUN
    elif kind < 0.82:
        code, payload = int(gen.choice([proto.Command.PING, proto.Command.STATUS])), b""
    else:
        code, payload = int(gen.choice([0x00, 0x09, 0xFF])), b""
    if gen.random() < 0.08:                             # a length that does not match
        payload = payload + bytes([1])
    frame = proto.frame(code, payload, tag=tag)
    damage = gen.random()
    if damage < 0.06:                                   # a flipped bit
        k = int(gen.integers(1, len(frame)))
        frame = frame[:k] + bytes([frame[k] ^ (1 << int(gen.integers(8)))]) + frame[k + 1:]
    cut = int(gen.integers(1, len(frame))) if 0.06 <= damage < 0.1 else None
    return frame, cut


@cocotb.test()
async def requests(dut):
    """Seeded random requests, good and bad, against the model; memories and RUNs too."""
    p = params()
    gen = rng(21)
    tb = LinkTB(dut, p, gen)
    await tb.reset()
    model = golden(link_reference)
    state = LinkState(memories={k: bytearray(v) for k, v in tb.memories.items()},
                      status=bytes.fromhex(p["status"]))
    dut.run__status.value = int.from_bytes(state.status, "little")
    info = bytes.fromhex(p["info"])
    counts = {}
    for n in range(p.get("requests", 250)):
        state.busy = bool(gen.random() < 0.15)
        dut.run__busy.value = int(state.busy)
        frame, cut = _request(gen, p, tb.spaces, p["program_depth"])
        if gen.random() < 0.1:                          # noise before the frame
            frame = bytes([0x00, 0x5C, 0x42]) + frame
            cut = None if cut is None else cut + 3
        sync_at = frame.index(proto.SYNC_REQUEST)
        if cut is not None:
            cut = max(cut, sync_at + 1)
            want = link_timeout_reference(frame[sync_at:cut], max_payload=p["max_payload"])
            frame = frame[:cut]
        else:
            want = model(frame[sync_at:], state, spaces=tb.spaces, info=info,
                         program_depth=p["program_depth"], max_payload=p["max_payload"],
                         record_ok=_record_ok)
        got = await tb.exchange(frame, True, budget=30 * (len(frame) + p["max_payload"])
                                + 4 * p["frame_timeout"])
        status = proto.Status(want[1]).name if want[1] in iter(proto.Status) else want[1]
        assert got == want, (f"request {n} {frame.hex()}: reply {got.hex()}, expected "
                             f"{want.hex()} ({status})")
        for space, mem in state.memories.items():
            assert tb.memories[space] == mem, f"request {n} {frame.hex()}: space {space} differs"
        assert tb.starts == state.runs, f"request {n}: RUNs {tb.starts}, expected {state.runs}"
        counts[status] = counts.get(status, 0) + 1
        for _ in range(int(gen.integers(0, 4))):
            await tb.clock()
    dut._log.info("replies: %s", counts)
    assert counts.get("OK", 0) > 50 and len(counts) >= 8, counts
    record_stats(replies=counts)
