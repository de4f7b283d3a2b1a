"""Signed integer multiply-accumulate processing element (the int8 PE kind)."""

from amaranth import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Mac", "mac_operand_layout"]


def mac_operand_layout(width: int) -> data.StructLayout:
    """Payload of the MAC operand stream.

    Parameters
    ----------
    width : int
        Operand width in bits.

    Returns
    -------
    amaranth.lib.data.StructLayout
        ``a`` and ``b`` (signed, ``width`` bits each, ``a`` in the low bits) and ``clear``
        (1 bit): when set, this product starts a new accumulation instead of adding to the
        running sum.
    """
    return data.StructLayout({"a": signed(width), "b": signed(width), "clear": 1})


class Mac(wiring.Component):
    """Pipelined signed multiply-accumulate.

    Every accepted operand pair adds ``a * b`` to the accumulator, which wraps around at
    ``acc_width`` bits like any two's complement register. An operand pair with ``clear``
    set replaces the accumulator with its product, so back-to-back dot products need no
    bubble between them. Cycles without ``operands.valid`` leave the accumulator unchanged.

    The datapath is three register stages deep (operand registers, product register,
    accumulator), the shape Yosys maps onto one iCE40 ``SB_MAC16`` (``synth_ice40 -dsp``) or
    one ECP5 ``MULT18X18D`` plus fabric adder.

    Parameters
    ----------
    width : int
        Operand width in bits, 2 to 18 (8 for the int8 PE).
    acc_width : int
        Accumulator width in bits, from ``2 * width`` to 48.

    Members
    -------
    operands : In(stream.Signature(mac_operand_layout(width), always_ready=True))
        Operand pairs. The MAC never stalls, so the stream has no ``ready``.
    result : Out(stream.Signature(signed(acc_width), always_ready=True))
        The accumulator. ``result.valid`` is asserted for one cycle each time an operand pair
        has been added, :attr:`latency` cycles after it was presented; ``result.payload``
        holds the accumulator value at all times.

    Attributes
    ----------
    latency : int
        Cycles from an operand pair on ``operands`` to its effect on ``result``.
    """

    latency = 3

    def __init__(self, *, width=8, acc_width=32):
        if not isinstance(width, int) or not 2 <= width <= 18:
            raise ValueError(f"Operand width must be an integer from 2 to 18, not {width!r}")
        if not isinstance(acc_width, int) or not 2 * width <= acc_width <= 48:
            raise ValueError(
                f"Accumulator width must be an integer from {2 * width} (twice the operand "
                f"width) to 48, not {acc_width!r}"
            )
        self._width = width
        self._acc_width = acc_width
        super().__init__({
            "operands": In(stream.Signature(mac_operand_layout(width), always_ready=True)),
            "result": Out(stream.Signature(signed(acc_width), always_ready=True)),
        })

    @property
    def width(self):
        """Operand width in bits."""
        return self._width

    @property
    def acc_width(self):
        """Accumulator width in bits."""
        return self._acc_width

    @property
    def parameters(self):
        """Parameters that define this instance, for manifests and benches."""
        return {"width": self.width, "acc_width": self.acc_width, "latency": self.latency}

    def elaborate(self, platform):
        m = Module()

        # Stage 1: operand registers (SB_MAC16 A/B input registers).
        a = Signal(signed(self.width))
        b = Signal(signed(self.width))
        valid_1 = Signal()
        clear_1 = Signal()
        m.d.sync += [
            a.eq(self.operands.payload.a),
            b.eq(self.operands.payload.b),
            valid_1.eq(self.operands.valid),
            clear_1.eq(self.operands.payload.clear),
        ]

        # Stage 2: product register (SB_MAC16 pipeline register / MULT18X18D output register).
        product = Signal(signed(2 * self.width))
        valid_2 = Signal()
        clear_2 = Signal()
        m.d.sync += [
            product.eq(a * b),
            valid_2.eq(valid_1),
            clear_2.eq(clear_1),
        ]

        # Stage 3: accumulator, wrapping at acc_width bits.
        acc = Signal(signed(self.acc_width))
        with m.If(valid_2):
            with m.If(clear_2):
                m.d.sync += acc.eq(product)
            with m.Else():
                m.d.sync += acc.eq(acc + product)
        m.d.sync += self.result.valid.eq(valid_2)
        m.d.comb += self.result.payload.eq(acc)

        return m
