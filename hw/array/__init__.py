"""The dense PE array: an output-stationary systolic array with pluggable PE kinds."""

from .pe import (
    PE_KINDS,
    BinaryKind,
    Int8Kind,
    LnsKind,
    ProcessingElement,
    TernaryKind,
    pe_kind,
    pe_signature,
)
from .systolic import SystolicArray, operand_layout, result_layout

__all__ = [
    "PE_KINDS",
    "BinaryKind",
    "Int8Kind",
    "LnsKind",
    "ProcessingElement",
    "SystolicArray",
    "TernaryKind",
    "operand_layout",
    "pe_kind",
    "pe_signature",
    "result_layout",
]
