"""Golden expert predictor: the quantized predictor in exact integer arithmetic.

``a = W1 · h`` (exact), ``m = clamp((a · M + 2**(S-1)) >> S, -128, 127)`` (rounding half up,
saturating to int8; no rounding term when ``S = 0``), ``logits = W2 · m`` (exact), then the
top ``k`` logits, best first, ties to the lower expert index.
"""

from dataclasses import dataclass

import torch

from moetile.hw.predictor import PredictorParams
from moetile.hw.predictor.params import ACT_WIDTH

from .fixed import check_integer_tensor
from .gemv import gemv
from .moe_layer import requantize
from .topk import top_k

__all__ = ["Prediction", "predictor"]

INT8 = (-(1 << (ACT_WIDTH - 1)), (1 << (ACT_WIDTH - 1)) - 1)


@dataclass(frozen=True)
class Prediction:
    """``middle`` ``(..., rank)`` int8; ``logits`` ``(..., experts)``; ``experts`` and
    ``scores`` ``(..., k)``: the chosen experts, best first, and their logits."""

    middle: torch.Tensor
    logits: torch.Tensor
    experts: torch.Tensor
    scores: torch.Tensor


def predictor(params: PredictorParams, w1, w2, multiplier: int, shift: int, h) -> Prediction:
    """The prediction for states ``h`` ``(..., hidden)``; ``w1`` ``(rank, hidden)``, ``w2``
    ``(experts, rank)``, int8; ``multiplier``, ``shift`` within the Params' ranges."""
    lo, hi = params.multiplier_range
    check_integer_tensor("multiplier", multiplier, lo=lo, hi=hi)
    check_integer_tensor("shift", shift, lo=0, hi=params.max_shift)
    middle = requantize(gemv(params.project, w1, h), multiplier, shift).clamp(*INT8)
    logits = gemv(params.score, w2, middle)
    experts, scores = top_k(params.topk, logits)
    return Prediction(middle, logits, experts, scores)
