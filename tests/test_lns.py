# amaranth: UnusedElaboratable=no
"""LNS: the format and its tables, the golden model against the independent ``xlns`` library,
and the gateware units against the golden model."""

import math

import numpy as np
import pytest

from corolla.formats import LnsFormat
from corolla.hw.arith.lns import IntToLns, LnsAdd, LnsMac, LnsMul, LnsToFixed
from corolla.sim import runner
from corolla.sim.models.lns import (
    lns_add,
    lns_dot,
    lns_from_int,
    lns_mul,
    lns_neg,
    lns_sub,
    lns_to_fixed,
)

BENCH = "corolla.sim.benches.lns"
FMT8 = LnsFormat(4, 3)


def test_layout_and_zero():
    assert (FMT8.width, FMT8.zero_log, FMT8.log_min, FMT8.log_max) == (8, -64, -63, 63)
    assert FMT8.zero == 0b0100_0000
    sign, _, zero = FMT8.unpack(np.arange(256))
    assert zero.sum() == 2 and sign[zero].tolist() == [0, 0]     # both signs of the zero code
    assert FMT8.decode(FMT8.zero) == 0
    assert FMT8.decode(FMT8.pack(1, 8)) == -2.0
    with pytest.raises(ValueError, match="int_bits"):
        LnsFormat(0, 3)
    with pytest.raises(ValueError, match="table_frac_bits"):
        LnsFormat(4, 3, table_frac_bits=4)


def test_encode_decode_round_trip_and_limits():
    words = np.arange(256)
    canonical = FMT8.pack(*FMT8.unpack(words)[:2])
    assert np.array_equal(FMT8.encode(FMT8.decode(words)), canonical)
    assert FMT8.encode([0.0, 1e-9, 1e9, -1e9]).tolist() == [
        FMT8.zero, FMT8.zero, FMT8.pack(0, 63), FMT8.pack(1, 63)]


def test_tables_are_the_gaussian_logs_rounded_half_up():
    for fmt in (FMT8, LnsFormat(5, 6), LnsFormat(5, 6, table_frac_bits=3)):
        step = 2.0 ** -(fmt.frac_bits - fmt.table_step_bits)
        k = np.arange(len(fmt.sb_table) - 1)
        assert np.array_equal(fmt.sb_table[:-1],
                              np.floor(np.log2(1 + 2.0 ** -(k * step)) * 2 ** fmt.frac_bits
                                       + 0.5))
        d = np.maximum(np.arange(len(fmt.db_table) - 1) * step, 2.0 ** -fmt.frac_bits)
        assert np.array_equal(fmt.db_table[:-1],
                              np.floor(np.log2(1 - 2.0 ** -d) * 2 ** fmt.frac_bits + 0.5))
        assert fmt.sb_table[-1] == fmt.db_table[-1] == 0
        assert np.all(fmt.sb_table[:-1] > 0) and np.all(fmt.db_table[:-1] < 0)
    assert FMT8.sb_table[0] == 8 and len(FMT8.sb_table) == 37


def test_model_special_cases():
    one, two, half = FMT8.encode([1.0, 2.0, 0.5])
    z = FMT8.zero
    assert FMT8.decode(lns_mul(FMT8, two, half)) == 1.0
    assert lns_mul(FMT8, two, z) == z and lns_mul(FMT8, z, z) == z
    assert lns_add(FMT8, one, one) == two                    # s(0) = 1 exactly
    assert lns_sub(FMT8, two, two) == z                      # exact cancellation
    assert lns_add(FMT8, z, lns_neg(FMT8, two)) == lns_neg(FMT8, two)
    tiny = FMT8.pack(0, FMT8.log_min)
    assert lns_mul(FMT8, tiny, tiny) == z                    # underflow
    big = FMT8.pack(1, FMT8.log_max)
    assert lns_mul(FMT8, big, big) == FMT8.pack(0, FMT8.log_max)   # saturation, sign xor
    assert lns_from_int(FMT8, [0, 1, -2, 127, -128]).tolist() == FMT8.encode(
        [0, 1, -2, 127, -128]).tolist()
    assert lns_to_fixed(FMT8, FMT8.encode([1.0, -2.0, 0.0]), frac_bits=8, width=32,
                        antilog_bits=7).tolist() == [256, -512, 0]


def xlns_codes(fmt, values, op):
    """Results of ``op`` on pairs in the xlns library, as (sign, log) or None for zero."""
    import xlns

    xlns.xlnssetF(fmt.frac_bits)
    out = []
    for x, y in values:
        r = op(xlns.xlns(float(x)), xlns.xlns(float(y)))
        out.append(None if r.x == -1e1000 else (int(r.s), int(r.x)))
    return out


def compare_with_xlns(fmt, op_name, a, b):
    """Distance in units of 2**-F between Corolla's and xlns's results, per pair.

    Results that xlns puts outside the format's range are checked against Corolla's
    saturation (largest magnitude, same sign) and underflow (zero) instead, and count as 0.
    A sign disagreement or a zero on only one side counts as infinity.
    """
    ours = {"add": lns_add, "sub": lns_sub, "mul": lns_mul}[op_name](fmt, a, b)
    op = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y}
    theirs = xlns_codes(fmt, zip(fmt.decode(a), fmt.decode(b), strict=True), op[op_name])
    sign, log, zero = fmt.unpack(ours)
    dist = np.zeros(len(a))
    for k, t in enumerate(theirs):
        if t is None or t[1] < fmt.log_min:
            dist[k] = 0 if zero[k] else math.inf
        elif t[1] > fmt.log_max:
            dist[k] = 0 if (log[k] == fmt.log_max and sign[k] == t[0]) else math.inf
        else:
            dist[k] = math.inf if zero[k] or sign[k] != t[0] else abs(int(log[k]) - t[1])
    return dist


@pytest.mark.parametrize("op_name", ["add", "sub", "mul"])
def test_golden_model_agrees_exactly_with_xlns_on_every_8bit_pair(op_name):
    a, b = (x.ravel() for x in np.meshgrid(np.arange(256), np.arange(256)))
    dist = compare_with_xlns(FMT8, op_name, a, b)
    assert dist.max() == 0, f"{np.count_nonzero(dist)} pairs disagree"


def _distribution(dist):
    values, counts = np.unique(dist, return_counts=True)
    return ", ".join(f"{v:g}: {c}" for v, c in zip(values, counts, strict=True))


# Documented agreement with xlns (ulps of 2**-F): exact tables agree exactly everywhere. With
# sampled tables (T < F), same-sign additions stay within `add_bound`, and so do subtractions
# whose operands are at least a factor 2 apart; nearly cancelling subtractions, where
# log2(1 − 2**-d) is steepest, can be far off (their distribution is printed).
@pytest.mark.parametrize(("fmt", "add_bound"), [
    (LnsFormat(5, 6), 0),
    (LnsFormat(5, 6, table_frac_bits=3, interpolate=True), 1),
    (LnsFormat(5, 6, table_frac_bits=4), 3),
], ids=["exact", "T3-interpolated", "T4-truncated"])
def test_golden_model_against_xlns_on_wider_formats(fmt, add_bound):
    gen = np.random.default_rng(0)
    n = 1 << fmt.width
    a, b = gen.integers(0, n, 6000), gen.integers(0, n, 6000)
    # Keep the subtraction's hard zone (nearly equal magnitudes, opposite signs) in the sample.
    b[:1000] = np.clip((a[:1000] ^ (1 << fmt.log_width)) + gen.integers(-3, 4, 1000), 0, n - 1)
    dist = compare_with_xlns(fmt, "add", a, b)
    sa, la, _ = fmt.unpack(a)
    sb, lb, _ = fmt.unpack(b)
    same = sa == sb
    far = np.abs(la - lb) >= 1 << fmt.frac_bits
    print(f"\n{fmt} |Corolla − xlns| in ulps, value: count\n"
          f"  same signs ({same.sum()}): {_distribution(dist[same])}\n"
          f"  opposite signs, ratio >= 2 ({(~same & far).sum()}): "
          f"{_distribution(dist[~same & far])}\n"
          f"  opposite signs, ratio < 2 ({(~same & ~far).sum()}): "
          f"{_distribution(dist[~same & ~far])}")
    assert dist[same].max() <= add_bound
    assert dist[~same & far].max() <= add_bound
    if add_bound == 0:
        assert dist.max() == 0


def test_dot_modes_agree_with_float_roughly():
    gen = np.random.default_rng(1)
    x, w = gen.uniform(0.1, 2.0, 64), gen.uniform(-1.0, 1.0, 64)
    fmt = LnsFormat(5, 6)
    exact = float(np.dot(fmt.decode(fmt.encode(x)), fmt.decode(fmt.encode(w))))
    a, ww = fmt.encode(x), fmt.encode(w)
    lin = lns_dot(fmt, a, ww, mode="linear", acc_frac=12, antilog_bits=12) / 2 ** 12
    log = fmt.decode(lns_dot(fmt, a, ww, mode="log"))
    kahan = fmt.decode(lns_dot(fmt, a, ww, mode="kahan"))
    assert abs(lin - exact) < 0.01 * max(1.0, abs(exact))
    assert abs(log - exact) < 0.3 * max(1.0, abs(exact))
    assert abs(kahan - exact) < 0.3 * max(1.0, abs(exact))


UNITS = {
    "mul": lambda fmt: LnsMul(fmt),
    "add": lambda fmt: LnsAdd(fmt),
    "int_to_lns": lambda fmt: IntToLns(fmt, in_frac=2),
    "to_fixed": lambda fmt: LnsToFixed(fmt, frac_bits=6, width=20),
    "mac_linear": lambda fmt: LnsMac(fmt, mode="linear", acc_width=24, acc_frac=6),
    "mac_log": lambda fmt: LnsMac(fmt, mode="log"),
    "mac_kahan": lambda fmt: LnsMac(fmt, mode="kahan"),
}


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_bench_8bit(simulator, unit):
    result = runner.run(UNITS[unit](FMT8), test_module=BENCH, simulator=simulator, seed=3)
    assert len([t for t in result.tests if not t.skipped]) == 1


@pytest.mark.parametrize("fmt", [LnsFormat(3, 4), LnsFormat(5, 6, table_frac_bits=3,
                                                                 interpolate=True)],
                         ids=["I3F4", "I5F6-T3-interp"])
@pytest.mark.parametrize("unit", ["mul", "add", "to_fixed", "mac_linear", "mac_kahan"])
def test_bench_other_formats(fmt, unit):
    result = runner.run(UNITS[unit](fmt), test_module=BENCH, seed=4)
    assert len([t for t in result.tests if not t.skipped]) == 1


@pytest.mark.parametrize(("unit", "mutant"), [
    ("add", "mutants:lns_add_truncates"),
    ("mac_kahan", "mutants:lns_dot_without_compensation"),
])
def test_bench_fails_on_a_wrong_model(unit, mutant):
    with pytest.raises(runner.SimulationFailure, match="first mismatch at result"):
        runner.run(UNITS[unit](FMT8), test_module=BENCH, seed=5, env={"COROLLA_GOLDEN": mutant})


def test_bad_parameters():
    with pytest.raises(ValueError, match="mode must be one of linear, log, kahan"):
        LnsMac(FMT8, mode="fast")
    with pytest.raises(TypeError, match="LnsFormat"):
        LnsMul((4, 3))
    with pytest.raises(ValueError, match="width must be an integer from 8 to 48"):
        LnsToFixed(FMT8, width=4)


def test_error_table_figures():
    from corolla.bench import lns_error_table

    rows = lns_error_table([LnsFormat(4, 3)], samples=500, dots=5)
    by_op = {r["operation"]: r for r in rows}
    assert set(by_op) == {"multiply", "add", "dot 64, linear", "dot 64, log", "dot 64, kahan",
                          "dot 256, linear", "dot 256, log", "dot 256, kahan"}
    # An 8-bit LNS multiply is within half a step of 2**(1/8) of the exact product.
    assert by_op["multiply"]["max"] <= 2 ** (1 / 16) - 1 + 1e-12
    assert 0 < by_op["dot 256, linear"]["mean"] < by_op["dot 256, log"]["mean"]
