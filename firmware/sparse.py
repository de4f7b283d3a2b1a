"""Host side of the EIE engine: memory images and run descriptors for encoded layers.

:func:`plan_layers` places several encoded layers side by side in the engine's memories (one
codebook slot each; entries, column pointers and biases one after another) and
:func:`load_words` turns one placed layer into the ``load`` writes of
:class:`corolla.hw.sparse.EieEngine`: ``(target, pe, addr, data)`` tuples with
``target`` the :class:`~corolla.params.EieTarget` value. Column pointers are written as
absolute entry addresses (the encoding's pointers plus the layer's entry base). Everything
is checked against the engine's sizes first, and errors name the layer, the field, the value
and the limit.

For an engine with Huffman-coded entries (``params.huffman``) :func:`plan_layers` codes each
layer (:func:`~corolla.firmware.compress.csc.eie_huffman`: a ``z`` code and a ``v`` code per
layer), places the coded words instead of the entries, and :func:`load_words` adds the
decoders' symbol and limit tables to the layer's codebook slot; column pointers are then
absolute bit addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corolla.firmware.compress.csc import eie_huffman
from corolla.formats import eie_entry_pack
from corolla.params import CODE_WORD, EieTarget
from corolla.sim.models.sparse import CodedMatrix, EieMatrix

__all__ = ["EieImageError", "PlacedLayer", "layer_descriptor", "load_words", "plan_layers",
           "stored_words"]

ENTRY, POINTER, CODEBOOK, BIAS, SYMBOLS, LIMITS = EieTarget


class EieImageError(ValueError):
    """A layer does not fit the engine or its values do not fit the engine's widths."""


@dataclass(frozen=True)
class PlacedLayer:
    """One encoded layer and where it lives in the engine's memories.

    Attributes
    ----------
    matrix : EieMatrix or CodedMatrix
        The encoding (its pointers are relative to ``entry_base``; a coded matrix's are bit
        addresses relative to word ``entry_base``).
    codebook : numpy.ndarray of int64
        Signed fixed-point weights, entry 0 = 0, at most ``2**v_bits`` entries.
    bias : numpy.ndarray of int64, shape (M,)
        Bias at the product scale.
    shift : int
        Requantizer right shift.
    relu : bool
        Clamp negative outputs to zero.
    entry_base, ptr_base, bias_base, codebook_slot : int
        Where the layer's entries (same base on every PE; coded words for a coded matrix),
        column pointers, biases and codebook are.
    """

    matrix: EieMatrix
    codebook: np.ndarray
    bias: np.ndarray
    shift: int
    relu: bool
    entry_base: int = 0
    ptr_base: int = 0
    bias_base: int = 0
    codebook_slot: int = 0


def _fits_signed(values, width) -> bool:
    values = np.asarray(values, dtype=np.int64)
    return bool(np.all((values >= -(1 << (width - 1))) & (values < (1 << (width - 1)))))


def stored_words(matrix) -> np.ndarray:
    """Entry words each PE stores: entries, or 16-bit coded words for a coded matrix."""
    if isinstance(matrix, CodedMatrix):
        return -(-matrix.bits_per_pe // CODE_WORD)
    return matrix.entries_per_pe


def _check_layer(name: str, layer: PlacedLayer, params) -> None:
    mat = layer.matrix
    coded = isinstance(mat, CodedMatrix)
    if coded != params.huffman:
        raise EieImageError(f"{name}: entries are {'coded' if coded else 'plain'}; the engine "
                            f"takes {'Huffman-coded' if params.huffman else 'plain'} entries")
    used = int(stored_words(mat).max(initial=0))
    depth, what = ((params.code_depth, "code_depth = {} coded words") if coded
                   else (params.entry_depth, "entry_depth = {} entries"))
    checks = [
        ("pes", mat.pes, mat.pes == params.pes, f"the engine's {params.pes} PEs"),
        ("z_bits", mat.z_bits, mat.z_bits == params.z_bits, f"{params.z_bits}"),
        ("v_bits", mat.v_bits, mat.v_bits == params.v_bits, f"{params.v_bits}"),
        ("rows", mat.rows, 1 <= mat.rows <= params.max_rows, f"1 to {params.max_rows}"),
        ("cols", mat.cols, mat.cols >= 1, "at least 1"),
        ("shift", layer.shift, 0 <= layer.shift < params.acc_width,
         f"0 to {params.acc_width - 1}"),
        ("codebook_slot", layer.codebook_slot, 0 <= layer.codebook_slot < params.codebooks,
         f"0 to {params.codebooks - 1}"),
        ("entries", f"{layer.entry_base} + {used}",
         layer.entry_base >= 0 and layer.entry_base + used <= depth,
         f"at most {what.format(depth)} per PE"),
        ("column pointers", f"{layer.ptr_base} + {mat.cols + 1}",
         layer.ptr_base >= 0 and layer.ptr_base + mat.cols + 1 <= params.ptr_depth,
         f"at most ptr_depth = {params.ptr_depth}"),
        ("biases", f"{layer.bias_base} + {mat.rows}",
         layer.bias_base >= 0 and layer.bias_base + mat.rows <= params.bias_depth,
         f"at most bias_depth = {params.bias_depth}"),
    ]
    for field, value, ok, expected in checks:
        if not ok:
            raise EieImageError(f"{name}: {field} is {value}; expected {expected}")
    cb = np.asarray(layer.codebook, dtype=np.int64)
    if cb.ndim != 1 or not 1 <= len(cb) <= 1 << params.v_bits or cb[0] != 0:
        raise EieImageError(f"{name}: codebook {cb.tolist()}; expected 1 to "
                            f"{1 << params.v_bits} entries with entry 0 = 0")
    if not _fits_signed(cb, params.weight_width):
        raise EieImageError(f"{name}: codebook values {cb.min()}..{cb.max()} do not fit "
                            f"{params.weight_width}-bit signed weights")
    bias = np.asarray(layer.bias, dtype=np.int64)
    if bias.shape != (mat.rows,):
        raise EieImageError(f"{name}: bias has shape {bias.shape}; expected ({mat.rows},)")
    if not _fits_signed(bias, params.acc_width):
        raise EieImageError(f"{name}: bias values {bias.min()}..{bias.max()} do not fit the "
                            f"{params.acc_width}-bit accumulator")
    if coded and mat.code_length != params.code_length:
        raise EieImageError(f"{name}: codes of up to {mat.code_length} bits; expected the "
                            f"engine's code_length = {params.code_length}")


def plan_layers(layers, params) -> list[PlacedLayer]:
    """Place layers one after another in the engine's memories.

    Parameters
    ----------
    layers : iterable of (EieMatrix, codebook, bias, shift, relu)
    params : corolla.hw.sparse.EieParams

    Raises
    ------
    EieImageError
        A layer does not match the engine (PEs, field widths), the layers together need more
        memory than it has, or a value does not fit its width. The message names the layer
        and the field.
    """
    placed = []
    entry_base = ptr_base = bias_base = 0
    for k, (matrix, codebook, bias, shift, relu) in enumerate(layers):
        if params.huffman and isinstance(matrix, EieMatrix):
            matrix = eie_huffman(matrix, params.code_length)
        layer = PlacedLayer(matrix=matrix, codebook=np.asarray(codebook, dtype=np.int64),
                            bias=np.asarray(bias, dtype=np.int64), shift=int(shift),
                            relu=bool(relu), entry_base=entry_base, ptr_base=ptr_base,
                            bias_base=bias_base, codebook_slot=k)
        _check_layer(f"layer {k}", layer, params)
        placed.append(layer)
        entry_base += int(stored_words(matrix).max(initial=0))
        ptr_base += matrix.cols + 1
        bias_base += matrix.rows
    return placed


def load_words(layer: PlacedLayer, params) -> list[tuple[int, int, int, int]]:
    """The engine's ``load`` writes for one placed layer: ``(target, pe, addr, data)``.

    Entry words are ``v << z_bits | z`` (or the coded words); codebook entries past the
    layer's codebook are written as 0; codebook and bias values are two's complement in their
    widths.
    """
    _check_layer("layer", layer, params)
    mat = layer.matrix
    words = []
    coded = isinstance(mat, CodedMatrix)
    for p in range(mat.pes):
        if coded:
            packed, base = mat.words[p], layer.entry_base * CODE_WORD
        else:
            packed = eie_entry_pack(mat.z[p], mat.v[p], z_bits=mat.z_bits, v_bits=mat.v_bits)
            base = layer.entry_base
        for i, word in enumerate(packed):
            words.append((ENTRY, p, layer.entry_base + i, int(word)))
        for j, ptr in enumerate(mat.ptr[p]):
            words.append((POINTER, p, layer.ptr_base + j, base + int(ptr)))
    if coded:
        slot, size, sb = layer.codebook_slot, params.code_length, params.symbol_bits
        for field in range(2):
            for k, symbol in enumerate(mat.symbols[field]):
                words.append((SYMBOLS, 0, slot << (sb + 1) | field << sb | k, int(symbol)))
            base_mask = (1 << (size + 2)) - 1
            for n, (limit, base) in enumerate(zip(mat.limits[field], mat.bases[field],
                                                  strict=True)):
                words.append((LIMITS, 0, slot << 4 | field << 3 | n,
                              int(limit) | (int(base) & base_mask) << (size + 1)))
    cb = np.zeros(1 << params.v_bits, dtype=np.int64)
    cb[:len(layer.codebook)] = layer.codebook
    w_mask = (1 << params.weight_width) - 1
    for k, value in enumerate(cb):
        words.append((CODEBOOK, 0, (layer.codebook_slot << params.v_bits) | k,
                      int(value) & w_mask))
    a_mask = (1 << params.acc_width) - 1
    for i, value in enumerate(layer.bias):
        words.append((BIAS, 0, layer.bias_base + i, int(value) & a_mask))
    return words


def layer_descriptor(layer: PlacedLayer) -> dict:
    """The engine's ``layer`` fields for a run of ``layer``."""
    return {"rows": layer.matrix.rows, "cols": layer.matrix.cols, "ptr_base": layer.ptr_base,
            "bias_base": layer.bias_base, "codebook": layer.codebook_slot,
            "shift": layer.shift, "relu": int(layer.relu)}
