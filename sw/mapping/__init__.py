"""Mapping of model layers onto the hardware blocks: tiling, grouping, schedules, Params."""

__all__ = []
