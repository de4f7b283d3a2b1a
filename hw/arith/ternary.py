"""Ternary-weight dot-product unit (TTQ / TWN): no multiplier per MAC."""

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from corolla.formats import TERNARY_CODES, TERNARY_INVALID

__all__ = ["TernaryMac", "ternary_operand_layout", "tree_sum"]


def ternary_operand_layout(lanes: int, act_width: int) -> data.StructLayout:
    """Payload of the ternary operand stream.

    ``a``: ``lanes`` signed activations; ``w``: ``lanes`` 2-bit weight codes (00 = 0,
    01 = +1, 11 = -1, 10 invalid); ``last``: this beat ends the dot product.
    """
    return data.StructLayout({
        "a": data.ArrayLayout(signed(act_width), lanes),
        "w": data.ArrayLayout(unsigned(2), lanes),
        "last": 1,
    })


def tree_sum(m, values, width):
    """Balanced adder tree over ``values`` (combinational)."""
    level = list(values)
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            s = Signal(signed(width))
            m.d.comb += s.eq(level[i] + level[i + 1])
            nxt.append(s)
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


class TernaryMac(wiring.Component):
    """Dot products of activations with ternary weights, scaled as ``Wp·P − Wn·N``.

    Each beat carries ``lanes`` activations and their weight codes. The unit sums the
    activations whose weight is +1 into ``P`` and those whose weight is −1 into ``N`` (no
    multiplier per MAC: a lane is a multiplexer feeding an adder tree). When a beat with
    ``last`` arrives, it outputs ``Wp·P − Wn·N`` exactly, with the per-layer scales ``wp`` and
    ``wn`` (TWN is ``wp == wn``), and starts the next dot product from zero.

    The invalid code 10 is treated as a zero weight and sets the sticky ``error`` flag, which
    only reset clears.

    Parameters
    ----------
    lanes : int
        Activations per beat (MACs per cycle), 1 to 64.
    act_width : int
        Activation width, 2 to 16.
    acc_width : int
        Width of the ``P`` and ``N`` sums, which wrap like registers of that width.
    scale_width : int
        Width of the unsigned scales ``wp`` and ``wn``, 1 to 18.

    Members
    -------
    operands : In(stream.Signature(ternary_operand_layout(lanes, act_width)))
        Activation/weight beats.
    wp, wn : In(scale_width)
        Positive and negative scales; held constant while a layer runs.
    result : Out(stream.Signature(signed(acc_width + scale_width + 1)))
        One scaled dot product per packet.
    error : Out(1)
        An invalid weight code has been seen since reset.
    """

    def __init__(self, *, lanes=4, act_width=8, acc_width=32, scale_width=8):
        if not isinstance(lanes, int) or not 1 <= lanes <= 64:
            raise ValueError(f"Lane count must be an integer from 1 to 64, not {lanes!r}")
        if not isinstance(act_width, int) or not 2 <= act_width <= 16:
            raise ValueError(f"Activation width must be an integer from 2 to 16, not "
                             f"{act_width!r}")
        if not isinstance(acc_width, int) or not act_width + 1 <= acc_width <= 48:
            raise ValueError(f"Accumulator width must be an integer from {act_width + 1} to "
                             f"48, not {acc_width!r}")
        if not isinstance(scale_width, int) or not 1 <= scale_width <= 18:
            raise ValueError(f"Scale width must be an integer from 1 to 18, not "
                             f"{scale_width!r}")
        self._lanes = lanes
        self._act_width = act_width
        self._acc_width = acc_width
        self._scale_width = scale_width
        super().__init__({
            "operands": In(stream.Signature(ternary_operand_layout(lanes, act_width))),
            "wp": In(scale_width),
            "wn": In(scale_width),
            "result": Out(stream.Signature(signed(acc_width + scale_width + 1))),
            "error": Out(1),
        })

    @property
    def parameters(self):
        """Parameters that define this instance, for manifests and benches."""
        return {"lanes": self._lanes, "act_width": self._act_width,
                "acc_width": self._acc_width, "scale_width": self._scale_width}

    def elaborate(self, platform):
        m = Module()
        acc_width = self._acc_width
        beat = self.operands.payload

        # The whole pipeline advances together whenever the output register can take a value.
        advance = Signal()
        m.d.comb += [
            advance.eq(~self.result.valid | self.result.ready),
            self.operands.ready.eq(advance),
        ]

        # Stage 1: per-lane select and two adder trees (positive and negative lanes).
        lane_width = self._act_width + (self._lanes - 1).bit_length() + 1
        pos_terms, neg_terms, invalid = [], [], []
        for i in range(self._lanes):
            code = beat.w[i]
            pos, neg = Signal(signed(self._act_width)), Signal(signed(self._act_width))
            m.d.comb += [
                pos.eq((code == TERNARY_CODES[1]).replicate(self._act_width) & beat.a[i]),
                neg.eq((code == TERNARY_CODES[-1]).replicate(self._act_width) & beat.a[i]),
            ]
            pos_terms.append(pos)
            neg_terms.append(neg)
            invalid.append(code == TERNARY_INVALID)
        beat_p = tree_sum(m, pos_terms, lane_width)
        beat_n = tree_sum(m, neg_terms, lane_width)

        p1, n1 = Signal(signed(lane_width)), Signal(signed(lane_width))
        valid1, last1 = Signal(), Signal()
        with m.If(advance):
            m.d.sync += [
                p1.eq(beat_p), n1.eq(beat_n),
                valid1.eq(self.operands.valid), last1.eq(beat.last),
            ]
        with m.If(self.operands.valid & self.operands.ready & Cat(*invalid).any()):
            m.d.sync += self.error.eq(1)

        # Stage 2: running sums; a packet's totals are latched on its last beat.
        sum_p, sum_n = Signal(signed(acc_width)), Signal(signed(acc_width))
        fresh = Signal(init=1)
        tot_p, tot_n = Signal(signed(acc_width)), Signal(signed(acc_width))
        valid2 = Signal()
        next_p = Signal(signed(acc_width))
        next_n = Signal(signed(acc_width))
        m.d.comb += [
            next_p.eq(Mux(fresh, p1, sum_p + p1)),
            next_n.eq(Mux(fresh, n1, sum_n + n1)),
        ]
        with m.If(advance):
            m.d.sync += valid2.eq(valid1 & last1)
            with m.If(valid1):
                m.d.sync += [sum_p.eq(next_p), sum_n.eq(next_n), fresh.eq(last1)]
                with m.If(last1):
                    m.d.sync += [tot_p.eq(next_p), tot_n.eq(next_n)]

        # Stage 3: scaling, one pair of multiplies per dot product (not per MAC).
        with m.If(advance):
            m.d.sync += [
                self.result.valid.eq(valid2),
                self.result.payload.eq(self.wp * tot_p - self.wn * tot_n),
            ]
        return m
