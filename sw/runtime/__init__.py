"""The runtime: quantize real MoE layers for an engine, map them, run them on a backend."""

__all__ = []
