"""Cost models: area from Yosys, energy from simulated activity times cited per-action tables."""

__all__ = []
