"""The ECP5 PLL (``EHXPLLL``) shared by the ECP5 boards."""

from __future__ import annotations

from amaranth import Signal
from amaranth.hdl import Instance

__all__ = ["ecp5_clock"]


def ecp5_clock(m, clkin, pll):
    """Instantiate an ``EHXPLLL`` with settings ``pll`` (:class:`~.pll.Ecp5Pll`) on ``clkin``.

    Returns ``(clk, locked)``.
    """
    clk, locked = Signal(), Signal()
    m.submodules.pll = Instance(
        "EHXPLLL",
        a_FREQUENCY_PIN_CLKI=f"{pll.f_in_mhz:g}", a_FREQUENCY_PIN_CLKOP=f"{pll.f_out_mhz:g}",
        a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
        a_MFG_GMCREF_SEL="2",
        p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
        p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
        p_CLKI_DIV=pll.clki_div, p_CLKFB_DIV=pll.clkfb_div, p_CLKOP_DIV=pll.clkop_div,
        p_CLKOP_CPHASE=pll.clkop_cphase, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
        i_CLKI=clkin, i_CLKFB=clk, i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0,
        i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
        o_CLKOP=clk, o_LOCK=locked,
    )
    return clk, locked
