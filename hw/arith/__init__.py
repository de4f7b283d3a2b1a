"""Arithmetic processing elements, one number format per module."""

from .binary import BinaryDot
from .mac import Mac
from .requant import Requant
from .ternary import TernaryMac

__all__ = ["BinaryDot", "Mac", "Requant", "TernaryMac"]
