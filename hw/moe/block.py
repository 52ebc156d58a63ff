"""Registers the MoE layer accelerator with the block registry."""

from ..registry import register
from .params import MoELayerParams

__all__ = ["MOE_LAYER"]

MOE_LAYER = register(
    "moe_layer",
    MoELayerParams,
    "moetile.hw.moe.layer:MoELayerAccelerator",
    defaults=[MoELayerParams()],
    summary="MoE layer accelerator: router, token buffers, an expert engine, combine",
    golden="moetile.sw.golden.moe_layer:moe_layer",
    testbench="moetile.sim.testbenches.tb_replay",
    proofs="moetile.sim.formal.blocks.moe_layer",
    benchmark="moetile.app.bench.cosim",
)
