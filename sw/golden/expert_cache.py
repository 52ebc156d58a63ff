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
    #: A prefetch asked for it; cleared when a batch of its layer ends.
    marked: bool = False


@dataclass(frozen=True)
class Lookup:
    """A lookup's answer: ``hit`` and ``slot``; on a miss, the slot filled, or ``refused``.
    A prefetch's: ``hit`` (present, now marked), else the slot filled, or ``refused``."""

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
        """Write slot ``slot``'s entry (fields of :class:`CacheEntry`); its usage restarts,
        unmarked."""
        self.entries[slot] = CacheEntry(**{**entry, "usage": 0, "marked": False})

    def _present(self, layer: int, expert: int) -> int | None:
        for slot, e in enumerate(self.entries):
            if e.valid and e.layer == layer and e.expert == expert:
                return slot
        return None

    def lookup(self, layer: int, expert: int) -> Lookup:
        slot = self._present(layer, expert)
        if slot is not None:
            self._use(slot, filled=False)
            return Lookup(True, False, slot)
        return self._fill(layer, expert, self._victim(layer, ()))

    def prefetch(self, layer: int, expert: int, keep=()) -> Lookup:
        """A prefetch request: a present expert is marked; a missing one fills a victim that
        is neither marked nor in ``keep`` (the slots the running batch needs), marked; out of
        range, or with no such victim, refused."""
        p = self.params
        if not (0 <= layer < p.layers and 0 <= expert < p.experts):
            return Lookup(False, True, 0)
        slot = self._present(layer, expert)
        if slot is not None:
            self.entries[slot].marked = True
            return Lookup(True, False, slot)
        answer = self._fill(layer, expert, self._victim(layer, set(keep), prefetch=True))
        if not answer.refused:
            self.entries[answer.slot].marked = True
        return answer

    def end_batch(self, layer: int) -> None:
        """A batch of ``layer`` ended: its experts' marks end."""
        for e in self.entries:
            if e.valid and e.layer == layer:
                e.marked = False

    def keep(self, layer: int, experts) -> set[int]:
        """The slots holding ``layer``'s ``experts`` (a batch's needs)."""
        return {
            slot
            for slot, e in enumerate(self.entries)
            if e.valid and e.layer == layer and e.expert in set(experts)
        }

    def _fill(self, layer: int, expert: int, victim: int | None) -> Lookup:
        if victim is None:
            return Lookup(False, True, 0)
        e = self.entries[victim]
        e.valid, e.layer, e.expert = True, layer, expert
        self._use(victim, filled=True)
        self.fetches.append((layer, expert, victim))
        return Lookup(False, False, victim)

    def _victim(self, layer: int, keep, prefetch: bool = False) -> int | None:
        """The slot a miss of ``layer`` fills: free before used, unmarked before marked, then
        the oldest (``lru``) or least used (``lfu``), the lower slot on a tie; never a pinned
        slot or one another layer owns; for a prefetch, never a marked one or one of
        ``keep``."""
        candidates = [
            slot
            for slot, e in enumerate(self.entries)
            if not e.pinned
            and (e.shared or e.owner == layer)
            and not (prefetch and (e.marked or slot in keep))
        ]
        if not candidates:
            return None
        free = [slot for slot in candidates if not self.entries[slot].valid]
        if free:
            return free[0]
        unmarked = [slot for slot in candidates if not self.entries[slot].marked]
        candidates = unmarked or candidates
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
