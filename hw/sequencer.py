"""The sequencer: runs a program of layer descriptors, each on the engine of its kind.

On ``run.start`` it runs steps ``first … first + count − 1`` of the program memory. For each
step it fetches the descriptor, checks the fields every kind shares (sizes against the
activation banks, the batch against the lanes), looks the descriptor's ``kind`` up in its
dispatch table (kind code → engine, from the layer kinds the top was built with) and starts
that engine; it waits for the engine's ``done`` and writes the step's cycles to the counter
memory. A descriptor that fails the checks or names a kind the top has no engine for stops the
program with ``DESCRIPTOR``; an engine's error flags stop it with those flags; a step that runs
past the watchdog stops it with ``WATCHDOG``. Stopping pulses ``clear`` (the engines' datapath
reset), never touching the memories, so the host can look and try again.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from corolla import protocol as proto

from .bus import RunSignature, StepSignature, descriptor_layout

__all__ = ["Sequencer"]


class Sequencer(wiring.Component):
    """Program sequencer with a dispatch table.

    Parameters
    ----------
    codes : sequence of int
        The descriptor ``kind`` code run by engine ``i`` (the top's engines, in order).
    program_depth : int
        Program steps.
    act_depth : int
        Words per activation bank (the largest ``rows`` and ``cols``).
    lanes : int
        Activation lanes (the largest ``batch``).

    Members
    -------
    run : In(RunSignature)
        From the host link.
    prog_addr : Out, prog_data : In(128)
        The program memory's read port (data one cycle after the address).
    count_addr, count_data, count_en : Out
        The counter memory's write port: the cycles of each step.
    desc : Out(descriptor_layout())
        The running step's descriptor.
    engine : Out(range(len(codes)))
        Which engine runs the step (valid from its ``start`` to its ``done``).
    engines : Out(StepSignature).array(len(codes))
        Start and completion of each engine's steps.
    busy : Out(1)
        A program runs.
    clear : Out(1)
        Reset the engines' datapaths (at the start of a program and when one is stopped).
    errors : Out(16)
        :class:`~corolla.protocol.ErrorFlag` bits of the last run.
    """

    def __init__(self, *, codes, program_depth: int, act_depth: int, lanes: int):
        self._codes = tuple(int(c) for c in codes)
        if not self._codes or len(set(self._codes)) != len(self._codes):
            raise ValueError(f"codes must be distinct kind codes, not {codes!r}")
        self._program_depth = program_depth
        self._act_depth = act_depth
        self._lanes = lanes
        super().__init__({
            "run": In(RunSignature()),
            "prog_addr": Out(8), "prog_data": In(8 * proto.DESCRIPTOR_BYTES),
            "count_addr": Out(8), "count_data": Out(32), "count_en": Out(1),
            "desc": Out(descriptor_layout()),
            "engine": Out(range(len(self._codes))),
            "engines": Out(StepSignature()).array(len(self._codes)),
            "busy": Out(1), "clear": Out(1), "errors": Out(16),
        })

    @property
    def parameters(self) -> dict:
        """Parameters for manifests and benches."""
        return {"codes": list(self._codes), "program_depth": self._program_depth,
                "act_depth": self._act_depth, "lanes": self._lanes}

    def elaborate(self, platform):
        m = Module()
        d = self.desc
        run = self.run
        flag = proto.ErrorFlag

        busy = self.busy
        pc = Signal(8)
        remaining = Signal(8)
        steps = Signal(8)
        runs = Signal(8)
        errors = self.errors
        step_cycles = Signal(32)
        total = Signal(32)
        m.d.comb += [
            run.busy.eq(busy),
            run.status.eq(Cat(busy, Signal(7), errors, pc, steps, runs, total)),
            self.prog_addr.eq(pc),
            self.count_addr.eq(pc), self.count_data.eq(step_cycles),
        ]
        with m.If(busy):
            m.d.sync += [step_cycles.eq(step_cycles + 1), total.eq(total + 1)]
        # The watchdog's comparison, registered: step_cycles counts up by one a busy cycle
        # through WAIT, so last cycle's count ≥ limit − 1 is this cycle's count ≥ limit (the
        # limit is the RUN's watchdog, 0 meaning 2³² − 1).
        limit_m1 = Signal(32)
        late = Signal()
        m.d.sync += late.eq(step_cycles >= limit_m1)
        watchdog = busy & late

        # The dispatch table: the engine of each kind code.
        known = Signal()
        index = Signal.like(self.engine)
        bad = Signal()
        found = Signal.like(self.engine)
        with m.Switch(d.kind):
            for i, code in enumerate(self._codes):
                with m.Case(code):
                    m.d.comb += [known.eq(1), index.eq(i)]
        done = Signal()
        error = Signal(16)
        with m.Switch(self.engine):
            for i, port in enumerate(self.engines):
                with m.Case(i):
                    m.d.comb += [done.eq(port.done), error.eq(port.error)]

        def stop(flags):
            m.d.sync += [errors.eq(errors | flags), self.clear.eq(1)]
            m.next = "FINISH"

        m.d.sync += self.clear.eq(0)
        with m.FSM():
            with m.State("IDLE"), m.If(run.start):
                m.d.sync += [
                    busy.eq(1), pc.eq(run.first), remaining.eq(run.count),
                    steps.eq(0), runs.eq(runs + 1), errors.eq(0), total.eq(0),
                    step_cycles.eq(0), self.clear.eq(1),
                    limit_m1.eq(Mux(run.watchdog == 0, 0xFFFFFFFE, run.watchdog - 1)),
                ]
                m.next = "FETCH"
            with m.State("FETCH"):
                m.next = "DECODE"
            with m.State("DECODE"):
                m.d.sync += d.eq(self.prog_data)
                m.next = "CHECK"
            with m.State("CHECK"):
                # The descriptor's checks and its engine, registered for DISPATCH.
                m.d.sync += [
                    bad.eq((d.rows == 0) | (d.cols == 0) | (d.rows > self._act_depth)
                           | (d.cols > self._act_depth) | (d.batch == 0)
                           | (d.batch > self._lanes) | ~known),
                    found.eq(index),
                ]
                m.next = "DISPATCH"
            with m.State("DISPATCH"):
                with m.If(bad):
                    stop(1 << flag.DESCRIPTOR)
                with m.Else():
                    m.d.sync += self.engine.eq(found)
                    m.next = "START"
            with m.State("START"):
                for i, port in enumerate(self.engines):
                    m.d.comb += port.start.eq(self.engine == i)
                m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(watchdog):
                    stop(1 << flag.WATCHDOG)
                with m.Elif(done & (error != 0)):
                    stop(error)
                with m.Elif(done):
                    m.next = "STEP_END"
            with m.State("STEP_END"):
                m.d.comb += self.count_en.eq(1)
                m.d.sync += [pc.eq(pc + 1), remaining.eq(remaining - 1), steps.eq(steps + 1),
                             step_cycles.eq(0)]
                with m.If(remaining == 1):
                    m.next = "FINISH"
                with m.Else():
                    m.next = "FETCH"
            with m.State("FINISH"):
                m.d.sync += busy.eq(0)
                m.next = "IDLE"
        return m
