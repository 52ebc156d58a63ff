"""The expert cache: a tag table mapping (layer, expert) to the slot of the engine's banks that
holds the expert, with LRU or LFU replacement, per-layer slot quotas and pinned experts; a miss
names the slot to fill and asks for the expert's weights.

Importing this package pulls in only :class:`ExpertCacheParams`; the component is in
:mod:`moetile.hw.expert_cache.cache`.
"""

from .params import ALLOCATIONS, CACHE_POLICIES, ExpertCacheParams

__all__ = ["ALLOCATIONS", "CACHE_POLICIES", "ExpertCacheParams"]
