"""Host driver for a Corolla accelerator over any byte transport.

:class:`Driver` speaks the host-link protocol (:mod:`corolla.protocol`): it frames
requests, matches replies by tag, retries a request whose reply is lost or damaged, and turns
error replies into :class:`LinkError`. :class:`Session` uses it to load a compiled network
(:mod:`corolla.firmware.compile`) and run batches of inputs. The same code runs against a
board (:class:`SerialTransport`, pyserial) and against the cocotb simulation of the top
(:class:`corolla.firmware.runtime.sim.SimTransport`).

A transport has four methods: ``write(data)``, ``read(n, timeout) -> bytes`` (fewer bytes
when the timeout, in seconds of the device's time, passes), ``sleep(seconds)`` and ``now()``
(the device's time in seconds: the wall clock on a board, simulated time in a simulation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from corolla import protocol as proto
from corolla.layers import info_fields

__all__ = ["BatchRun", "Driver", "LinkError", "RunResult", "SerialTransport", "Session",
           "first_mismatch", "run_batches", "run_report"]


class LinkError(RuntimeError):
    """A request failed: an error reply (``status`` set), or no valid reply after retries."""

    def __init__(self, message: str, status=None):
        super().__init__(message)
        self.status = status


#: Replies worth asking again for: the request was damaged on the way.
_RETRYABLE = (proto.Status.BAD_CRC, proto.Status.TIMEOUT, proto.Status.BAD_LENGTH)


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
        #: Bytes written to and read from the transport, framing and retries included.
        self.bytes_sent = 0
        self.bytes_received = 0
        self._tag = 0
        self._info = None
        self._runs = None          # the STATUS ``runs`` counter, as last seen

    def _read(self, n: int) -> bytes:
        data = self.transport.read(n, self.timeout)
        self.bytes_received += len(data)
        return data

    def read_reply(self, tag: int | None):
        """One reply with ``tag`` (any tag for ``None``), or ``None`` on timeout or a damaged
        frame; replies with other tags are dropped."""
        while True:
            first = self._read(1)
            if not first:
                return None
            if first[0] != proto.SYNC_REPLY:
                continue
            head = self._read(4)
            if len(head) < 4:
                return None
            n = int.from_bytes(head[2:4], "little")
            rest = self._read(n + 2)
            if len(rest) < n + 2:
                return None
            try:
                status, got_tag, payload = proto.parse_reply(first + head + rest)
            except proto.ProtocolError:
                return None
            if tag is None or got_tag == tag:
                return status, payload

    def request(self, command: proto.Command, payload: bytes = b"", *, retry: bool = True) -> bytes:
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
            request = proto.frame(command, payload, tag=self._tag)
            self.transport.write(request)
            self.bytes_sent += len(request)
            reply = self.read_reply(self._tag)
            if reply is None:
                last = f"no valid reply within {self.timeout} s"
            else:
                status, data = reply
                if status == proto.Status.OK:
                    return data
                name = status.name if isinstance(status, proto.Status) else f"0x{status:02x}"
                if status not in _RETRYABLE:
                    raise LinkError(f"{command.name} refused: {name}", status)
                last = f"reply {name}"
            self.retried += 1
        raise LinkError(f"{command.name} failed after {attempts} attempt(s): {last}")

    # -- commands ---------------------------------------------------------------------------
    def ping(self) -> dict:
        """The accelerator's sizes (:func:`corolla.layers.info_fields`), checked for magic and
        version."""
        data = self.request(proto.Command.PING)
        if data[:4] != proto.INFO_MAGIC or len(data) < 5:
            raise LinkError(f"PING reply {data[:8].hex()} is not a Corolla accelerator")
        if data[4] != proto.VERSION:
            raise LinkError(f"accelerator speaks protocol version {data[4]}; this driver "
                            f"speaks {proto.VERSION}")
        self._info = proto.unpack_fields(info_fields(), int.from_bytes(data[5:], "little"),
                                         unit=8)
        return dict(self._info)

    @property
    def info(self) -> dict:
        return self._info if self._info is not None else self.ping()

    def _chunk(self) -> int:
        return self.info["max_payload"] - 8      # leaves room for space and address; 8-aligned

    def write(self, space: proto.Space, addr: int, data: bytes):
        """Write ``data`` at byte ``addr`` of ``space``, in frames of at most max_payload."""
        data = bytes(data)
        step = self._chunk() & ~7
        for off in range(0, len(data), step):
            part = data[off:off + step]
            self.request(proto.Command.WRITE,
                         bytes([space]) + (addr + off).to_bytes(4, "little") + part)

    def read(self, space: proto.Space, addr: int, count: int) -> bytes:
        """Read ``count`` bytes at byte ``addr`` of ``space``."""
        out = bytearray()
        step = self.info["max_payload"]
        for off in range(0, count, step):
            n = min(step, count - off)
            out += self.request(proto.Command.READ, bytes([space])
                                + (addr + off).to_bytes(4, "little") + n.to_bytes(2, "little"))
        return bytes(out)

    def status(self) -> dict:
        data = self.request(proto.Command.STATUS)
        return self._status(data)

    def _status(self, data: bytes) -> dict:
        st = proto.unpack_fields(proto.STATUS_FIELDS, int.from_bytes(data, "little"), unit=8)
        self._runs = st["runs"]
        return st

    def run_and_wait(self, first: int, count: int, *, watchdog: int = 0) -> dict:
        """Run steps ``first`` … ``first + count - 1`` and return the STATUS at their end, in
        one request (``RUN`` with :data:`~corolla.protocol.RUN_WAIT`): no STATUS polls.

        When the reply is lost, STATUS's ``runs`` counter (as last seen) tells whether the
        accelerator took the RUN; if it did, the end is awaited by polling.
        """
        runs = self._runs if self._runs is not None else self.status()["runs"]
        payload = (bytes([first, count]) + watchdog.to_bytes(4, "little")
                   + bytes([proto.RUN_WAIT]))
        for _ in range(1 + self.retries):
            try:
                return self._status(self.request(proto.Command.RUN, payload, retry=False))
            except LinkError as exc:
                if exc.status not in (None, *_RETRYABLE):
                    raise
            if self.status()["runs"] != runs:
                return self.wait()
            self.retried += 1
        raise LinkError(f"RUN failed after {1 + self.retries} attempts")

    def run(self, first: int, count: int, *, watchdog: int = 0):
        """Start steps ``first`` … ``first + count - 1``.

        A RUN is not repeated blindly: when its reply is lost, the STATUS ``runs`` counter
        tells whether the accelerator took it.
        """
        runs = self.status()["runs"]
        self._runs = None              # it changes behind the driver's back from here
        payload = bytes([first, count]) + watchdog.to_bytes(4, "little")
        for _ in range(1 + self.retries):
            try:
                self.request(proto.Command.RUN, payload, retry=False)
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
        raw = self.read(proto.Space.COUNTERS, 0, 4 * steps)
        return [int.from_bytes(raw[4 * i:4 * i + 4], "little") for i in range(steps)]


def error_names(errors: int) -> list[str]:
    """Names of the :class:`protocol.ErrorFlag` bits set in ``errors``."""
    return [f.name for f in proto.ErrorFlag if errors >> f & 1]


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
            self.driver.write(proto.Space.PROGRAM, 0, prog.program_bytes(batch))
            self._batch = batch
        self.driver.write(proto.Space.ACT0, 0, prog.input_bytes(x))
        st = self.driver.run_and_wait(0, len(prog.steps), watchdog=watchdog)
        if st["errors"]:
            raise LinkError(f"program stopped at step {st['pc']}: "
                            f"{', '.join(error_names(st['errors']))}")
        raw = self.driver.read(prog.out_space, 0, prog.output_count())
        return RunResult(outputs=prog.decode_outputs(raw, batch),
                         step_cycles=self.driver.counters(len(prog.steps)), cycles=st["cycles"])


class BatchRun(NamedTuple):
    """What :func:`run_batches` measured.

    Attributes
    ----------
    outputs, expected : numpy.ndarray
        The accelerator's int8 outputs and the golden model's, (images, out).
    batch_cycles : list of int
        Hardware cycles per batch (the accelerator's run counter).
    step_cycles : list of list of int
        Hardware cycles per layer, per batch (its per-step counters).
    load_s : float
        Seconds of the device's time spent writing the model image.
    run_s : float
        Seconds of the device's time running the batches, from the first input byte sent to
        the last output read: the end-to-end rate is ``images / run_s``.
    link : dict
        Host-link bytes: ``load_sent``/``load_received`` while writing the model image,
        ``run_sent``/``run_received`` while running the batches (inputs, program, RUN, STATUS
        polls, outputs and counters, with framing).
    """

    outputs: np.ndarray
    expected: np.ndarray
    batch_cycles: list
    step_cycles: list
    load_s: float
    run_s: float
    link: dict


def run_batches(driver: Driver, prog, model, pixels, *, progress=None) -> BatchRun:
    """Load ``prog`` and run ``pixels`` through it in batches of ``prog.lanes``."""
    from corolla.firmware.compile import golden_outputs

    session = Session(driver, prog)
    now = driver.transport.now
    sent, received = driver.bytes_sent, driver.bytes_received
    t0 = now()
    session.load(progress)
    load_s = now() - t0
    link = {"load_sent": driver.bytes_sent - sent,
            "load_received": driver.bytes_received - received}
    sent, received = driver.bytes_sent, driver.bytes_received
    outs, cycles, steps = [], [], []
    t0 = now()
    for start in range(0, len(pixels), prog.lanes):
        res = session.infer(pixels[start:start + prog.lanes])
        outs.append(res.outputs)
        cycles.append(res.cycles)
        steps.append(res.step_cycles)
    run_s = now() - t0
    link |= {"run_sent": driver.bytes_sent - sent,
             "run_received": driver.bytes_received - received}
    return BatchRun(np.concatenate(outs), golden_outputs(model, prog, pixels), cycles, steps,
                    load_s, run_s, link)


def first_mismatch(got, want, first_image: int = 0) -> str | None:
    """The first output that differs from the golden model, with its image, or ``None``."""
    bad = np.argwhere(np.asarray(got) != np.asarray(want))
    if not len(bad):
        return None
    i, j = bad[0]
    return (f"first mismatch: image {first_image + i}, output {j}: expected {want[i, j]}, got "
            f"{got[i, j]} (outputs {got[i].tolist()} vs golden {want[i].tolist()})")


def run_report(prog, got, want, labels, batch_cycles, step_cycles, *, first_image: int = 0,
               **extra) -> dict:
    """The figures of a network run: predictions, accuracy, bit-exactness, cycles."""
    labels = np.asarray(labels)
    predictions = np.argmax(got, axis=1)
    golden_pred = np.argmax(want, axis=1)
    mismatch = first_mismatch(got, want, first_image)
    n = len(got)
    return {
        "variant": prog.variant, "images": n, "first_image": first_image,
        "lanes": prog.lanes, "layers": prog.layer_names,
        "labels": labels.tolist(), "predictions": predictions.tolist(),
        "golden_predictions": golden_pred.tolist(),
        "accuracy": float(np.mean(predictions == labels)),
        "golden_accuracy": float(np.mean(golden_pred == labels)),
        "bit_exact": mismatch is None, "first_mismatch": mismatch,
        "batch_cycles": list(batch_cycles), "step_cycles": [list(s) for s in step_cycles],
        "cycles_per_inference": sum(batch_cycles) / n,
        "layer_cycles_per_inference": (np.sum(step_cycles, axis=0) / n).tolist(),
        **extra,
    }


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

    def now(self) -> float:
        return time.perf_counter()

    def read(self, n: int, timeout: float) -> bytes:
        self._serial.timeout = timeout
        return self._serial.read(n)

    def sleep(self, seconds: float):
        time.sleep(seconds)

    def close(self):
        self._serial.close()
