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


def test_decode_table_decodes_every_code_from_its_first_bits():
    gen = np.random.default_rng(7)
    for trial in range(20):
        alphabet = int(gen.integers(2, 300))
        symbols = gen.geometric(float(gen.uniform(0.05, 0.6)), 3000) % alphabet
        max_length = int(gen.integers(max(4, int(alphabet - 1).bit_length()), 15))
        code = HuffmanCode.from_symbols(symbols, alphabet, max_length=max_length)
        table = code.decode_table(max_length)
        for sym, (value, n) in code.codes().items():
            tail = int(gen.integers(0, 1 << (max_length - n))) if n < max_length else 0
            length, pos = table.decode(value << (max_length - n) | tail)
            assert (length, int(table.symbols[pos])) == (n, sym), (trial, sym)
    with pytest.raises(HuffmanError, match="exceeds 4 bits"):
        HuffmanCode(np.array([1, 2, 3, 5, 5])).decode_table(4)


def test_an_incomplete_code_leaves_invalid_windows():
    table = HuffmanCode(np.array([1, 0, 0])).decode_table(4)     # one symbol: code "0"
    assert table.decode(0b0110) == (1, 0)
    assert table.decode(0b1000) is None


def test_coded_eie_matrix_decodes_to_the_same_spmv():
    from corolla.firmware.compress.csc import eie_encode, eie_huffman, eie_spmv

    gen = np.random.default_rng(8)
    for _ in range(10):
        rows, cols = (int(x) for x in gen.integers(1, 70, 2))
        index = gen.integers(1, 16, (rows, cols)) * (gen.random((rows, cols)) < 0.3)
        plain = eie_encode(index, 4)
        coded = eie_huffman(plain, 8)
        acts = gen.integers(-128, 128, cols) * (gen.random(cols) < 0.6)
        codebook = np.concatenate([[0], gen.integers(-128, 128, 15)])
        a, b = eie_spmv(plain, codebook, acts), eie_spmv(coded, codebook, acts)
        assert (a.out == b.out).all() and (a.work == b.work).all()
        assert int(coded.bits_per_pe.sum()) <= 8 * plain.entries
