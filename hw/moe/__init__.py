"""The MoE layer accelerator: router, expert engine, activation unit and combine.

Importing this package pulls in only :class:`MoELayerParams`; the component is in
:mod:`moetile.hw.moe.layer`.
"""

from .engines import FatEngineParams, MixPEEngineParams, XbarEngineParams
from .params import ACTIVATION_WIDTH, CONFIG_WORDS, ENGINES, MoELayerParams

__all__ = [
    "ACTIVATION_WIDTH",
    "CONFIG_WORDS",
    "ENGINES",
    "FatEngineParams",
    "MixPEEngineParams",
    "MoELayerParams",
    "XbarEngineParams",
]
