"""Binary (XNOR-Net) dot-product unit: XNOR, pipelined popcount, accumulate, scale."""

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["BinaryDot", "binary_operand_layout", "binary_result_layout"]


def binary_operand_layout(n: int) -> data.StructLayout:
    """Payload of the binary operand stream: ``n``-bit words ``a`` and ``w`` (bit 1 = +1,
    bit 0 = −1) and ``last``, which ends a dot product."""
    return data.StructLayout({"a": unsigned(n), "w": unsigned(n), "last": 1})


def binary_result_layout(value_width: int) -> data.StructLayout:
    """Payload of the binary result stream: the scaled ``value`` and its ``sign`` bit
    (1 for ``dot >= 0``, the +1 of the next binary layer)."""
    return data.StructLayout({"value": signed(value_width), "sign": 1})


class BinaryDot(wiring.Component):
    """Dot products of ±1 vectors packed ``n`` per word: ``α · (Σ (2·popcount(~(a ^ w)) − n)
    + bias)``.

    Each beat XNORs two ``n``-bit words and counts the agreeing bits in an adder tree that has
    a register after every ``levels_per_stage`` levels. Beats of one packet (up to the one
    with ``last``) are accumulated; the packet's dot product plus the per-layer ``bias``
    (which also corrects for padding bits) is scaled by the per-output ``alpha``, and its sign
    is given for binarizing the next layer's activations.

    Parameters
    ----------
    n : int
        Bits per word (binary MACs per cycle), 2 to 1024.
    acc_width : int
        Width of the dot-product accumulator (wraps like a register).
    alpha_width : int
        Width of the unsigned scale ``alpha``, 1 to 18.
    bias_width : int
        Width of the signed ``bias``, 2 to ``acc_width``.
    levels_per_stage : int
        Adder-tree levels between pipeline registers (fewer: higher Fmax, more FFs).

    Members
    -------
    operands : In(stream.Signature(binary_operand_layout(n)))
        Word pairs.
    alpha : In(alpha_width)
        Output scale; held constant while a packet is in flight.
    bias : In(signed(bias_width))
        Added to the dot product before scaling and sign.
    result : Out(stream.Signature(binary_result_layout(acc_width + alpha_width + 1)))
        One result per packet.
    """

    def __init__(self, *, n=32, acc_width=16, alpha_width=8, bias_width=16,
                 levels_per_stage=2):
        if not isinstance(n, int) or not 2 <= n <= 1024:
            raise ValueError(f"Word width must be an integer from 2 to 1024, not {n!r}")
        min_acc = (2 * n).bit_length() + 1
        if not isinstance(acc_width, int) or not min_acc <= acc_width <= 48:
            raise ValueError(f"Accumulator width must be an integer from {min_acc} to 48, not "
                             f"{acc_width!r}")
        if not isinstance(alpha_width, int) or not 1 <= alpha_width <= 18:
            raise ValueError(f"Alpha width must be an integer from 1 to 18, not "
                             f"{alpha_width!r}")
        if not isinstance(bias_width, int) or not 2 <= bias_width <= acc_width:
            raise ValueError(f"Bias width must be an integer from 2 to {acc_width}, not "
                             f"{bias_width!r}")
        if not isinstance(levels_per_stage, int) or levels_per_stage < 1:
            raise ValueError(f"Levels per stage must be a positive integer, not "
                             f"{levels_per_stage!r}")
        self._n = n
        self._acc_width = acc_width
        self._alpha_width = alpha_width
        self._bias_width = bias_width
        self._levels_per_stage = levels_per_stage
        super().__init__({
            "operands": In(stream.Signature(binary_operand_layout(n))),
            "alpha": In(alpha_width),
            "bias": In(signed(bias_width)),
            "result": Out(stream.Signature(
                binary_result_layout(acc_width + alpha_width + 1))),
        })

    @property
    def parameters(self):
        """Parameters that define this instance, for manifests and benches."""
        return {"n": self._n, "acc_width": self._acc_width, "alpha_width": self._alpha_width,
                "bias_width": self._bias_width, "levels_per_stage": self._levels_per_stage}

    def elaborate(self, platform):
        m = Module()
        n = self._n

        advance = Signal()
        m.d.comb += [
            advance.eq(~self.result.valid | self.result.ready),
            self.operands.ready.eq(advance),
        ]

        # XNOR: a bit is 1 where activation and weight agree.
        agree = Signal(n)
        m.d.comb += agree.eq(~(self.operands.payload.a ^ self.operands.payload.w))
        level = [agree[i] for i in range(n)]
        valid, last = self.operands.valid, self.operands.payload.last

        # Popcount tree, registered every `levels_per_stage` levels (and once at the end).
        depth = 0
        while len(level) > 1:
            nxt = []
            for i in range(0, len(level) - 1, 2):
                s = Signal(max(len(level[i]), len(level[i + 1])) + 1)
                m.d.comb += s.eq(level[i] + level[i + 1])
                nxt.append(s)
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
            depth += 1
            if depth % self._levels_per_stage == 0 or len(level) == 1:
                regs = [Signal(len(v), name=f"pop_l{depth}_{i}") for i, v in enumerate(level)]
                r_valid, r_last = Signal(name=f"valid_l{depth}"), Signal(name=f"last_l{depth}")
                with m.If(advance):
                    m.d.sync += [r.eq(v) for r, v in zip(regs, level, strict=True)]
                    m.d.sync += [r_valid.eq(valid), r_last.eq(last)]
                level, valid, last = regs, r_valid, r_last
        popcount = level[0]

        # Accumulate 2·popcount − n per beat; latch the packet's total on its last beat.
        acc_width = self._acc_width
        beat_dot = Signal(signed(acc_width))
        m.d.comb += beat_dot.eq((popcount << 1) - n)
        running, total = Signal(signed(acc_width)), Signal(signed(acc_width))
        fresh = Signal(init=1)
        nxt = Signal(signed(acc_width))
        m.d.comb += nxt.eq(beat_dot + (running & (~fresh).replicate(acc_width)))
        total_valid = Signal()
        with m.If(advance):
            m.d.sync += total_valid.eq(valid & last)
            with m.If(valid):
                m.d.sync += [running.eq(nxt), fresh.eq(last)]
                with m.If(last):
                    m.d.sync += total.eq(nxt)

        # Bias, scale and sign.
        dot = Signal(signed(acc_width))
        m.d.comb += dot.eq(total + self.bias)
        with m.If(advance):
            m.d.sync += [
                self.result.valid.eq(total_valid),
                self.result.payload.value.eq(self.alpha * dot),
                self.result.payload.sign.eq(dot >= 0),
            ]
        return m
