"""MixPE stimulus: W4A8 GEMM operands, random or at the extremes of every range."""

import random

import torch

from moetile.hw.mixpe import MixPEParams

__all__ = ["KINDS", "gemm_operands"]

#: ``random``: uniform over every range; ``largest``: every product at its most negative
#: (q = 15, z = 0, x = -128) and the largest scale; ``smallest``: q = 0, z = 15, x = -128
#: (the most positive ``(q - z) x``); ``corners``: each value drawn from its range's ends.
KINDS = ("random", "largest", "smallest", "corners")


def gemm_operands(params: MixPEParams, rng: random.Random, kind: str, tokens: int, outputs: int):
    """``(x (tokens, n_inputs), codes (outputs, n_inputs), scales, zeros (outputs, groups))``."""
    k, groups = params.n_inputs, params.groups
    (x_lo, x_hi), (q_lo, q_hi), (s_lo, s_hi) = (
        params.act_range,
        params.code_range,
        params.scale_range,
    )

    def draw(shape, lo, hi):
        count = shape[0] * shape[1]
        if kind == "corners":
            values = [rng.choice((lo, hi)) for _ in range(count)]
        else:
            values = [rng.randint(lo, hi) for _ in range(count)]
        return torch.tensor(values, dtype=torch.int64).reshape(shape)

    if kind == "largest":
        return (
            torch.full((tokens, k), x_lo),
            torch.full((outputs, k), q_hi),
            torch.full((outputs, groups), s_hi),
            torch.full((outputs, groups), q_lo),
        )
    if kind == "smallest":
        return (
            torch.full((tokens, k), x_lo),
            torch.full((outputs, k), q_lo),
            torch.full((outputs, groups), s_hi),
            torch.full((outputs, groups), q_hi),
        )
    return (
        draw((tokens, k), x_lo, x_hi),
        draw((outputs, k), q_lo, q_hi),
        draw((outputs, groups), s_lo, s_hi),
        draw((outputs, groups), q_lo, q_hi),
    )
