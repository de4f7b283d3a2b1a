"""The EIE compressed-weight engine: sparse matrix × sparse vector on P processing elements."""

from .engine import EieEngine, EieParams, EiePe, LoadTarget

__all__ = ["EieEngine", "EieParams", "EiePe", "LoadTarget"]
