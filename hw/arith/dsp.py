"""Two signed 8×8 products per DSP block.

Yosys maps one multiplier onto one iCE40 ``SB_MAC16``, but the block can also work as two
independent 8×8 multipliers (``MODE_8x8``): ``A[15:8] · B[15:8]`` in its top half and
``A[7:0] · B[7:0]`` in its bottom half, each with its own product register. On the
iCE40UP5K's eight DSPs that is the difference between 8 and 16 int8 MACs per cycle.
:class:`ProductPair` instantiates the block in that mode on iCE40 platforms and describes the
same two registered products behaviourally everywhere else (simulation, ECP5), so every
design that uses it stays portable.
"""

from __future__ import annotations

from amaranth import Cat, ClockSignal, Module, Signal, signed
from amaranth.hdl import Instance
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ICE40_PRIMITIVES", "ProductPair", "is_ice40", "sb_mac16_pair"]


class _Ice40Primitives:
    """A platform stand-in that only says "iCE40": handed to ``elaborate`` (through
    :func:`corolla.sim.runner.to_verilog`) it makes designs instantiate the iCE40 primitives,
    so a simulator can run them on Yosys's cell models and a synthesis run counts them."""

    family = "iCE40"

    def __repr__(self):
        return "ICE40_PRIMITIVES"


#: See :class:`_Ice40Primitives`.
ICE40_PRIMITIVES = _Ice40Primitives()


def is_ice40(platform) -> bool:
    """True when ``platform`` targets the iCE40 family (a board platform or
    :data:`ICE40_PRIMITIVES`)."""
    return getattr(platform, "family", None) == "iCE40"


def sb_mac16_pair(a0, b0, a1, b1, p0, p1) -> Instance:
    """An ``SB_MAC16`` as two registered signed 8×8 multipliers: ``p0 = a0 · b0`` (bottom
    half), ``p1 = a1 · b1`` (top half), one cycle after the operands."""
    return Instance(
        "SB_MAC16",
        p_MODE_8x8=1, p_A_SIGNED=1, p_B_SIGNED=1,
        p_A_REG=0, p_B_REG=0, p_C_REG=0, p_D_REG=0,
        p_TOP_8x8_MULT_REG=1, p_BOT_8x8_MULT_REG=1,
        p_PIPELINE_16x16_MULT_REG1=0, p_PIPELINE_16x16_MULT_REG2=0,
        # Output select 2: the 8×8 product (through its register) of each half.
        p_TOPOUTPUT_SELECT=2, p_BOTOUTPUT_SELECT=2,
        p_TOPADDSUB_LOWERINPUT=0, p_TOPADDSUB_UPPERINPUT=0, p_TOPADDSUB_CARRYSELECT=0,
        p_BOTADDSUB_LOWERINPUT=0, p_BOTADDSUB_UPPERINPUT=0, p_BOTADDSUB_CARRYSELECT=0,
        p_NEG_TRIGGER=0,
        i_CLK=ClockSignal(), i_CE=1,
        i_A=Cat(a0, a1), i_B=Cat(b0, b1), i_C=0, i_D=0,
        i_AHOLD=0, i_BHOLD=0, i_CHOLD=0, i_DHOLD=0,
        i_IRSTTOP=0, i_IRSTBOT=0, i_ORSTTOP=0, i_ORSTBOT=0,
        i_OLOADTOP=0, i_OLOADBOT=0, i_ADDSUBTOP=0, i_ADDSUBBOT=0,
        i_OHOLDTOP=0, i_OHOLDBOT=0, i_CI=0, i_ACCUMCI=0, i_SIGNEXTIN=0,
        o_O=Cat(p0, p1),
    )


class ProductPair(wiring.Component):
    """Two registered signed products, ``p0 = a0 · b0`` and ``p1 = a1 · b1``, one cycle after
    their operands; one ``SB_MAC16`` on iCE40 (for ``width`` ≤ 8), plain multiplications
    elsewhere.

    The products are not reset (the DSP's product registers are not); users qualify them with
    a valid bit of their own.

    Parameters
    ----------
    width : int
        Operand width, 2 to 8.

    Members
    -------
    a0, b0, a1, b1 : In(signed(width))
        The operands.
    p0, p1 : Out(signed(2 · width))
        The products of the previous cycle's operands.
    """

    def __init__(self, width: int = 8):
        if not isinstance(width, int) or isinstance(width, bool) or not 2 <= width <= 8:
            raise ValueError(f"ProductPair width = {width!r} is out of range; expected an "
                             f"integer from 2 to 8")
        self.width = width
        op, product = signed(width), signed(2 * width)
        super().__init__({"a0": In(op), "b0": In(op), "a1": In(op), "b1": In(op),
                          "p0": Out(product), "p1": Out(product)})

    def elaborate(self, platform):
        m = Module()
        if is_ice40(platform):
            # Sign-extend narrower operands to the block's 8-bit halves.
            ext = [Signal(signed(8), name=n) for n in ("a0_8", "b0_8", "a1_8", "b1_8")]
            m.d.comb += [e.eq(v) for e, v in zip(ext, (self.a0, self.b0, self.a1, self.b1),
                                                             strict=True)]
            w0, w1 = Signal(signed(16)), Signal(signed(16))
            m.submodules.dsp = sb_mac16_pair(*ext, w0, w1)
            m.d.comb += [self.p0.eq(w0), self.p1.eq(w1)]
        else:
            p0, p1 = Signal.like(self.p0, reset_less=True), Signal.like(self.p1, reset_less=True)
            m.d.sync += [p0.eq(self.a0 * self.b0), p1.eq(self.a1 * self.b1)]
            m.d.comb += [self.p0.eq(p0), self.p1.eq(p1)]
        return m
