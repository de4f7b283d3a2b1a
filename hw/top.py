"""The accelerator top: the host link, the memory map, the sequencer and one engine per kind.

The top is a composition of components, each with its own signature (:mod:`corolla.hw.bus`)::

    host ──▶ HostLink ──bus──▶ HostBus ──▶ core memories (program, activation banks, counters)
                │                  ├─────▶ DenseEngine, TernaryEngine, BinaryEngine, LnsEngine
                │                  │        (weights, biases, feeder, PE array, drain)
                │                  └─────▶ SparseEngine (EIE load records, EIE engine)
                └──run──▶ Sequencer ──step──▶ the engine of each descriptor's kind
                                             ◀──act──  the activation banks (src → other)

:class:`AcceleratorCore` builds one engine for every layer kind of the registry
(:data:`corolla.layers.LAYER_KINDS`) that the parameters enable, in registry order, and gives
the :class:`~corolla.hw.sequencer.Sequencer` their codes as its dispatch table. Each engine owns
its memories and answers the host bus for their spaces; during its step it has the activation
banks: it reads bank ``src`` and writes the other one, so steps chain without the host. Inputs
sit one image per lane (word = feature), see :mod:`corolla.hw.engines.array`.

Stopping a program (a bad descriptor, an engine's error, the watchdog) resets the engines'
datapaths, never the memories, so the host can look and try again.

:class:`Accelerator` adds the host link (:mod:`corolla.hw.io`) with either the UART pins
(``link="uart"``) or the link's byte streams (``link="stream"``, for fast simulation).
"""

from __future__ import annotations

from amaranth import Module, Mux, unsigned
from amaranth.hdl import ResetInserter
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from corolla import protocol as proto
from corolla.layers import LAYER_KINDS
from corolla.params import TopParams

from .bus import HostBus, MemBusSignature, RunSignature, descriptor_layout, serve_memories
from .io.burst import BurstToStream, StreamToBurst, burst_layout
from .io.link import HostLink
from .io.uart import UartRx, UartTx
from .sequencer import Sequencer

#: Bytes per word of the ``burst`` link.
BURST_BYTES = 16

__all__ = ["Accelerator", "AcceleratorCore", "TopParams", "descriptor_layout"]


class AcceleratorCore(wiring.Component):
    """The memories every program uses, the sequencer and one engine per enabled layer kind
    (see the module docstring); the host side is the link's bus and run control.

    Parameters
    ----------
    params : TopParams

    Members
    -------
    bus : In(MemBusSignature)
        The host link's memory bus.
    run : In(RunSignature)
        The host link's program start and status.
    busy : Out(1)
        A program runs.
    errors : Out(16)
        :class:`protocol.ErrorFlag` bits of the last run.
    """

    def __init__(self, params: TopParams):
        self._p = params
        super().__init__({"bus": In(MemBusSignature()), "run": In(RunSignature()),
                          "busy": Out(1), "errors": Out(16)})

    @property
    def kinds(self) -> list:
        """The layer kinds this top runs (their engines, in this order)."""
        return [kind for kind in LAYER_KINDS.values() if kind.enabled(self._p)]

    def elaborate(self, platform):
        p = self._p
        m = Module()
        kinds = self.kinds
        n_cols = p.cols

        m.submodules.host_bus = host_bus = HostBus(["core", *(k.name for k in kinds)])
        wiring.connect(m, wiring.flipped(self.bus), host_bus.host)
        m.submodules.sequencer = seq = Sequencer(
            codes=[k.code for k in kinds], program_depth=p.program_depth,
            act_depth=p.act_depth, lanes=n_cols)
        wiring.connect(m, wiring.flipped(self.run), seq.run)
        busy = seq.busy
        m.d.comb += [self.busy.eq(busy), self.errors.eq(seq.errors)]

        # --- the memories every program uses ---------------------------------------------
        prog = Memory(shape=unsigned(8 * proto.DESCRIPTOR_BYTES), depth=p.program_depth, init=[])
        acts = [Memory(shape=unsigned(8 * n_cols), depth=p.act_depth, init=[]) for _ in range(2)]
        counters = Memory(shape=unsigned(32), depth=p.program_depth, init=[])
        m.submodules.program = prog
        m.submodules.act0, m.submodules.act1 = acts
        m.submodules.counters = counters
        prog_rd = prog.read_port()
        act_rd = [a.read_port() for a in acts]
        act_wr = [a.write_port(granularity=8) for a in acts]
        counters_wr = counters.write_port()
        serve_memories(m, host_bus.core, {
            proto.Space.PROGRAM: (prog.shape.width, prog_rd, prog.write_port(granularity=8)),
            proto.Space.ACT0: (8 * n_cols, act_rd[0], act_wr[0]),
            proto.Space.ACT1: (8 * n_cols, act_rd[1], act_wr[1]),
            proto.Space.COUNTERS: (32, counters.read_port(), None),
        }, busy=busy)
        m.d.comb += [counters_wr.addr.eq(seq.count_addr), counters_wr.data.eq(seq.count_data),
                     counters_wr.en.eq(seq.count_en)]
        with m.If(busy):
            m.d.comb += [prog_rd.addr.eq(seq.prog_addr), prog_rd.en.eq(1)]
        m.d.comb += seq.prog_data.eq(prog_rd.data)

        # --- engines: reset between programs and when a program is stopped ---------------
        src = seq.desc.src
        src_word = Mux(src, act_rd[1].data, act_rd[0].data)
        for i, kind in enumerate(kinds):
            engine = kind.engine_class()(p)
            m.submodules[kind.name] = ResetInserter(seq.clear)(engine)
            wiring.connect(m, getattr(host_bus, kind.name), engine.bus)
            wiring.connect(m, seq.engines[i], engine.step)
            m.d.comb += [engine.desc.as_value().eq(seq.desc.as_value()), engine.busy.eq(busy),
                         engine.act.rd_data.eq(src_word)]
            # The running engine has the activation banks: it reads bank src, writes the other.
            with m.If(busy & (seq.engine == i)):
                for b in range(2):
                    m.d.comb += [act_rd[b].addr.eq(engine.act.rd_addr),
                                 act_rd[b].en.eq(engine.act.rd_en)]
                    with m.If(src != b):
                        m.d.comb += [act_wr[b].addr.eq(engine.act.wr_addr),
                                     act_wr[b].data.eq(engine.act.wr_data),
                                     act_wr[b].en.eq(engine.act.wr_en)]
        return m


class Accelerator(wiring.Component):
    """The accelerator as a board or a simulation sees it: core plus host link.

    Parameters
    ----------
    params : TopParams

    Members
    -------
    rx, tx : In(1), Out(1)
        UART pins (``link="uart"``).
    host_rx, host_tx : In/Out(stream.Signature(8))
        The link's byte streams (``link="stream"``), or words of up to ``BURST_BYTES`` bytes
        (:func:`~corolla.hw.io.burst.burst_layout`, ``link="burst"``, for simulations that
        move whole frames at once).
    busy : Out(1)
        A program runs.
    error : Out(1)
        The last program stopped on an error.
    """

    def __init__(self, params: TopParams | None = None):
        self._p = p = params or TopParams()
        sig = {"busy": Out(1), "error": Out(1)}
        if p.link == "uart":
            sig |= {"rx": In(1, init=1), "tx": Out(1, init=1)}
        elif p.link == "burst":
            word = stream.Signature(burst_layout(BURST_BYTES))
            sig |= {"host_rx": In(word), "host_tx": Out(word)}
        else:
            sig |= {"host_rx": In(stream.Signature(8)), "host_tx": Out(stream.Signature(8))}
        super().__init__(sig)

    @property
    def params(self) -> TopParams:
        return self._p

    @property
    def parameters(self):
        """Parameters that define this instance, for manifests and benches."""
        return self._p.to_dict()

    def elaborate(self, platform):
        p = self._p
        m = Module()
        m.submodules.core = core = AcceleratorCore(p)
        m.submodules.link = link = HostLink(
            spaces=p.spaces(), info=p.info_bytes(), program_depth=p.program_depth,
            max_payload=p.max_payload, frame_timeout=p.frame_timeout)
        wiring.connect(m, link.bus, core.bus)
        wiring.connect(m, link.run, core.run)
        m.d.comb += [self.busy.eq(core.busy), self.error.eq(core.errors.any())]
        if p.link == "uart":
            m.submodules.uart_rx = urx = UartRx(p.divisor)
            m.submodules.uart_tx = utx = UartTx(p.divisor)
            m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
            wiring.connect(m, urx.output, link.rx)
            wiring.connect(m, link.tx, utx.input)
        elif p.link == "burst":
            m.submodules.burst_rx = brx = BurstToStream(width=BURST_BYTES)
            m.submodules.burst_tx = btx = StreamToBurst(width=BURST_BYTES)
            wiring.connect(m, wiring.flipped(self.host_rx), brx.input)
            wiring.connect(m, brx.output, link.rx)
            wiring.connect(m, link.tx, btx.input)
            wiring.connect(m, btx.output, wiring.flipped(self.host_tx))
        else:
            wiring.connect(m, wiring.flipped(self.host_rx), link.rx)
            wiring.connect(m, link.tx, wiring.flipped(self.host_tx))
        return m
