"""Requantizer: accumulator -> int8 activation (round-half-up shift, ReLU, saturation)."""

from amaranth import Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Requant"]


class Requant(wiring.Component):
    """Scale accumulators to activations: ``y = sat((acc + 2**(shift-1)) >> shift)``.

    This is :func:`corolla.formats.requantize` in gateware: an arithmetic right shift by the
    per-layer ``shift`` that rounds half up, optional ReLU, and saturation to ``out_width``
    signed bits. Two register stages (shift, then round and saturate);
    ``input.ready`` follows ``output`` (back-pressure).

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
    idle : Out(1)
        No value is in the pipeline.
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
            "idle": Out(1),
        })

    @property
    def parameters(self):
        """Parameters that define this instance, for manifests and benches."""
        return {"acc_width": self._acc_width, "out_width": self._out_width}

    def elaborate(self, platform):
        m = Module()
        n, w = self._acc_width, self._out_width

        # Stage 1: t = (acc << 1) >> shift, which is acc >> (shift - 1) for shift >= 1 and 2·acc
        # for shift = 0. Stage 2: (t + 1) >> 1 rounds half up (floor((acc + 2**(shift-1)) /
        # 2**shift)), then ReLU and saturation, decided from the bits above the output sign.
        s1_valid = Signal()
        s1_t = Signal(signed(n + 1))
        s2_ready = Signal()
        m.d.comb += [
            s2_ready.eq(~self.output.valid | self.output.ready),
            self.input.ready.eq(~s1_valid | s2_ready),
        ]
        with m.If(self.input.ready):
            m.d.sync += [
                s1_valid.eq(self.input.valid),
                s1_t.eq((self.input.payload << 1) >> self.shift),
            ]

        rounded = Signal(signed(n + 1))
        m.d.comb += rounded.eq((s1_t + 1) >> 1)
        upper = rounded[w - 1:]
        sign = rounded[-1]
        fits = Signal()
        m.d.comb += fits.eq((upper == 0) | (upper == (1 << len(upper)) - 1))
        hi = (1 << (w - 1)) - 1
        lo = -(1 << (w - 1))
        result = Mux(sign & self.relu, 0,
                     Mux(fits, rounded[:w], Mux(sign, Const(lo, signed(w)), hi)))
        m.d.comb += self.idle.eq(~s1_valid & ~self.output.valid)
        with m.If(s2_ready):
            m.d.sync += [
                self.output.valid.eq(s1_valid),
                self.output.payload.eq(result),
            ]
        return m
