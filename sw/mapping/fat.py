"""Combined-stationary mapping of a ternary linear layer onto a FAT array.

Inputs stay in the lanes (one token per lane), weights stream through the SACU, outputs
accumulate in place. A layer larger than the array is tiled: tokens in groups of ``lanes``,
input features in chunks of ``n_inputs``, output features in chunks of ``n_outputs``, each
(token group, input chunk, output chunk) one pass; the host adds the partial sums of the input
chunks exactly. Edges are padded with zero inputs and zero weights (a zero weight row is an
empty row for FAT and a full row of zero adds for the baseline, as the hardware would run it).
"""

from dataclasses import dataclass

import torch

from moetile.hw.fat import FatParams
from moetile.sw.golden.fat import check_ternary, fat_cycles, fat_matvec
from moetile.sw.golden.fixed import check_integer_tensor

__all__ = ["FatPass", "LinearPlan", "golden_backend", "plan_linear", "run_linear"]


@dataclass(frozen=True)
class FatPass:
    weights: torch.Tensor  # (n_outputs, n_inputs) ternary
    x: torch.Tensor  # (lanes, n_inputs)
    tokens: slice
    outputs: slice
    inputs: slice


@dataclass(frozen=True)
class LinearPlan:
    params: FatParams
    passes: list[FatPass]
    batch: int
    out_features: int

    @property
    def compute_cycles(self) -> int:
        """Model cycles of every pass's compute phase
        (see :func:`moetile.sw.golden.fat.fat_cycles`)."""
        return sum(fat_cycles(self.params, p.weights).cycles for p in self.passes)

    @property
    def load_cycles(self) -> int:
        """One cycle per input column per pass."""
        return len(self.passes) * self.params.n_inputs


def plan_linear(params: FatParams, codes, x) -> LinearPlan:
    """Tile ``y = x @ codes.T`` (``codes``: ``(out, in)`` ternary; ``x``: ``(batch, in)``
    signed ``in_width``-bit integers) into passes of ``params``."""
    w = check_ternary("codes", codes)
    if w.ndim != 2:
        raise ValueError(f"codes must be 2-D (out_features, in_features), not {tuple(w.shape)}")
    lo, hi = params.input_range
    xs = check_integer_tensor("x", x, lo=lo, hi=hi)
    if xs.ndim != 2 or xs.shape[1] != w.shape[1]:
        raise ValueError(f"x must have shape (batch, {w.shape[1]}), not {tuple(xs.shape)}")
    L, K, M = params.lanes, params.n_inputs, params.n_outputs
    passes = []
    for t0 in range(0, xs.shape[0], L):
        for k0 in range(0, w.shape[1], K):
            x_tile = _pad(xs[t0 : t0 + L, k0 : k0 + K], (L, K))
            for m0 in range(0, w.shape[0], M):
                w_tile = _pad(w[m0 : m0 + M, k0 : k0 + K], (M, K))
                passes.append(
                    FatPass(w_tile, x_tile, slice(t0, t0 + L), slice(m0, m0 + M), slice(k0, k0 + K))
                )
    return LinearPlan(params, passes, xs.shape[0], w.shape[0])


def golden_backend(params: FatParams, passes: list[FatPass]) -> list[torch.Tensor]:
    """Each pass's ``(lanes, n_outputs)`` sums from the golden model."""
    return [fat_matvec(params, p.weights, p.x) for p in passes]


def run_linear(plan: LinearPlan, backend=golden_backend) -> torch.Tensor:
    """Run every pass on ``backend`` and assemble the exact ``(batch, out_features)`` result."""
    y = torch.zeros(plan.batch, plan.out_features, dtype=torch.int64)
    for job, sums in zip(plan.passes, backend(plan.params, plan.passes), strict=True):
        tokens = range(plan.batch)[job.tokens]
        outputs = range(plan.out_features)[job.outputs]
        y[job.tokens, job.outputs] += sums[: len(tokens), : len(outputs)]
    return y


def _pad(tile: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    padded = torch.zeros(shape, dtype=torch.int64)
    padded[: tile.shape[0], : tile.shape[1]] = tile
    return padded
