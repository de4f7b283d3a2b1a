"""Golden model of :class:`corolla.hw.sequencer.Sequencer`: which engine runs each step, what
stops a program, and what the status says afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field

from corolla import protocol as proto

__all__ = ["SequencerResult", "sequencer_reference"]


@dataclass
class SequencerResult:
    """What a run does: the engines started (one per step run), the error flags, the steps
    completed, and the program counter at the end."""

    engines: list = field(default_factory=list)
    errors: int = 0
    steps: int = 0
    pc: int = 0


def sequencer_reference(program, *, first: int, count: int, codes, act_depth: int,
                        lanes: int, engine_errors) -> SequencerResult:
    """Run steps ``first … first + count − 1`` of ``program`` (dicts of the common descriptor
    fields). ``engine_errors[k]`` is what the engine of the ``k``-th started step answers
    (0 for success, or :class:`~corolla.protocol.ErrorFlag` bits)."""
    res = SequencerResult(pc=first)
    table = {code: i for i, code in enumerate(codes)}
    for pc in range(first, first + count):
        d = program[pc]
        res.pc = pc
        bad = (d["rows"] == 0 or d["cols"] == 0 or d["rows"] > act_depth
               or d["cols"] > act_depth or d["batch"] == 0 or d["batch"] > lanes
               or d["kind"] not in table)
        if bad:
            res.errors = 1 << proto.ErrorFlag.DESCRIPTOR
            return res
        res.engines.append(table[d["kind"]])
        error = engine_errors[len(res.engines) - 1]
        if error:
            res.errors = error
            return res
        res.steps += 1
    res.pc = first + count
    return res
