"""Registers the multiplexed-crossbar tile (shared and unshared) with the block registry."""

from ..registry import register
from .params import TileParams

__all__ = ["XBAR"]

XBAR = register(
    "xbar",
    TileParams,
    "moetile.hw.xbar.tile:XbarTile",
    defaults=[
        TileParams(rows=8, cols=4, crossbars_per_group=1, groups=4),
        TileParams(rows=8, cols=4, crossbars_per_group=2, groups=2),
    ],
    summary="multiplexed-crossbar tile, shared and unshared",
    golden="moetile.sw.golden.xbar:tile_slots",
    testbench="moetile.sim.testbenches.tb_xbar",
    proofs="moetile.sim.formal.blocks.xbar",
    benchmark="moetile.app.bench.xbar",
)
