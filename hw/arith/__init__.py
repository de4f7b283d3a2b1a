"""Arithmetic processing elements, one number format per module."""

from .mac import Mac, mac_operand_layout

__all__ = ["Mac", "mac_operand_layout"]
