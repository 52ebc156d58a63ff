"""A W4A8 GEMM of any size on a MixPE array, tile by tile and group by group.

``y = x · dequant(q)ᵀ`` for ``x`` ``(M, K)`` int8 and ``N`` outputs (``K`` whole groups):
tokens in tiles of ``rows``, outputs in tiles of ``cols``, the reduction in chunks of
``n_inputs`` (the last one shorter, its final group flagged ``last``); each (token tile,
reduction chunk, output tile) is one pass, streamed step by step with each group's scales and
zero points. Edges are padded with zero activations and zero weights (code, zero point and
scale 0), which add nothing. Chunks of one tile add up exactly on the host, which needs the
exact accumulator (``out_shift = 0``) when ``K > n_inputs``.
"""

from dataclasses import dataclass, replace

import numpy as np
import torch

from moetile.hw.mixpe import MixPEParams
from moetile.sw.golden.fixed import check_integer_tensor
from moetile.sw.golden.mixpe import check_group_weights, mixpe_cycles, mixpe_gemm

__all__ = [
    "GemmPlan",
    "MixPEPass",
    "golden_backend",
    "group_last_flags",
    "pass_streams",
    "plan_gemm",
    "run_gemm",
]


@dataclass(frozen=True)
class MixPEPass:
    x: torch.Tensor  # (rows, k) int8, k whole groups up to n_inputs
    codes: torch.Tensor  # (cols, k)
    scales: torch.Tensor  # (cols, k / group)
    zeros: torch.Tensor  # (cols, k / group)
    tokens: slice
    outputs: slice


@dataclass(frozen=True)
class GemmPlan:
    params: MixPEParams
    passes: list[MixPEPass]
    tokens: int
    outputs: int

    @property
    def cycles(self) -> int:
        """Model cycles of every pass back to back (:func:`mixpe_cycles`)."""
        return mixpe_cycles(self.params, [p.scales.shape[1] for p in self.passes])


def plan_gemm(params: MixPEParams, x, codes, scales, zeros) -> GemmPlan:
    """Tile ``y = x · dequant(codes)ᵀ`` (``codes`` ``(N, K)``, ``scales`` and ``zeros``
    ``(N, K / group)``, ``x`` ``(M, K)``) into passes of ``params``."""
    k = torch.as_tensor(codes).shape[-1]
    if k % params.group or not k:
        raise ValueError(f"K = {k} must be a positive multiple of group = {params.group}")
    if k > params.n_inputs and params.out_shift:
        raise ValueError(
            f"K = {k} spans several passes of n_inputs = {params.n_inputs}, whose sums add up "
            "exactly only with out_shift = 0"
        )
    whole = replace(params, n_inputs=k)
    q, s, z = check_group_weights(whole, codes, scales, zeros)
    lo, hi = params.act_range
    xs = check_integer_tensor("x", x, lo=lo, hi=hi)
    if xs.ndim != 2 or xs.shape[1] != k:
        raise ValueError(f"x must have shape (M, {k}), not {tuple(xs.shape)}")
    R, C = params.rows, params.cols
    passes = []
    for t0 in range(0, xs.shape[0], R):
        for k0 in range(0, k, params.n_inputs):
            K = min(params.n_inputs, k - k0)
            g0, G = k0 // params.group, K // params.group
            x_tile = _pad(xs[t0 : t0 + R, k0 : k0 + K], (R, K))
            for n0 in range(0, q.shape[0], C):
                passes.append(
                    MixPEPass(
                        x_tile,
                        _pad(q[n0 : n0 + C, k0 : k0 + K], (C, K)),
                        _pad(s[n0 : n0 + C, g0 : g0 + G], (C, G)),
                        _pad(z[n0 : n0 + C, g0 : g0 + G], (C, G)),
                        slice(t0, t0 + R),
                        slice(n0, n0 + C),
                    )
                )
    return GemmPlan(params, passes, xs.shape[0], q.shape[0])


def golden_backend(params: MixPEParams, passes: list[MixPEPass]) -> list[torch.Tensor]:
    """Each pass's ``(rows, cols)`` results from the golden model."""
    return [
        mixpe_gemm(replace(params, n_inputs=p.x.shape[1]), p.x, p.codes, p.scales, p.zeros)
        for p in passes
    ]


def run_gemm(plan: GemmPlan, backend=golden_backend) -> torch.Tensor:
    """Run every pass on ``backend`` and assemble the ``(M, N)`` result."""
    y = torch.zeros(plan.tokens, plan.outputs, dtype=torch.int64)
    for job, tile in zip(plan.passes, backend(plan.params, plan.passes), strict=True):
        tokens = len(range(plan.tokens)[job.tokens])
        outputs = len(range(plan.outputs)[job.outputs])
        y[job.tokens, job.outputs] += tile[:tokens, :outputs]
    return y


def pass_streams(params: MixPEParams, passes: list[MixPEPass]) -> dict:
    """The array's input streams for ``passes`` back to back, as fast-harness field arrays:
    ``i_x`` and ``i_w`` one row per step, ``i_group`` one row per group, each pass's final
    group flagged ``last``."""
    return {
        "i_x": {"x": np.concatenate([p.x.T.numpy() for p in passes])},
        "i_w": {"q": np.concatenate([p.codes.T.numpy() for p in passes])},
        "i_group": {
            "scale": np.concatenate([p.scales.T.numpy() for p in passes]),
            "zero": np.concatenate([p.zeros.T.numpy() for p in passes]),
            "last": np.concatenate([group_last_flags(p) for p in passes]),
        },
    }


def group_last_flags(job: MixPEPass) -> np.ndarray:
    """``last`` of each of the pass's groups: set on the final one."""
    flags = np.zeros(job.scales.shape[1], dtype=np.int64)
    flags[-1] = 1
    return flags


def _pad(tile: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    padded = torch.zeros(shape, dtype=torch.int64)
    padded[: tile.shape[0], : tile.shape[1]] = tile
    return padded
