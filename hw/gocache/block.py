"""Registers the expert-choice router with the GO cache with the block registry."""

from ..registry import register
from .params import GOCacheParams

__all__ = ["GOCACHE"]

GOCACHE = register(
    "gocache",
    GOCacheParams,
    "moetile.hw.gocache.router:ExpertChoiceRouter",
    defaults=[GOCacheParams()],
    summary="expert-choice router with the gate-output (GO) cache",
    golden="moetile.sw.golden.gocache:gocache",
    testbench="moetile.sim.testbenches.tb_gocache",
    proofs="moetile.sim.formal.blocks.gocache",
    benchmark="moetile.app.bench.gocache",
)
