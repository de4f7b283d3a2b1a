"""Deliberately wrong golden models: a bench must fail when compared against them.

Benches load these through ``COROLLA_GOLDEN`` (see ``corolla.sim.benches.common.golden``).
"""

from corolla.sim.models.mac import mac_reference


def mac_ignores_clear(a, b, valid, clear, *, width, acc_width):
    """The MAC model with the clear flag forgotten."""
    return mac_reference(a, b, valid, clear & False, width=width, acc_width=acc_width)


def mac_off_by_one(a, b, valid, clear, *, width, acc_width):
    """The MAC model with the last accumulator value off by one."""
    out = mac_reference(a, b, valid, clear, width=width, acc_width=acc_width).copy()
    out[-1] += 1
    return out


def requant_rounds_down(acc, shift, relu, *, acc_width, out_width):
    """The requantizer model with truncation instead of round-half-up."""
    import numpy as np

    y = np.right_shift(np.asarray(acc, dtype=np.int64), shift)
    if relu:
        y = np.maximum(y, 0)
    lo, hi = -(1 << (out_width - 1)), (1 << (out_width - 1)) - 1
    return np.clip(y, lo, hi)


def ternary_swapped_scales(a, codes, wp, wn, *, act_width, acc_width):
    """The ternary model with the positive and negative scales swapped."""
    from corolla.sim.models.ternary import ternary_dot

    return ternary_dot(a, codes, wn, wp, act_width=act_width, acc_width=acc_width)


def binary_forgets_bias(a_bits, w_bits, alpha, bias, *, acc_width):
    """The binary model with the bias left out."""
    from corolla.sim.models.binary import binary_dot

    return binary_dot(a_bits, w_bits, alpha, 0, acc_width=acc_width)


def lns_add_truncates(fmt, a, b):
    """The LNS adder model with the Gaussian-log correction dropped for equal signs."""
    import numpy as np

    from corolla.sim.models.lns import lns_add

    out = lns_add(fmt, a, b)
    sa, la, za = fmt.unpack(a)
    sb, lb, zb = fmt.unpack(b)
    plain = fmt.pack(sa, np.maximum(la, lb))
    return np.where((sa == sb) & ~za & ~zb & (np.abs(la - lb) > 3), plain, out)


def lns_dot_without_compensation(fmt, a, w, *, mode, acc_width, acc_frac, antilog_bits):
    """The LNS MAC model summing plainly when asked for Kahan compensation."""
    from corolla.sim.models.lns import lns_dot

    return lns_dot(fmt, a, w, mode="log" if mode == "kahan" else mode, acc_width=acc_width,
                   acc_frac=acc_frac, antilog_bits=antilog_bits)


def eie_spmv_rows_off_by_one(matrix, codebook, activations, **kwargs):
    """The EIE model with every relative index read as ``z`` instead of ``z + 1`` after the
    first entry of a column (products land in the wrong rows)."""
    from dataclasses import replace

    import numpy as np

    from corolla.sim.models.sparse import eie_spmv

    z = tuple(np.where(np.asarray(zp) > 0, np.asarray(zp) - 1, zp) for zp in matrix.z)
    return eie_spmv(replace(matrix, z=z), codebook, activations, **kwargs)


def eie_spmv_drops_last_broadcast(matrix, codebook, activations, **kwargs):
    """The EIE model that drops the last non-zero activation (one broadcast lost)."""
    import numpy as np

    from corolla.sim.models.sparse import eie_spmv

    a = np.array(activations, dtype=np.int64)
    nz = np.flatnonzero(a)
    if nz.size:
        a[nz[-1]] = 0
    return eie_spmv(matrix, codebook, a, **kwargs)


def eie_spmv_code_order_swapped(matrix, codebook, activations, **kwargs):
    """The EIE model decoding Huffman codes with the first two ``v`` values of the code order
    swapped (the decoder's table read wrong)."""
    from dataclasses import replace

    import numpy as np

    from corolla.sim.models.sparse import eie_spmv

    symbols = np.array(matrix.symbols)
    symbols[1, [0, 1]] = symbols[1, [1, 0]]
    return eie_spmv(replace(matrix, symbols=symbols), codebook, activations, **kwargs)


def array_gemm_drops_last_k(kind, a, b):
    """The array's GEMM model without the final beat of every dot product."""
    import numpy as np

    from corolla.sim.models.array import array_gemm

    a, b = np.asarray(a), np.asarray(b)
    if a.shape[1] == 1:
        return array_gemm(kind, a, b) * 0
    return array_gemm(kind, a[:, :-1], b[:-1])


def array_gemm_swaps_signs(kind, a, b):
    """The array's GEMM model with the two ternary fields (or the sign of values) swapped."""
    from corolla.sim.models.array import array_gemm

    y = array_gemm(kind, a, b)
    return y[..., ::-1] if y.shape[-1] == 2 else -y


def uart_line_msb_first(frames, divisor):
    """The UART line model with the data bits sent MSB first."""
    from corolla.sim.models.uart import uart_line

    flipped = [(idle, int(f"{byte:08b}"[::-1], 2), stop) for idle, byte, stop in frames]
    return uart_line(flipped, divisor)


def ram_ignores_byte_enables(ops, *, width, depth):
    """The RAM model writing whole words whatever the byte enables say."""
    from corolla.sim.models.ram import ram_reference

    whole = (1 << (width // 8)) - 1
    return ram_reference([(a, d, whole if we else 0, re) for a, d, we, re in ops],
                         width=width, depth=depth)


def layer_golden_without_bias(prog, index, layer, x, acc_width):
    """A layer kind's golden model that forgets the bias."""
    import dataclasses

    import numpy as np

    from corolla.layers import layer_kind

    if hasattr(layer, "inner"):                       # a convolution: its kernel matrix's
        no_bias = dataclasses.replace(layer, inner=dataclasses.replace(
            layer.inner, bias=np.zeros_like(layer.bias)))
    else:
        no_bias = dataclasses.replace(layer, bias=np.zeros_like(layer.bias))
    return layer_kind(prog.kinds[index]).golden(prog, index, no_bias, x, acc_width)


def burst_bytes_reversed(words):
    """The burst model taking each word's bytes in the wrong order."""
    out = bytearray()
    for data, count in words:
        out += int(data).to_bytes(64, "little")[:count][::-1]
    return bytes(out)


def pack_bytes_never_flushes(arrivals, *, width, idle):
    """The packing model that only sends full words."""
    from corolla.sim.models.burst import pack_bytes

    return pack_bytes(arrivals, width=width, idle=10**9)


def winograd_golden_transposed_bt(prog, index, layer, x, acc_width):
    """The Winograd layer golden with ``B`` in place of ``Bᵀ`` in the input transform."""
    import corolla.sim.models.winograd as model
    from corolla.layers import LAYER_KINDS

    saved = model.BT
    model.BT = saved.T.copy()
    try:
        return LAYER_KINDS["winograd"].golden(prog, index, layer, x, acc_width)
    finally:
        model.BT = saved
