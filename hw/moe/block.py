"""Registers the MoE layer accelerator with the block registry."""

from ..registry import register
from .params import MoELayerParams

__all__ = ["MOE_LAYER"]

MOE_LAYER = register(
    "moe_layer",
    MoELayerParams,
    "moetile.hw.moe.layer:MoELayer",
    defaults=[MoELayerParams()],
    summary="MoE layer accelerator: router, token buffers, an expert engine, combine",
)
