"""Operands for the multiplexed-crossbar tile's benches: weights and scheduled slots of random
and extreme kinds."""

import random

import torch

from moetile.hw.xbar import TileParams
from moetile.sw.golden.xbar import TileSlot
from moetile.sw.mapping.xbar import schedule_slots
from moetile.sw.mapping.xbar_schedule import make_schedule

__all__ = ["KINDS", "tile_case"]

#: ``random``: uniform weights and inputs; ``extremes``: each weight and input at one end of
#: its range; ``largest``: every weight and input at the top, every bitline at its largest sum
#: (the saturating case); ``smallest``: every weight and input at the bottom.
KINDS = ("random", "extremes", "largest", "smallest")


def _values(rng: random.Random, kind: str, lo: int, hi: int, shape) -> torch.Tensor:
    count = 1
    for n in shape:
        count *= n
    pick = {
        "random": lambda: rng.randint(lo, hi),
        "extremes": lambda: rng.choice([lo, hi]),
        "largest": lambda: hi,
        "smallest": lambda: lo,
    }[kind]
    return torch.tensor([pick() for _ in range(count)], dtype=torch.int64).reshape(shape)


def tile_case(
    params: TileParams, rng: random.Random, kind: str, schedule: str, tokens: int
) -> tuple[torch.Tensor, list[TileSlot]]:
    """``(weights, slots)``: crossbars filled with ``kind`` weights, and the ``schedule`` of a
    random routing of ``tokens`` ``kind`` inputs (each token picks each crossbar's expert with
    probability 1/2, at least one)."""
    xbar = params.crossbar
    weights = _values(rng, kind, *xbar.weight_range, (params.crossbars, params.rows, params.cols))
    inputs = _values(rng, kind, *xbar.input_range, (tokens, params.rows))
    choices = torch.tensor(
        [[rng.random() < 0.5 for _ in range(params.crossbars)] for _ in range(tokens)]
    )
    for t in range(tokens):
        if not choices[t].any():
            choices[t, rng.randrange(params.crossbars)] = True
    cpg = params.crossbars_per_group
    groups = tuple(tuple(range(g * cpg, (g + 1) * cpg)) for g in range(params.groups))
    return weights, schedule_slots(make_schedule(schedule, choices, groups), inputs)
