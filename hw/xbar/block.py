"""Registers the multiplexed-crossbar tile (shared and unshared) with the block registry."""

from ..registry import register
from .params import TileParams

__all__ = ["XBAR"]

XBAR = register(
    "xbar",
    TileParams,
    "moetile.hw.xbar.tile:XbarTile",
    defaults=[TileParams(crossbars_per_group=1, groups=4), TileParams(crossbars_per_group=2)],
)
