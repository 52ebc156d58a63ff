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
    golden="moetile.sw.golden.predictor:predictor",
    testbench="moetile.sim.testbenches.tb_predictor",
    proofs="moetile.sim.formal.blocks.predictor",
    benchmark="moetile.app.bench.predictor",
)
