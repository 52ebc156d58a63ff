"""Top-k proofs: the stream contract of both microarchitectures, the golden rule (the k best,
best first, ties to the lower index) for every item under any traffic, and a miter of the
network against the sequential selector."""

import dataclasses

from amaranth import Cat, Module
from amaranth.hdl import Assert

from moetile.hw.topk import TopKParams
from moetile.hw.topk.interface import input_layout
from moetile.hw.topk.rtl import topk_component

from ..properties import OutputContract, Property, transfer
from ..spec import FormalSpec
from ..tracking import TrackedItem

SMALL = (
    TopKParams(n=4, k=2, score_width=3, arch="network"),
    TopKParams(n=4, k=2, score_width=3, arch="sequential"),
)


def _key(params: TopKParams, score, index):
    """The golden model's sort key (``moetile.sw.golden.topk``): higher for a better
    candidate, distinct for distinct candidates."""
    return score * params.n + (params.n - 1 - index)


def _assert_rule(m: Module, params: TopKParams, scores, top) -> None:
    """``top`` (best first) is the golden rule's answer for ``scores``."""
    keys = [_key(params, top[r].score, top[r].index) for r in range(params.k)]
    for r in range(params.k):
        m.d.comb += Assert(top[r].index < params.n)
        m.d.comb += Assert(top[r].score == scores[top[r].index])
    for r in range(params.k - 1):
        m.d.comb += Assert(keys[r] > keys[r + 1])
    for j in range(params.n):
        chosen = [top[r].index == j for r in range(params.k)]
        m.d.comb += Assert(Cat(*chosen).any() | (keys[-1] > _key(params, scores[j], j)))


def _rule(params: TopKParams, depth: int) -> Property:
    def build(m, components, free):
        dut = components["dut"]
        item = TrackedItem(
            m,
            free,
            input_layout(params),
            dut.i.payload,
            transfer(dut.i),
            transfer(dut.o),
            _capacity(params),
        )
        with m.If(dut.o.valid & item.due):
            _assert_rule(m, params, item.payload.scores, dut.o.payload.top)

    return Property(
        "rule",
        "every output is the k best of its input, best first, ties to the lower index",
        build,
        depth,
    )


def _miter(params: TopKParams, depth: int) -> Property:
    """The two microarchitectures fed one stream (an input is taken when both take it) and
    drained together (an output leaves when both offer one): their outputs must agree."""
    other = "sequential" if params.arch == "network" else "network"

    def components(make_dut):
        return {"dut": make_dut(), "other": topk_component(dataclasses.replace(params, arch=other))}

    def build(m, found, free):
        a, b = found["dut"], found["other"]
        source_valid, source = free(1, "source_valid"), free(input_layout(params), "source")
        sink_ready = free(1, "sink_ready")
        m.d.comb += [
            a.i.payload.eq(source),
            b.i.payload.eq(source),
            a.i.valid.eq(source_valid & b.i.ready),
            b.i.valid.eq(source_valid & a.i.ready),
            a.o.ready.eq(sink_ready & b.o.valid),
            b.o.ready.eq(sink_ready & a.o.valid),
        ]
        with m.If(a.o.valid & b.o.valid):
            m.d.comb += Assert(a.o.payload.as_value() == b.o.payload.as_value())

    return Property(
        "miter",
        f"equal to the {other} selector on every item of one shared stream",
        build,
        depth,
        components,
    )


def _capacity(params: TopKParams) -> int:
    return max(1, len(params.network)) if params.arch == "network" else 1


def _contracts(params: TopKParams):
    return [OutputContract("o", lambda m, dut: transfer(dut.i), _capacity(params), params.latency)]


def _depth(params: TopKParams) -> int:
    """Past the latency by two more items' worth of cycles."""
    return params.latency + 2 * params.initiation_interval + _capacity(params)


def _functional(params: TopKParams) -> list[Property]:
    sequential = dataclasses.replace(params, arch="sequential")
    return [_rule(params, _depth(params)), _miter(params, _depth(sequential))]


SPEC = FormalSpec(
    block="topk",
    params=SMALL,
    contracts=_contracts,
    depth=_depth,
    functional=_functional,
)
