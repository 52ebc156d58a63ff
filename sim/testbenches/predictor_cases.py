"""Expert predictor stimulus: int8 weights (random, extreme, or a trained predictor's),
states, requantization pairs, cut into stream payloads."""

import numpy as np

from moetile.hw.predictor import PredictorParams

from .gemv_cases import chunked

__all__ = ["KINDS", "predictor_case", "state_chunks", "weight_chunks"]

#: ``random`` int8 everywhere; ``extreme``, every value an end of its range and a shift that
#: saturates the middle vector; ``small``, values in ``[-2, 2]`` (ties among the logits);
#: ``trained``, a predictor trained (briefly) on a random linear router and quantized.
KINDS = ("random", "extreme", "small", "trained")


def predictor_case(params: PredictorParams, rng: np.random.Generator, kind: str, n: int):
    """``(w1, w2, multiplier, shift, states)`` of stimulus ``kind``."""
    p = params
    if kind == "random":
        values = lambda shape: rng.integers(-128, 128, size=shape)  # noqa: E731
        multiplier = int(rng.integers(1 << (p.multiplier_width - 1), 1 << p.multiplier_width))
        shift = int(rng.integers(min(p.max_shift, p.multiplier_width), p.max_shift + 1))
    elif kind == "extreme":
        values = lambda shape: rng.choice([-128, 127], size=shape)  # noqa: E731
        multiplier, shift = (1 << p.multiplier_width) - 1, 0
    elif kind == "small":
        values = lambda shape: rng.integers(-2, 3, size=shape)  # noqa: E731
        multiplier, shift = 1, 0
    elif kind == "trained":
        return _trained(params, int(rng.integers(1 << 31)), n)
    else:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return (
        values((p.rank, p.hidden)),
        values((p.experts, p.rank)),
        multiplier,
        shift,
        values((n, p.hidden)),
    )


def weight_chunks(params: PredictorParams, w1, w2) -> dict:
    """``W1``'s rows then ``W2``'s, as ``i_w`` payloads."""
    first = chunked(params.project, w1)
    second = np.zeros((params.score.weight_transfers, params.macs), dtype=np.int64)
    second[:, : params.score.macs] = chunked(params.score, w2)
    matrix = np.r_[np.zeros(len(first), np.int64), np.ones(len(second), np.int64)]
    return {"matrix": matrix, "v": np.vstack([first, second])}


def state_chunks(params: PredictorParams, states) -> dict:
    return {"v": chunked(params.project, states)}


def _trained(params: PredictorParams, seed: int, n: int):
    """A predictor trained on 512 states routed by a random linear router, then ``n`` more
    states, all quantized as ``moetile predictor train`` does."""
    import torch

    from moetile.sw.predictor.model import train_predictor
    from moetile.sw.predictor.quantize import quantize_predictor

    p, generator = params, torch.Generator().manual_seed(seed)
    states = torch.randn(n + 512, p.hidden, generator=generator)
    router = torch.randn(p.experts, p.hidden, generator=generator)
    top_k = torch.topk(states @ router.T, p.k).indices
    model = train_predictor(
        states[n:], top_k[n:], p.experts, rank=p.rank, loss="pairwise", steps=50, seed=seed
    )
    q = quantize_predictor(model, states[n:], p, "the trained case")
    return q.w1.numpy(), q.w2.numpy(), q.multiplier, q.shift, q.states(states[:n]).numpy()
