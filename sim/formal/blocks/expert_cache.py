"""Proofs of the `expert_cache` block: the stream contract of its results (one per lookup), and
every fetch request naming the lookup it answers, beside its miss result."""

from amaranth import Module, Signal
from amaranth.hdl import Assert

from moetile.hw.expert_cache import ExpertCacheParams
from moetile.hw.expert_cache.interface import key_layout

from ..counting import every
from ..properties import OutputContract, Property, transfer
from ..spec import CONTROL_DEPTH, FormalSpec

SMALL = (
    ExpertCacheParams(slots=3, layers=2, experts=3, policy="lru", usage_width=2),
    ExpertCacheParams(slots=3, layers=2, experts=3, policy="lfu", usage_width=2),
)


def _fetch(params: ExpertCacheParams) -> Property:
    """The harness keeps the last lookup accepted: a fetch request offered names its layer and
    expert, and while the result is offered beside it, the result is a miss (not refused) that
    names the same slot; a hit's result never comes with a fetch."""

    def build(m: Module, components, free):
        dut = components["dut"]
        last = Signal(key_layout(params), name="last_lookup")
        with m.If(transfer(dut.i)):
            m.d.sync += last.eq(dut.i.payload)
        fetch, result = dut.o_fetch, dut.o
        with m.If(fetch.valid):
            m.d.comb += [
                Assert(fetch.payload.layer == last.layer),
                Assert(fetch.payload.expert == last.expert),
            ]
            with m.If(result.valid):
                m.d.comb += [
                    Assert(~result.payload.hit & ~result.payload.refused),
                    Assert(result.payload.slot == fetch.payload.slot),
                ]
        with m.If(result.valid & (result.payload.hit | result.payload.refused)):
            m.d.comb += Assert(~fetch.valid)

    return Property(
        "fetch",
        "a fetch request names the lookup it answers, beside a miss result of the same slot; "
        "never one with a hit or a refusal",
        build,
        CONTROL_DEPTH,
    )


SPEC = FormalSpec(
    block="expert_cache",
    params=SMALL,
    contracts=lambda params: [
        OutputContract("o", every("i"), capacity=1, latency=params.miss_latency),
        OutputContract("o_fetch"),
    ],
    depth=lambda params: CONTROL_DEPTH,
    functional=lambda params: [_fetch(params)],
)
