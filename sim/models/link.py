"""Golden model of :class:`corolla.hw.io.link.HostLink`: the reply to each request and what
it does to the memories behind the link (the rules of :mod:`corolla.protocol`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from corolla import protocol as proto

__all__ = ["LinkState", "link_reference", "link_timeout_reference"]


@dataclass
class LinkState:
    """What the link sees behind it: the memories (space → bytearray), whether a program
    runs, the STATUS payload, and the RUN commands it started (``(first, count, watchdog)``)."""

    memories: dict
    busy: bool = False
    status: bytes = b""
    runs: list = field(default_factory=list)


def link_reference(request: bytes, state: LinkState, *, spaces: dict, info: bytes,
                   program_depth: int, max_payload: int, record_ok) -> bytes:
    """The reply frame to one whole ``request`` frame; ``state`` is updated in place.

    ``spaces`` maps a space code to its :class:`~corolla.params.SpaceInfo`; ``record_ok(space,
    record)`` says whether an 8-byte record of a record space is valid.
    """
    st = proto.Status
    code, tag = request[1], request[2]
    length = int.from_bytes(request[3:5], "little")
    payload = request[5:5 + length]

    def reply(status, data=b""):
        return proto.frame(status, data, tag=tag, sync=proto.SYNC_REPLY)

    if length > max_payload:
        return reply(st.BAD_LENGTH)
    if len(request) < 7 + length:                  # the rest never comes: the line goes quiet
        return link_timeout_reference(request, max_payload=max_payload)
    if proto.crc16(request[1:7 + length]) != 0:
        return reply(st.BAD_CRC)
    if code in (proto.Command.PING, proto.Command.STATUS):
        if length:
            return reply(st.BAD_LENGTH)
        return reply(st.OK, info if code == proto.Command.PING else state.status)
    if code == proto.Command.RUN:
        if length != 6 and (length != 7 or payload[6] & ~proto.RUN_WAIT):
            return reply(st.BAD_LENGTH)
        if state.busy:
            return reply(st.BUSY)
        first, count = payload[0], payload[1]
        if count == 0 or first + count > program_depth:
            return reply(st.BAD_ADDRESS)
        state.runs.append((first, count, int.from_bytes(payload[2:6], "little")))
        if length == 7 and payload[6] & proto.RUN_WAIT:
            # The reply waits for the program's end; ``status`` is the STATUS then.
            return reply(st.OK, state.status)
        return reply(st.OK)
    if code not in (proto.Command.WRITE, proto.Command.READ):
        return reply(st.UNKNOWN_COMMAND)
    space = payload[0] if payload else None
    addr = int.from_bytes(payload[1:5], "little")
    sp = spaces.get(space)
    if code == proto.Command.WRITE:
        data = payload[5:]
        if length < 6:
            return reply(st.BAD_LENGTH)
        if state.busy:
            return reply(st.BUSY)
        if sp is None or not sp.writable:
            return reply(st.BAD_SPACE)
        if addr + len(data) > sp.size or (sp.records and (addr % 8 or len(data) % 8)):
            return reply(st.BAD_ADDRESS)
        if sp.records and not all(record_ok(space, data[k:k + 8])
                                  for k in range(0, len(data), 8)):
            return reply(st.BAD_RECORD)
        state.memories[space][addr:addr + len(data)] = data
        return reply(st.OK)
    count = int.from_bytes(payload[5:7], "little")
    if length != 7:
        return reply(st.BAD_LENGTH)
    if state.busy:
        return reply(st.BUSY)
    if sp is None or not sp.readable:
        return reply(st.BAD_SPACE)
    if count == 0 or count > max_payload:
        return reply(st.BAD_LENGTH)
    if addr + count > sp.size:
        return reply(st.BAD_ADDRESS)
    return reply(st.OK, bytes(state.memories[space][addr:addr + count]))


def link_timeout_reference(partial: bytes, *, max_payload: int) -> bytes:
    """The reply to a frame that stopped after ``partial`` (sync byte included) and then the
    line stayed quiet: ``TIMEOUT``, or ``BAD_LENGTH`` if the length field was already too big."""
    tag = partial[2] if len(partial) > 2 else 0
    status = proto.Status.TIMEOUT
    if len(partial) >= 5 and int.from_bytes(partial[3:5], "little") > max_payload:
        status = proto.Status.BAD_LENGTH
    return proto.frame(status, b"", tag=tag, sync=proto.SYNC_REPLY)
