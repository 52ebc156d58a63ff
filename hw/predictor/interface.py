"""Stream payloads of the expert predictor unit."""

from amaranth import signed
from amaranth.lib import data

from .params import ACT_WIDTH, PredictorParams

__all__ = ["weight_layout"]


def weight_layout(params: PredictorParams) -> data.StructLayout:
    """A chunk of a weight row: ``matrix`` 0 for ``W1`` (``macs`` values), 1 for ``W2`` (the
    first ``min(macs, rank)`` values)."""
    return data.StructLayout({"matrix": 1, "v": data.ArrayLayout(signed(ACT_WIDTH), params.macs)})
