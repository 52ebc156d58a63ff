"""Parameters of the expert cache, and its cycle model."""

from dataclasses import dataclass

from ..checks import check_bool, check_choice, check_int

__all__ = ["ALLOCATIONS", "CACHE_POLICIES", "ExpertCacheParams"]

#: ``lru``: the slot whose expert was used longest ago goes first; ``lfu``: the slot whose
#: expert was used the fewest times since it was filled. Either way a free slot goes before
#: any, and ties go to the lower slot.
CACHE_POLICIES = ("lru", "lfu")

#: How the slots are given out before a run (by configuration writes): ``shared``, every slot
#: free to any layer's experts; ``shallow``, slots owned by layers, more for the shallow ones
#: (Fate's shallow-favoring expert caching).
ALLOCATIONS = ("shared", "shallow")


@dataclass(frozen=True)
class ExpertCacheParams:
    """Expert cache parameters.

    Parameters
    ----------
    slots : int
        Expert slots, ``1 ..= 256``.
    layers : int
        Layers whose experts the tags tell apart, ``1 ..= 256``.
    experts : int
        Experts a layer has (shared experts included), ``1 ..= 1024``.
    policy : str
        Replacement, one of :data:`CACHE_POLICIES`.
    usage_width : int
        Bits of a slot's usage: its age in lookups (LRU) or its use count (LFU), both
        saturating, ``2 ..= 32``.
    prefetch : bool
        Take prefetch requests (``i_prefetch``) besides the lookups, and count each slot's
        fetches in flight (they may land in any order).
    """

    slots: int = 8
    layers: int = 4
    experts: int = 8
    policy: str = "lru"
    usage_width: int = 16
    prefetch: bool = False

    def __post_init__(self):
        check_int("slots", self.slots, minimum=1, maximum=256)
        check_int("layers", self.layers, minimum=1, maximum=256)
        check_int("experts", self.experts, minimum=1, maximum=1024)
        check_choice("policy", self.policy, CACHE_POLICIES)
        check_int("usage_width", self.usage_width, minimum=2, maximum=32)
        check_bool("prefetch", self.prefetch)

    @property
    def slot_width(self) -> int:
        return max(1, (self.slots - 1).bit_length())

    @property
    def layer_width(self) -> int:
        return max(1, (self.layers - 1).bit_length())

    @property
    def expert_width(self) -> int:
        return max(1, (self.experts - 1).bit_length())

    @property
    def entry_fields(self) -> dict[str, int]:
        """A slot's configuration entry, field by field (bits), from bit 0 up."""
        return {
            "valid": 1,
            "pinned": 1,
            "shared": 1,
            "owner": self.layer_width,
            "layer": self.layer_width,
            "expert": self.expert_width,
        }

    @property
    def entry_width(self) -> int:
        return sum(self.entry_fields.values())

    @property
    def usage_max(self) -> int:
        return (1 << self.usage_width) - 1

    @property
    def queue_depth(self) -> int:
        """Fetches in flight at most (with ``prefetch``): one a slot."""
        return self.slots

    #: Cycles from a lookup's transfer to its result on a hit: the tags compared, the result.
    HIT_LATENCY = 2

    @property
    def miss_latency(self) -> int:
        """Cycles from a lookup's transfer to its result on a miss: the tags compared, one
        slot a cycle scanned for the victim, the victim filled, the result."""
        return self.HIT_LATENCY + self.slots + 1
