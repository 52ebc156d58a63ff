"""Registers the expert predictor unit with the block registry."""

from ..registry import register
from .params import PredictorParams

__all__ = ["PREDICTOR"]

PREDICTOR = register(
    "predictor",
    PredictorParams,
    "moetile.hw.predictor.unit:ExpertPredictor",
    defaults=[PredictorParams()],
    summary="pre-attention expert predictor unit",
)
