"""FAT stimulus: ternary weight matrices at a given sparsity, and extreme input vectors."""

import random

import torch

from moetile.hw.fat import FatParams
from moetile.hw.fat.interface import input_layout, weight_layout
from moetile.sw.golden.fat import fat_matvec, weight_planes

__all__ = ["pass_payloads", "random_inputs", "sparse_weights"]


def sparse_weights(params: FatParams, rng: random.Random, sparsity: float) -> torch.Tensor:
    """Ternary ``(n_outputs, n_inputs)`` weights with exactly ``round(sparsity * n_inputs)``
    zeros per row at random positions, the rest ±1 at random."""
    zeros = round(sparsity * params.n_inputs)
    rows = []
    for _ in range(params.n_outputs):
        row = [rng.choice((-1, 1)) for _ in range(params.n_inputs)]
        for j in rng.sample(range(params.n_inputs), zeros):
            row[j] = 0
        rows.append(row)
    return torch.tensor(rows, dtype=torch.int64)


def random_inputs(params: FatParams, rng: random.Random, kind: str = "random") -> torch.Tensor:
    """``(lanes, n_inputs)`` inputs: ``random``, ``min`` (all most negative), ``max``, or
    ``lanes`` (each lane a different extreme or random pattern)."""
    lo, hi = params.input_range
    if kind in ("min", "max"):
        return torch.full((params.lanes, params.n_inputs), lo if kind == "min" else hi)
    rows = [[rng.randint(lo, hi) for _ in range(params.n_inputs)] for _ in range(params.lanes)]
    if kind == "lanes":
        patterns = [
            [lo] * params.n_inputs,
            [hi] * params.n_inputs,
            [0] * params.n_inputs,
            [lo if k % 2 else hi for k in range(params.n_inputs)],
        ]
        rows = [
            patterns[lane] if lane < len(patterns) else rows[lane] for lane in range(params.lanes)
        ]
    return torch.tensor(rows, dtype=torch.int64)


def pass_payloads(params: FatParams, weights, x):
    """``(input column payloads, weight row payloads, expected output rows)`` of one pass."""
    y = fat_matvec(params, weights, x)
    x_layout, w_layout = input_layout(params), weight_layout(params)
    columns = [x_layout.const({"x": x[:, k].tolist()}) for k in range(params.n_inputs)]
    planes = weight_planes(weights)
    rows = [
        w_layout.const({"nonzero": nonzero, "negative": negative})
        for nonzero, negative in zip(*(planes[k].tolist() for k in planes), strict=True)
    ]
    return columns, rows, [tuple(row) for row in y.T.tolist()]
