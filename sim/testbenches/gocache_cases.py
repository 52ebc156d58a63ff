"""Expert-choice router stimulus: gate rows and token sequences (random, tied, extreme), cut
into the stream payloads, with the golden updates."""

import numpy as np
import torch

from moetile.hw.gocache import GOCacheParams
from moetile.sw.golden.gemv import gemv
from moetile.sw.golden.gocache import GOCacheTrace, gocache

from .gemv_cases import chunked

__all__ = [
    "KINDS",
    "expected_updates",
    "same_updates",
    "sequence_tokens",
    "token_chunks",
    "weight_chunks",
]

#: Stimulus kinds: ``random`` int8; ``ties``, tokens drawn from four vectors against gate rows
#: of a few values, so equal scores recur; ``extreme``, every value an end of its range.
KINDS = ("random", "ties", "extreme")


def sequence_tokens(params: GOCacheParams, rng: np.random.Generator, kind: str, n: int):
    """``(weights (experts, hidden), vectors (n, hidden))`` of stimulus ``kind``."""
    lo, hi = params.gate.value_range
    shape = (params.experts, params.hidden)
    if kind == "random":
        return rng.integers(lo, hi + 1, size=shape), rng.integers(lo, hi + 1, size=(n, shape[1]))
    if kind == "ties":
        weights = rng.integers(-1, 2, size=shape)
        pool = rng.integers(-2, 3, size=(4, params.hidden))
        return weights, pool[rng.integers(0, len(pool), size=n)]
    if kind == "extreme":
        return rng.choice([lo, hi], size=shape), rng.choice([lo, 0, hi], size=(n, shape[1]))
    raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")


def weight_chunks(params: GOCacheParams, weights) -> dict:
    """The gate rows as ``i_w`` payloads."""
    return {"v": chunked(params.gate, weights)}


def token_chunks(params: GOCacheParams, vectors, starts) -> dict:
    """Tokens as ``i_x`` payloads: each vector in chunks, ``start`` on its first chunk."""
    chunks = params.gate.chunks
    first = np.zeros((len(vectors), chunks), dtype=np.int64)
    first[:, 0] = np.asarray(starts, dtype=np.int64)
    return {"v": chunked(params.gate, vectors), "start": first.reshape(-1)}


def expected_updates(params: GOCacheParams, weights, vectors, starts):
    """``(scores (n, experts), golden updates)``."""
    scores = gemv(params.gate, torch.as_tensor(weights), torch.as_tensor(vectors))
    return scores, gocache(params, scores, torch.as_tensor(starts))


def same_updates(trace: GOCacheTrace, scores, got: dict) -> str | None:
    """``None`` if the unpacked ``o`` payloads ``got`` equal the golden, else what differs
    first."""
    experts = trace.take.shape[1]
    bits = 1 << np.arange(experts)
    fields = {
        "token": (got["token"], trace.token.numpy()),
        "scores": (got["scores"], scores.numpy()),
        "take": (got["take"], trace.take.numpy().astype(np.int64) @ bits),
        "evict": (got["evict"], trace.evict.numpy().astype(np.int64) @ bits),
        "evicted": (got["evicted"], trace.evicted.numpy()),
    }
    for name, (actual, expected) in fields.items():
        actual = np.asarray(actual, dtype=np.int64).reshape(np.shape(expected))
        if not np.array_equal(actual, expected):
            rows = np.nonzero((actual != expected).reshape(len(expected), -1).any(axis=1))[0]
            t = int(rows[0])
            return f"token {t}: {name} is {actual[t].tolist()}, golden {expected[t].tolist()}"
    return None
