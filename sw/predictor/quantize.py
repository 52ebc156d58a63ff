"""A trained predictor in the hardware's int8 format, and its predictions computed with the
hardware's arithmetic (:mod:`moetile.sw.golden.predictor`).

Scales are per tensor and static, calibrated on the training states: ``h ≈ s_h · h_q``
(``s_h = max|h| / 127``; a later state beyond that range saturates at ±127, as static
activation quantization does), ``W1 ≈ s_1 · W1_q``, ``W2 ≈ s_2 · W2_q`` (``max|W| / 127``),
and the middle vector ``W1 · h ≈ s_m · m_q`` with ``s_m = max|W1 · h| / 127`` over the
training states, reached from the exact sum by the requantization pair ``(M, S)`` for
``s_1 · s_h / s_m``. The logits come out as ``s_2 · s_m · (W2_q · m_q)``: the positive scale
does not change the ranking, so the unit ranks the integer sums.
"""

from dataclasses import dataclass

import torch

from moetile.hw.predictor import PredictorParams
from moetile.sw.golden.predictor import Prediction, predictor
from moetile.sw.quant.fixed import fixed_point_pair

from .model import LowRankPredictor

__all__ = ["QuantizedPredictor", "quantize_predictor"]


@dataclass(frozen=True)
class QuantizedPredictor:
    params: PredictorParams
    w1: torch.Tensor  # (rank, hidden) int8
    w2: torch.Tensor  # (experts, rank) int8
    state_scale: float
    multiplier: int
    shift: int

    def states(self, h: torch.Tensor) -> torch.Tensor:
        """Float states as the unit's int8 input."""
        return _codes(h, self.state_scale)

    def predict(self, h: torch.Tensor) -> Prediction:
        """The unit's prediction for float states ``h``, exactly as the hardware computes it."""
        return predictor(self.params, self.w1, self.w2, self.multiplier, self.shift, self.states(h))


def _codes(values: torch.Tensor, scale: float) -> torch.Tensor:
    return (values / scale).round().clamp(-127, 127).to(torch.int64)


def _scale(values: torch.Tensor, what: str) -> float:
    largest = float(values.abs().max())
    if not largest > 0:
        raise ValueError(f"{what} is all zeros: no scale to quantize it with")
    return largest / 127


def quantize_predictor(
    model: LowRankPredictor, states: torch.Tensor, params: PredictorParams, where: str
) -> QuantizedPredictor:
    """``model`` in ``params``' format, its scales calibrated on the float ``states``."""
    with torch.no_grad():
        w1, w2 = model.w1.detach(), model.w2.detach()
        s_h, s_1, s_2 = _scale(states, f"{where} states"), _scale(w1, "W1"), _scale(w2, "W2")
        s_m = _scale(states @ w1.T, f"{where} W1 · h")
    multiplier, shift = fixed_point_pair(
        s_1 * s_h / s_m, params.multiplier_width, params.max_shift, f"{where} requantization"
    )
    return QuantizedPredictor(params, _codes(w1, s_1), _codes(w2, s_2), s_h, multiplier, shift)
