"""Registers the MixPE array and its two multiplier baselines with the block registry."""

from ..registry import register
from .params import MIXPE_ARCHS, MixPEParams

__all__ = ["MIXPE"]

MIXPE = register(
    "mixpe",
    MixPEParams,
    "moetile.hw.mixpe.array:MixPEArray",
    defaults=[MixPEParams(arch=arch) for arch in MIXPE_ARCHS],
    summary="MixPE shift-and-add W4A8 array and its multiplier-PE baselines",
    golden="moetile.sw.golden.mixpe:mixpe_gemm",
    testbench="moetile.sim.testbenches.tb_mixpe",
    proofs="moetile.sim.formal.blocks.mixpe",
    benchmark="moetile.app.bench.mixpe",
)
