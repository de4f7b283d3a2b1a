"""Host driver for a Corolla accelerator over any byte transport.

:class:`Driver` speaks the host-link protocol (:mod:`corolla.hw.io.protocol`): it frames
requests, matches replies by tag, retries a request whose reply is lost or damaged, and turns
error replies into :class:`LinkError`. :class:`Session` uses it to load a compiled network
(:mod:`corolla.firmware.compile`) and run batches of inputs. The same code runs against a
board (:class:`SerialTransport`, pyserial) and against the cocotb simulation of the top
(:class:`corolla.firmware.runtime.sim.SimTransport`).

A transport has three methods: ``write(data)``, ``read(n, timeout) -> bytes`` (fewer bytes
when the timeout, in seconds of the device's time, passes) and ``sleep(seconds)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from corolla.hw.io import protocol as P

__all__ = ["Driver", "LinkError", "RunResult", "SerialTransport", "Session"]


class LinkError(RuntimeError):
    """A request failed: an error reply (``status`` set), or no valid reply after retries."""

    def __init__(self, message: str, status=None):
        super().__init__(message)
        self.status = status


#: Replies worth asking again for: the request was damaged on the way.
_RETRYABLE = (P.Status.BAD_CRC, P.Status.TIMEOUT, P.Status.BAD_LENGTH)


class Driver:
    """Requests and replies over ``transport``.

    Parameters
    ----------
    transport
        ``write``/``read``/``sleep`` as in the module docstring.
    timeout : float
        Seconds to wait for each reply.
    retries : int
        Further attempts after a lost or damaged reply, or a retryable error status.
    """

    def __init__(self, transport, *, timeout: float = 1.0, retries: int = 3):
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self.retried = 0
        self._tag = 0
        self._info = None

    def _read_reply(self, tag: int):
        """One reply with ``tag``, or ``None`` on timeout or a damaged frame."""
        while True:
            first = self.transport.read(1, self.timeout)
            if not first:
                return None
            if first[0] != P.SYNC_REPLY:
                continue
            head = self.transport.read(4, self.timeout)
            if len(head) < 4:
                return None
            n = int.from_bytes(head[2:4], "little")
            rest = self.transport.read(n + 2, self.timeout)
            if len(rest) < n + 2:
                return None
            try:
                status, got_tag, payload = P.parse_reply(first + head + rest)
            except P.ProtocolError:
                return None
            if got_tag == tag:
                return status, payload

    def request(self, command: P.Command, payload: bytes = b"", *, retry: bool = True) -> bytes:
        """Send one request and return the OK reply's payload.

        Raises
        ------
        LinkError
            An error status (named in the message), or no valid reply after the retries.
        """
        attempts = 1 + (self.retries if retry else 0)
        last = "no reply"
        for _ in range(attempts):
            self._tag = (self._tag + 1) & 0xFF
            self.transport.write(P.frame(command, payload, tag=self._tag))
            reply = self._read_reply(self._tag)
            if reply is None:
                last = f"no valid reply within {self.timeout} s"
            else:
                status, data = reply
                if status == P.Status.OK:
                    return data
                name = status.name if isinstance(status, P.Status) else f"0x{status:02x}"
                if status not in _RETRYABLE:
                    raise LinkError(f"{command.name} refused: {name}", status)
                last = f"reply {name}"
            self.retried += 1
        raise LinkError(f"{command.name} failed after {attempts} attempt(s): {last}")

    # -- commands ---------------------------------------------------------------------------
    def ping(self) -> dict:
        """The accelerator's sizes (:data:`protocol.INFO_FIELDS`), checked for magic and
        version."""
        data = self.request(P.Command.PING)
        if data[:4] != P.INFO_MAGIC or len(data) < 5:
            raise LinkError(f"PING reply {data[:8].hex()} is not a Corolla accelerator")
        if data[4] != P.VERSION:
            raise LinkError(f"accelerator speaks protocol version {data[4]}; this driver "
                            f"speaks {P.VERSION}")
        self._info = P.unpack_fields(P.INFO_FIELDS, int.from_bytes(data[5:], "little"),
                                     unit=8)
        return dict(self._info)

    @property
    def info(self) -> dict:
        return self._info if self._info is not None else self.ping()

    def _chunk(self) -> int:
        return self.info["max_payload"] - 8      # leaves room for space and address; 8-aligned

    def write(self, space: P.Space, addr: int, data: bytes):
        """Write ``data`` at byte ``addr`` of ``space``, in frames of at most max_payload."""
        data = bytes(data)
        step = self._chunk() & ~7
        for off in range(0, len(data), step):
            part = data[off:off + step]
            self.request(P.Command.WRITE,
                         bytes([space]) + (addr + off).to_bytes(4, "little") + part)

    def read(self, space: P.Space, addr: int, count: int) -> bytes:
        """Read ``count`` bytes at byte ``addr`` of ``space``."""
        out = bytearray()
        step = self.info["max_payload"]
        for off in range(0, count, step):
            n = min(step, count - off)
            out += self.request(P.Command.READ, bytes([space]) + (addr + off).to_bytes(4, "little")
                                + n.to_bytes(2, "little"))
        return bytes(out)

    def status(self) -> dict:
        data = self.request(P.Command.STATUS)
        return P.unpack_fields(P.STATUS_FIELDS, int.from_bytes(data, "little"), unit=8)

    def run(self, first: int, count: int, *, watchdog: int = 0):
        """Start steps ``first`` … ``first + count - 1``.

        A RUN is not repeated blindly: when its reply is lost, the STATUS ``runs`` counter
        tells whether the accelerator took it.
        """
        runs = self.status()["runs"]
        payload = bytes([first, count]) + watchdog.to_bytes(4, "little")
        for _ in range(1 + self.retries):
            try:
                self.request(P.Command.RUN, payload, retry=False)
                return
            except LinkError as exc:
                if exc.status not in (None, *_RETRYABLE):
                    raise
            if self.status()["runs"] != runs:
                return
            self.retried += 1
        raise LinkError(f"RUN failed after {1 + self.retries} attempts")

    def wait(self, *, poll: float = 1e-4, timeout: float = 10.0) -> dict:
        """Poll STATUS until the program ends; returns the last status."""
        waited = 0.0
        while True:
            st = self.status()
            if not st["state"]:
                return st
            if waited > timeout:
                raise LinkError(f"program still running after {timeout} s (step {st['pc']})")
            self.transport.sleep(poll)
            waited += poll

    def counters(self, steps: int) -> list[int]:
        raw = self.read(P.Space.COUNTERS, 0, 4 * steps)
        return [int.from_bytes(raw[4 * i:4 * i + 4], "little") for i in range(steps)]


def error_names(errors: int) -> list[str]:
    """Names of the :class:`protocol.ErrorFlag` bits set in ``errors``."""
    return [f.name for f in P.ErrorFlag if errors >> f & 1]


@dataclass
class RunResult:
    """One batch: outputs (batch, out) int8, cycles per step, total cycles."""

    outputs: np.ndarray
    step_cycles: list
    cycles: int


class Session:
    """A compiled network loaded on an accelerator.

    Parameters
    ----------
    driver : Driver
    program : corolla.firmware.compile.Program
    """

    def __init__(self, driver: Driver, program):
        self.driver = driver
        self.program = program
        self._batch = None
        info = driver.info
        for key, value in program.info.items():
            if info.get(key) != value:
                raise LinkError(f"program compiled for {key} = {value}, but the accelerator "
                                f"has {info.get(key)}")

    def load(self, progress=None):
        """Write the model image (weights, biases, EIE records)."""
        total = sum(len(data) for _, _, data in self.program.writes)
        done = 0
        for space, addr, data in self.program.writes:
            self.driver.write(space, addr, data)
            done += len(data)
            if progress:
                progress(done, total)
        self._batch = None

    def infer(self, pixels, *, watchdog: int = 0) -> RunResult:
        """Run one batch of at most ``program.lanes`` inputs."""
        prog = self.program
        x = np.asarray(pixels)
        batch = len(x)
        if batch != self._batch:
            self.driver.write(P.Space.PROGRAM, 0, prog.program_bytes(batch))
            self._batch = batch
        self.driver.write(P.Space.ACT0, 0, prog.input_bytes(x))
        self.driver.run(0, len(prog.steps), watchdog=watchdog)
        st = self.driver.wait()
        if st["errors"]:
            raise LinkError(f"program stopped at step {st['pc']}: "
                            f"{', '.join(error_names(st['errors']))}")
        raw = self.driver.read(prog.out_space, 0, prog.output_count())
        return RunResult(outputs=prog.decode_outputs(raw, batch),
                         step_cycles=self.driver.counters(len(prog.steps)), cycles=st["cycles"])


class SerialTransport:
    """A serial port (pyserial), for boards.

    Parameters
    ----------
    port : str
        Device, e.g. ``/dev/ttyUSB1``.
    baud : int
    """

    def __init__(self, port: str, baud: int = 115200):
        import serial

        self._serial = serial.Serial(port, baud, timeout=0.1)

    def write(self, data: bytes):
        self._serial.write(data)
        self._serial.flush()

    def read(self, n: int, timeout: float) -> bytes:
        self._serial.timeout = timeout
        return self._serial.read(n)

    def sleep(self, seconds: float):
        time.sleep(seconds)

    def close(self):
        self._serial.close()
