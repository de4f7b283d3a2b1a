"""cocotb bench of :class:`corolla.hw.sequencer.Sequencer` against its golden model
(:func:`corolla.sim.models.sequencer.sequencer_reference`).

The bench plays the program memory (a read answered the next cycle) and the engines: each
started step takes a random number of cycles and ends with ``done``, sometimes with error
flags. Random programs mix valid steps of every engine's code with invalid descriptors (kind
without an engine, zero or oversized sizes, batch past the lanes). For each run the bench
checks which engine each step started, the status (errors, steps, pc, cycles), the cycle
counters written per step, and that ``clear`` pulses when a program starts and when one
stops. A hung engine is stopped by the watchdog.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import ReadOnly

from corolla import protocol as proto
from corolla.sim.benches.common import TB, golden, params, record_stats, rng
from corolla.sim.models.sequencer import sequencer_reference

FIELDS = proto.descriptor_fields()


def _random_step(gen, codes, act_depth, lanes):
    d = {"kind": int(gen.choice(codes)), "rows": int(gen.integers(1, act_depth + 1)),
         "cols": int(gen.integers(1, act_depth + 1)), "batch": int(gen.integers(1, lanes + 1)),
         "src": int(gen.integers(2)), "shift": int(gen.integers(64)), "relu": 1}
    if gen.random() < 0.15:
        d |= [{"kind": 15 if 15 not in codes else 0}, {"rows": 0}, {"cols": act_depth + 1},
              {"batch": 0}, {"batch": lanes + 1}][int(gen.integers(5))]
    return d


@cocotb.test()
async def programs(dut):
    """Random programs against the model: engines started, errors, status, counters."""
    p = params()
    codes, depth = p["codes"], p["program_depth"]
    act_depth, lanes = p["act_depth"], p["lanes"]
    model = golden(sequencer_reference)
    tb = TB(dut)
    dut.run__start.value = 0
    for i in range(len(codes)):
        getattr(dut, f"engines__{i}__done").value = 0
        getattr(dut, f"engines__{i}__error").value = 0
    await tb.reset()
    gen = rng(11)
    runs = 0
    for trial in range(40):
        program = [_random_step(gen, codes, act_depth, lanes) for _ in range(depth)]
        first = int(gen.integers(depth))
        count = int(gen.integers(1, depth - first + 1))
        errors = [0 if gen.random() < 0.9 else 1 << int(gen.choice([2, 3, 4]))
                  for _ in range(count)]
        hang = trial % 10 == 9                      # an engine that never answers
        latencies = [int(gen.integers(1, 12)) for _ in range(count)]
        want = model(program, first=first, count=count, codes=codes, act_depth=act_depth,
                     lanes=lanes, engine_errors=[e if not hang else 0 for e in errors])
        watchdog = 30 if hang else 0
        dut.run__first.value, dut.run__count.value = first, count
        dut.run__watchdog.value = watchdog
        dut.run__start.value = 1
        await tb.tick()
        dut.run__start.value = 0
        started, counters, clears = [], {}, 0
        busy_engine, wait, read = None, 0, None
        for _ in range(count * 200 + 100):
            if read is not None:
                dut.prog_data.value = proto.pack_fields(FIELDS, program[read])
            await ReadOnly()
            read = int(dut.prog_addr.value) if int(dut.prog_addr.value) < depth else None
            clears += int(dut.clear.value)
            if int(dut.count_en.value):
                counters[int(dut.count_addr.value)] = int(dut.count_data.value)
            for i in range(len(codes)):
                if int(getattr(dut, f"engines__{i}__start").value):
                    assert busy_engine is None, "a step started while another ran"
                    started.append(i)
                    busy_engine, wait = i, latencies[len(started) - 1]
            busy = int(dut.busy.value)
            await tb.tick()
            for i in range(len(codes)):
                getattr(dut, f"engines__{i}__done").value = 0
                getattr(dut, f"engines__{i}__error").value = 0
            if busy_engine is not None and int(dut.clear.value):
                busy_engine = None                   # stopped by the sequencer
            if busy_engine is not None and not hang:
                wait -= 1
                if wait == 0:
                    getattr(dut, f"engines__{busy_engine}__done").value = 1
                    getattr(dut, f"engines__{busy_engine}__error").value = \
                        errors[len(started) - 1]
                    busy_engine = None
            if not busy and not int(dut.busy.value):
                break
        await ReadOnly()
        status = proto.unpack_fields(proto.STATUS_FIELDS, int(dut.run__status.value), unit=8)
        what = f"run {trial}: first {first}, count {count}, program {program[first:first + count]}"
        if hang and want.engines:
            want.errors, want.steps = 1 << proto.ErrorFlag.WATCHDOG, 0
            want.engines = want.engines[:1]
        assert started == want.engines, f"{what}: engines {started}, expected {want.engines}"
        assert status["errors"] == want.errors, (f"{what}: errors {status['errors']:#x}, "
                                                 f"expected {want.errors:#x}")
        assert status["steps"] == want.steps, f"{what}: steps {status['steps']} != {want.steps}"
        assert status["state"] == 0 and status["runs"] == (runs + 1) % 256
        assert sorted(counters) == list(range(first, first + want.steps)), what
        assert clears == 1 + (want.errors != 0), f"{what}: clear pulsed {clears} times"
        runs += 1
        await tb.tick()
    record_stats(runs=runs)
