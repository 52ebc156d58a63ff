"""Registers the FAT array and its baseline with the block registry."""

from ..registry import register
from .params import FAT_ARCHS, FatParams

__all__ = ["FAT"]

FAT = register(
    "fat",
    FatParams,
    "moetile.hw.fat.array:FatArray",
    defaults=[FatParams(arch=arch) for arch in FAT_ARCHS],
    summary="FAT sparse ternary adder array and its ParaPIM-style baseline",
    golden="moetile.sw.golden.fat:fat_matvec",
    testbench="moetile.sim.testbenches.tb_fat",
    proofs="moetile.sim.formal.blocks.fat",
    benchmark="moetile.app.bench.fat",
)
