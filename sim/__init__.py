"""Simulation: the simulator environment, the build cache, cocotb runner, stream drivers and
scoreboards, and Amaranth-simulator helpers."""

__all__ = []
