"""MixPE: a W4A8 GEMM array whose PEs multiply by shift-and-add and dequantize once per group
(arXiv 2411.16158), and the same array of multiplier PEs that dequantize every weight.

Importing this package pulls in only :class:`MixPEParams`; the component is in
:mod:`moetile.hw.mixpe.array`.
"""

from .params import GROUP_SIZES, MIXPE_ARCHS, MixPEParams

__all__ = ["GROUP_SIZES", "MIXPE_ARCHS", "MixPEParams"]
