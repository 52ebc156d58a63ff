"""The runtime: quantize real MoE layers for an engine, map them, run them on a backend (the
golden here; the simulators in :mod:`moetile.app.cosim.backends`)."""

__all__ = []
