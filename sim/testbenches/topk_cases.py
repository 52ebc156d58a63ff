"""Top-k stimulus: edge cases and random score vectors, paired with the golden result."""

import random

import torch

from moetile.hw.topk import TopKParams
from moetile.sw.golden.topk import top_k

__all__ = ["decode_top", "edge_vectors", "random_vectors", "topk_items"]


def edge_vectors(params: TopKParams) -> list[list[int]]:
    """All equal (at zero and both extremes), ascending, descending, a lone maximum in the last
    slot, a lone minimum, and alternating extremes."""
    lo, hi = params.score_range
    n = params.n
    ramp = [lo + (j * (hi - lo)) // max(1, n - 1) for j in range(n)]
    return [
        [0] * n,
        [lo] * n,
        [hi] * n,
        ramp,
        ramp[::-1],
        [lo] * (n - 1) + [hi],
        [hi] * (n - 1) + [lo],
        [hi if j % 2 else lo for j in range(n)],
    ]


def random_vectors(params: TopKParams, rng: random.Random, count: int) -> list[list[int]]:
    """Half over the full range, half over a narrow range so that ties are common."""
    lo, hi = params.score_range
    narrow = (max(lo, -2), min(hi, 2))
    return [
        [rng.randint(*(narrow if c % 2 else (lo, hi))) for _ in range(params.n)]
        for c in range(count)
    ]


def topk_items(params: TopKParams, vectors) -> list[tuple[dict, tuple]]:
    """``(input payload, expected ((index, score), ...))`` for each score vector."""
    indices, scores = top_k(params, torch.tensor(vectors, dtype=torch.int64))
    return [
        ({"scores": list(v)}, tuple(zip(ix.tolist(), sc.tolist(), strict=True)))
        for v, ix, sc in zip(vectors, indices, scores, strict=True)
    ]


def decode_top(payload) -> tuple:
    """An output payload (a ``data.Const`` view) as ``((index, score), ...)``."""
    return tuple((pair.index, pair.score) for pair in payload.top)
