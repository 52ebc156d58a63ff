"""Stream payloads and the component signature both top-k microarchitectures share."""

from amaranth import signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import TopKParams

__all__ = ["candidate_layout", "input_layout", "output_layout", "topk_signature"]


def candidate_layout(params: TopKParams) -> data.StructLayout:
    """One (index, score) pair."""
    return data.StructLayout(
        {
            "index": unsigned(params.index_width),
            "score": signed(params.score_width),
        }
    )


def input_layout(params: TopKParams) -> data.StructLayout:
    return data.StructLayout({"scores": data.ArrayLayout(signed(params.score_width), params.n)})


def output_layout(params: TopKParams) -> data.StructLayout:
    """``top[0]`` is the best candidate."""
    return data.StructLayout({"top": data.ArrayLayout(candidate_layout(params), params.k)})


def topk_signature(params: TopKParams) -> wiring.Signature:
    return wiring.Signature(
        {
            "i": In(stream.Signature(input_layout(params))),
            "o": Out(stream.Signature(output_layout(params))),
        }
    )
