"""Output-stationary systolic array of ``rows × cols`` PEs of one kind.

Dataflow (TPU / Eyeriss lineage): PE ``(r, c)`` owns output ``Y[m0 + r, n0 + c]`` of the
current tile. Every beat brings column ``k`` of the ``A`` tile (``rows`` values) and row ``k``
of the ``B`` tile (``cols`` values); ``A`` values travel right, ``B`` values travel down, one
PE per cycle. Row ``r``'s input is delayed ``r`` cycles and column ``c``'s ``c`` cycles (the
input skew), so ``A[m0 + r, k]`` and ``B[k, n0 + c]`` meet in PE ``(r, c)`` ``r + c`` cycles
after the beat. The beat's ``valid`` and ``last`` travel with ``A``; an idle input cycle is a
bubble that travels through the array like a beat and is ignored by every PE.

On iCE40 the int8 PEs of a row go in pairs, two per ``SB_MAC16``
(:class:`~corolla.hw.array.pe.Int8PePair`), so the UP5K's 8 DSPs carry 16 PEs.

When a tile's ``last`` beat has passed, each PE hands its sum to its result register and
starts the next tile at once. Once the far corner PE has finished, the result registers are
drained row by row (row 0 first) on the ``results`` stream, shifting up one row per accepted
beat, while the next tile already computes. A tile's ``last`` beat is accepted only when the
previous tile has fully drained, so result registers are never overwritten; for ``K`` of at
least about ``2·rows + cols`` beats per tile this costs no cycles at all.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from corolla.hw.arith.dsp import is_ice40

from .pe import operand_shape, pe_kind, result_shape

__all__ = ["SystolicArray", "operand_layout", "result_layout"]


def operand_layout(kind, rows: int, cols: int) -> data.StructLayout:
    """Payload of the operand stream: ``a`` (``rows`` left operands, one per array row),
    ``b`` (``cols`` top operands, one per column) and ``last`` (the tile's final beat)."""
    return data.StructLayout({
        "a": data.ArrayLayout(operand_shape(kind, "a"), rows),
        "b": data.ArrayLayout(operand_shape(kind, "b"), cols),
        "last": 1,
    })


def result_layout(kind, cols: int) -> data.StructLayout:
    """Payload of the result stream: one ``row`` of a tile (``cols`` results) and ``last``
    (the tile's final row)."""
    return data.StructLayout({"row": data.ArrayLayout(result_shape(kind), cols), "last": 1})


class SystolicArray(wiring.Component):
    """``rows × cols`` output-stationary systolic array (see the module description).

    Parameters
    ----------
    rows, cols : int
        Array size, 1 to 64 each.
    kind
        The PE kind: an object from :mod:`corolla.hw.array.pe`, its name (default
        parameters), or its ``to_dict()`` form.

    Members
    -------
    operands : In(stream.Signature(operand_layout(kind, rows, cols)))
        Tile beats, ``K`` per tile, the tile's last one with ``last``. ``ready`` is low only
        for a ``last`` beat while the previous tile is still draining.
    results : Out(stream.Signature(result_layout(kind, cols)))
        ``rows`` beats per tile, in tile order, row 0 first.
    busy : Out(1)
        A tile's ``last`` beat has been accepted and its results have not all left.
    """

    def __init__(self, *, rows: int = 4, cols: int = 4, kind="int8"):
        for name, value in (("rows", rows), ("cols", cols)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 64:
                raise ValueError(f"Array {name} = {value!r} is out of range; expected an "
                                 f"integer from 1 to 64")
        self.rows, self.cols = rows, cols
        self.kind = pe_kind(kind)
        super().__init__({
            "operands": In(stream.Signature(operand_layout(self.kind, rows, cols))),
            "results": Out(stream.Signature(result_layout(self.kind, cols))),
            "busy": Out(1),
        })

    @property
    def parameters(self) -> dict:
        """Parameters that define this instance, for manifests and benches."""
        return {"rows": self.rows, "cols": self.cols, "kind": self.kind.to_dict(),
                "latency": self.kind.latency}

    def _pes(self, m, platform):
        """The PEs, ``[row][col]``: on iCE40, neighbours in a row share a DSP block when the
        kind has a PE pair (:meth:`~corolla.pe_kinds.PeKind.pe_pair`); one PE per DSP
        elsewhere."""
        grid = [[None] * self.cols for _ in range(self.rows)]
        for r in range(self.rows):
            c = 0
            while c < self.cols:
                pair = self.kind.pe_pair() if is_ice40(platform) and c + 1 < self.cols else None
                if pair is not None:
                    m.submodules[f"pe_{r}_{c}_{c + 1}"] = pair
                    grid[r][c], grid[r][c + 1] = pair.pe0, pair.pe1
                    c += 2
                else:
                    grid[r][c] = m.submodules[f"pe_{r}_{c}"] = self.kind.pe()
                    c += 1
        return grid

    def elaborate(self, platform):
        m = Module()
        rows, cols, kind = self.rows, self.cols, self.kind
        beat = self.operands.payload

        # A tile's last beat waits while the previous tile's results are still in the
        # result registers; every other beat (and every idle cycle) enters at once.
        pending = Signal()
        take = Signal()
        m.d.comb += [
            self.operands.ready.eq(~beat.last | ~pending),
            take.eq(self.operands.valid & self.operands.ready),
            self.busy.eq(pending),
        ]

        # Input skew: row r (with its valid/last) is delayed r cycles, column c by c.
        def delayed(value, n, name):
            for i in range(n):
                reg = Signal.like(value, name=f"{name}_d{i + 1}")
                m.d.sync += reg.eq(value)
                value = reg
            return value

        valid_in = [delayed(take, r, f"valid_r{r}") for r in range(rows)]
        last_in = [delayed(beat.last, r, f"last_r{r}") for r in range(rows)]
        a_in = [delayed(beat.a[r], r, f"a_r{r}") for r in range(rows)]
        b_in = [delayed(beat.b[c], c, f"b_c{c}") for c in range(cols)]

        # The mesh: one register per PE and operand; A and valid/last move right, B down.
        pes = self._pes(m, platform)
        a_reg = [[Signal(operand_shape(kind, "a"), name=f"a_{r}_{c}") for c in range(cols)]
                 for r in range(rows)]
        b_reg = [[Signal(operand_shape(kind, "b"), name=f"b_{r}_{c}") for c in range(cols)]
                 for r in range(rows)]
        v_reg = [[Signal(name=f"valid_{r}_{c}") for c in range(cols)] for r in range(rows)]
        l_reg = [[Signal(name=f"last_{r}_{c}") for c in range(cols)] for r in range(rows)]
        for r in range(rows):
            for c in range(cols):
                pe = pes[r][c]
                left = (a_in[r], valid_in[r], last_in[r]) if c == 0 else \
                    (a_reg[r][c - 1], v_reg[r][c - 1], l_reg[r][c - 1])
                up = b_in[c] if r == 0 else b_reg[r - 1][c]
                m.d.sync += [a_reg[r][c].eq(left[0]), v_reg[r][c].eq(left[1]),
                             l_reg[r][c].eq(left[2]), b_reg[r][c].eq(up)]
                m.d.comb += [pe.a.eq(a_reg[r][c]), pe.b.eq(b_reg[r][c]),
                             pe.valid.eq(v_reg[r][c]), pe.last.eq(l_reg[r][c] & v_reg[r][c])]

        # Result registers: loaded by their PE's done, shifted up one row per drained beat.
        res = [[Signal(result_shape(kind), name=f"res_{r}_{c}") for c in range(cols)]
               for r in range(rows)]
        full = Signal()
        row = Signal(range(max(rows, 2)))
        shift = Signal()
        m.d.comb += [
            shift.eq(self.results.valid & self.results.ready),
            self.results.valid.eq(full),
            self.results.payload.last.eq(row == rows - 1),
        ]
        for c in range(cols):
            m.d.comb += self.results.payload.row[c].eq(res[0][c])
        for r in range(rows):
            for c in range(cols):
                with m.If(pes[r][c].done):
                    m.d.sync += res[r][c].eq(pes[r][c].result)
                if r + 1 < rows:
                    with m.Elif(shift):
                        m.d.sync += res[r][c].eq(res[r + 1][c])

        # The far corner finishes last: from then on the whole tile is in `res`.
        with m.If(pes[rows - 1][cols - 1].done):
            m.d.sync += full.eq(1)
        with m.If(take & beat.last):
            m.d.sync += pending.eq(1)
        with m.If(shift):
            with m.If(row == rows - 1):
                m.d.sync += [row.eq(0), full.eq(0), pending.eq(0)]
            with m.Else():
                m.d.sync += row.eq(row + 1)
        return m
