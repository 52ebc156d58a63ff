"""Stream payloads of the FAT array and of the op stream from the SACU to the lanes."""

from amaranth import signed, unsigned
from amaranth.lib import data

from ..checks import counter_range
from .params import FatParams

__all__ = ["input_layout", "op_layout", "output_layout", "weight_layout"]


def input_layout(params: FatParams) -> data.StructLayout:
    """One input column: ``x[lane]`` for one input index ``k``."""
    return data.StructLayout({"x": data.ArrayLayout(signed(params.in_width), params.lanes)})


def weight_layout(params: FatParams) -> data.StructLayout:
    """One weight row in the 2-bit code of :data:`moetile.hw.fat.WEIGHT_CODES`, stored as two
    bit planes (as a computational memory holds it): ``nonzero[k]`` is code bit 0 of weight
    ``k``, ``negative[k]`` its bit 1. The SACU's masks are these planes as they are."""
    plane = data.ArrayLayout(unsigned(1), params.n_inputs)
    return data.StructLayout({"nonzero": plane, "negative": plane})


def output_layout(params: FatParams) -> data.StructLayout:
    """One output row: ``y[lane]`` for one weight row."""
    return data.StructLayout({"y": data.ArrayLayout(signed(params.acc_width), params.lanes)})


def op_layout(params: FatParams) -> data.StructLayout:
    """One add issued to the lanes: ``acc += x[k]`` (or ``-=`` when ``negative``).

    ``zero`` (baseline only) adds nothing but still costs its cycles; ``last`` closes the row;
    ``empty`` is a row without a non-zero weight (no add, output 0).
    """
    return data.StructLayout(
        {
            "k": counter_range(params.n_inputs),
            "negative": 1,
            "zero": 1,
            "last": 1,
            "empty": 1,
        }
    )
