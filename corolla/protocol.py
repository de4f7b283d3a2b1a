"""Corolla's host-link protocol: frames, commands, status codes, memory spaces, descriptors.

This module is the one definition of the wire format. The gateware (:mod:`corolla.hw.io.link`,
:mod:`corolla.hw.top`) and the host driver (:mod:`corolla.firmware.runtime`) both import it,
so neither side can drift. It is plain Python (no Amaranth, no numpy).

Frames
------
Every request and every reply is one frame, bytes in this order::

    sync  code  tag  len_lo  len_hi  payload[len]  crc_hi  crc_lo

* ``sync`` is :data:`SYNC_REQUEST` (host to accelerator) or :data:`SYNC_REPLY`;
* ``code`` is a :class:`Command` in a request and a :class:`Status` in a reply;
* ``tag`` is chosen by the host and echoed in the reply, so a late reply to an earlier
  request is recognised and dropped;
* ``len`` is the payload length, little endian, at most the link's ``max_payload``;
* the CRC is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no
  final XOR) over ``code`` through the payload, sent high byte first, so the CRC over the
  whole frame after ``sync`` is 0 (the receiver checks that residue).

The accelerator answers every request with exactly one reply. A request with a bad CRC, a bad
length, an unknown command, a bad space or address, or one that arrives while a program runs
(writes and reads only) is answered with an error status and changes nothing. After an error
the receiver discards bytes until the line has been idle for the link's ``frame_timeout``
cycles and only then replies, so the rest of a damaged frame cannot start a bogus one. A frame
that stops half way gets a :data:`Status.TIMEOUT` reply once the line has been idle that long.

Commands
--------
``PING``: empty payload. Reply: :data:`INFO_MAGIC`, :data:`VERSION`, then the sizes of the
accelerator, :data:`INFO_COMMON` and each layer kind's fields (little endian).

``WRITE``: ``space(1) addr(4) data(n ≥ 1)``. Writes ``n`` bytes at byte address ``addr`` of the
space. For :data:`Space.EIE` the data are 8-byte load records (:func:`pack_eie_record`) and
``addr`` and ``n`` are multiples of 8; every record is checked before any is written.

``READ``: ``space(1) addr(4) count(2)``. Reply payload: ``count`` bytes from ``addr``.

``RUN``: ``first(1) count(1) watchdog(4) [flags(1)]``. Runs program steps ``first`` to
``first + count - 1``; a step that takes more than ``watchdog`` cycles (0: the largest value) is
stopped and flagged. Without ``flags`` (or with ``flags = 0``) the reply comes at once; poll
``STATUS`` for the end. With ``flags = 1`` (:data:`RUN_WAIT`) the reply comes when the program
has ended and its payload is the ``STATUS`` payload, so the host need not poll. Other flag
values are refused (``BAD_LENGTH``).

``STATUS``: empty payload. Reply: :data:`STATUS_FIELDS`.
"""

from __future__ import annotations

import binascii
from enum import IntEnum

__all__ = [
    "DESCRIPTOR_ARGS_BITS", "DESCRIPTOR_BYTES", "DESCRIPTOR_COMMON", "EIE_RECORD_BYTES",
    "INFO_COMMON", "INFO_MAGIC", "RECORD_BYTES", "RUN_WAIT",
    "STATUS_FIELDS", "SYNC_REPLY", "SYNC_REQUEST", "VERSION", "Command", "ErrorFlag",
    "ProtocolError", "Space", "Status", "crc16", "descriptor_fields", "frame", "pack_descriptor",
    "pack_eie_record", "pack_fields", "parse_reply", "unpack_fields",
]

SYNC_REQUEST = 0xC5
SYNC_REPLY = 0x5C
HEADER_BYTES = 5
CRC_BYTES = 2
#: Protocol version carried in the PING reply.
VERSION = 3
INFO_MAGIC = b"CRLA"


class ProtocolError(ValueError):
    """A frame or field that does not follow this protocol."""


class Command(IntEnum):
    """Request codes."""

    PING = 0x01
    WRITE = 0x02
    READ = 0x03
    RUN = 0x04
    STATUS = 0x05


class Status(IntEnum):
    """Reply codes."""

    OK = 0x00
    BAD_CRC = 0x01
    BAD_LENGTH = 0x02
    UNKNOWN_COMMAND = 0x03
    BAD_SPACE = 0x04
    BAD_ADDRESS = 0x05
    BUSY = 0x06
    TIMEOUT = 0x07
    BAD_RECORD = 0x08


class Space(IntEnum):
    """Memories the host can reach, each byte addressed."""

    #: Layer descriptors, :data:`DESCRIPTOR_BYTES` each (read / write).
    PROGRAM = 0
    #: Dense int8 weights, ``rows`` bytes per word in tile order (read / write).
    WEIGHTS = 1
    #: Activation banks, ``cols`` int8 lanes per word: word = feature, lane = image.
    ACT0 = 2
    ACT1 = 3
    #: Dense-layer biases, 4 bytes each, two's complement little endian (read / write).
    BIAS = 4
    #: EIE engine load records, :data:`EIE_RECORD_BYTES` each (write only).
    EIE = 5
    #: Cycles per program step, 4 bytes each, from the last run (read only).
    COUNTERS = 6
    #: Ternary-array weights: 2-bit codes, ``ternary_rows`` per word in tile order.
    TERNARY_WEIGHTS = 7
    #: Ternary-array biases, 4 bytes each.
    TERNARY_BIAS = 8
    #: Binary-array weights: 8 sign bits per byte, ``binary_rows`` bytes per word.
    BINARY_WEIGHTS = 9
    #: Binary-array biases and scales, 8 bytes each: bias (4 bytes), α (2 bytes), 2 unused.
    BINARY_BIAS = 10
    #: LNS-array weights: LNS words, ``lns_rows`` per word in tile order.
    LNS_WEIGHTS = 11
    #: LNS-array biases in the accumulator's fixed point, 4 bytes each.
    LNS_BIAS = 12
    #: Winograd-array weights: transformed filters, 16 bits each, ``winograd_rows`` per word
    #: (16 words per row tile and input channel: position ξ, then channel).
    WINOGRAD_WEIGHTS = 13
    #: Winograd-array biases, 4 bytes each.
    WINOGRAD_BIAS = 14


class ErrorFlag(IntEnum):
    """Bits of the status ``errors`` field (sticky until the next run)."""

    DESCRIPTOR = 0      # a descriptor's kind or sizes do not fit the accelerator
    WATCHDOG = 1        # a step took longer than the watchdog allowed
    EIE_CONFIG = 2      # the EIE engine refused the layer (sizes past its memories)
    EIE_POINTER = 3     # a column pointer outside the entry memory
    EIE_ROW = 4         # an entry past the layer's rows
    EIE_LOAD = 5        # a load record the engine refused
    EIE_CODE = 6        # a Huffman-coded column holds an invalid code or ends mid-entry


#: Fields every layer descriptor starts with, least significant first: (name, bits). ``kind``
#: is the layer kind's code (:mod:`corolla.layers`); step ``s`` reads activation bank ``src`` and
#: writes the other one; ``rows`` × ``cols`` is the layer's matrix; ``batch`` the images run.
DESCRIPTOR_COMMON = (
    ("kind", 4), ("relu", 1), ("src", 1), ("shift", 6),
    ("rows", 12), ("cols", 12), ("batch", 8),
)
DESCRIPTOR_BYTES = 16
#: Bits after the common fields, laid out by each layer kind with fields of its own.
DESCRIPTOR_ARGS_BITS = 8 * DESCRIPTOR_BYTES - sum(bits for _, bits in DESCRIPTOR_COMMON)

#: PING reply after the magic and version, the fields of the top: (name, bytes). Each layer
#: kind's own fields follow, in registry order (:func:`corolla.layers.info_fields`), zero for a
#: kind the accelerator does not have.
INFO_COMMON = (
    ("cols", 1), ("max_payload", 2), ("program_depth", 2), ("act_depth", 2), ("acc_width", 1),
    ("conv", 1), ("scales", 1),
)

#: ``RUN`` flags: reply when the program has ended, with the STATUS payload.
RUN_WAIT = 0x01

#: Write-only spaces of load records are written in records of this many bytes, each checked by
#: the memory's owner before any is written (:data:`Space.EIE`).
RECORD_BYTES = 8

#: STATUS reply: (name, bytes). ``state`` is 1 while a program runs; ``runs`` counts RUNs.
STATUS_FIELDS = (
    ("state", 1), ("errors", 2), ("pc", 1), ("steps", 1), ("runs", 1), ("cycles", 4),
)

#: An EIE load record: target bits 0-1 and PE (6 bits) in byte 0, address in bytes 1-2,
#: data in bytes 3-6 (little endian), target bit 2 in byte 7 (its other bits zero).
EIE_RECORD_BYTES = RECORD_BYTES


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data``."""
    return binascii.crc_hqx(bytes(data), 0xFFFF)


def frame(code: int, payload: bytes = b"", *, tag: int = 0, sync: int = SYNC_REQUEST) -> bytes:
    """One frame (request by default) with its CRC."""
    payload = bytes(payload)
    if not 0 <= tag <= 0xFF or not 0 <= code <= 0xFF:
        raise ProtocolError(f"tag and code must be bytes, not {tag!r} and {code!r}")
    if len(payload) > 0xFFFF:
        raise ProtocolError(f"payload of {len(payload)} bytes; at most 65535")
    body = bytes([code, tag]) + len(payload).to_bytes(2, "little") + payload
    return bytes([sync]) + body + crc16(body).to_bytes(2, "big")


def parse_reply(data: bytes) -> tuple[Status | int, int, bytes]:
    """Check one whole reply frame; returns ``(status, tag, payload)``.

    Raises
    ------
    ProtocolError
        Naming what is wrong: sync byte, length or CRC.
    """
    data = bytes(data)
    if len(data) < HEADER_BYTES + CRC_BYTES:
        raise ProtocolError(f"reply of {len(data)} bytes; a frame has at least 7")
    if data[0] != SYNC_REPLY:
        raise ProtocolError(f"reply sync byte 0x{data[0]:02x}; expected 0x{SYNC_REPLY:02x}")
    n = int.from_bytes(data[3:5], "little")
    if len(data) != HEADER_BYTES + n + CRC_BYTES:
        raise ProtocolError(f"reply length field {n} but {len(data) - 7} payload bytes")
    if crc16(data[1:]) != 0:
        raise ProtocolError("reply CRC does not match")
    try:
        status = Status(data[1])
    except ValueError:
        status = data[1]
    return status, data[2], data[HEADER_BYTES:HEADER_BYTES + n]


def pack_fields(fields, values: dict, *, unit: int = 1) -> int:
    """Pack ``values`` into an integer, fields least significant first.

    ``fields`` is a sequence of ``(name, size)`` with sizes in units of ``unit`` bits. Missing
    names are 0; a value that does not fit raises :class:`ProtocolError` naming the field.
    """
    unknown = set(values) - {name for name, _ in fields}
    if unknown:
        raise ProtocolError(f"unknown field(s) {', '.join(sorted(unknown))}")
    word, offset = 0, 0
    for name, size in fields:
        bits = size * unit
        value = int(values.get(name, 0))
        if not 0 <= value < 1 << bits:
            raise ProtocolError(f"field {name} is {value}; expected 0 to {(1 << bits) - 1}")
        word |= value << offset
        offset += bits
    return word


def unpack_fields(fields, word: int, *, unit: int = 1) -> dict:
    """Inverse of :func:`pack_fields`."""
    values, offset = {}, 0
    for name, size in fields:
        bits = size * unit
        values[name] = (word >> offset) & ((1 << bits) - 1)
        offset += bits
    return values


def descriptor_fields(args=()) -> tuple:
    """The whole field list of a descriptor whose kind lays out ``args`` after the common
    fields (``(name, bits)`` pairs, at most :data:`DESCRIPTOR_ARGS_BITS` bits)."""
    args = tuple(args)
    if sum(bits for _, bits in args) > DESCRIPTOR_ARGS_BITS:
        raise ProtocolError(f"descriptor fields {', '.join(n for n, _ in args)} take "
                            f"{sum(b for _, b in args)} bits; at most {DESCRIPTOR_ARGS_BITS}")
    return DESCRIPTOR_COMMON + args


def pack_descriptor(args=(), **fields) -> bytes:
    """A layer descriptor as the :data:`DESCRIPTOR_BYTES` bytes of :data:`Space.PROGRAM`;
    ``args`` are the kind's own fields (see :func:`descriptor_fields`)."""
    word = pack_fields(descriptor_fields(args), fields)
    return word.to_bytes(DESCRIPTOR_BYTES, "little")


def pack_eie_record(target: int, pe: int, addr: int, data: int) -> bytes:
    """One EIE load record (see :data:`EIE_RECORD_BYTES`)."""
    for name, value, bits in (("target", target, 3), ("pe", pe, 6), ("addr", addr, 16),
                              ("data", data, 32)):
        if not 0 <= value < 1 << bits:
            raise ProtocolError(f"EIE record {name} is {value}; expected 0 to "
                                f"{(1 << bits) - 1}")
    return (bytes([(target & 3) | pe << 2]) + addr.to_bytes(2, "little")
            + data.to_bytes(4, "little") + bytes([target >> 2]))
