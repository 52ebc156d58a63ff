"""Registers the top-k selector with the block registry."""

from ..registry import register
from .params import TOPK_ARCHS, TopKParams

__all__ = ["TOPK"]

TOPK = register(
    "topk",
    TopKParams,
    "moetile.hw.topk.rtl:topk_component",
    defaults=[TopKParams(arch=arch) for arch in TOPK_ARCHS],
    summary="top-k selector: pipelined comparator network or sequential",
    golden="moetile.sw.golden.topk:top_k",
    testbench="moetile.sim.testbenches.tb_topk",
    proofs="moetile.sim.formal.blocks.topk",
    benchmark="moetile.app.bench.topk",
)
