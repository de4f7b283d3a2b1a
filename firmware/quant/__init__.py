"""Quantizers: float weights and activations -> the integer codes the hardware consumes."""

from .binary import BinaryWeights, binarize_activations, pack_words, xnor_binarize
from .dfp import DfpTensor, choose_frac_bits, quantize_dfp
from .lns import LnsTensor, quantize_lns
from .ternary import TernaryWeights, ttq, twn

__all__ = [
    "BinaryWeights",
    "DfpTensor",
    "LnsTensor",
    "TernaryWeights",
    "binarize_activations",
    "choose_frac_bits",
    "pack_words",
    "quantize_dfp",
    "quantize_lns",
    "ttq",
    "twn",
    "xnor_binarize",
]
