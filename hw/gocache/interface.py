"""Stream payloads of the expert-choice router with the GO cache."""

from amaranth import signed, unsigned
from amaranth.lib import data

from ..gemv.interface import chunk_layout
from .params import GOCacheParams

__all__ = ["entry_layout", "scores_layout", "token_layout", "update_layout"]


def token_layout(params: GOCacheParams) -> data.StructLayout:
    """A chunk of a token's hidden vector; ``start`` (read on a token's first chunk) begins a
    new sequence."""
    return data.StructLayout({"v": chunk_layout(params.gate)["v"].shape, "start": 1})


def scores_layout(params: GOCacheParams) -> data.StructLayout:
    """One token's gate scores, and whether it begins a sequence."""
    return data.StructLayout(
        {"scores": data.ArrayLayout(signed(params.score_width), params.experts), "start": 1}
    )


def entry_layout(params: GOCacheParams) -> data.StructLayout:
    """One selected token of an expert: its score and its position in the sequence."""
    return data.StructLayout(
        {"score": signed(params.score_width), "token": unsigned(params.token_width)}
    )


def update_layout(params: GOCacheParams) -> data.StructLayout:
    """What one token changed: its position and scores, the experts that selected it
    (``take``), those that dropped a token for it (``evict``), and which (``evicted[e]``,
    zero where ``evict[e]`` is low)."""
    return data.StructLayout(
        {
            "token": unsigned(params.token_width),
            "scores": data.ArrayLayout(signed(params.score_width), params.experts),
            "take": unsigned(params.experts),
            "evict": unsigned(params.experts),
            "evicted": data.ArrayLayout(unsigned(params.token_width), params.experts),
        }
    )
