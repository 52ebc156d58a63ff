"""FAT sparse ternary adder array (arXiv 2201.07634) and its ParaPIM-style baseline.

Importing this package pulls in only :class:`FatParams`; the components are in
:mod:`moetile.hw.fat.sacu`, :mod:`moetile.hw.fat.lanes` and :mod:`moetile.hw.fat.array`.
"""

from .params import FAT_ARCHS, WEIGHT_CODES, FatParams

__all__ = ["FAT_ARCHS", "WEIGHT_CODES", "FatParams"]
