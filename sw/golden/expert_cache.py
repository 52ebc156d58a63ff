"""Golden expert cache: the replacement policy, lookup by lookup, written from its definition
(ages or use counts per slot, a free slot first, ties to the lower slot), independent of the
RTL's scan."""

from dataclasses import dataclass, field

from moetile.hw.expert_cache import ExpertCacheParams

__all__ = ["CacheEntry", "ExpertCacheModel", "Lookup"]


@dataclass
class CacheEntry:
    """A slot: its tag, who may fill it, and its usage (age or use count)."""

    valid: bool = False
    pinned: bool = False
    shared: bool = True
    owner: int = 0
    layer: int = 0
    expert: int = 0
    usage: int = 0


@dataclass(frozen=True)
class Lookup:
    """A lookup's answer: ``hit`` and ``slot``; on a miss, the slot filled, or ``refused``."""

    hit: bool
    refused: bool
    slot: int


@dataclass
class ExpertCacheModel:
    """The expert cache of ``params``: :meth:`configure` writes a slot, :meth:`lookup` answers a
    lookup and, on a miss, fills a slot (``fetches`` lists the requests, in order)."""

    params: ExpertCacheParams
    entries: list[CacheEntry] = field(default_factory=list)
    fetches: list[tuple[int, int, int]] = field(default_factory=list)

    def __post_init__(self):
        if not self.entries:
            self.entries = [CacheEntry() for _ in range(self.params.slots)]

    def configure(self, slot: int, **entry) -> None:
        """Write slot ``slot``'s entry (fields of :class:`CacheEntry`); its usage restarts."""
        self.entries[slot] = CacheEntry(**{**entry, "usage": 0})

    def lookup(self, layer: int, expert: int) -> Lookup:
        for slot, e in enumerate(self.entries):
            if e.valid and e.layer == layer and e.expert == expert:
                self._use(slot, filled=False)
                return Lookup(True, False, slot)
        victim = self._victim(layer)
        if victim is None:
            return Lookup(False, True, 0)
        e = self.entries[victim]
        e.valid, e.layer, e.expert = True, layer, expert
        self._use(victim, filled=True)
        self.fetches.append((layer, expert, victim))
        return Lookup(False, False, victim)

    def _victim(self, layer: int) -> int | None:
        """The slot a miss of ``layer`` fills: free before used, then the oldest (``lru``) or
        least used (``lfu``), the lower slot on a tie; never a pinned slot or one another
        layer owns."""
        candidates = [
            slot
            for slot, e in enumerate(self.entries)
            if not e.pinned and (e.shared or e.owner == layer)
        ]
        if not candidates:
            return None
        free = [slot for slot in candidates if not self.entries[slot].valid]
        if free:
            return free[0]
        if self.params.policy == "lru":
            return min(candidates, key=lambda slot: (-self.entries[slot].usage, slot))
        return min(candidates, key=lambda slot: (self.entries[slot].usage, slot))

    def _use(self, slot: int, filled: bool) -> None:
        top = self.params.usage_max
        if self.params.policy == "lru":
            for other, e in enumerate(self.entries):
                e.usage = 0 if other == slot else min(e.usage + 1, top)
        else:
            e = self.entries[slot]
            e.usage = 1 if filled else min(e.usage + 1, top)
