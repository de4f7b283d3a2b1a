"""The accelerator top: memories, sequencer, PE array, EIE engine and host link.

:class:`AcceleratorCore` holds the memories the host fills (program, dense weights, two
activation banks, biases, per-step cycle counters; EIE weights live inside the engine), the
int8 :class:`~corolla.hw.array.SystolicArray`, the :class:`~corolla.hw.sparse.EieEngine` and
the sequencer that runs a program of layer descriptors (:data:`protocol.DESCRIPTOR_FIELDS`):

* a **dense** step computes ``Y[rows × batch] = W[rows × cols] · X[cols × batch]`` on the
  array. Activation word ``k`` of a bank holds feature ``k`` of up to ``cols`` images (lane =
  image), so one word is one beat's ``b`` operand; the weights sit in tile order (word
  ``weight_base + t·cols + k`` holds ``W[t·R + r, k]`` in byte ``r``), so one word is one beat's
  ``a`` operand and the feeder reads both memories once per beat. Each result row gets its
  bias, is requantized (shift, ReLU, saturation; :class:`~corolla.hw.arith.requant.Requant`)
  and is written to the other bank at word ``m``;
* a **sparse** step runs the EIE engine once per image: the feeder streams lane ``n`` of words
  ``0 … cols − 1``, and the engine's outputs are written to lane ``n`` of the other bank.

Steps chain without the host: step ``s`` reads bank ``src`` and writes bank ``1 − src``. Each
step's cycles go to the counter memory. A descriptor that does not fit (kind, sizes, memory
ranges) stops the program with the ``DESCRIPTOR`` flag; an EIE error stops it with the
engine's flag; a step that runs past the watchdog stops it with ``WATCHDOG``. Stopping resets
the datapath (array, engine, queues), never the memories, so the host can look and try again.

:class:`Accelerator` adds the host link (:mod:`corolla.hw.io`) with either the UART pins
(``link="uart"``) or the link's byte streams (``link="stream"``, for fast simulation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from types import SimpleNamespace

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.hdl import ResetInserter
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .arith.requant import Requant
from .array.pe import Int8Kind
from .array.systolic import SystolicArray, operand_layout
from .io import protocol as proto
from .io.link import HostLink, SpaceInfo, status_bytes
from .io.ram import SinglePortRam
from .io.uart import UartRx, UartTx, divisor_for
from .sparse.engine import EieEngine, EieParams, load_fits

__all__ = ["Accelerator", "AcceleratorCore", "TopParams", "descriptor_layout"]


def _width(mem) -> int:
    return mem.width if isinstance(mem, SinglePortRam) else mem.shape.width


def _pow2(value) -> bool:
    return isinstance(value, int) and value >= 1 and value & (value - 1) == 0


@dataclass(frozen=True)
class TopParams:
    """Sizes of the accelerator.

    Parameters
    ----------
    rows, cols : int
        PE array size (powers of two, 1 to 16). ``cols`` is also the number of images a
        program runs at once (activation lanes).
    acc_width : int
        Accumulator width (16 to 32).
    eie : EieParams or None
        The EIE engine (``act_lanes`` is set to 1, ``act_width``/``out_width`` to 8), or
        ``None`` for none.
    weight_depth : int
        Dense weight words (``rows`` bytes each).
    act_depth : int
        Words per activation bank (the widest layer).
    bias_depth : int
        Dense biases.
    program_depth : int
        Program steps (at most 255).
    max_payload : int
        Largest request payload of the host link.
    frame_timeout : int
        Host-link idle timeout in cycles (see :class:`~corolla.hw.io.HostLink`).
    clock_hz, baud : float, int
        For the UART divisor.
    link : str
        ``"uart"`` (pins ``rx``/``tx``) or ``"stream"`` (byte streams ``host_rx``/``host_tx``).
    """

    rows: int = 4
    cols: int = 4
    acc_width: int = 32
    eie: EieParams | None = field(default_factory=lambda: EieParams(pes=4))
    weight_depth: int = 16384
    act_depth: int = 512
    bias_depth: int = 1024
    program_depth: int = 16
    max_payload: int = 1024
    frame_timeout: int = 2000
    clock_hz: float = 50e6
    baud: int = 115200
    link: str = "stream"

    def __post_init__(self):
        def need(name, ok, expected):
            value = getattr(self, name)
            if isinstance(value, bool) or not ok(value):
                raise ValueError(f"accelerator parameter {name} must be {expected}, not "
                                 f"{value!r}")
        need("rows", lambda v: _pow2(v) and v <= 16, "a power of two from 1 to 16")
        need("cols", lambda v: _pow2(v) and v <= 16, "a power of two from 1 to 16")
        need("acc_width", lambda v: isinstance(v, int) and 16 <= v <= 32,
             "an integer from 16 to 32")
        need("weight_depth", lambda v: isinstance(v, int) and 1 <= v <= 1 << 20,
             "an integer from 1 to 2**20")
        need("act_depth", lambda v: isinstance(v, int) and 1 <= v <= 4095,
             "an integer from 1 to 4095")
        need("bias_depth", lambda v: isinstance(v, int) and 1 <= v <= 4095,
             "an integer from 1 to 4095")
        need("program_depth", lambda v: isinstance(v, int) and 1 <= v <= 255,
             "an integer from 1 to 255")
        need("link", lambda v: v in ("uart", "stream"), "'uart' or 'stream'")
        if self.eie is not None:
            eie = replace(self.eie, act_lanes=1, act_width=8, out_width=8,
                          acc_width=self.acc_width)
            object.__setattr__(self, "eie", eie)
            if eie.load_addr_width > 16 or eie.pes > 64:
                raise ValueError("accelerator parameter eie: memories need at most 16 address "
                                 "bits")
        if self.link == "uart":
            divisor_for(self.clock_hz, self.baud)

    @property
    def divisor(self) -> int:
        """UART clock cycles per bit."""
        return divisor_for(self.clock_hz, self.baud)

    def spaces(self) -> dict:
        """Byte size and access of each host-visible memory."""
        eie_records = 0
        if self.eie is not None:
            e = self.eie
            eie_records = ((e.entry_depth + e.ptr_depth) * e.pes + (e.codebooks << e.v_bits)
                           + e.bias_depth)
        return {
            proto.Space.PROGRAM: SpaceInfo(self.program_depth * proto.DESCRIPTOR_BYTES),
            proto.Space.WEIGHTS: SpaceInfo(self.weight_depth * self.rows),
            proto.Space.ACT0: SpaceInfo(self.act_depth * self.cols),
            proto.Space.ACT1: SpaceInfo(self.act_depth * self.cols),
            proto.Space.BIAS: SpaceInfo(self.bias_depth * 4),
            proto.Space.EIE: SpaceInfo(eie_records * proto.EIE_RECORD_BYTES, readable=False),
            proto.Space.COUNTERS: SpaceInfo(self.program_depth * 4, writable=False),
        }

    def info(self) -> dict:
        """The PING reply fields (:data:`protocol.INFO_FIELDS`)."""
        e = self.eie
        return {
            "rows": self.rows, "cols": self.cols, "eie_pes": e.pes if e else 0,
            "max_payload": self.max_payload, "program_depth": self.program_depth,
            "weight_depth": self.weight_depth, "act_depth": self.act_depth,
            "bias_depth": self.bias_depth,
            "eie_entry_depth": e.entry_depth if e else 0,
            "eie_ptr_depth": e.ptr_depth if e else 0,
            "eie_bias_depth": e.bias_depth if e else 0,
            "eie_codebooks": e.codebooks if e else 0,
            "eie_max_rows": e.max_rows if e else 0,
            "eie_z_bits": e.z_bits if e else 0, "eie_v_bits": e.v_bits if e else 0,
            "eie_weight_width": e.weight_width if e else 0,
            "acc_width": self.acc_width,
        }

    def info_bytes(self) -> bytes:
        n = sum(size for _, size in proto.INFO_FIELDS)
        return (proto.INFO_MAGIC + bytes([proto.VERSION])
                + proto.pack_fields(proto.INFO_FIELDS, self.info(), unit=8).to_bytes(n, "little"))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["eie"] = self.eie.to_dict() if self.eie else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TopParams:
        d = dict(d)
        if d.get("eie") is not None:
            d["eie"] = EieParams(**d["eie"])
        return cls(**d)


def descriptor_layout() -> data.StructLayout:
    """A program step, from :data:`protocol.DESCRIPTOR_FIELDS` (16 bytes)."""
    return data.StructLayout({name: unsigned(bits) for name, bits in proto.DESCRIPTOR_FIELDS})


def _core_signature(p: TopParams) -> dict:
    return {
        "bus_space": In(3), "bus_addr": In(32), "bus_wdata": In(8), "bus_we": In(1),
        "bus_re": In(1), "bus_check": In(1), "bus_rdata": Out(8), "bus_bad": Out(1),
        "run_start": In(1), "run_first": In(8), "run_count": In(8), "run_watchdog": In(32),
        "busy": Out(1), "errors": Out(16), "status": Out(8 * status_bytes()),
    }


class AcceleratorCore(wiring.Component):
    """Memories, sequencer and engines (see the module docstring); the host side is the
    byte bus and run controls of :class:`~corolla.hw.io.HostLink`.

    Members
    -------
    bus_* : the link's memory bus.
    run_start, run_first, run_count, run_watchdog : In
        Start a program.
    busy : Out(1)
        A program runs.
    errors : Out(16)
        :class:`protocol.ErrorFlag` bits of the last run.
    status : Out
        The STATUS reply payload.
    """

    def __init__(self, params: TopParams):
        self._p = params
        super().__init__(_core_signature(params))

    def elaborate(self, platform):
        p = self._p
        m = Module()
        n_rows, n_cols = p.rows, p.cols
        flag = proto.ErrorFlag

        # --- memories -------------------------------------------------------------------
        prog = Memory(shape=unsigned(8 * proto.DESCRIPTOR_BYTES), depth=p.program_depth, init=[])
        # The host and the feeder never use the weights at once: one port (SPRAM on iCE40UP).
        weights = SinglePortRam(8 * n_rows, p.weight_depth)
        acts = [Memory(shape=unsigned(8 * n_cols), depth=p.act_depth, init=[]) for _ in range(2)]
        bias = Memory(shape=unsigned(32), depth=p.bias_depth, init=[])
        counters = Memory(shape=unsigned(32), depth=p.program_depth, init=[])
        m.submodules.program = prog
        m.submodules.weights = weights
        m.submodules.act0, m.submodules.act1 = acts
        m.submodules.bias = bias
        m.submodules.counters = counters
        mems = {proto.Space.PROGRAM: prog, proto.Space.WEIGHTS: weights, proto.Space.ACT0: acts[0],
                proto.Space.ACT1: acts[1], proto.Space.BIAS: bias, proto.Space.COUNTERS: counters}
        wr = {sp: mem.write_port(granularity=8) for sp, mem in mems.items()
              if sp not in (proto.Space.COUNTERS, proto.Space.WEIGHTS)}
        counters_wr = counters.write_port()
        rd = {sp: mem.read_port() for sp, mem in mems.items() if sp != proto.Space.WEIGHTS}
        # Port views of the single-port weight RAM (one address for both).
        wr[proto.Space.WEIGHTS] = SimpleNamespace(addr=weights.addr, data=weights.wdata,
                                                  en=weights.we)
        rd[proto.Space.WEIGHTS] = SimpleNamespace(addr=weights.addr, en=weights.re,
                                                  data=weights.rdata)

        busy = Signal()
        m.d.comb += self.busy.eq(busy)

        # --- host bus -------------------------------------------------------------------
        space = self.bus_space
        lane_sel = Signal(4)
        read_space = Signal(3)
        for sp, mem in mems.items():
            width = _width(mem) // 8
            shift = exact_log2(width)
            word = self.bus_addr >> shift
            lane = self.bus_addr[:shift] if shift else 0
            if sp in wr:
                m.d.comb += [
                    wr[sp].addr.eq(word),
                    wr[sp].data.eq(self.bus_wdata.replicate(width)),
                    wr[sp].en.eq(Mux(self.bus_we & ~self.bus_check & ~busy & (space == sp),
                                     1 << lane, 0)),
                ]
            m.d.comb += [rd[sp].addr.eq(word), rd[sp].en.eq(~busy & self.bus_re)]
        with m.If(self.bus_re):
            m.d.sync += [lane_sel.eq(self.bus_addr[:4]), read_space.eq(space)]
        with m.Switch(read_space):
            for sp, mem in mems.items():
                width = _width(mem) // 8
                with m.Case(int(sp)):
                    sel = lane_sel[:exact_log2(width)] if width > 1 else 0
                    m.d.comb += self.bus_rdata.eq(rd[sp].data.word_select(sel, 8))

        # --- datapath (reset between programs and when a program is stopped) ------------
        dp_reset = Signal()
        kind = Int8Kind(width=8, acc_width=p.acc_width)
        array = SystolicArray(rows=n_rows, cols=n_cols, kind=kind)
        m.submodules.array = ResetInserter(dp_reset)(array)
        op_layout = operand_layout(kind, n_rows, n_cols)
        opq = fifo.SyncFIFOBuffered(width=op_layout.size, depth=4)
        m.submodules.opq = ResetInserter(dp_reset)(opq)
        m.d.comb += [
            array.operands.payload.eq(opq.r_data),
            array.operands.valid.eq(opq.r_rdy),
            opq.r_en.eq(array.operands.ready),
        ]
        requants = [Requant(acc_width=p.acc_width, out_width=8) for _ in range(n_cols)]
        for c, rq in enumerate(requants):
            m.submodules[f"requant{c}"] = ResetInserter(dp_reset)(rq)
            m.d.comb += rq.output.ready.eq(1)

        engine = None
        if p.eie is not None:
            engine = EieEngine(p.eie)
            m.submodules.eie = ResetInserter(dp_reset)(engine)
            actq = fifo.SyncFIFOBuffered(width=8, depth=4)
            m.submodules.actq = ResetInserter(dp_reset)(actq)
            m.d.comb += [
                engine.act.payload.eq(actq.r_data),
                engine.act.valid.eq(actq.r_rdy),
                actq.r_en.eq(engine.act.ready),
                engine.output.ready.eq(1),
            ]
            self._eie_load(m, engine, busy)
        else:
            m.d.comb += self.bus_bad.eq(self.bus_we & (space == proto.Space.EIE))

        # --- sequencer ------------------------------------------------------------------
        d = Signal(descriptor_layout())
        pc = Signal(8)
        remaining = Signal(8)
        steps = Signal(8)
        runs = Signal(8)
        errors = Signal(16)
        step_cycles = Signal(32)
        total = Signal(32)
        limit = Signal(32)
        m.d.comb += self.errors.eq(errors)
        m.d.comb += self.status.eq(Cat(busy, Signal(7), errors, pc,
                                       steps, runs, total))

        src = d.src
        tiles = Signal(12)
        m.d.comb += tiles.eq((d.rows + (n_rows - 1)) >> exact_log2(n_rows))
        # weight_base + tiles · cols, by shift-and-add in the SIZE state (a DSP saved).
        weight_end = Signal(34)
        size_a = Signal(12)
        size_b = Signal(34)

        # Dense feeder: one beat per cycle, W word and X word read together.
        f_active = Signal()
        f_k = Signal(12)
        f_tile = Signal(12)
        f_waddr = Signal(21)
        f_valid = Signal()
        f_last = Signal()
        room = opq.level <= 2
        issue = Signal()
        m.d.comb += issue.eq(f_active & room)
        act_rd = [rd[proto.Space.ACT0], rd[proto.Space.ACT1]]
        w_rd = rd[proto.Space.WEIGHTS]
        # Sparse feeder: lane n of words 0 .. cols-1.
        s_active = Signal()
        s_k = Signal(12)
        s_valid = Signal()
        s_issue = Signal()
        lane_n = Signal(range(n_cols))
        if engine is not None:
            m.d.comb += s_issue.eq(s_active & (actq.level <= 2))
        with m.If(busy):
            m.d.comb += [
                w_rd.addr.eq(f_waddr), w_rd.en.eq(issue),
                act_rd[0].addr.eq(Mux(f_active, f_k, s_k)),
                act_rd[1].addr.eq(Mux(f_active, f_k, s_k)),
                act_rd[0].en.eq(issue | s_issue), act_rd[1].en.eq(issue | s_issue),
                rd[proto.Space.PROGRAM].addr.eq(pc), rd[proto.Space.PROGRAM].en.eq(1),
            ]
        src_word = Mux(src, act_rd[1].data, act_rd[0].data)
        m.d.sync += [f_valid.eq(issue), f_last.eq(f_k + 1 == d.cols), s_valid.eq(s_issue)]
        beat = data.View(op_layout, Signal(op_layout))
        m.d.comb += [
            beat.a.as_value().eq(w_rd.data), beat.b.as_value().eq(src_word),
            beat.last.eq(f_last),
            opq.w_data.eq(beat), opq.w_en.eq(f_valid),
        ]
        with m.If(issue):
            m.d.sync += [f_waddr.eq(f_waddr + 1), f_k.eq(f_k + 1)]
            with m.If(f_k + 1 == d.cols):
                m.d.sync += [f_k.eq(0), f_tile.eq(f_tile + 1)]
                with m.If(f_tile + 1 == tiles):
                    m.d.sync += f_active.eq(0)
        if engine is not None:
            m.d.comb += [actq.w_data.eq(src_word.word_select(lane_n, 8)),
                         actq.w_en.eq(s_valid)]
        with m.If(s_issue):
            m.d.sync += s_k.eq(s_k + 1)
            with m.If(s_k + 1 == d.cols):
                m.d.sync += s_active.eq(0)

        # Dense drain: bias, requantize, write row m of the other bank.
        r_count = Signal(16)
        r_valid = Signal()
        r_m = Signal(12)
        r_row = Signal(array.results.payload.row.shape())
        bias_rd = rd[proto.Space.BIAS]
        m.d.comb += array.results.ready.eq(1)
        with m.If(busy):
            m.d.comb += [bias_rd.addr.eq(d.bias_base + r_count), bias_rd.en.eq(1)]
        m.d.sync += r_valid.eq(array.results.valid & (r_count < d.rows))
        m.d.sync += [r_m.eq(r_count), r_row.eq(array.results.payload.row)]
        with m.If(array.results.valid):
            m.d.sync += r_count.eq(r_count + 1)
        bias_value = bias_rd.data.as_signed()
        for c, rq in enumerate(requants):
            m.d.comb += [
                rq.input.valid.eq(r_valid),
                rq.input.payload.eq(r_row[c] + bias_value),
                rq.shift.eq(d.shift), rq.relu.eq(d.relu),
            ]
        w_count = Signal(12)
        dense_out = requants[0].output.valid
        with m.If(dense_out):
            m.d.sync += w_count.eq(w_count + 1)
        # Sparse outputs.
        o_count = Signal(12)
        sparse_out = Signal()
        if engine is not None:
            m.d.comb += sparse_out.eq(engine.output.valid)
            with m.If(sparse_out):
                m.d.sync += o_count.eq(o_count + 1)
        batch_mask = Signal(n_cols)
        m.d.comb += batch_mask.eq((1 << d.batch) - 1)
        out_word = Cat(rq.output.payload for rq in requants)
        for b in range(2):
            port = wr[proto.Space.ACT0 if b == 0 else proto.Space.ACT1]
            mine = busy & (src != b)
            with m.If(mine & dense_out):
                m.d.comb += [port.addr.eq(w_count), port.data.eq(out_word),
                             port.en.eq(batch_mask)]
            if engine is not None:
                with m.If(mine & sparse_out):
                    m.d.comb += [port.addr.eq(o_count),
                                 port.data.eq(engine.output.payload.replicate(n_cols)),
                                 port.en.eq(1 << lane_n)]

        # Step control.
        m.d.comb += [
            counters_wr.addr.eq(pc), counters_wr.data.eq(step_cycles),
            counters_wr.en.eq(0),
        ]
        with m.If(busy):
            m.d.sync += [step_cycles.eq(step_cycles + 1), total.eq(total + 1)]
        watchdog = busy & (step_cycles >= limit)

        def stop(flag):
            m.d.sync += [errors.bit_select(flag, 1).eq(1), dp_reset.eq(1)]
            m.next = "FINISH"

        m.d.sync += dp_reset.eq(0)
        with m.FSM():
            with m.State("IDLE"), m.If(self.run_start):
                m.d.sync += [
                    busy.eq(1), pc.eq(self.run_first), remaining.eq(self.run_count),
                    steps.eq(0), runs.eq(runs + 1), errors.eq(0), total.eq(0),
                    step_cycles.eq(0), dp_reset.eq(1),
                    limit.eq(Mux(self.run_watchdog == 0, 0xFFFFFFFF, self.run_watchdog)),
                ]
                m.next = "FETCH"
            with m.State("FETCH"):
                m.next = "DECODE"
            with m.State("DECODE"):
                m.d.sync += d.eq(rd[proto.Space.PROGRAM].data)
                m.next = "SIZE"
            with m.State("SIZE"):
                # Entered with size_a = 0: load the operands, then one bit per cycle.
                with m.If(size_a == 0):
                    m.d.sync += [size_a.eq(tiles), size_b.eq(d.cols),
                                 weight_end.eq(d.weight_base)]
                    with m.If(tiles == 0):
                        m.next = "CHECK"
                with m.Else():
                    with m.If(size_a[0]):
                        m.d.sync += weight_end.eq(weight_end + size_b)
                    m.d.sync += [size_a.eq(size_a >> 1), size_b.eq(size_b << 1)]
                    with m.If(size_a == 1):
                        m.next = "CHECK"
            with m.State("CHECK"):
                common_bad = ((d.rows == 0) | (d.cols == 0) | (d.rows > p.act_depth)
                              | (d.cols > p.act_depth) | (d.batch == 0) | (d.batch > n_cols))
                m.d.sync += [r_count.eq(0), w_count.eq(0), o_count.eq(0), lane_n.eq(0)]
                with m.If(common_bad):
                    stop(flag.DESCRIPTOR)
                with m.Elif(d.kind == proto.LayerKind.DENSE):
                    with m.If((weight_end > p.weight_depth)
                              | (d.bias_base + d.rows > p.bias_depth)):
                        stop(flag.DESCRIPTOR)
                    with m.Else():
                        m.d.sync += [f_active.eq(1), f_k.eq(0), f_tile.eq(0),
                                     f_waddr.eq(d.weight_base)]
                        m.next = "DENSE"
                if engine is not None:
                    with m.Elif(d.kind == proto.LayerKind.SPARSE):
                        e = p.eie
                        # Fields the engine's descriptor holds in fewer bits are checked here, so
                        # none is truncated into a different layer.
                        with m.If((d.rows > e.max_rows) | (d.cols >= e.ptr_depth)
                                  | (d.ptr_base >= e.ptr_depth)
                                  | (d.eie_bias_base >= e.bias_depth)
                                  | (d.codebook >= e.codebooks)):
                            stop(flag.DESCRIPTOR)
                        with m.Else():
                            m.next = "SPARSE_START"
                with m.Else():
                    stop(flag.DESCRIPTOR)
            with m.State("DENSE"):
                with m.If(watchdog):
                    stop(flag.WATCHDOG)
                with m.Elif((r_count == tiles * n_rows) & (w_count == d.rows) & ~r_valid):
                    m.next = "STEP_END"
            if engine is not None:
                with m.State("SPARSE_START"):
                    lay = engine.layer
                    m.d.comb += [
                        lay.rows.eq(d.rows), lay.cols.eq(d.cols), lay.ptr_base.eq(d.ptr_base),
                        lay.bias_base.eq(d.eie_bias_base), lay.codebook.eq(d.codebook),
                        lay.shift.eq(d.shift), lay.relu.eq(d.relu), engine.start.eq(1),
                    ]
                    m.d.sync += [s_active.eq(1), s_k.eq(0), o_count.eq(0)]
                    m.next = "SPARSE_RUN"
                with m.State("SPARSE_RUN"):
                    err = engine.error
                    with m.If(watchdog):
                        stop(flag.WATCHDOG)
                    with m.Elif(engine.done):
                        with m.If(err.config):
                            stop(flag.EIE_CONFIG)
                        with m.Elif(err.pointer):
                            stop(flag.EIE_POINTER)
                        with m.Elif(err.row):
                            stop(flag.EIE_ROW)
                        with m.Elif(lane_n + 1 == d.batch):
                            m.next = "STEP_END"
                        with m.Else():
                            m.d.sync += lane_n.eq(lane_n + 1)
                            m.next = "SPARSE_START"
            with m.State("STEP_END"):
                m.d.comb += counters_wr.en.eq(1)
                m.d.sync += [pc.eq(pc + 1), remaining.eq(remaining - 1), steps.eq(steps + 1),
                             step_cycles.eq(0)]
                with m.If(remaining == 1):
                    m.next = "FINISH"
                with m.Else():
                    m.next = "FETCH"
            with m.State("FINISH"):
                m.d.sync += [busy.eq(0), f_active.eq(0), s_active.eq(0)]
                m.next = "IDLE"
        return m

    def _eie_load(self, m, engine, busy):
        """EIE load records from the host bus: assembled byte by byte, checked, written."""
        e = self._p.eie
        rec = Signal(56)
        full = Signal(64)
        at_end = self.bus_we & (self.bus_space == proto.Space.EIE) & (self.bus_addr[:3] == 7)
        with m.If(self.bus_we & (self.bus_space == proto.Space.EIE)):
            m.d.sync += rec.word_select(self.bus_addr[:3], 8).eq(self.bus_wdata)
        m.d.comb += full.eq(Cat(rec, self.bus_wdata))
        target = full[0:2]
        pe = full[2:8]
        addr = full[8:24]
        value = full[24:56]
        ok = Signal()
        m.d.comb += ok.eq(load_fits(e, target, addr, value) & (pe < e.pes) & (full[56:] == 0))
        m.d.comb += self.bus_bad.eq(at_end & ~ok)
        load = engine.load.payload
        m.d.comb += [
            load.target.eq(target), load.pe.eq(pe), load.addr.eq(addr), load.data.eq(value),
            engine.load.valid.eq(at_end & ok & ~self.bus_check & ~busy),
        ]


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
        The link's byte streams (``link="stream"``).
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
        for name in ("bus_space", "bus_addr", "bus_wdata", "bus_we", "bus_re", "bus_check",
                     "run_start", "run_first", "run_count", "run_watchdog"):
            m.d.comb += getattr(core, name).eq(getattr(link, name))
        for name in ("bus_rdata", "bus_bad", "busy", "status"):
            m.d.comb += getattr(link, name).eq(getattr(core, name))
        m.d.comb += [self.busy.eq(core.busy), self.error.eq(core.errors.any())]
        if p.link == "uart":
            m.submodules.uart_rx = urx = UartRx(p.divisor)
            m.submodules.uart_tx = utx = UartTx(p.divisor)
            m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
            wiring.connect(m, urx.output, link.rx)
            wiring.connect(m, link.tx, utx.input)
        else:
            wiring.connect(m, wiring.flipped(self.host_rx), link.rx)
            wiring.connect(m, link.tx, wiring.flipped(self.host_tx))
        return m
