"""PLL settings for the boards' clocks, solved in Python (no vendor tool needed).

Each solver searches the PLL's divider space, within the documented VCO and phase-detector
ranges, for the output frequency closest to the request and not above it (the closest above
it when nothing below is reachable), and returns the settings together with the
frequency they give. Boards constrain nextpnr with that achieved frequency.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Ecp5Pll", "Ice40Pll", "PllError", "ecp5_pll", "ice40_pll"]


class PllError(ValueError):
    """No divider setting reaches the requested frequency."""


def _error(f_out: float, f_req: float):
    """Sort key: any frequency at or below the request before any above it (a clock faster
    than asked for may miss timing), then the closest."""
    return (f_out > f_req + 1e-9, round(abs(f_out - f_req), 9))


@dataclass(frozen=True)
class Ice40Pll:
    """``SB_PLL40`` settings (``FEEDBACK_PATH = "SIMPLE"``).

    ``f_out = f_in · (divf + 1) / ((divr + 1) · 2**divq)``.
    """

    divr: int
    divf: int
    divq: int
    filter_range: int
    f_in_mhz: float
    f_out_mhz: float


def ice40_pll(f_in_mhz: float, f_out_mhz: float) -> Ice40Pll:
    """Settings whose output is closest to ``f_out_mhz``, preferably not above it (iCE40
    sysCLOCK PLL limits).

    Raises
    ------
    PllError
        If the request lies outside the PLL's output range (16 to 275 MHz).
    """
    if not 16.0 <= f_out_mhz <= 275.0:
        raise PllError(f"iCE40 PLL output must be 16 to 275 MHz, not {f_out_mhz} MHz")
    best = None
    for divr in range(16):
        f_pfd = f_in_mhz / (divr + 1)
        if not 10.0 <= f_pfd <= 133.0:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533.0 <= f_vco <= 1066.0:
                continue
            for divq in range(1, 7):
                f_out = f_vco / (1 << divq)
                err = _error(f_out, f_out_mhz)
                if best is None or err < best[0]:
                    best = (err, divr, divf, divq, f_pfd, f_out)
    if best is None:
        raise PllError(f"no iCE40 PLL setting gives {f_out_mhz} MHz from {f_in_mhz} MHz")
    _, divr, divf, divq, f_pfd, f_out = best
    # Loop filter by phase-detector frequency (sysCLOCK PLL design guide).
    filter_range = next(i for i, limit in enumerate((17, 26, 44, 66, 101, 1e9), start=1)
                        if f_pfd < limit)
    return Ice40Pll(divr, divf, divq, filter_range, f_in_mhz, f_out)


@dataclass(frozen=True)
class Ecp5Pll:
    """``EHXPLLL`` settings with feedback from ``CLKOP``.

    ``f_out = f_in · clkfb_div / clki_div`` and ``f_vco = f_out · clkop_div``.
    """

    clki_div: int
    clkfb_div: int
    clkop_div: int
    f_in_mhz: float
    f_out_mhz: float

    @property
    def clkop_cphase(self) -> int:
        return self.clkop_div - 1


def ecp5_pll(f_in_mhz: float, f_out_mhz: float) -> Ecp5Pll:
    """Settings whose output is closest to ``f_out_mhz``, preferably not above it (ECP5
    ``EHXPLLL`` limits).

    Raises
    ------
    PllError
        If the request lies outside the PLL's output range (3.125 to 400 MHz).
    """
    if not 3.125 <= f_out_mhz <= 400.0:
        raise PllError(f"ECP5 PLL output must be 3.125 to 400 MHz, not {f_out_mhz} MHz")
    best = None
    for clki_div in range(1, 129):
        f_pfd = f_in_mhz / clki_div
        if not 3.125 <= f_pfd <= 400.0:
            continue
        for clkfb_div in range(1, 81):
            f_out = f_pfd * clkfb_div
            if not 3.125 <= f_out <= 400.0:
                continue
            for clkop_div in range(1, 129):
                f_vco = f_out * clkop_div
                if 400.0 <= f_vco <= 800.0:
                    break
            else:
                continue
            err = _error(f_out, f_out_mhz)
            if best is None or err < best[0]:
                best = (err, clki_div, clkfb_div, clkop_div, f_out)
    if best is None:
        raise PllError(f"no ECP5 PLL setting gives {f_out_mhz} MHz from {f_in_mhz} MHz")
    _, clki_div, clkfb_div, clkop_div, f_out = best
    return Ecp5Pll(clki_div, clkfb_div, clkop_div, f_in_mhz, f_out)
