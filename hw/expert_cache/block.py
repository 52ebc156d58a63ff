"""Registers the expert cache with the block registry."""

from ..registry import register
from .params import ExpertCacheParams

__all__ = ["EXPERT_CACHE"]

EXPERT_CACHE = register(
    "expert_cache",
    ExpertCacheParams,
    "moetile.hw.expert_cache.cache:ExpertCache",
    defaults=[ExpertCacheParams()],
    summary="expert cache: (layer, expert) tags of the engine's slots, LRU or LFU",
    golden="moetile.sw.golden.expert_cache:ExpertCacheModel",
    testbench="moetile.sim.testbenches.tb_expert_cache",
    proofs="moetile.sim.formal.blocks.expert_cache",
    benchmark="moetile.app.bench.generate",
)
