import numpy as np
import pytest

from corolla.firmware.compress.csc import (
    EieEncodingError,
    EieMatrix,
    eie_decode,
    eie_encode,
    eie_spmv,
)
from corolla.formats import eie_entry_pack, eie_entry_unpack, requantize, wrap_signed


def random_index(gen, rows, cols, density, bits=4):
    index = gen.integers(1, 1 << bits, size=(rows, cols))
    return np.where(gen.random((rows, cols)) < density, index, 0)


@pytest.mark.parametrize("seed", range(40))
def test_round_trip_random_shapes_densities_and_pes(seed):
    gen = np.random.default_rng(seed)
    rows, cols = int(gen.integers(1, 120)), int(gen.integers(1, 40))
    density = float(gen.choice([0.0, 0.02, 0.1, 0.3, 0.6, 1.0]))
    pes = int(gen.choice([1, 2, 3, 4, 7, 8, 16]))
    index = random_index(gen, rows, cols, density)
    enc = eie_encode(index, pes)
    assert np.array_equal(eie_decode(enc), index)
    assert enc.nnz == np.count_nonzero(index)
    for p in range(pes):
        assert np.all(np.asarray(enc.z[p]) <= 15)
        assert np.all(np.diff(enc.ptr[p]) >= 0)


def test_long_gaps_get_padding_entries():
    index = np.zeros((200, 3), dtype=np.int64)
    index[0, 0] = 3            # PE 0 local row 0
    index[2 * 40, 0] = 5       # PE 0 local row 40: gap of 39 zero rows
    index[2 * 99 + 1, 1] = 7   # PE 1 local row 99: gap of 99 from the column start
    enc = eie_encode(index, 2)
    z0 = enc.z[0][enc.ptr[0, 0]:enc.ptr[0, 1]].tolist()
    v0 = enc.v[0][enc.ptr[0, 0]:enc.ptr[0, 1]].tolist()
    # 39 zeros = two padding entries (16 rows each) + z = 7.
    assert (z0, v0) == ([0, 15, 15, 7], [3, 0, 0, 5])
    z1 = enc.z[1][enc.ptr[1, 1]:enc.ptr[1, 2]].tolist()
    assert z1 == [15] * 6 + [3]           # 99 = 6·16 + 3
    assert enc.ptr[0, 2] == enc.ptr[0, 3]  # empty column 2 on PE 0
    assert enc.padding == 2 + 6
    assert np.array_equal(eie_decode(enc), index)


def test_gap_of_exactly_sixteen():
    index = np.zeros((17, 1), dtype=np.int64)
    index[16, 0] = 1
    enc = eie_encode(index, 1)
    assert enc.z[0].tolist() == [15, 0] and enc.v[0].tolist() == [0, 1]
    assert np.array_equal(eie_decode(enc), index)


def test_empty_matrix_and_more_pes_than_rows():
    enc = eie_encode(np.zeros((3, 5), dtype=np.int64), 8)
    assert enc.entries == 0 and enc.ptr.shape == (8, 6)
    assert [enc.local_rows(p) for p in range(8)] == [1, 1, 1, 0, 0, 0, 0, 0]
    assert np.array_equal(eie_decode(enc), np.zeros((3, 5)))


@pytest.mark.parametrize("seed", range(25))
def test_encoded_spmv_matches_dense_integer_product(seed):
    gen = np.random.default_rng(100 + seed)
    rows, cols = int(gen.integers(1, 90)), int(gen.integers(1, 70))
    pes = int(gen.choice([1, 2, 4, 5, 8]))
    index = random_index(gen, rows, cols, float(gen.choice([0.02, 0.1, 0.6])))
    codebook = np.concatenate([[0], gen.integers(-128, 128, 15)])
    a = np.where(gen.random(cols) < 0.5, gen.integers(-128, 128, cols), 0)
    if seed == 0:
        a[:] = 0                                   # all-zero activations
    bias = gen.integers(-5000, 5000, rows)
    shift, relu = int(gen.integers(0, 12)), bool(seed % 2)
    acc_width = 16 if seed % 5 == 0 else 32        # narrow accumulators wrap
    res = eie_spmv(eie_encode(index, pes), codebook, a, bias=bias, shift=shift, relu=relu,
                   acc_width=acc_width)
    acc = wrap_signed(codebook[index] @ a + bias, acc_width)
    assert np.array_equal(res.acc, acc)
    assert np.array_equal(res.out, requantize(acc, shift, relu=relu))
    assert res.broadcasts == np.count_nonzero(a)
    enc = eie_encode(index, pes)
    assert res.work.sum() == sum(enc.ptr[p, j + 1] - enc.ptr[p, j]
                                 for p in range(pes) for j in np.flatnonzero(a))


def corrupt(enc, **changes):
    fields = {f: getattr(enc, f) for f in ("rows", "cols", "pes", "z", "v", "ptr", "z_bits",
                                          "v_bits")}
    return EieMatrix(**(fields | changes))


def test_corrupt_encodings_are_reported():
    gen = np.random.default_rng(7)
    index = random_index(gen, 40, 10, 0.3)
    enc = eie_encode(index, 4)
    cb = np.arange(16)
    a = np.ones(10, dtype=np.int64)
    ptr = enc.ptr.copy()
    ptr[1, 3] = 10_000
    with pytest.raises(EieEncodingError, match="PE 1 column 2"):
        eie_spmv(corrupt(enc, ptr=ptr), cb, a)
    ptr = enc.ptr.copy()
    ptr[2, 4], ptr[2, 5] = ptr[2, 5], ptr[2, 4] - 1 if ptr[2, 4] else 0
    with pytest.raises(EieEncodingError):
        eie_spmv(corrupt(enc, ptr=ptr), cb, a)
    z = list(enc.z)
    z[0] = np.full_like(z[0], 15)
    with pytest.raises(EieEncodingError, match="past the PE's 10 rows"):
        eie_spmv(corrupt(enc, z=tuple(z)), cb, a)
    with pytest.raises(EieEncodingError, match="past the PE"):
        eie_decode(corrupt(enc, z=tuple(z)))
    with pytest.raises(EieEncodingError, match="codebook index"):
        eie_spmv(enc, np.arange(4), a)


def test_bad_encoder_input():
    with pytest.raises(ValueError, match="index value 16"):
        eie_encode(np.array([[16]]), 1)
    with pytest.raises(ValueError, match="pes"):
        eie_encode(np.array([[1]]), 0)
    with pytest.raises(ValueError, match="2-D"):
        eie_encode(np.array([1, 2]), 1)
    with pytest.raises(ValueError, match="entry 0 must be exact zero"):
        eie_spmv(eie_encode(np.array([[1]]), 1), np.array([1, 2]), np.array([1]))


def test_entry_words_round_trip():
    z, v = np.arange(16).repeat(16), np.tile(np.arange(16), 16)
    words = eie_entry_pack(z, v)
    assert words.max() == 255 and len(set(words.tolist())) == 256
    zz, vv = eie_entry_unpack(words)
    assert np.array_equal(zz, z) and np.array_equal(vv, v)
    with pytest.raises(ValueError):
        eie_entry_pack([16], [0])
