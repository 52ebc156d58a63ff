"""Helpers the engines' software shares: shapes, padding and bit images of integer rows."""

import numpy as np

__all__ = ["bits", "check_shape", "padded_rows"]


def bits(values, width: int) -> np.ndarray:
    """``(n, width)`` little-endian two's complement bits of integers ``values``."""
    v = np.asarray(values, dtype=np.int64).reshape(-1, 1)
    return ((v >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8)


def check_shape(name: str, tensor, shape: tuple[int, int]) -> None:
    if tuple(tensor.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, not {tuple(tensor.shape)}")


def padded_rows(rows, width: int) -> np.ndarray:
    """Integer rows ``(n, k)`` zero-padded to ``(n, width)``."""
    t = np.asarray(rows, dtype=np.int64)
    padded = np.zeros((len(t), width), dtype=np.int64)
    padded[:, : t.shape[1]] = t
    return padded
