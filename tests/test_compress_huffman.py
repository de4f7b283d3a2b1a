import numpy as np
import pytest

from corolla.firmware.compress.huffman import HuffmanCode, HuffmanError


@pytest.mark.parametrize("seed", range(10))
def test_round_trip_and_prefix_free(seed):
    gen = np.random.default_rng(seed)
    alphabet = int(gen.choice([2, 16, 100]))
    probs = gen.dirichlet(np.full(alphabet, 0.3))
    symbols = gen.choice(alphabet, size=int(gen.integers(1, 3000)), p=probs)
    code = HuffmanCode.from_symbols(symbols, alphabet)
    data, nbits = code.encode(symbols)
    assert nbits == code.encoded_bits(symbols)
    assert np.array_equal(code.decode(data, nbits, len(symbols)), symbols)
    used = code.lengths[code.lengths > 0]
    assert np.sum(2.0 ** -used) <= 1.0 + 1e-12          # Kraft
    codes = list(code.codes().values())
    for c1, n1 in codes:
        for c2, n2 in codes:
            if (c1, n1) != (c2, n2) and n1 <= n2:
                assert c2 >> (n2 - n1) != c1                 # no code prefixes another


def test_optimal_on_a_known_distribution():
    # Frequencies 1, 1, 2, 4: optimal lengths 3, 3, 2, 1 -> 1·3 + 1·3 + 2·2 + 4·1 = 14 bits.
    code = HuffmanCode.from_frequencies([1, 1, 2, 4])
    assert code.lengths.tolist() == [3, 3, 2, 1]
    assert code.encoded_bits([0, 1, 2, 2, 3, 3, 3, 3]) == 14


def test_skewed_stream_beats_fixed_length():
    gen = np.random.default_rng(1)
    symbols = np.where(gen.random(5000) < 0.8, 0, gen.integers(0, 16, 5000))
    code = HuffmanCode.from_symbols(symbols, 16)
    assert code.encoded_bits(symbols) < 0.5 * 4 * len(symbols)


def test_single_symbol_and_length_limit():
    code = HuffmanCode.from_symbols([5, 5, 5], 8)
    data, nbits = code.encode([5, 5, 5])
    assert nbits == 3 and code.decode(data, nbits, 3).tolist() == [5, 5, 5]
    fib = [1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233]
    limited = HuffmanCode.from_frequencies(fib, max_length=6)
    assert limited.lengths.max() <= 6 and np.sum(2.0 ** -limited.lengths) <= 1.0
    syms = np.repeat(np.arange(len(fib)), fib)
    data, nbits = limited.encode(syms)
    assert np.array_equal(limited.decode(data, nbits, len(syms)), syms)


def test_errors_name_the_problem():
    code = HuffmanCode.from_symbols([0, 1, 1], 4)
    with pytest.raises(HuffmanError, match="symbol 3 has no code"):
        code.encode([3])
    with pytest.raises(HuffmanError, match="outside the alphabet"):
        code.encode([7])
    data, nbits = code.encode([0, 1, 1])
    with pytest.raises(HuffmanError, match="ends"):
        code.decode(data, nbits - 1, 3)
    with pytest.raises(HuffmanError, match="left over"):
        code.decode(data, nbits, 2)
