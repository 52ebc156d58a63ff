"""Expert grouping and slot schedules for multiplexed-crossbar tiles.

A *grouping* puts experts into groups whose crossbars share one periphery; a group reads one
crossbar (one expert) per slot. A *schedule* says, slot by slot, which (token, expert) pair
each group serves. Over a token × expert choice matrix, ``load[g, t]`` is the number of
token ``t``'s experts in group ``g``:

- ``single``: token after token; token ``t`` occupies ``max_g load[g, t]`` slots, in which
  each group serves its experts of ``t`` in expert order.
- ``compact``: each group drains its own queue of pairs (token order, then expert order) back
  to back; length ``max_g sum_t load[g, t]``.
- ``aligned``: compact's length, with fewer input transfers. A group may serve its pairs in
  any order and idle while it has slack (slots left beyond its pairs left). Slot by slot, the
  groups without slack must serve; tokens are picked one at a time, each the token held by
  the most groups that must serve and are not yet served, then by the most unserved groups,
  then with the most pairs left in one group (that token needs as many slots anyway), then
  the smallest; every unserved group holding a picked token serves one of its pairs (its
  lowest expert), and the picking stops once every group that must serve does. The longest
  group never has slack, so no slot is empty. :mod:`.xbar_optimum` measures the gap to the
  fewest transfers possible.

Metrics: the length (slots) and the input transfers (distinct tokens per slot, summed).
"""

import heapq
from dataclasses import dataclass

import torch

from moetile.hw.checks import check_choice, check_int

__all__ = [
    "GROUPINGS",
    "SCHEDULES",
    "Schedule",
    "choice_matrix",
    "group_experts",
    "make_schedule",
]

#: Groupings: ``none`` (one expert per periphery, the unshared baseline), uniform groups of
#: consecutive experts ``U2``/``U4``, and load-sorted groups ``S2``/``S4`` (heaviest with
#: lightest).
GROUPINGS = ("none", "U2", "U4", "S2", "S4")
SCHEDULES = ("single", "compact", "aligned")


def choice_matrix(top_k, experts: int) -> torch.Tensor:
    """``(tokens, experts)`` bool from each token's chosen experts ``(tokens, k)``."""
    chosen = torch.as_tensor(top_k, dtype=torch.int64)
    if chosen.dim() != 2:
        raise ValueError(f"top_k must have shape (tokens, k), not {tuple(chosen.shape)}")
    if chosen.numel() and (chosen.min() < 0 or chosen.max() >= experts):
        raise ValueError(f"top_k must name experts in [0, {experts - 1}]")
    choices = torch.zeros(len(chosen), experts, dtype=torch.bool)
    choices.scatter_(1, chosen, True)
    return choices


def group_experts(kind: str, load) -> tuple[tuple[int, ...], ...]:
    """Groups of expert indices for grouping ``kind`` given each expert's ``load`` (tokens
    routed to it; only the ``S`` groupings use it, ties broken by expert index).

    ``U<n>``: experts ``0..n-1``, ``n..2n-1``, ...; ``S<n>`` (``n`` even): experts sorted by
    load, each group takes the ``n/2`` heaviest and the ``n/2`` lightest of those left. When
    ``n`` does not divide the experts, the last group is smaller.
    """
    check_choice("grouping", kind, GROUPINGS)
    loads = [int(v) for v in torch.as_tensor(load).tolist()]
    experts = len(loads)
    check_int("experts", experts, minimum=1)
    if kind == "none":
        return tuple((e,) for e in range(experts))
    size = int(kind[1:])
    if kind[0] == "U":
        return tuple(tuple(range(e, min(e + size, experts))) for e in range(0, experts, size))
    order = sorted(range(experts), key=lambda e: (-loads[e], e))
    groups = []
    while len(order) > size:
        heavy, light = order[: size // 2], order[len(order) - (size - size // 2) :]
        order = order[size // 2 : len(order) - len(light)]
        groups.append(tuple(sorted(heavy + light)))
    if order:
        groups.append(tuple(sorted(order)))
    return tuple(groups)


@dataclass(frozen=True)
class Schedule:
    """Slots of ``{group: (token, expert)}``; ``groups`` the grouping it runs on."""

    kind: str
    groups: tuple[tuple[int, ...], ...]
    slots: tuple[dict, ...]

    @property
    def length(self) -> int:
        return len(self.slots)

    @property
    def transfers(self) -> int:
        """Input vectors sent: the distinct tokens of every slot."""
        return sum(len(slot_tokens(slot)) for slot in self.slots)

    @property
    def pairs(self) -> int:
        return sum(len(slot) for slot in self.slots)

    def crossbar_of(self, expert: int) -> tuple[int, int]:
        """``(group, crossbar within the group)`` holding ``expert``."""
        for g, members in enumerate(self.groups):
            if expert in members:
                return g, members.index(expert)
        raise ValueError(f"expert {expert} is in no group")


def slot_tokens(slot: dict) -> list[int]:
    """A slot's distinct tokens, in order."""
    return sorted({t for t, _ in slot.values()})


def make_schedule(kind: str, choices, groups) -> Schedule:
    """The ``kind`` schedule of choice matrix ``choices`` ``(tokens, experts)`` on ``groups``."""
    check_choice("schedule", kind, SCHEDULES)
    chosen = torch.as_tensor(choices, dtype=torch.bool)
    experts = sorted(e for g in groups for e in g)
    if chosen.dim() != 2 or experts != list(range(chosen.shape[1])):
        raise ValueError(
            f"groups must cover experts 0..{chosen.shape[-1] - 1} once each, not {groups}"
        )
    queues = [
        [(t, e) for t in range(len(chosen)) for e in sorted(g) if chosen[t, e]] for g in groups
    ]
    build = {"single": _single, "compact": _compact, "aligned": _aligned}[kind]
    return Schedule(kind, tuple(tuple(g) for g in groups), tuple(build(queues)))


def _single(queues):
    slots = []
    by_token = [{} for _ in queues]  # per group: token -> its pairs, in order
    for g, queue in enumerate(queues):
        for pair in queue:
            by_token[g].setdefault(pair[0], []).append(pair)
    for t in sorted({t for pairs in by_token for t in pairs}):
        mine = [pairs.get(t, []) for pairs in by_token]
        for i in range(max(len(m) for m in mine)):
            slots.append({g: m[i] for g, m in enumerate(mine) if i < len(m)})
    return slots


def _compact(queues):
    length = max((len(q) for q in queues), default=0)
    return [{g: q[i] for g, q in enumerate(queues) if i < len(q)} for i in range(length)]


def _aligned(queues):
    length = max((len(q) for q in queues), default=0)
    left = [{} for _ in queues]  # per group: token -> its experts not yet served, in order
    for g, queue in enumerate(queues):
        for t, e in queue:
            left[g].setdefault(t, []).append(e)
    remaining = [len(q) for q in queues]
    candidates = _Candidates(left)
    slots = []
    for s in range(length):
        unmet = _mask(g for g, n in enumerate(remaining) if n == length - s)
        slot = {}
        while unmet:
            free = _mask(g for g, n in enumerate(remaining) if n and g not in slot)
            token = candidates.best(free, unmet)
            for g in _members(free):
                if token in left[g]:
                    slot[g] = (token, left[g][token].pop(0))
                    if not left[g][token]:
                        del left[g][token]
                    remaining[g] -= 1
                    unmet &= ~(1 << g)
            candidates.moved(token)
        slots.append(dict(sorted(slot.items())))
    return slots


def _mask(groups) -> int:
    return sum(1 << g for g in groups)


def _members(mask: int) -> list[int]:
    return [g for g in range(mask.bit_length()) if mask >> g & 1]


class _Candidates:
    """The tokens still to serve, for aligned's pick: bucketed by the groups that hold them (a
    mask) and the most pairs they have left in one group, the smallest token first in each
    bucket. A token's bucket only ever moves to smaller masks and counts, so a token found in a
    bucket it has left is dropped there (heaps with lazy deletion)."""

    def __init__(self, left: list[dict]):
        self.left = left
        self.bucket: dict[int, tuple[int, int]] = {}
        self.buckets: dict[tuple[int, int], list[int]] = {}
        for t in sorted({t for pending in left for t in pending}):
            self.moved(t)

    def _key(self, t: int) -> tuple[int, int] | None:
        holders = _mask(g for g, pending in enumerate(self.left) if t in pending)
        if not holders:
            return None
        return holders, max(len(pending.get(t, ())) for pending in self.left)

    def moved(self, t: int) -> None:
        """Re-file token ``t`` after its pairs left changed."""
        key = self._key(t)
        if key is None:
            self.bucket.pop(t, None)
        elif self.bucket.get(t) != key:
            self.bucket[t] = key
            heapq.heappush(self.buckets.setdefault(key, []), t)

    def best(self, free: int, unmet: int) -> int:
        """The token held by the most ``unmet`` groups among the ``free`` ones, then by the most
        free groups, then with the most pairs left in one group, then the smallest."""
        best, found = None, None
        for key, heap in list(self.buckets.items()):
            while heap and self.bucket.get(heap[0]) != key:
                heapq.heappop(heap)
            if not heap:
                del self.buckets[key]
                continue
            holders = key[0] & free
            if holders:
                merit = ((holders & unmet).bit_count(), holders.bit_count(), key[1], -heap[0])
                if best is None or merit > best:
                    best, found = merit, heap[0]
        return found
