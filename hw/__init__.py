"""Corolla gateware: Amaranth components only, no host or board code."""
