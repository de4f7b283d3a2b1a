"""Requantizer: accumulator -> int8 activation (round-half-up shift, ReLU, saturation)."""

from amaranth import Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

__all__ = ["Requant"]


class Requant(wiring.Component):
    """Scale accumulators to activations: ``y = sat((acc + 2**(shift-1)) >> shift)``.

    This is :func:`corolla.formats.requantize` in gateware: an arithmetic right shift by the
    per-layer ``shift`` that rounds half up, optional ReLU, and saturation to ``out_width``
    signed bits. One register stage; ``input.ready`` follows ``output`` (back-pressure).

    Parameters
    ----------
    acc_width : int
        Width of the incoming accumulators, 2 to 48.
    out_width : int
        Width of the outgoing activations (8 for int8), 2 to ``acc_width``.

    Members
    -------
    input : In(stream.Signature(signed(acc_width)))
        Accumulators.
    output : Out(stream.Signature(signed(out_width)))
        Activations.
    shift : In(range(acc_width))
        Right shift; held constant while a layer runs.
    relu : In(1)
        Clamp negative results to zero.
    """

    def __init__(self, *, acc_width=32, out_width=8):
        if not isinstance(acc_width, int) or not 2 <= acc_width <= 48:
            raise ValueError(f"Accumulator width must be an integer from 2 to 48, not "
                             f"{acc_width!r}")
        if not isinstance(out_width, int) or not 2 <= out_width <= acc_width:
            raise ValueError(f"Output width must be an integer from 2 to {acc_width}, not "
                             f"{out_width!r}")
        self._acc_width = acc_width
        self._out_width = out_width
        super().__init__({
            "input": In(stream.Signature(signed(acc_width))),
            "output": Out(stream.Signature(signed(out_width))),
            "shift": In(range(acc_width)),
            "relu": In(1),
        })

    @property
    def parameters(self):
        """Parameters that define this instance, for manifests and benches."""
        return {"acc_width": self._acc_width, "out_width": self._out_width}

    def elaborate(self, platform):
        m = Module()

        shift = self.shift
        # Wide enough for the rounding bias 2**(shift-1) of the largest encodable shift.
        wide = max(self._acc_width, 1 << bits_for(self._acc_width - 1)) + 1
        bias = Signal(wide)
        m.d.comb += bias.eq((Const(1, 1) << shift) >> 1)  # 0 for shift = 0
        rounded = Signal(signed(wide))
        m.d.comb += rounded.eq((self.input.payload + bias) >> shift)

        lo = -(1 << (self._out_width - 1))
        hi = (1 << (self._out_width - 1)) - 1
        floor = Mux(self.relu, 0, lo)
        result = Signal(signed(self._out_width))
        with m.If(rounded > hi):
            m.d.comb += result.eq(hi)
        with m.Elif(rounded < floor):
            m.d.comb += result.eq(floor)
        with m.Else():
            m.d.comb += result.eq(rounded)

        # One pipeline register that moves whenever it is empty or being emptied.
        m.d.comb += self.input.ready.eq(~self.output.valid | self.output.ready)
        with m.If(self.input.ready):
            m.d.sync += [
                self.output.valid.eq(self.input.valid),
                self.output.payload.eq(result),
            ]
        return m
