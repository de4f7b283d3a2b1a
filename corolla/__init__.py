"""Corolla: FPGA inference accelerators for compressed and low-precision neural networks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("corolla")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
