"""Interfaces inside the accelerator top: the host's memory bus, run control, engine steps.

Every signature here is written from the side that drives the request (the host link, the
sequencer); the other side takes it flipped (``In(...)``).

* :class:`MemBusSignature`: the byte-wide memory bus of the host link. A write sets ``we`` for
  one cycle with ``space``, ``addr`` and ``wdata``; a read sets ``re`` and finds the byte on
  ``rdata`` one cycle later. ``check`` marks a write that only asks whether a record (the EIE
  load records) is valid; ``bad`` answers it in the same cycle.
* :class:`RunSignature`: ``start`` a program of ``count`` steps from ``first`` with a
  ``watchdog`` per step; ``busy`` and ``status`` (the STATUS reply payload) come back.
* :class:`StepSignature`: the sequencer starts one layer step on an engine and waits for
  ``done``, with the step's :class:`~corolla.protocol.ErrorFlag` bits in ``error``.
* :class:`ActPortSignature`: an engine's access to the activation banks during its step: one
  read port on the source bank, one write port (lane enables) on the other one.

:class:`HostBus` fans the link's bus out to every owner of memories (the core and each engine)
and ORs their answers, so an engine brings its own memories with it. :func:`serve_memories`
is the owner's side for plain memories.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from corolla import protocol as proto

__all__ = ["ActPortSignature", "HostBus", "MemBusSignature", "RunSignature", "StepSignature",
           "descriptor_layout", "engine_members", "serve_memories", "status_bits"]


def status_bits() -> int:
    """Bits of the STATUS reply payload."""
    return 8 * sum(n for _, n in proto.STATUS_FIELDS)


class MemBusSignature(wiring.Signature):
    """The host's byte-wide memory bus (see the module docstring)."""

    def __init__(self):
        super().__init__({
            "space": Out(8), "addr": Out(32), "wdata": Out(8), "we": Out(1), "re": Out(1),
            "check": Out(1), "rdata": In(8), "bad": In(1),
        })


class RunSignature(wiring.Signature):
    """Program start and status (see the module docstring)."""

    def __init__(self):
        super().__init__({
            "start": Out(1), "first": Out(8), "count": Out(8), "watchdog": Out(32),
            "busy": In(1), "status": In(status_bits()),
        })


class StepSignature(wiring.Signature):
    """One layer step on an engine: ``start`` (one cycle; the descriptor is held until
    ``done``), then ``done`` (one cycle) with ``error`` (:class:`~corolla.protocol.ErrorFlag`
    bits, 0 for success)."""

    def __init__(self):
        super().__init__({"start": Out(1), "done": In(1), "error": In(16)})


class ActPortSignature(wiring.Signature):
    """An engine's ports on the activation banks (seen from the engine).

    Parameters
    ----------
    lanes : int
        Int8 lanes per activation word.
    addr_width : int
        Bits of a word address.
    """

    def __init__(self, *, lanes: int, addr_width: int):
        super().__init__({
            "rd_addr": Out(addr_width), "rd_en": Out(1), "rd_data": In(8 * lanes),
            "wr_addr": Out(addr_width), "wr_data": Out(8 * lanes), "wr_en": Out(lanes),
        })


def serve_memories(m: Module, bus, ports: dict, *, busy) -> None:
    """Answer ``bus`` for the spaces in ``ports`` (the owner's side of :class:`HostBus`).

    ``ports`` maps a :class:`~corolla.protocol.Space` to ``(width, read, write)``: the word width
    in bits (a power-of-two number of bytes) and the memory's read and write ports (objects
    with ``addr``, ``en`` and ``data``; ``write`` may be ``None`` for a read-only space). The
    ports are driven only while ``busy`` is low; the datapath overrides them when it is high.
    A write reaches its memory the cycle after the bus carries it. ``rdata`` is 0 for a read
    of a space this owner does not hold, so owners can be ORed.
    """
    read_space = Signal(8)
    read_mine = Signal()
    lane_sel = Signal(4)
    with m.If(bus.re):
        m.d.sync += [lane_sel.eq(bus.addr[:4]), read_space.eq(bus.space),
                     read_mine.eq(0)]
    # Writes reach the memories a cycle after the bus carries them, from registers: the
    # decoding (space, lane, busy) then never sits between the host link and a RAM's enable.
    w_pend = Signal()
    w_space = Signal(8)
    w_addr = Signal(max(len(rd.addr) + exact_log2(width // 8)      # the largest space's
                        for width, rd, _ in ports.values()))        # byte addresses
    w_data = Signal(8)
    m.d.sync += [w_pend.eq(bus.we & ~bus.check), w_space.eq(bus.space), w_addr.eq(bus.addr),
                 w_data.eq(bus.wdata)]
    for sp, (width, rd, wr) in ports.items():
        nbytes = width // 8
        shift = exact_log2(nbytes)
        lane = w_addr[:shift] if shift else 0
        here = bus.space == sp
        writing = Signal(name=f"writing_{int(sp)}")
        m.d.comb += writing.eq(w_pend & (w_space == sp) & ~busy)
        if wr is not None:
            m.d.comb += [
                wr.addr.eq(w_addr >> shift),
                wr.data.eq(w_data.replicate(nbytes)),
                wr.en.eq(Mux(writing, 1 << lane, 0)),
            ]
        # (A single-port RAM's read and write address are one signal: a write's wins.)
        m.d.comb += [rd.addr.eq(Mux(writing, w_addr >> shift, bus.addr >> shift)),
                     rd.en.eq(~busy & bus.re)]
        with m.If(bus.re & here):
            m.d.sync += read_mine.eq(1)
    with m.If(read_mine), m.Switch(read_space):
        for sp, (width, rd, _) in ports.items():
            nbytes = width // 8
            with m.Case(int(sp)):
                sel = lane_sel[:exact_log2(nbytes)] if nbytes > 1 else 0
                m.d.comb += bus.rdata.eq(rd.data.word_select(sel, 8))


class HostBus(wiring.Component):
    """The memory map: the link's bus fanned out to every owner of memories.

    Parameters
    ----------
    targets : sequence of str
        Names of the owners; each gets a member of that name.

    Members
    -------
    host : In(MemBusSignature)
        From the host link.
    <target> : Out(MemBusSignature)
        To each owner, which answers only for its own spaces (``rdata`` and ``bad`` 0
        otherwise); the answers are ORed.
    """

    def __init__(self, targets):
        self._targets = tuple(targets)
        if len(set(self._targets)) != len(self._targets) or not self._targets:
            raise ValueError(f"targets must be distinct names, not {targets!r}")
        super().__init__({"host": In(MemBusSignature()),
                          **{name: Out(MemBusSignature()) for name in self._targets}})

    def elaborate(self, platform):
        m = Module()
        rdata, bad = 0, 0
        for name in self._targets:
            port = getattr(self, name)
            for member in ("space", "addr", "wdata", "we", "re", "check"):
                m.d.comb += getattr(port, member).eq(getattr(self.host, member))
            rdata, bad = rdata | port.rdata, bad | port.bad
        m.d.comb += [self.host.rdata.eq(rdata), self.host.bad.eq(bad)]
        return m


def descriptor_layout(args=()) -> data.StructLayout:
    """A program step (:data:`~corolla.protocol.DESCRIPTOR_BYTES` bytes): the common fields,
    then ``args`` (a layer kind's own fields) or, without them, the raw ``args`` bits."""
    fields = proto.descriptor_fields(args) if args else (
        *proto.DESCRIPTOR_COMMON, ("args", proto.DESCRIPTOR_ARGS_BITS))
    layout = {name: unsigned(bits) for name, bits in fields}
    used = sum(bits for _, bits in fields)
    if used < 8 * proto.DESCRIPTOR_BYTES:
        layout["_pad"] = unsigned(8 * proto.DESCRIPTOR_BYTES - used)
    return data.StructLayout(layout)


def engine_members(params, kind) -> dict:
    """The members every engine of the top has (the layer kind ``kind`` it runs).

    Members
    -------
    step : In(StepSignature)
        Its steps, from the sequencer.
    desc : In(descriptor_layout(kind.args))
        The running step's descriptor (held from ``step.start`` to ``step.done``).
    busy : In(1)
        A program runs: the engine's memories belong to its datapath, not to ``bus``.
    bus : In(MemBusSignature)
        The host's bus, for the engine's own memory spaces.
    act : Out(ActPortSignature)
        Its ports on the activation banks (source bank read, other bank written).
    """
    return {
        "step": In(StepSignature()),
        "desc": In(descriptor_layout(kind.args)),
        "busy": In(1),
        "bus": In(MemBusSignature()),
        "act": Out(ActPortSignature(lanes=params.cols, addr_width=12)),
    }
