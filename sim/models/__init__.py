"""Bit-exact numpy golden models, one module per hardware unit (same names as ``corolla.hw``).

Models import only numpy and :mod:`corolla.formats`, never gateware.
"""
