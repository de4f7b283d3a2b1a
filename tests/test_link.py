"""The host link on its own: golden model, cocotb bench against it, mutation check."""

import pytest

from corolla import protocol as proto
from corolla.hw.io.link import HostLink
from corolla.params import SpaceInfo
from corolla.sim import runner
from corolla.sim.models.link import LinkState, link_reference, link_timeout_reference

BENCH = "corolla.sim.benches.link"
SPACES = {0: SpaceInfo(48), 1: SpaceInfo(200), 5: SpaceInfo(64, readable=False, records=True),
          6: SpaceInfo(16, writable=False)}


class _Link(HostLink):
    """The link with the bench's STATUS payload in its parameters."""

    @property
    def parameters(self):
        return super().parameters | {"status": bytes(range(1, 11)).hex()}


def _link():
    return _Link(spaces=SPACES, info=b"CRLA\x02info", program_depth=6, max_payload=32,
                 frame_timeout=40)


def test_model_follows_the_protocol():
    state = LinkState(memories={k: bytearray(v.size) for k, v in SPACES.items()})
    kw = dict(spaces=SPACES, info=b"CRLA", program_depth=6, max_payload=32,
              record_ok=lambda space, rec: rec[-1] == 0)
    write = proto.frame(proto.Command.WRITE, bytes([1]) + (4).to_bytes(4, "little") + b"ab",
                        tag=7)
    assert proto.parse_reply(link_reference(write, state, **kw)) == (proto.Status.OK, 7, b"")
    assert state.memories[1][4:6] == b"ab"
    read = proto.frame(proto.Command.READ, bytes([1]) + (3).to_bytes(4, "little")
                       + (3).to_bytes(2, "little"), tag=8)
    assert proto.parse_reply(link_reference(read, state, **kw))[2] == b"\0ab"
    bad = proto.frame(proto.Command.WRITE, bytes([5]) + bytes(4) + bytes(7) + b"\1", tag=9)
    assert proto.parse_reply(link_reference(bad, state, **kw))[0] == proto.Status.BAD_RECORD
    state.busy = True
    assert proto.parse_reply(link_reference(write, state, **kw))[0] == proto.Status.BUSY
    assert proto.parse_reply(link_timeout_reference(write[:4], max_payload=32))[:2] == \
        (proto.Status.TIMEOUT, 7)


def test_bench():
    result = runner.run(_link(), test_module=BENCH, seed=5)
    assert result.passed


def _model_ignoring_busy(request, state, **kwargs):
    state.busy = False
    return link_reference(request, state, **kwargs)


def test_bench_fails_on_a_wrong_model():
    with pytest.raises(runner.SimulationFailure, match="expected"):
        runner.run(_link(), test_module=BENCH, seed=5,
                   env={"COROLLA_GOLDEN": "test_link:_model_ignoring_busy"})
