"""Stream payloads of the GEMV block."""

from amaranth import signed
from amaranth.lib import data

from .params import GemvParams

__all__ = ["chunk_layout", "result_layout"]


def chunk_layout(params: GemvParams) -> data.StructLayout:
    """``macs`` signed values: a chunk of the input vector or of a weight row."""
    return data.StructLayout({"v": data.ArrayLayout(signed(params.width), params.macs)})


def result_layout(params: GemvParams) -> data.StructLayout:
    """Every output of one vector, ``y[0 .. outputs-1]``."""
    return data.StructLayout({"y": data.ArrayLayout(signed(params.acc_width), params.outputs)})
