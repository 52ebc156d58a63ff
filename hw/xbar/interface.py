"""Stream payloads of the multiplexed-crossbar tile."""

from amaranth import signed, unsigned
from amaranth.lib import data

from ..checks import counter_range
from .params import TileParams
from .periphery import vector_layout

__all__ = ["input_layout", "output_layout", "weight_layout"]


def weight_layout(params: TileParams) -> data.StructLayout:
    """One crossbar row: its signed weights for every column."""
    return data.StructLayout(
        {
            "crossbar": counter_range(params.crossbars),
            "row": counter_range(params.rows),
            "w": data.ArrayLayout(signed(params.w_bits), params.cols),
        }
    )


def input_layout(params: TileParams) -> data.StructLayout:
    """One input vector of a slot: the groups it feeds (``groups``, a bit each), the crossbar
    each of those groups reads (its index within the group), and ``last`` for the slot's last
    vector."""
    return data.StructLayout(
        {
            "x": vector_layout(params),
            "groups": unsigned(params.groups),
            "crossbar": data.ArrayLayout(counter_range(params.crossbars_per_group), params.groups),
            "last": 1,
        }
    )


def output_layout(params: TileParams) -> data.StructLayout:
    """A slot's results: ``y`` of every group (zero where ``active`` is clear)."""
    y = data.ArrayLayout(signed(params.crossbar.out_width), params.cols)
    return data.StructLayout(
        {"y": data.ArrayLayout(y, params.groups), "active": unsigned(params.groups)}
    )
