"""Stream payloads of the expert cache."""

from amaranth import unsigned
from amaranth.lib import data

from .params import ExpertCacheParams

__all__ = ["entry_layout", "fetch_layout", "key_layout", "result_layout", "write_layout"]


def key_layout(params: ExpertCacheParams) -> data.StructLayout:
    """A lookup: which layer's which expert."""
    return data.StructLayout(
        {"layer": unsigned(params.layer_width), "expert": unsigned(params.expert_width)}
    )


def entry_layout(params: ExpertCacheParams) -> data.StructLayout:
    """A slot's tag and its allocation: ``valid`` (it holds ``layer``'s ``expert``),
    ``pinned`` (never replaced), and whose misses may fill it: any layer's when ``shared``,
    else layer ``owner``'s alone (a per-layer quota)."""
    return data.StructLayout({name: unsigned(w) for name, w in params.entry_fields.items()})


def write_layout(params: ExpertCacheParams) -> data.StructLayout:
    """A configuration write: ``entry`` into slot ``slot`` (its usage cleared)."""
    return data.StructLayout({"slot": unsigned(params.slot_width), "entry": entry_layout(params)})


def result_layout(params: ExpertCacheParams) -> data.StructLayout:
    """A lookup's answer: ``hit`` and the slot holding the expert; on a miss, the slot now
    being filled (its fetch requested), or ``refused`` when no slot may take it."""
    return data.StructLayout({"hit": 1, "refused": 1, "slot": unsigned(params.slot_width)})


def fetch_layout(params: ExpertCacheParams) -> data.StructLayout:
    """A fetch request: ``layer``'s ``expert`` into ``slot``; with prefetch, whether a
    prefetch asked for it (``prefetch``: the memory may serve a lookup's misses first)."""
    fields = {
        "layer": unsigned(params.layer_width),
        "expert": unsigned(params.expert_width),
        "slot": unsigned(params.slot_width),
    }
    if params.prefetch:
        fields["prefetch"] = 1
    return data.StructLayout(fields)
