"""Quantizers that turn float weights into the integer formats of the hardware blocks."""

__all__ = []
