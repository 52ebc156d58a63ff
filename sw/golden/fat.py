"""Golden FAT: the exact ternary matrix-vector product, and the cycle model of a pass."""

from dataclasses import dataclass

import torch

from moetile.hw.fat import WEIGHT_CODES, FatParams

from .fixed import check_integer_tensor

__all__ = [
    "PassTiming",
    "check_ternary",
    "encode_weights",
    "fat_cycles",
    "fat_matvec",
    "weight_planes",
]


def check_ternary(name: str, weights, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """``weights`` as ``int64`` after checking every element is -1, 0 or +1 (and the shape)."""
    w = check_integer_tensor(name, weights, lo=-1, hi=1)
    if shape is not None and tuple(w.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, not {tuple(w.shape)}")
    return w


def fat_matvec(params: FatParams, weights, x) -> torch.Tensor:
    """``y[lane, m] = sum_k w[m, k] * x[lane, k]``, exactly.

    ``weights``: ``(n_outputs, n_inputs)`` in {-1, 0, +1}; ``x``: ``(lanes, n_inputs)`` signed
    ``in_width``-bit integers. The result, ``(lanes, n_outputs)`` ``int64``, lies within
    ``±n_inputs * 2**(in_width-1)``, which ``params.acc_width`` holds by construction.
    """
    w = check_ternary("weights", weights, (params.n_outputs, params.n_inputs))
    lo, hi = params.input_range
    xs = check_integer_tensor("x", x, lo=lo, hi=hi)
    if tuple(xs.shape) != (params.lanes, params.n_inputs):
        raise ValueError(
            f"x must have shape {(params.lanes, params.n_inputs)}, not {tuple(xs.shape)}"
        )
    return xs @ w.T


def encode_weights(weights) -> list[list[int]]:
    """Ternary weights as rows of the 2-bit codes of :data:`moetile.hw.fat.WEIGHT_CODES`."""
    w = check_ternary("weights", weights)
    return [[WEIGHT_CODES[v] for v in row] for row in w.tolist()]


def weight_planes(weights) -> dict:
    """Ternary weight rows as the two bit planes of a weight-row payload (see
    :func:`moetile.hw.fat.interface.weight_layout`): ``{"nonzero": rows, "negative": rows}``,
    each ``(rows, n_inputs)`` ``int64`` of 0 and 1 (code bit 0, code bit 1)."""
    codes = torch.tensor(encode_weights(weights), dtype=torch.int64).reshape(len(weights), -1)
    return {"nonzero": codes & 1, "negative": codes >> 1}


@dataclass(frozen=True)
class PassTiming:
    """Cycle model of one pass's compute phase.

    ``cycles``: from the first weight-row transfer (inputs already loaded, weight rows always
    offered, output always ready) to the last output transfer, inclusive.
    ``add_cycles``: cycles the lanes spend adding (``nnz × acc_width`` for fixed-width FAT).
    ``adds``: ops that add (zero weights included for the baseline).
    """

    cycles: int
    add_cycles: int
    adds: int


def fat_cycles(params: FatParams, weights) -> PassTiming:
    """The exact cycle count of a pass, from the microarchitecture's timing rules.

    - The SACU accepts a row in the cycle after it issued the previous row's last op (the first
      row at cycle 0) and starts scanning the cycle after; it scans only while its op register
      is empty or being taken. Finding the weight at position ``j`` from pointer ``p`` takes
      ``(j - p) // zero_skip + 1`` scan cycles (FAT; the pointer then moves to ``j + 1``), one
      cycle per position for the baseline, one cycle for a row without non-zero weights.
    - The lanes take an op when idle or in the last cycle of the current op; an op lasts its
      bit count (FAT: ``acc_width``, or ``add_width`` of its ordinal with variable width),
      twice that (baseline, whose every weight is an add), or one cycle (an empty row).
    - A row's sums reach the output the cycle after its last op ends, and are read at once.
    """
    w = check_ternary("weights", weights, (params.n_outputs, params.n_inputs))
    take, end, accept = None, None, 0
    add_cycles = adds = 0
    for row in w.tolist():
        scan_start = accept + 1 if take is None else max(accept + 1, take)
        for scans, duration, adds_here in _row_ops(params, row):
            available = scan_start + scans
            take = available if end is None else max(available, end)
            end = take + duration
            scan_start = take
            add_cycles += duration * adds_here
            adds += adds_here
        accept = available
    return PassTiming(cycles=end + 2, add_cycles=add_cycles, adds=adds)


def _row_ops(params: FatParams, row: list[int]):
    """``(scan cycles, duration, is an add)`` of each op the row becomes."""
    if not params.skips_zeros:
        bits = [params.add_width(ordinal) for ordinal in range(1, len(row) + 1)]
        return [(1, params.cycles_per_bit * width, 1) for width in bits]
    positions = [j for j, v in enumerate(row) if v]
    if not positions:
        return [(1, 1, 0)]
    ops, pointer = [], 0
    for ordinal, j in enumerate(positions, 1):
        ops.append(((j - pointer) // params.zero_skip + 1, params.add_width(ordinal), 1))
        pointer = j + 1
    return ops
