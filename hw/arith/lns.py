"""Logarithmic number system (LNS) units: multiplier, adder, converters and MAC.

Words follow :class:`corolla.formats.LnsFormat`: a sign bit above an ``(I + F)``-bit two's
complement log2 with ``F`` fraction bits, the most negative log code meaning zero. A multiply is
an addition of logs; an addition is ``max + s(d)`` or ``max + d(d)`` with the Gaussian-log
tables of the format, read from small ROMs (``lib.memory`` with combinational read ports, so
they become LUTs; the tables have a few dozen entries for 8-bit formats).

Every unit takes and gives ``lib.stream`` handshakes; the pipeline advances whenever its output
register can take a value.
"""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from corolla.formats import LnsFormat

__all__ = ["IntToLns", "LnsAdd", "LnsMac", "LnsMul", "LnsToFixed"]

MODES = ("linear", "log", "kahan")
#: The default format: 8-bit words, I = 4, F = 3 (the ``[lns]`` defaults of a configuration).
DEFAULT_LNS = LnsFormat(4, 3)


def _check_format(fmt):
    if not isinstance(fmt, LnsFormat):
        raise TypeError(f"LNS format must be an LnsFormat, not {fmt!r}")
    return fmt


def _signed_width(values) -> int:
    lo, hi = min(int(v) for v in values), max(int(v) for v in values)
    return max(max(hi, 0).bit_length(), (-lo - 1).bit_length() if lo < 0 else 0) + 1


def _rom(m, name, values, addr):
    """Combinational ROM holding ``values`` (signed), read at ``addr``."""
    mem = Memory(shape=signed(_signed_width(values)), depth=len(values),
                 init=[int(v) for v in values])
    m.submodules[name] = mem
    port = mem.read_port(domain="comb")
    m.d.comb += port.addr.eq(addr)
    return port.data


def _unpack(fmt, word):
    log = word[:fmt.log_width].as_signed()
    return word[fmt.log_width], log, log == fmt.zero_log


def _pack(fmt, sign, log, zero):
    """Word from a sign, a wide log (saturated here) and a zero flag."""
    log_out = Mux(log > fmt.log_max, fmt.log_max, log)
    return Mux(zero | (log < fmt.log_min), fmt.zero, Cat(log_out[:fmt.log_width], sign))


def int_to_lns_comb(m, fmt, v, *, in_frac=0, name="log"):
    """Combinational int8 → LNS word of signed 8-bit ``v`` (:class:`IntToLns` without its
    register stages; the table is a submodule called ``name``)."""
    mag = Signal(unsigned(8), name=f"{name}_mag")
    m.d.comb += mag.eq(Mux(v < 0, -v, v))
    log = _rom(m, name, fmt.int_table(in_frac), (mag - 1)[:7])
    return _pack(fmt, v[7], log, mag == 0)


def lns_mul_comb(m, fmt, a, b):
    """Combinational LNS product of words ``a`` and ``b``."""
    sa, la, za = _unpack(fmt, a)
    sb, lb, zb = _unpack(fmt, b)
    total = Signal(signed(fmt.log_width + 1))
    out = Signal(fmt.width)
    m.d.comb += [total.eq(la + lb), out.eq(_pack(fmt, sa ^ sb, total, za | zb))]
    return out


def _lookup(m, name, fmt, table, dist):
    """Gaussian-log correction for ``dist`` (units of 2**-F) from one table."""
    q = fmt.table_step_bits
    n = len(table) - 1
    k = dist >> q
    idx = Mux(k < n, k, n)
    lo = _rom(m, f"{name}_lo", table, idx)
    if not (fmt.interpolate and q):
        return lo
    idx1 = Mux(k < n, k + 1, n)
    hi = _rom(m, f"{name}_hi", table, idx1)
    r = dist[:q]
    step = Signal(signed(_signed_width(table) + 1 + q + 1))
    m.d.comb += step.eq(((hi - lo) * r + (1 << (q - 1))) >> q)
    return lo + step


def _corr_width(fmt):
    return max(_signed_width(fmt.sb_table), _signed_width(fmt.db_table)) + 1


def _add_layout(fmt):
    """What the adder's table stage hands to its final stage."""
    return data.StructLayout({
        "a": fmt.width, "b": fmt.width, "big": signed(fmt.log_width),
        "corr": signed(_corr_width(fmt)), "sign": 1, "cancel": 1, "za": 1, "zb": 1,
    })


def _lns_add_front(m, fmt, a, b, name):
    """Adder, first half: compare, distance and table lookup."""
    sa, la, za = _unpack(fmt, a)
    sb, lb, zb = _unpack(fmt, b)
    a_big = Signal()
    big = Signal(signed(fmt.log_width))
    dist = Signal(unsigned(fmt.log_width + 1))
    m.d.comb += [
        a_big.eq(la >= lb),
        big.eq(Mux(a_big, la, lb)),
        dist.eq(Mux(a_big, la - lb, lb - la)),
    ]
    same = sa == sb
    corr_s = _lookup(m, f"{name}_sb", fmt, fmt.sb_table, dist)
    corr_d = _lookup(m, f"{name}_db", fmt, fmt.db_table, dist)
    front = Signal(_add_layout(fmt))
    m.d.comb += [
        front.a.eq(a), front.b.eq(b), front.big.eq(big),
        front.corr.eq(Mux(same, corr_s, corr_d)), front.sign.eq(Mux(a_big, sa, sb)),
        front.cancel.eq(~same & (dist == 0)), front.za.eq(za), front.zb.eq(zb),
    ]
    return front


def _lns_add_back(m, fmt, front):
    """Adder, second half: ``max + correction``, saturation, zero handling."""
    total = Signal(signed(max(fmt.log_width, _corr_width(fmt)) + 2))
    m.d.comb += total.eq(front.big + front.corr)
    res = _pack(fmt, front.sign, total, front.cancel)
    out = Signal(fmt.width)
    m.d.comb += out.eq(Mux(front.za, Mux(front.zb, fmt.zero, front.b),
                           Mux(front.zb, front.a, res)))
    return out


def lns_add_comb(m, fmt, a, b, *, name="add"):
    """Combinational LNS sum of words ``a`` and ``b`` (see :func:`corolla.sim.models.lns_add`)."""
    return _lns_add_back(m, fmt, _lns_add_front(m, fmt, a, b, name))


def lns_neg_comb(fmt, a):
    """Negated word (zero stays canonical)."""
    _, _, zero = _unpack(fmt, a)
    return Mux(zero, a, a ^ (1 << fmt.log_width))


def lns_to_fixed_comb(m, fmt, word, *, frac_bits, width, antilog_bits):
    """Combinational LNS → signed fixed point (see :func:`corolla.sim.models.lns_to_fixed`)."""
    sign, log, zero = _unpack(fmt, word)
    f_bits = fmt.frac_bits
    mant = _rom(m, "antilog", fmt.antilog_table(antilog_bits),
                log[:f_bits] if f_bits else Const(0, 1))
    n = log[f_bits:].as_signed() if f_bits < fmt.log_width else log
    n_min = -(1 << (fmt.int_bits - 1))
    span = (1 << fmt.int_bits) - 1
    wide = Signal(unsigned(antilog_bits + 2 + span))
    m.d.comb += wide.eq(mant.as_unsigned() << (n - n_min).as_unsigned())
    e0 = n_min + frac_bits - antilog_bits
    mag = Signal(unsigned(len(wide) + max(e0, 0)))
    if e0 >= 0:
        m.d.comb += mag.eq(wide << e0)
    else:
        m.d.comb += mag.eq((wide + (1 << (-e0 - 1))) >> -e0)
    limit = (1 << (width - 1)) - 1
    out = Signal(signed(width))
    sat_pos = Mux(mag > limit, limit, mag)
    sat_neg = Mux(mag > limit + 1, -(limit + 1), -mag)
    m.d.comb += out.eq(Mux(zero, 0, Mux(sign, sat_neg, sat_pos)))
    return out


class _Pipe2(wiring.Component):
    """Two-stage stream pipeline around a combinational function: input register, function,
    output register. Advances whenever the output register can take a value."""

    def __init__(self, in_shape, out_shape):
        super().__init__({
            "operands": In(stream.Signature(in_shape)),
            "result": Out(stream.Signature(out_shape)),
        })

    def compute(self, m, payload):
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        advance = Signal()
        m.d.comb += [advance.eq(~self.result.valid | self.result.ready),
                     self.operands.ready.eq(advance)]
        held = Signal.like(self.operands.payload)
        held_valid = Signal()
        value = self.compute(m, held)
        with m.If(advance):
            m.d.sync += [held.eq(self.operands.payload), held_valid.eq(self.operands.valid),
                         self.result.valid.eq(held_valid), self.result.payload.eq(value)]
        return m


class LnsMul(_Pipe2):
    """LNS multiplier: logs add, signs xor, saturating, underflow and zero to zero.

    Parameters
    ----------
    fmt : LnsFormat

    Members
    -------
    operands : In(stream.Signature({"a": width, "b": width}))
    result : Out(stream.Signature(width))
        The product, two cycles after the operands.
    """

    def __init__(self, fmt: LnsFormat = DEFAULT_LNS):
        self.fmt = _check_format(fmt)
        super().__init__(data.StructLayout({"a": fmt.width, "b": fmt.width}), fmt.width)

    @property
    def parameters(self):
        return {**_fmt_params(self.fmt), "op": "mul"}

    def compute(self, m, p):
        return lns_mul_comb(m, self.fmt, p.a, p.b)


class LnsAdd(wiring.Component):
    """LNS adder/subtractor: ``max + s(d)`` or ``max + d(d)`` from the format's tables.

    Three stages, advancing together whenever the output register can take a value: input
    register; compare, distance and table lookup; ``max + correction`` with saturation and
    zero handling.

    Members
    -------
    operands : In(stream.Signature({"a": width, "b": width, "sub": 1}))
        ``sub`` computes ``a − b``.
    result : Out(stream.Signature(width))
        The sum, three cycles after the operands.
    """

    def __init__(self, fmt: LnsFormat = DEFAULT_LNS):
        self.fmt = _check_format(fmt)
        super().__init__({
            "operands": In(stream.Signature(data.StructLayout(
                {"a": fmt.width, "b": fmt.width, "sub": 1}))),
            "result": Out(stream.Signature(fmt.width)),
        })

    @property
    def parameters(self):
        return {**_fmt_params(self.fmt), "op": "add"}

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
        advance = Signal()
        m.d.comb += [advance.eq(~self.result.valid | self.result.ready),
                     self.operands.ready.eq(advance)]
        held = Signal.like(self.operands.payload)
        held_valid = Signal()
        front = _lns_add_front(m, fmt, held.a,
                               Mux(held.sub, lns_neg_comb(fmt, held.b), held.b), "add")
        mid = Signal(_add_layout(fmt))
        mid_valid = Signal()
        value = _lns_add_back(m, fmt, mid)
        with m.If(advance):
            m.d.sync += [held.eq(self.operands.payload), held_valid.eq(self.operands.valid),
                         mid.eq(front), mid_valid.eq(held_valid),
                         self.result.valid.eq(mid_valid), self.result.payload.eq(value)]
        return m


class IntToLns(_Pipe2):
    """int8 → LNS through a 128-entry log table (rounded half up, saturated).

    Parameters
    ----------
    fmt : LnsFormat
    in_frac : int
        Fraction bits of the int8 input (subtracted from the log as ``in_frac · 2**F``).
    """

    def __init__(self, fmt: LnsFormat = DEFAULT_LNS, *, in_frac: int = 0):
        self.fmt = _check_format(fmt)
        if not isinstance(in_frac, int) or not -16 <= in_frac <= 16:
            raise ValueError(f"in_frac must be an integer from -16 to 16, not {in_frac!r}")
        self.in_frac = in_frac
        super().__init__(signed(8), fmt.width)

    @property
    def parameters(self):
        return {**_fmt_params(self.fmt), "in_frac": self.in_frac}

    def compute(self, m, v):
        return int_to_lns_comb(m, self.fmt, v, in_frac=self.in_frac)


class LnsToFixed(_Pipe2):
    """LNS → signed fixed point through a ``2**F``-entry antilog table.

    Parameters
    ----------
    fmt : LnsFormat
    frac_bits : int
        Fraction bits of the output.
    width : int
        Output width (saturating).
    antilog_bits : int
        Fraction bits of the antilog table entries (its precision).
    """

    def __init__(self, fmt: LnsFormat = DEFAULT_LNS, *, frac_bits=8, width=32,
                 antilog_bits=None):
        self.fmt = _check_format(fmt)
        self.frac_bits, self.width = frac_bits, width
        self.antilog_bits = fmt.frac_bits + 4 if antilog_bits is None else antilog_bits
        _check_fixed(frac_bits, width, self.antilog_bits)
        super().__init__(fmt.width, signed(width))

    @property
    def parameters(self):
        return {**_fmt_params(self.fmt), "frac_bits_out": self.frac_bits, "width": self.width,
                "antilog_bits": self.antilog_bits}

    def compute(self, m, word):
        return lns_to_fixed_comb(m, self.fmt, word, frac_bits=self.frac_bits,
                                 width=self.width, antilog_bits=self.antilog_bits)


def _check_fixed(frac_bits, width, antilog_bits):
    if not isinstance(frac_bits, int) or not 0 <= frac_bits <= 24:
        raise ValueError(f"frac_bits must be an integer from 0 to 24, not {frac_bits!r}")
    if not isinstance(width, int) or not 8 <= width <= 48:
        raise ValueError(f"width must be an integer from 8 to 48, not {width!r}")
    if not isinstance(antilog_bits, int) or not 1 <= antilog_bits <= 24:
        raise ValueError(f"antilog_bits must be an integer from 1 to 24, not {antilog_bits!r}")


def _fmt_params(fmt):
    return {"int_bits": fmt.int_bits, "frac_bits": fmt.frac_bits,
            "table_frac_bits": fmt.table_frac_bits, "interpolate": fmt.interpolate}


class LnsMac(wiring.Component):
    """LNS multiply-accumulate: dot products of LNS activations and weights.

    Products are LNS multiplies. They are accumulated in one of three modes:

    ``linear``
        each product goes through the antilog table to fixed point (``acc_frac`` fraction
        bits) and is added to a wrapping ``acc_width``-bit integer accumulator. One beat per
        cycle; the result is that integer.
    ``log``
        products are added in the log domain by the LNS adder (one beat per cycle); the result
        is an LNS word.
    ``kahan``
        as ``log`` with Kahan compensation: ``y = p − c; t = s + y; c = (t − s) − y; s = t``,
        four LNS additions per product through one shared adder, so one beat every four
        cycles (``operands.ready`` drops while it works).

    A beat with ``last`` ends the dot product; its result appears on ``result`` and the next
    product starts from zero.

    Parameters
    ----------
    fmt : LnsFormat
    mode : str
        ``"linear"``, ``"log"`` or ``"kahan"``.
    acc_width, acc_frac, antilog_bits : int
        Linear mode: accumulator width, its fraction bits, antilog table precision.

    Members
    -------
    operands : In(stream.Signature({"a": width, "w": width, "last": 1}))
    result : Out(stream.Signature(signed(acc_width) or width))
    """

    def __init__(self, fmt: LnsFormat = DEFAULT_LNS, *, mode="linear", acc_width=32,
                 acc_frac=8, antilog_bits=None):
        self.fmt = _check_format(fmt)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.acc_width, self.acc_frac = acc_width, acc_frac
        self.antilog_bits = fmt.frac_bits + 4 if antilog_bits is None else antilog_bits
        _check_fixed(acc_frac, acc_width, self.antilog_bits)
        out_shape = signed(acc_width) if mode == "linear" else unsigned(fmt.width)
        super().__init__({
            "operands": In(stream.Signature(data.StructLayout(
                {"a": fmt.width, "w": fmt.width, "last": 1}))),
            "result": Out(stream.Signature(out_shape)),
        })

    @property
    def parameters(self):
        return {**_fmt_params(self.fmt), "mode": self.mode, "acc_width": self.acc_width,
                "acc_frac": self.acc_frac, "antilog_bits": self.antilog_bits}

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
        out_free = Signal()
        m.d.comb += out_free.eq(~self.result.valid | self.result.ready)
        with m.If(self.result.ready):
            m.d.sync += self.result.valid.eq(0)

        # Stage 1: the product, registered.
        beat = self.operands.payload
        p1 = Signal(fmt.width)
        valid1, last1 = Signal(), Signal()
        take1 = Signal()          # stage 2 consumes stage 1 this cycle
        load1 = Signal()
        m.d.comb += [load1.eq(~valid1 | take1), self.operands.ready.eq(load1)]
        product = lns_mul_comb(m, fmt, beat.a, beat.w)
        with m.If(load1):
            m.d.sync += [p1.eq(product), valid1.eq(self.operands.valid), last1.eq(beat.last)]

        if self.mode == "linear":
            # Stage 2: antilog to fixed point, registered; stage 3: accumulate.
            fixed = lns_to_fixed_comb(m, fmt, p1, frac_bits=self.acc_frac,
                                      width=self.acc_width, antilog_bits=self.antilog_bits)
            p2 = Signal(signed(self.acc_width))
            valid2, last2 = Signal(), Signal()
            acc = Signal(signed(self.acc_width))
            fresh = Signal(init=1)
            m.d.comb += take1.eq(out_free)
            with m.If(out_free):
                m.d.sync += [p2.eq(fixed), valid2.eq(valid1), last2.eq(last1)]
                with m.If(valid2):
                    nxt = Mux(fresh, p2, acc + p2)
                    m.d.sync += [acc.eq(nxt), fresh.eq(last2)]
                    with m.If(last2):
                        m.d.sync += [self.result.payload.eq(nxt), self.result.valid.eq(1)]
            return m

        acc = Signal(fmt.width, init=fmt.zero)
        if self.mode == "log":
            m.d.comb += take1.eq(out_free)
            total = lns_add_comb(m, fmt, acc, p1)
            with m.If(out_free & valid1):
                m.d.sync += acc.eq(Mux(last1, fmt.zero, total))
                with m.If(last1):
                    m.d.sync += [self.result.payload.eq(total), self.result.valid.eq(1)]
            return m

        # Kahan: four dependent additions through one adder, sequenced by `step`.
        comp = Signal(fmt.width, init=fmt.zero)
        y, t, u = Signal(fmt.width), Signal(fmt.width), Signal(fmt.width)
        last = Signal()
        step = Signal(range(4))
        # The adder's operands per step (y = p − c; t = s + y; u = t − s; c = u − y), built
        # from multiplexers rather than a combinational process.
        x_a, x_b = Signal(fmt.width), Signal(fmt.width)
        m.d.comb += [
            x_a.eq(Mux(step == 0, p1, Mux(step == 1, acc, Mux(step == 2, t, u)))),
            x_b.eq(Mux(step == 0, comp, Mux(step == 2, acc, y))),
            take1.eq((step == 0) & valid1),
        ]
        total = lns_add_comb(m, fmt, x_a, Mux(step == 1, x_b, lns_neg_comb(fmt, x_b)))
        with m.Switch(step):
            with m.Case(0), m.If(valid1):
                m.d.sync += [y.eq(total), last.eq(last1), step.eq(1)]
            with m.Case(1):
                m.d.sync += [t.eq(total), step.eq(2)]
            with m.Case(2):
                m.d.sync += [u.eq(total), step.eq(3)]
            with m.Case(3):
                with m.If(~last):
                    m.d.sync += [comp.eq(total), acc.eq(t), step.eq(0)]
                with m.Elif(out_free):
                    m.d.sync += [comp.eq(fmt.zero), acc.eq(fmt.zero), step.eq(0),
                                 self.result.payload.eq(t), self.result.valid.eq(1)]
        return m
