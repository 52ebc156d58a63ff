"""Stream payloads of the MixPE array and its baseline."""

from amaranth import signed, unsigned
from amaranth.lib import data

from .params import ACT_WIDTH, WEIGHT_WIDTH, MixPEParams

__all__ = ["activation_layout", "group_layout", "output_layout", "weight_layout"]


def activation_layout(params: MixPEParams) -> data.StructLayout:
    """One reduction step's activations, ``x[r]`` for every row (token)."""
    return data.StructLayout({"x": data.ArrayLayout(signed(ACT_WIDTH), params.rows)})


def weight_layout(params: MixPEParams) -> data.StructLayout:
    """One reduction step's 4-bit weight codes, ``q[c]`` for every column (output)."""
    return data.StructLayout({"q": data.ArrayLayout(unsigned(WEIGHT_WIDTH), params.cols)})


def group_layout(params: MixPEParams) -> data.StructLayout:
    """One group's scale and zero point for every column; ``last`` ends the pass with this
    group."""
    return data.StructLayout(
        {
            "scale": data.ArrayLayout(unsigned(params.scale_width), params.cols),
            "zero": data.ArrayLayout(unsigned(WEIGHT_WIDTH), params.cols),
            "last": 1,
        }
    )


def output_layout(params: MixPEParams) -> data.StructLayout:
    """One column's results, ``y[r]`` for every row."""
    return data.StructLayout({"y": data.ArrayLayout(signed(params.out_width), params.rows)})
