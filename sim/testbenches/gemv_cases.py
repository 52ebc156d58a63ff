"""GEMV stimulus: weight matrices and vectors (random and extreme), cut into chunk payloads."""

import random

import numpy as np

from moetile.hw.gemv import GemvParams
from moetile.sw.golden.gemv import gemv

__all__ = ["chunked", "edge_vectors", "gemv_job", "random_matrix"]


def chunked(params: GemvParams, rows: np.ndarray) -> np.ndarray:
    """``(n, inputs)`` → ``(n * chunks, macs)``: each row cut into chunks, the last one padded
    with zeros (which add nothing)."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1, params.inputs)
    padded = np.zeros((len(rows), params.chunks * params.macs), dtype=np.int64)
    padded[:, : params.inputs] = rows
    return padded.reshape(-1, params.macs)


def random_matrix(params: GemvParams, rng: random.Random, kind: str = "random") -> np.ndarray:
    """``(outputs, inputs)`` weights: ``random``, ``min``, ``max``, or ``mixed`` (each row a
    different extreme or random pattern)."""
    lo, hi = params.value_range
    if kind in ("min", "max"):
        return np.full((params.outputs, params.inputs), lo if kind == "min" else hi)
    rows = [[rng.randint(lo, hi) for _ in range(params.inputs)] for _ in range(params.outputs)]
    if kind == "mixed":
        patterns = [[lo] * params.inputs, [hi] * params.inputs, [0] * params.inputs]
        rows = [patterns[o] if o < len(patterns) else rows[o] for o in range(params.outputs)]
    return np.array(rows, dtype=np.int64)


def edge_vectors(params: GemvParams) -> np.ndarray:
    """All most negative, all most positive, zeros, alternating extremes."""
    lo, hi = params.value_range
    n = params.inputs
    return np.array([[lo] * n, [hi] * n, [0] * n, [lo if k % 2 else hi for k in range(n)]])


def gemv_job(params: GemvParams, weights: np.ndarray, vectors: np.ndarray):
    """``(stream inputs, expected results)`` for the fast harness: the weights, then every
    vector; the results ``(n, outputs)`` from the golden model."""
    import torch

    inputs = {"i_w": {"v": chunked(params, weights)}, "i_x": {"v": chunked(params, vectors)}}
    expected = gemv(params, torch.from_numpy(weights), torch.from_numpy(vectors)).numpy()
    return inputs, expected
