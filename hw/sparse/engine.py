"""EIE sparse engine: compressed weights × sparse activations on P processing elements.

The engine runs one layer of the encoding of :mod:`corolla.sim.models.sparse` (EIE's
interleaved CSC, Han et al., ISCA'16) straight from its memories:

* the **activation queue** takes the N activations of a vector in beats of ``act_lanes``,
  finds the non-zero ones (lowest lane first) and broadcasts ``(j, a_j)`` for up to
  ``broadcast`` (B) of them a cycle, the b-th lowest to every PE's b-th FIFO; a beat with no
  non-zero activation takes one cycle, so zeros are skipped ``act_lanes`` at a time. It waits
  only when some FIFO is (nearly) full, so a slow PE holds the others back only once its
  FIFOs have filled;
* each **PE** (:class:`EiePe`) has a pointer fetch per broadcast lane: it pops a column, reads
  its two column pointers from its own copy of an even / odd pointer bank pair in one cycle,
  checks them a cycle later from registers, and drops the column if it is empty for this PE or
  queues it (``column_queue`` deep). The walker takes the lanes' queued columns in turn (the
  wrapping sums do not depend on the order), walks the entries one per cycle and moves to the
  next column without a bubble; the fetches keep dropping empty columns while a long column is
  walked. The walker advances its local row by ``z + 1`` per entry, looks the
  weight up in the layer's codebook, multiplies it by ``a_j`` and adds the product to the row's
  accumulator (a read-modify-write of block RAM; the two writes still in flight when a row is
  read are forwarded, so an entry may hit the row either of the two before it wrote);
* once every activation has been broadcast and every PE is idle, the **output stage** reads
  the accumulators in row order (row ``i`` is PE ``i mod P``'s local row ``i // P``), adds the
  bias, requantizes with :class:`~corolla.hw.arith.requant.Requant` (shift, ReLU, saturation)
  and streams the M outputs with back-pressure, clearing each accumulator as it leaves.

With ``huffman`` (:class:`~corolla.params.EieParams`) each PE's entries are stored as a
canonical Huffman bit stream (a ``z`` code and a ``v`` code per entry, one pair of codes per
codebook slot) and column pointers are bit addresses: a decoder in front of the walker
(:meth:`EiePe._decoder`) decodes one entry a cycle from two 16-bit words read at once, and
flags a code that matches no length or runs past its column (``error.code``).

The host writes the memories through the ``load`` stream before a run (entries, column
pointers, codebooks and biases; several layers can live side by side, selected per run by the
``layer`` descriptor's bases), then pulses ``start``.

Nothing the host sends can hang the engine. A descriptor that does not fit the memories is
refused at ``start`` (``error.config``, ``done`` at once, nothing consumed). During a run a
column pointer outside the entry memory or an end pointer below its start
(``error.pointer``), or an entry reaching past the layer's rows (``error.row``), stops all
further multiply-accumulates; the run still consumes its N activations and emits its M
outputs (whose values are then meaningless), and ``done`` follows. A write to a memory
address that does not exist, a value too wide for its memory, or a write during a run is
ignored and flags ``error.load``. Flags stay set until the next ``start``.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from corolla.hw.arith.dsp import is_ice40
from corolla.hw.arith.requant import Requant
from corolla.params import CODE_WORD, EieParams, EieTarget

__all__ = ["EieEngine", "EieParams", "EiePe", "LoadTarget", "error_layout", "load_fits"]


class LoadTarget(enum.Enum, shape=3):
    """Which memory a ``load`` write goes to (values from :class:`corolla.params.EieTarget`)."""

    ENTRY = EieTarget.ENTRY.value
    POINTER = EieTarget.POINTER.value
    CODEBOOK = EieTarget.CODEBOOK.value
    BIAS = EieTarget.BIAS.value
    SYMBOLS = EieTarget.SYMBOLS.value
    LIMITS = EieTarget.LIMITS.value


def layer_layout(p: EieParams) -> data.StructLayout:
    """The run descriptor sampled at ``start``.

    ``rows`` (M, 1 to ``max_rows``), ``cols`` (N, at least 1), ``ptr_base`` (first of the
    layer's N + 1 column pointers), ``bias_base`` (first of its M biases), ``codebook`` (which
    codebook), and the requantizer's ``shift`` and ``relu``.
    """
    return data.StructLayout({
        "rows": range(p.max_rows + 1),
        "cols": range(p.ptr_depth),
        "ptr_base": range(p.ptr_depth),
        "bias_base": range(p.bias_depth),
        "codebook": unsigned(bits_for(p.codebooks - 1)),
        "shift": range(p.acc_width),
        "relu": 1,
    })


def load_layout(p: EieParams) -> data.StructLayout:
    """A memory write: ``target`` (:class:`LoadTarget`), ``pe``, ``addr``, ``data``."""
    return data.StructLayout({
        "target": LoadTarget,
        "pe": unsigned(p.pe_bits),
        "addr": unsigned(p.load_addr_width),
        "data": unsigned(p.load_data_width),
    })


def load_fits(p: EieParams, target, addr, value):
    """Whether a ``load`` write of ``value`` at ``addr`` of ``target`` exists and fits its
    memory (a 1-bit expression)."""
    limits = {
        LoadTarget.ENTRY: ((p.code_depth, CODE_WORD) if p.huffman
                           else (p.entry_depth, p.entry_width)),
        LoadTarget.POINTER: (p.ptr_depth, p.ptr_width),
        LoadTarget.CODEBOOK: (p.codebooks << p.v_bits, p.weight_width),
        LoadTarget.BIAS: (p.bias_depth, p.acc_width),
    }
    if p.huffman:
        limits[LoadTarget.SYMBOLS] = (p.codebooks << (p.symbol_bits + 1), p.symbol_bits)
    fits = 0
    for tgt, (depth, width) in limits.items():
        fits = fits | ((target == tgt.value) & (addr < depth) & (value >> width == 0))
    if p.huffman:
        # Limit and base of code length addr[:3] + 1 of field addr[3] of codebook addr >> 4.
        fits = fits | ((target == LoadTarget.LIMITS.value) & (addr[:3] < p.code_length)
                       & ((addr >> 4) < p.codebooks) & (value >> (2 * p.code_length + 3) == 0))
    return fits


def column_layout(p: EieParams) -> data.StructLayout:
    """A broadcast non-zero activation: ``col``, the address of its column's first pointer
    (the layer's ``ptr_base`` plus the column), and value ``act``."""
    return data.StructLayout({"col": unsigned(p.col_bits), "act": signed(p.act_width)})


#: Sticky error flags of the engine (see the module docstring).
error_layout = data.StructLayout({"config": 1, "pointer": 1, "row": 1, "load": 1, "code": 1})


def table_layout(p: EieParams) -> data.ArrayLayout:
    """The Huffman decoders' tables of the running layer: limit and base per code length, of
    the ``z`` code (element 0) and the ``v`` code (element 1)."""
    return data.ArrayLayout(data.ArrayLayout(data.StructLayout({
        "limit": unsigned(p.code_length + 1), "base": signed(p.code_length + 2)}),
        p.code_length), 2)


class EiePe(wiring.Component):
    """One processing element of :class:`EieEngine`: its FIFO, memories and datapath.

    Pipeline, per broadcast lane: FIFO (bypassed when empty) → pointer read (F1) → pointers
    registered and checked (F2) → queue of non-empty columns; then, for the lanes' queues in
    turn: entry read (E0) → entry out of the RAM (E1) → entry registered; row address,
    codebook read and accumulator read (X) → multiply, stored sum registered, forwards chosen
    (E2) → accumulate and write (E3).

    Parameters
    ----------
    params : EieParams

    Members
    -------
    column : In(stream.Signature(column_layout(params))).array(broadcast)
        Broadcast non-zero activations, one stream per broadcast lane.
    codebook : In(...)
        The layer's codebook.
    local_rows : In(range(local_depth + 1))
        Rows of the layer this PE owns.
    abort : In(1)
        Drop all work (an error was found somewhere).
    load : In(stream.Signature(load_layout(params), always_ready=True))
        Memory writes for this PE (the engine checks them and selects the PE).
    room : Out(1)
        Every broadcast lane's FIFO has room for three more columns.
    idle : Out(1)
        Nothing queued or in flight, but for an accumulator write landing this cycle.
    pointer_error, row_error : Out(1)
        A column's pointers are bad / an entry reaches past ``local_rows`` (one-cycle pulses).
    draining : In(1)
        The output stage owns the accumulator ports.
    drain_addr, drain_en : In
        Accumulator read address and enable while draining.
    drain_data : Out(signed(acc_width))
        Accumulator read data, registered (two cycles after an enabled read; it moves on
        only with ``drain_en``).
    clear_addr, clear_en : In
        Accumulator to zero while draining.
    """

    def __init__(self, params: EieParams):
        self._p = p = params
        super().__init__({
            "column": In(stream.Signature(column_layout(p))).array(p.broadcast),
            "codebook": In(unsigned(bits_for(p.codebooks - 1))),
            "local_rows": In(range(p.local_depth + 1)),
            "abort": In(1),
            "load": In(stream.Signature(load_layout(p), always_ready=True)),
            "room": Out(1),
            "idle": Out(1),
            "pointer_error": Out(1),
            "row_error": Out(1),
            "draining": In(1),
            "drain_addr": In(range(p.local_depth)),
            "drain_en": In(1),
            "drain_data": Out(signed(p.acc_width)),
            "clear_addr": In(range(p.local_depth)),
            "clear_en": In(1),
            **({"table": In(table_layout(p)), "code_error": Out(1)} if p.huffman else {}),
        })

    def elaborate(self, platform):
        p = self._p
        m = Module()
        abort = self.abort

        # Memories. Column pointer k lives in bank k % 2 at k // 2, so ptr[k] and ptr[k + 1]
        # are read in the same cycle from single-port banks; each broadcast lane has its own
        # copy of the pair, so the PE fetches up to ``broadcast`` columns a cycle.
        lanes = p.broadcast
        banks = [[Memory(shape=unsigned(p.ptr_width), depth=p.ptr_depth // 2, init=[])
                  for _ in range(2)] for _ in range(lanes)]
        for b, (even, odd) in enumerate(banks):
            m.submodules[f"ptr{b}_even"], m.submodules[f"ptr{b}_odd"] = even, odd
        if p.huffman:
            # The coded entries: 16-bit words, even words in one bank and odd in the other, so
            # the two words holding the next code are read in one cycle.
            code_banks = [Memory(shape=unsigned(CODE_WORD), depth=p.code_depth // 2, init=[])
                          for _ in range(2)]
            m.submodules.code_even, m.submodules.code_odd = code_banks
            symbols = [Memory(shape=unsigned(bits), depth=p.codebooks << p.symbol_bits,
                              init=[]) for bits in (p.z_bits, p.v_bits)]
            m.submodules.z_symbols, m.submodules.v_symbols = symbols
        else:
            entries = Memory(shape=unsigned(p.entry_width), depth=p.entry_depth, init=[])
            m.submodules.entries = entries
        books = Memory(shape=signed(p.weight_width), depth=p.codebooks << p.v_bits, init=[])
        m.submodules.codebooks = books
        acc = Memory(shape=signed(p.acc_width), depth=p.local_depth, init=[])
        m.submodules.acc = acc

        # Loads.
        load = self.load.payload
        book_wr = books.write_port()
        for k, port in ((k, bank.write_port()) for pair in banks for k, bank in enumerate(pair)):
            m.d.comb += [
                port.addr.eq(load.addr >> 1),
                port.data.eq(load.data),
                port.en.eq(self.load.valid & (load.target == LoadTarget.POINTER)
                           & (load.addr[0] == k)),
            ]
        if p.huffman:
            for k, bank in enumerate(code_banks):
                port = bank.write_port()
                m.d.comb += [
                    port.addr.eq(load.addr >> 1), port.data.eq(load.data),
                    port.en.eq(self.load.valid & (load.target == LoadTarget.ENTRY)
                               & (load.addr[0] == k)),
                ]
            sb = p.symbol_bits
            for k, table in enumerate(symbols):
                port = table.write_port()
                m.d.comb += [
                    port.addr.eq(Cat(load.addr[:sb], load.addr[sb + 1:])),
                    port.data.eq(load.data),
                    port.en.eq(self.load.valid & (load.target == LoadTarget.SYMBOLS)
                               & (load.addr[sb] == k)),
                ]
        else:
            entry_wr = entries.write_port()
            m.d.comb += [
                entry_wr.addr.eq(load.addr), entry_wr.data.eq(load.data),
                entry_wr.en.eq(self.load.valid & (load.target == LoadTarget.ENTRY)),
            ]
        m.d.comb += [
            book_wr.addr.eq(load.addr), book_wr.data.eq(load.data),
            book_wr.en.eq(self.load.valid & (load.target == LoadTarget.CODEBOOK)),
        ]

        # F: per broadcast lane, FIFO -> pointer read (F1) -> pointers registered and checked
        # (F2) -> queue of non-empty columns, which the walker takes in turn.
        pend_layout = data.StructLayout({"start": unsigned(p.ptr_width),
                                         "end": unsigned(p.ptr_width),
                                         "act": signed(p.act_width), "single": 1})
        fetches = [self._fetch(m, b, banks[b], pend_layout) for b in range(lanes)]
        pending, pend = self._merge(m, [f.queue for f in fetches], pend_layout)
        m.d.comb += self.room.eq(Cat(f.room for f in fetches).all())
        m.d.sync += self.pointer_error.eq(Cat(f.bad for f in fetches).any() & ~abort)

        e1_valid = Signal()
        e1_first = Signal()
        e1_act = Signal(signed(p.act_width))
        if p.huffman:
            entry, walking = self._decoder(m, code_banks, symbols, pending, pend,
                                           e1_valid, e1_first, e1_act)
        else:
            entry, walking = self._walker(m, entries, pending, pend, e1_valid, e1_first, e1_act)

        # X: the entry (with Huffman coding, its decoded symbols) registered as it leaves the
        # block RAM.
        x_valid = Signal()
        x_first = Signal()
        x_act = Signal(signed(p.act_width))
        x_entry = Signal(len(entry))
        m.d.sync += [x_valid.eq(e1_valid & ~abort), x_first.eq(e1_first), x_act.eq(e1_act),
                     x_entry.eq(entry)]

        # X: row address, range check, codebook read and accumulator read. A bad row is dropped
        # here (its read is harmless); the flag leaves the PE registered.
        z = x_entry[:p.z_bits]
        v = x_entry[p.z_bits:]
        row_shape = unsigned(bits_for(p.local_depth + (1 << p.z_bits)))
        prev_row = Signal(row_shape)
        row = Signal(row_shape)
        m.d.comb += row.eq(Mux(x_first, z, prev_row + z + 1))
        row_bad = Signal()
        m.d.comb += row_bad.eq(x_valid & (row >= self.local_rows))
        m.d.sync += self.row_error.eq(row_bad & ~abort)
        with m.If(x_valid):
            m.d.sync += prev_row.eq(row)
        # The codebook is small: read asynchronously (LUT RAM) and registered, so the
        # multiplier starts from a register. iCE40 has no LUT RAM: there the block RAM's
        # synchronous read gives the weight in the same cycle.
        if is_ice40(platform):
            book_rd = books.read_port()
            m.d.comb += [book_rd.addr.eq(Cat(v, self.codebook)), book_rd.en.eq(1)]
            e2_weight = book_rd.data
        else:
            book_rd = books.read_port(domain="comb")
            m.d.comb += book_rd.addr.eq(Cat(v, self.codebook))
            e2_weight = Signal(signed(p.weight_width))
            m.d.sync += e2_weight.eq(book_rd.data)
        # The accumulator read (the output stage's while draining). The port is not
        # transparent: E3 forwards the two writes the read cannot see.
        acc_wr = acc.write_port()
        acc_rd = acc.read_port()
        old = Signal(signed(p.acc_width))       # the read's data, registered
        m.d.comb += [
            acc_rd.addr.eq(Mux(self.draining, self.drain_addr, row)),
            acc_rd.en.eq(Mux(self.draining, self.drain_en, 1)),
            self.drain_data.eq(old),
        ]
        e2_valid = Signal()
        e2_row = Signal(range(p.local_depth))
        e2_act = Signal(signed(p.act_width))
        e2_pad = Signal()
        m.d.sync += [
            e2_valid.eq(x_valid & ~row_bad & ~abort),
            e2_row.eq(row),
            e2_act.eq(x_act),
            e2_pad.eq(v == 0),
        ]

        # E2: product; the row's stored sum arrives and is registered. The read in X misses
        # the writes of the two entries ahead of it (the one in E3 now, and the one in E2 now,
        # which writes next cycle): whether either is to the same row is decided here, against
        # registers.
        e3_valid = Signal()
        e3_row = Signal(range(p.local_depth))
        e3_prod = Signal(signed(p.weight_width + p.act_width))
        e3_hit1 = Signal()                  # the entry now in E3 writes this row
        e3_hit2 = Signal()                  # the entry that was in E3 a cycle ago wrote it
        w1_valid = Signal()                 # E3's write one cycle ago ...
        w1_row = Signal(range(p.local_depth))
        w1_sum = Signal(signed(p.acc_width))
        w2_sum = Signal(signed(p.acc_width))    # ... and two cycles ago
        # While draining the output stage may hold its stages; the read data is kept then.
        with m.If(~self.draining | self.drain_en):
            m.d.sync += old.eq(acc_rd.data)
        m.d.sync += [
            e3_valid.eq(e2_valid),
            e3_row.eq(e2_row),
            e3_prod.eq(Mux(e2_pad, 0, e2_weight * e2_act)),
            e3_hit1.eq(e3_valid & (e3_row == e2_row)),
            e3_hit2.eq(w1_valid & (w1_row == e2_row)),
        ]

        # E3: accumulate (wrapping at acc_width) and write back; zero rows while draining.
        total = Signal(signed(p.acc_width))
        m.d.comb += [
            total.eq(Mux(e3_hit1, w1_sum, Mux(e3_hit2, w2_sum, old)) + e3_prod),
            acc_wr.addr.eq(Mux(self.draining, self.clear_addr, e3_row)),
            acc_wr.data.eq(Mux(self.draining, 0, total)),
            acc_wr.en.eq(Mux(self.draining, self.clear_en, e3_valid)),
        ]
        m.d.sync += [w1_valid.eq(e3_valid), w1_row.eq(e3_row), w1_sum.eq(total),
                     w2_sum.eq(w1_sum)]

        # E3's write lands at the end of this cycle, before any read the output stage can
        # issue once it has seen ``idle``.
        m.d.comb += self.idle.eq(Cat(f.idle for f in fetches).all() & ~walking
                                 & ~e1_valid & ~x_valid & ~e2_valid)
        return m

    def _fetch(self, m, lane, banks, pend_layout):
        """Broadcast lane ``lane`` of the PE: its activation FIFO, pointer fetch and queue of
        non-empty columns.

        The FIFO's head is popped while the column queue has room for it and every column
        still in flight (a credit count of registers only), so the pointers' read data never
        decides a clock enable: F1 reads ``ptr[k]`` and ``ptr[k + 1]``, F2 holds them in
        registers, checks them and queues the column if it has entries here. When the queue is
        empty the walker may take F2's column directly, judged only on whether it has entries:
        a column with bad pointers taken that way is stopped by the abort its
        ``pointer_error`` raises, before any of its entries reaches the accumulators.

        Returns
        -------
        types.SimpleNamespace
            ``queue`` (``r_rdy``, ``r_data``, ``r_en``: the lane's column queue with F2 in
            front of it), ``bad`` (F2's pointers are bad) and ``idle`` (nothing queued or in
            flight).
        """
        p = self._p
        abort = self.abort
        column = self.column[lane]
        queue = fifo.SyncFIFO(width=len(column.payload.as_value()), depth=p.fifo_depth)
        m.submodules[f"fifo{lane}"] = queue
        bypass = Signal(name=f"bypass{lane}")
        m.d.comb += [
            queue.w_data.eq(column.payload),
            queue.w_en.eq(column.valid & ~bypass),
            column.ready.eq(queue.w_rdy),
        ]
        # An empty FIFO is bypassed: the broadcast column goes straight to the pointer read.
        head = data.View(column_layout(p), Signal(queue.width, name=f"head{lane}"))
        m.d.comb += head.as_value().eq(Mux(queue.r_rdy, queue.r_data, column.payload))
        depth = p.column_queue + 2                  # the queue plus the two fetch stages
        pending = fifo.SyncFIFO(width=pend_layout.size, depth=depth)
        m.submodules[f"pending{lane}"] = pending

        reads = [bank.read_port() for bank in banks]
        k0 = head.col                               # the column's first pointer
        m.d.comb += [reads[0].addr.eq((k0 + 1) >> 1), reads[1].addr.eq(k0 >> 1),
                     reads[0].en.eq(1), reads[1].en.eq(1)]
        f1_valid = Signal(name=f"f1_valid{lane}")
        f1_odd = Signal(name=f"f1_odd{lane}")
        f1_act = Signal(signed(p.act_width), name=f"f1_act{lane}")
        f2_valid = Signal(name=f"f2_valid{lane}")
        f2_odd = Signal(name=f"f2_odd{lane}")
        f2_act = Signal(signed(p.act_width), name=f"f2_act{lane}")
        f2_banks = [Signal(p.ptr_width, name=f"f2_ptr{lane}_{k}") for k in range(2)]
        f2 = Signal(pend_layout, name=f"f2_{lane}")
        f2_empty = Signal(name=f"f2_empty{lane}")
        advance = Signal(name=f"advance{lane}")
        m.d.comb += [advance.eq(pending.level + f1_valid + f2_valid < depth),
                     queue.r_en.eq(advance),
                     bypass.eq(advance & ~queue.r_rdy)]
        # The banks' outputs go straight into registers (no logic after the block RAMs).
        m.d.sync += [
            f1_valid.eq(advance & (queue.r_rdy | column.valid) & ~abort),
            f1_odd.eq(k0[0]),
            f1_act.eq(head.act),
            f2_valid.eq(f1_valid & ~abort),
            f2_odd.eq(f1_odd),
            f2_act.eq(f1_act),
            f2_banks[0].eq(reads[0].data),
            f2_banks[1].eq(reads[1].data),
        ]
        m.d.comb += [
            f2.start.eq(Mux(f2_odd, f2_banks[1], f2_banks[0])),
            f2.end.eq(Mux(f2_odd, f2_banks[0], f2_banks[1])),
            f2.act.eq(f2_act),
            f2.single.eq(f2.end == f2.start + 1),
            f2_empty.eq(f2_banks[0] == f2_banks[1]),
        ]
        bad = Signal(name=f"bad{lane}")
        out = SimpleNamespace(r_rdy=Signal(name=f"lane_rdy{lane}"),
                              r_data=Signal(pend_layout, name=f"lane_head{lane}"),
                              r_en=Signal(name=f"lane_en{lane}"))
        direct = Signal(name=f"direct{lane}")           # F2's column goes to the walker
        m.d.comb += [
            bad.eq(f2_valid & ((f2.end < f2.start) | (f2.end > p.pointer_end))),
            out.r_rdy.eq(pending.r_rdy | (f2_valid & ~f2_empty)),
            out.r_data.eq(Mux(pending.r_rdy, pending.r_data, f2)),
            direct.eq(out.r_en & ~pending.r_rdy),
            pending.r_en.eq(out.r_en),
            pending.w_en.eq(f2_valid & ~bad & ~f2_empty & ~direct & ~abort),
            pending.w_data.eq(f2),
        ]
        return SimpleNamespace(
            queue=out, bad=bad, room=queue.level <= p.fifo_depth - 3,
            idle=(queue.level == 0) & ~f1_valid & ~f2_valid & ~pending.r_rdy)

    def _merge(self, m, queues, pend_layout):
        """The broadcast lanes' column queues as one queue for the walker: round robin among
        the lanes with a column (columns of one activation vector may be walked in any order:
        the sums wrap the same whatever the order). ``abort`` empties every queue.

        Returns
        -------
        (types.SimpleNamespace, data.View)
            The merged queue's ``r_rdy`` and ``r_en`` and a view of its head.
        """
        abort = self.abort
        merged = SimpleNamespace(r_rdy=Signal(name="pend_rdy"), r_en=Signal(name="pend_en"))
        head = Signal(pend_layout, name="pend_head")
        lanes = len(queues)
        choice = Signal(range(lanes), name="pend_lane")
        turn = Signal(range(lanes), name="pend_turn")
        for first in range(lanes):
            with m.If(turn == first):
                for b in reversed([(first + i) % lanes for i in range(lanes)]):
                    with m.If(queues[b].r_rdy):
                        m.d.comb += choice.eq(b)
        m.d.comb += merged.r_rdy.eq(Cat(q.r_rdy for q in queues).any())
        for b, q in enumerate(queues):
            m.d.comb += q.r_en.eq((merged.r_en & (choice == b)) | abort)
            with m.If(choice == b):
                m.d.comb += head.eq(q.r_data)
        with m.If(merged.r_en & merged.r_rdy):
            m.d.sync += turn.eq(Mux(choice == lanes - 1, 0, choice + 1))
        return merged, head

    def _walker(self, m, entries, pending, pend, e1_valid, e1_first, e1_act):
        """E0 for plain entries: one entry address a cycle, the next queued column without a
        bubble. Returns the entry read in E1 and whether the walker is busy."""
        p = self._p
        abort = self.abort
        w_next = Signal(p.ptr_width)    # the column's next entry
        w_end = Signal(p.ptr_width)
        w_act = Signal(signed(p.act_width))
        more = Signal()                 # the column has entries left after the one read now
        take = Signal()
        m.d.comb += [
            take.eq(pending.r_rdy & ~more & ~abort),
            pending.r_en.eq(take | abort),
        ]
        # A taken column's first entry is read in the cycle it is taken.
        entry_rd = entries.read_port()
        m.d.comb += [entry_rd.addr.eq(Mux(take, pend.start, w_next)), entry_rd.en.eq(1)]
        with m.If(abort):
            m.d.sync += more.eq(0)
        with m.Elif(take):
            m.d.sync += [w_next.eq(pend.start + 1), w_end.eq(pend.end), w_act.eq(pend.act),
                         more.eq(~pend.single)]
        with m.Elif(more):
            m.d.sync += [w_next.eq(w_next + 1), more.eq(w_next + 1 != w_end)]
        m.d.sync += [e1_valid.eq((take | more) & ~abort), e1_first.eq(take),
                     e1_act.eq(Mux(take, pend.act, w_act))]
        return entry_rd.data, more

    def _decoder(self, m, code_banks, symbols, pending, pend, e1_valid, e1_first, e1_act):
        """E0 for Huffman-coded entries: one entry's two codes decoded a cycle (D), their
        symbols read (E1).

        Each cycle the two coded words holding the next bit are read (even / odd banks), so
        the next entry's codes lie in a 32-bit window whatever its offset. In D the window's
        first ``L`` bits are compared with every length's ``z`` limit at once; the shortest
        match is the ``z`` code's length, and the ``L`` bits after it are compared with the
        ``v`` limits the same way. The two lengths move the bit address for the next read, and
        ``base + code`` of each addresses its symbol table. A column ends when the bit address
        reaches its end pointer; the next queued column's start is read in the same cycle, so
        a jump costs nothing. A code that matches no length or ends past the column flags
        ``code_error``, and the walk stops (the engine aborts the run)."""
        p = self._p
        abort = self.abort
        size = p.code_length
        d_valid = Signal()
        d_bit = Signal(p.ptr_width)        # the bit whose words were read last cycle
        d_end = Signal(p.ptr_width)
        d_act = Signal(signed(p.act_width))
        d_first = Signal()
        reads = [bank.read_port() for bank in code_banks]
        rd_bit = Signal(p.ptr_width)
        word = Signal(p.ptr_width - 4)
        m.d.comb += [word.eq(rd_bit >> 4),
                     reads[0].addr.eq((word + 1) >> 1), reads[1].addr.eq(word >> 1),
                     reads[0].en.eq(1), reads[1].en.eq(1)]
        odd = d_bit[4]
        window32 = Signal(2 * CODE_WORD)
        m.d.comb += window32.eq(Mux(odd, Cat(reads[0].data, reads[1].data),
                                    Cat(reads[1].data, reads[0].data)))
        shifted = Signal(2 * CODE_WORD)
        m.d.comb += shifted.eq(window32 << d_bit[:4])
        window = Signal(2 * size)
        m.d.comb += window.eq(shifted[2 * CODE_WORD - 2 * size:])

        def decode(bits, table, name):
            length = Signal(range(size + 1), name=f"{name}_length")
            value = Signal(signed(size + 3), name=f"{name}_value")
            for n in reversed(range(1, size + 1)):       # the shortest match is assigned last
                c = bits[size - n:]
                with m.If(c < table[n - 1].limit):
                    m.d.comb += [length.eq(n), value.eq(table[n - 1].base + c)]
            return length, value

        z_length, z_value = decode(window[size:], self.table[0], "z")
        after_z = Signal(2 * size)
        m.d.comb += after_z.eq(window << z_length)
        v_length, v_value = decode(after_z[size:], self.table[1], "v")
        next_bit = Signal(p.ptr_width + 1)
        m.d.comb += next_bit.eq(d_bit + z_length + v_length)
        ok = Signal()
        m.d.comb += ok.eq(d_valid & (z_length != 0) & (v_length != 0) & (next_bit <= d_end))
        more = Signal()
        m.d.comb += more.eq(ok & (next_bit != d_end))
        bad_code = Signal()
        m.d.comb += bad_code.eq(d_valid & ~ok & ~abort)
        m.d.sync += self.code_error.eq(bad_code)
        take = Signal()
        m.d.comb += [take.eq(pending.r_rdy & ~more & ~abort & ~bad_code),
                     pending.r_en.eq(take | abort),
                     rd_bit.eq(Mux(take, pend.start, next_bit))]
        m.d.sync += [d_valid.eq((take | more) & ~abort), d_bit.eq(rd_bit)]
        with m.If(take):
            m.d.sync += [d_end.eq(pend.end), d_act.eq(pend.act), d_first.eq(1)]
        with m.Elif(ok):
            m.d.sync += d_first.eq(0)

        entry = []
        for table, value in zip(symbols, (z_value, v_value), strict=True):
            port = table.read_port()
            m.d.comb += [port.addr.eq(Cat(value[:p.symbol_bits], self.codebook)), port.en.eq(1)]
            entry.append(port.data)
        m.d.sync += [e1_valid.eq(ok & ~abort), e1_first.eq(d_first), e1_act.eq(d_act)]
        return Cat(*entry), d_valid


class EieEngine(wiring.Component):
    """The EIE sparse engine (see the module docstring for what it does and how).

    Parameters
    ----------
    params : EieParams, optional
        Sizes (defaults of :class:`EieParams` when omitted); keyword arguments override
        single fields, e.g. ``EieEngine(pes=8)``.

    Members
    -------
    load : In(stream.Signature(load_layout(params), always_ready=True))
        Memory writes, one per cycle, accepted while not ``busy``; each lands a cycle after
        it is accepted.
    layer : In(layer_layout(params))
        The run descriptor, sampled when ``start`` is pulsed.
    start : In(1)
        Begin a run (ignored while ``busy``).
    act : In(stream.Signature(data.ArrayLayout(signed(act_width), act_lanes)))
        The N activations of the vector in column order, ``act_lanes`` per beat (lane 0
        first); the lanes of the last beat past column N − 1 are ignored. The first beat may
        already be taken in the cycle ``start`` is pulsed.
    output : Out(stream.Signature(signed(out_width)))
        The M outputs, in row order.
    busy : Out(1)
        A run is in progress.
    done : Out(1)
        One-cycle pulse when a run (or a refused start) ends.
    error : Out(error_layout)
        Sticky error flags, cleared by ``start``.
    """

    def __init__(self, params: EieParams | None = None, **overrides):
        if params is None:
            params = EieParams(**overrides)
        elif overrides:
            params = EieParams(**{**params.to_dict(), **overrides})
        self._p = p = params
        super().__init__({
            "load": In(stream.Signature(load_layout(p), always_ready=True)),
            "layer": In(layer_layout(p)),
            "start": In(1),
            "act": In(stream.Signature(data.ArrayLayout(signed(p.act_width), p.act_lanes))),
            "output": Out(stream.Signature(signed(p.out_width))),
            "busy": Out(1),
            "done": Out(1),
            "error": Out(error_layout),
        })

    @property
    def params(self) -> EieParams:
        """The engine's sizes."""
        return self._p

    @property
    def parameters(self):
        """Parameters that define this instance, for manifests and benches."""
        return self._p.to_dict()

    def elaborate(self, platform):
        p = self._p
        m = Module()
        pes = [EiePe(p) for _ in range(p.pes)]
        for k, pe in enumerate(pes):
            m.submodules[f"pe{k}"] = pe

        layer = Signal(layer_layout(p))
        error = Signal(error_layout)
        m.d.comb += self.error.eq(error)
        abort = Signal()            # error.pointer | error.row | error.code, as one register


        idle, run, drain, output = range(4)
        state = Signal(range(4))
        m.d.comb += self.busy.eq(state != idle)
        m.d.sync += self.done.eq(0)

        # Loads: checked here, then given to the PEs (or the bias memory).
        load = self.load.payload
        load_ok = Signal()
        m.d.comb += load_ok.eq((state == idle)
                               & load_fits(p, load.target.as_value(), load.addr, load.data))
        with m.If(self.load.valid & ~load_ok):
            m.d.sync += error.load.eq(1)
        # A checked write lands a cycle later, from registers (it reaches every PE).
        checked = Signal(load_layout(p))
        landing = Signal()
        m.d.sync += [checked.eq(load), landing.eq(self.load.valid & load_ok)]
        biases = Memory(shape=signed(p.acc_width), depth=p.bias_depth, init=[])
        m.submodules.biases = biases
        bias_wr = biases.write_port()
        m.d.comb += [
            bias_wr.addr.eq(checked.addr), bias_wr.data.eq(checked.data),
            bias_wr.en.eq(landing & (checked.target == LoadTarget.BIAS)),
        ]
        if p.huffman:
            # The decoders' tables, one per codebook slot, in registers; the running layer's
            # goes to every PE. Like the memories they keep what the host loaded through a
            # reset (the top resets its engines when a program stops).
            tables = [Signal(table_layout(p), name=f"table{k}", reset_less=True)
                      for k in range(p.codebooks)]
            entry = data.View(table_layout(p).elem_shape.elem_shape,
                              checked.data[:2 * p.code_length + 3])
            for k, tab in enumerate(tables):
                for field in range(2):
                    for n in range(p.code_length):
                        with m.If(landing & (checked.target == LoadTarget.LIMITS)
                                  & (checked.addr == (k << 4 | field << 3 | n))):
                            m.d.sync += tab[field][n].eq(entry)
            current = tables[0]
            for k, tab in enumerate(tables[1:], start=1):
                current = Mux(layer.codebook == k, tab, current)
            for pe in pes:
                m.d.comb += pe.table.eq(current)
                with m.If(pe.code_error):
                    m.d.sync += [error.code.eq(1), abort.eq(1)]
        broadcast = (LoadTarget.CODEBOOK, LoadTarget.SYMBOLS)
        for k, pe in enumerate(pes):
            mine = ((checked.target == broadcast[0]) | (checked.target == broadcast[1])
                    | (checked.pe == k))
            m.d.comb += [
                pe.load.payload.eq(checked),
                pe.load.valid.eq(landing & mine),
            ]

        # Start: check the descriptor against the memories.
        desc = self.layer
        bad_config = Signal()
        m.d.comb += bad_config.eq(
            (desc.rows == 0) | (desc.rows > p.max_rows) | (desc.cols == 0)
            | (desc.ptr_base + desc.cols + 1 > p.ptr_depth)
            | (desc.bias_base + desc.rows > p.bias_depth))
        taken = Signal(range(p.ptr_depth + p.act_lanes + 1))    # columns of accepted beats
        row = Signal(range(p.max_rows + 1))
        starting = Signal()                 # a start that runs: it may take the first beat
        m.d.comb += starting.eq((state == idle) & self.start & ~bad_config)
        with m.If((state == idle) & self.start):
            m.d.sync += [
                layer.eq(desc),
                error.config.eq(bad_config), error.pointer.eq(0), error.row.eq(0), abort.eq(0),
                error.load.eq(0), error.code.eq(0),
                taken.eq(0), row.eq(0),
            ]
            with m.If(bad_config):
                m.d.sync += self.done.eq(1)
            with m.Else():
                m.d.sync += state.eq(run)

        # Run: the activation queue broadcasts the non-zero lanes of each beat, lowest first,
        # up to ``broadcast`` of them a cycle (broadcast lane b takes the b-th lowest).
        lanes = p.act_lanes
        beat = Signal(data.ArrayLayout(signed(p.act_width), lanes))
        # Each lane's pointer address, computed when the beat is taken, so that no adder
        # follows the picks.
        col_shape = unsigned(p.col_bits)
        beat_cols = Signal(data.ArrayLayout(col_shape, lanes))
        mask = Signal(lanes)                                      # lanes still to broadcast
        left = mask
        picks = []                           # (one-hot lane, its column, its value) per b
        for b in range(p.broadcast):
            low = Signal(lanes, name=f"low{b}")
            m.d.comb += low.eq(left & -left)                      # lowest set bit
            # One-hot selections as AND-OR trees (no priority chain).
            col = 0
            value = 0
            for i in range(lanes):
                col = col | Mux(low[i], beat_cols[i], 0)
                value = value | Mux(low[i], beat[i].as_unsigned(), 0)
            picks.append((low, col, value))
            left = left & ~low
        # Every FIFO had room for three a cycle ago, so it has room for the broadcast still in
        # its register and for one more: the broadcast waits on a register, not on the FIFOs'
        # ready signals from all over the chip, and reaches the PEs from registers.
        room = Signal()
        m.d.sync += room.eq(Cat(pe.room for pe in pes).all())
        fire = Signal()
        m.d.comb += fire.eq(mask.any() & room & ~abort)
        mask_next = Signal(lanes)
        sent = 0
        for low, _, _ in picks:
            sent = sent | low
        m.d.comb += mask_next.eq(Mux(abort, 0, Mux(fire, mask & ~sent, mask)))
        # The next beat is taken when this one is done: empty, or its last non-zero lanes
        # leave now. ``count`` (the mask's set lanes, kept in a register beside it) says
        # whether at most B are left, without a popcount after the mask.
        count = Signal(range(lanes + 1))
        few = Signal()
        m.d.comb += few.eq(count <= p.broadcast)
        with m.If(abort):
            m.d.sync += count.eq(0)
        with m.Elif(fire):
            m.d.sync += count.eq(Mux(few, 0, count - p.broadcast))
        # Which lanes of the next beat are columns of the layer, and whether a beat is still
        # to come: registers, set a beat ahead.
        lane_ok = Signal(lanes)
        more_beats = Signal()
        m.d.comb += self.act.ready.eq(starting | ((state == run) & more_beats
                                                 & ((mask == 0) | (fire & few) | abort)))
        sending = [Signal(column_layout(p), name=f"send{b}") for b in range(p.broadcast)]
        send_valid = Signal(p.broadcast)
        for b, (low, col, value) in enumerate(picks):
            m.d.sync += [sending[b].col.eq(col), sending[b].act.eq(value),
                         send_valid[b].eq(fire & low.any())]
        for k, pe in enumerate(pes):
            for b in range(p.broadcast):
                m.d.comb += [pe.column[b].payload.eq(sending[b]),
                             pe.column[b].valid.eq(send_valid[b])]
            m.d.comb += [
                pe.codebook.eq(layer.codebook),
                pe.local_rows.eq((layer.rows + (p.pes - 1 - k)) >> p.pe_bits),
                pe.abort.eq(abort),
            ]
        new_mask = Cat((self.act.payload[i] != 0) & lane_ok[i] for i in range(lanes))
        m.d.sync += mask.eq(mask_next)
        first_mask = Cat((self.act.payload[i] != 0) & (i < desc.cols) for i in range(lanes))
        with m.If(starting):
            m.d.sync += [lane_ok.eq(Cat(i < desc.cols for i in range(lanes))),
                         more_beats.eq(1)]
        with m.If(self.act.valid & starting):
            m.d.sync += [
                beat.eq(self.act.payload), taken.eq(lanes),
                *(beat_cols[i].eq(desc.ptr_base + i) for i in range(lanes)),
                mask.eq(first_mask), count.eq(sum(first_mask)),
                lane_ok.eq(Cat(lanes + i < desc.cols for i in range(lanes))),
                more_beats.eq(lanes < desc.cols),
            ]
        with m.Elif(self.act.valid & self.act.ready):
            m.d.sync += [
                beat.eq(self.act.payload), taken.eq(taken + lanes),
                *(beat_cols[i].eq(layer.ptr_base + taken + i) for i in range(lanes)),
                mask.eq(new_mask), count.eq(sum(new_mask)),
                lane_ok.eq(Cat(taken + lanes + i < layer.cols for i in range(lanes))),
                more_beats.eq(taken + lanes < layer.cols),
            ]
        with m.If((state == run) & ~more_beats & (mask == 0)):
            m.d.sync += state.eq(drain)
        with m.If(Cat(pe.pointer_error for pe in pes).any()):
            m.d.sync += [error.pointer.eq(1), abort.eq(1)]
        with m.If(Cat(pe.row_error for pe in pes).any()):
            m.d.sync += [error.row.eq(1), abort.eq(1)]

        # Drain: wait for every PE to finish its queue. The output stage starts the next cycle,
        # from the state register (the PEs' idle signals come from all over the chip).
        outputting = Signal()
        m.d.comb += outputting.eq(state == output)
        with m.If((state == drain) & Cat(pe.idle for pe in pes).all()):
            m.d.sync += state.eq(output)

        # Output: accumulators + bias -> requantizer, in row order.
        m.submodules.requant = requant = Requant(acc_width=p.acc_width, out_width=p.out_width)
        wiring.connect(m, requant.output, wiring.flipped(self.output))
        m.d.comb += [requant.shift.eq(layer.shift), requant.relu.eq(layer.relu)]
        # O0 issues the reads; O1 has the block RAMs' data; O2 the PEs' registered accumulator
        # and the bias, registered; O3 the chosen accumulator and the bias; O4 their sum for
        # the requantizer. The stages move together when O4 can hand on.
        o_valid = Signal()
        o_pe = Signal(p.pe_bits)
        o_local = Signal(range(p.local_depth))
        ob_valid = Signal()
        ob_pe = Signal(p.pe_bits)
        ob_bias = Signal(signed(p.acc_width))
        o2_valid = Signal()
        o2_acc = Signal(signed(p.acc_width))
        o2_bias = Signal(signed(p.acc_width))
        o3_valid = Signal()
        o3_sum = Signal(signed(p.acc_width))
        advance = Signal()
        issue = Signal()
        m.d.comb += [
            advance.eq(~o3_valid | requant.input.ready),
            issue.eq(outputting & (row < layer.rows)),
        ]
        bias_rd = biases.read_port()
        m.d.comb += [bias_rd.addr.eq(layer.bias_base + row), bias_rd.en.eq(advance)]
        for k, pe in enumerate(pes):
            m.d.comb += [
                pe.draining.eq(outputting),
                pe.drain_addr.eq(row >> p.pe_bits),
                pe.drain_en.eq(advance),
                pe.clear_addr.eq(o_local),
                pe.clear_en.eq(o_valid & advance & (o_pe == k)),
            ]
        acc_out = pes[0].drain_data
        for k, pe in enumerate(pes[1:], start=1):
            acc_out = Mux(ob_pe == k, pe.drain_data, acc_out)
        with m.If(advance):
            m.d.sync += [
                o_valid.eq(issue),
                o_pe.eq(row[:p.pe_bits]),
                o_local.eq(row >> p.pe_bits),
                ob_valid.eq(o_valid), ob_pe.eq(o_pe), ob_bias.eq(bias_rd.data),
                o2_valid.eq(ob_valid), o2_acc.eq(acc_out), o2_bias.eq(ob_bias),
                o3_valid.eq(o2_valid), o3_sum.eq(o2_acc + o2_bias),
            ]
            with m.If(issue):
                m.d.sync += row.eq(row + 1)
        m.d.comb += [
            requant.input.valid.eq(o3_valid),
            requant.input.payload.eq(o3_sum),
        ]
        with m.If((state == output) & (row == layer.rows) & ~o_valid & ~ob_valid & ~o2_valid
                  & ~o3_valid & requant.idle):
            m.d.sync += [state.eq(idle), self.done.eq(1)]
        return m
