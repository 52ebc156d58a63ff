"""Registers the int8 GEMV block with the block registry."""

from ..registry import register
from .params import GemvParams

__all__ = ["GEMV"]

GEMV = register(
    "gemv",
    GemvParams,
    "moetile.hw.gemv.gemv:Gemv",
    defaults=[GemvParams()],
    summary="int8 GEMV (router gate, predictor projections)",
    golden="moetile.sw.golden.gemv:gemv",
    testbench="moetile.sim.testbenches.tb_gemv",
    proofs="moetile.sim.formal.blocks.gemv",
)
