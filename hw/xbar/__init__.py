"""The multiplexed-crossbar MoE tile (MoE-PIM): crossbars, shared peripheries, schedules."""

from .params import CrossbarParams, TileParams

__all__ = ["CrossbarParams", "TileParams"]
