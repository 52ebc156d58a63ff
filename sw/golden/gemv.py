"""Golden int8 GEMV: the exact integer matrix-vector product."""

import torch

from moetile.hw.gemv import GemvParams

from .fixed import check_integer_tensor

__all__ = ["gemv"]


def gemv(params: GemvParams, weights, x) -> torch.Tensor:
    """``y[..., o] = sum_k w[o, k] * x[..., k]``, exactly.

    ``weights``: ``(outputs, inputs)``; ``x``: ``(..., inputs)``; both signed ``width``-bit
    integers. The result, ``int64`` of shape ``(..., outputs)``, lies within
    ``±inputs * 2**(2*width-2)``, which ``params.acc_width`` holds by construction.
    """
    lo, hi = params.value_range
    w = check_integer_tensor("weights", weights, lo=lo, hi=hi)
    xs = check_integer_tensor("x", x, lo=lo, hi=hi)
    if tuple(w.shape) != (params.outputs, params.inputs):
        raise ValueError(
            f"weights must have shape {(params.outputs, params.inputs)}, not {tuple(w.shape)}"
        )
    if xs.ndim == 0 or xs.shape[-1] != params.inputs:
        raise ValueError(f"x must have shape (..., {params.inputs}), not {tuple(xs.shape)}")
    return xs @ w.T
