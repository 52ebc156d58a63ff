"""Golden expert-choice routing for generation: every step recomputed from the whole score
matrix, and what each step changed.

Expert-choice rule (:mod:`moetile.hw.gocache`): after the first ``t + 1`` tokens of a
sequence, expert ``e`` has selected token ``i <= t`` exactly when fewer than ``capacity`` of
those tokens rank above it, where ``j`` ranks above ``i`` if ``s[j, e] > s[i, e]``, or the
scores are equal and ``j < i`` (ties go to the earlier token). Nothing here is incremental:
each step's selection is computed afresh, and the update a step makes is the difference of two
consecutive selections.
"""

from dataclasses import dataclass

import torch

from moetile.hw.checks import signed_range
from moetile.hw.gocache import GOCacheParams

from .fixed import check_integer_tensor

__all__ = ["GOCacheTrace", "expert_choice", "gocache", "positions", "selections"]


def selections(scores, capacity: int) -> torch.Tensor:
    """``selected[t, i, e]``: expert ``e`` holds token ``i`` after the first ``t + 1`` tokens.

    ``scores``: ``(n, E)`` integers of one sequence; returns ``(n, n, E)`` booleans.
    """
    s = torch.as_tensor(scores, dtype=torch.int64)
    n = len(s)
    earlier = torch.arange(n)[:, None] < torch.arange(n)[None, :]
    above = (s[:, None, :] > s[None, :, :]) | (
        (s[:, None, :] == s[None, :, :]) & earlier[:, :, None]
    )
    ranked_above = above.to(torch.int64).cumsum(dim=0)  # [t, i, e]: over tokens j <= t
    present = torch.arange(n)[None, :] <= torch.arange(n)[:, None]
    return present[:, :, None] & (ranked_above < capacity)


def expert_choice(scores, capacity: int) -> list[list[int]]:
    """Each expert's selected tokens of the whole sequence ``scores`` ``(n, E)`` (integers, or
    a float router's logits), best first: the definition, by sorting."""
    s = torch.as_tensor(scores).tolist()
    experts = len(s[0]) if s else 0
    return [
        sorted(range(len(s)), key=lambda i, e=e: (-s[i][e], i))[:capacity] for e in range(experts)
    ]


def positions(params: GOCacheParams, starts) -> torch.Tensor:
    """Each token's position in its sequence: 0 where ``starts`` is set, and where the
    sequence already holds ``params.tokens`` tokens."""
    out, position = [], 0
    for start in torch.as_tensor(starts, dtype=torch.bool).tolist():
        position = 0 if start or position == params.tokens else position
        out.append(position)
        position += 1
    return torch.tensor(out, dtype=torch.int64)


@dataclass(frozen=True)
class GOCacheTrace:
    """What each token changed: ``token`` its position ``(n,)``; ``take``, ``evict``
    ``(n, E)`` booleans; ``evicted`` ``(n, E)`` the dropped token's position (0 where none);
    ``scanned`` ``(n,)`` whether the cache searched for new worst entries after it."""

    token: torch.Tensor
    take: torch.Tensor
    evict: torch.Tensor
    evicted: torch.Tensor
    scanned: torch.Tensor


def gocache(params: GOCacheParams, scores, starts) -> GOCacheTrace:
    """The updates of ``scores`` ``(n, experts)`` (signed ``score_width``-bit integers), a
    sequence beginning wherever ``starts`` ``(n,)`` is set (and after ``params.tokens``
    tokens)."""
    lo, hi = signed_range(params.score_width)
    s = check_integer_tensor("scores", scores, lo=lo, hi=hi)
    if s.ndim != 2 or s.shape[1] != params.experts:
        raise ValueError(f"scores must have shape (n, {params.experts}), not {tuple(s.shape)}")
    if len(torch.as_tensor(starts)) != len(s):
        raise ValueError(f"starts must have one entry per token ({len(s)})")
    token = positions(params, starts)
    n, experts = s.shape
    take = torch.zeros((n, experts), dtype=torch.bool)
    evict = torch.zeros_like(take)
    evicted = torch.zeros((n, experts), dtype=torch.int64)
    bounds = (token == 0).nonzero().flatten().tolist() + [n]
    for first, end in zip(bounds[:-1], bounds[1:], strict=True):
        selected = selections(s[first:end], params.capacity)
        steps = torch.arange(end - first)
        take[first:end] = selected[steps, steps]
        dropped = selected[:-1] & ~selected[1:]  # [t - 1, i, e]: dropped at step t
        evict[first + 1 : end] = dropped.any(dim=1)
        evicted[first + 1 : end] = dropped.to(torch.int64).argmax(dim=1)
    scanned = (token + 1 >= params.capacity) & take.any(dim=1)
    return GOCacheTrace(token, take, evict, evicted, scanned)
