"""Designs made for the harness tests: top-k selectors broken on purpose, to show that the
checks catch them (one ranks ties to the higher index, one ignores ``o.ready`` and drops
results under back-pressure), and a small stream adder with a static input."""

from dataclasses import replace
from unittest import mock

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring

from moetile.hw.moe.layer import MoELayerAccelerator
from moetile.hw.registry import Block, Design, block
from moetile.hw.topk import TopKParams, network
from moetile.hw.topk.interface import topk_signature

__all__ = ["OutputMutant", "EagerLoads", "broken_topk", "offset_design"]


def _beats_higher_index(a, b):
    return (a.score > b.score) | ((a.score == b.score) & (a.index > b.index))


class WrongTies(network.TopKNetwork):
    def elaborate(self, platform):
        with mock.patch.object(network, "beats", _beats_higher_index):
            return super().elaborate(platform)


class IgnoresReady(wiring.Component):
    def __init__(self, params: TopKParams):
        self.params = params
        super().__init__(topk_signature(params))

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = network.TopKNetwork(self.params)
        wiring.connect(m, wiring.flipped(self.i), inner.i)
        m.d.comb += [
            self.o.valid.eq(inner.o.valid),
            self.o.payload.eq(inner.o.payload),
            inner.o.ready.eq(1),
        ]
        return m


def broken_topk(kind: str, params: TopKParams) -> Design:
    """``kind``: ``wrong_ties`` or ``ignores_ready``; built in its own cache directory."""
    entry = replace(
        block("topk"),
        name=f"topk_{kind}",
        component=f"broken_designs:{_CLASSES[kind]}",
        defaults=(),
        summary=kind,
    )
    return Design(entry, params)


_CLASSES = {"wrong_ties": "WrongTies", "ignores_ready": "IgnoresReady"}


class Offset(wiring.Component):
    """Not broken: a stream adder with a static input, ``o = i + cfg_offset`` (9 bits), for
    the fast harness's non-stream inputs."""

    def __init__(self, params):
        super().__init__(
            {
                "i": wiring.In(stream.Signature(unsigned(8))),
                "cfg_offset": wiring.In(8),
                "o": wiring.Out(stream.Signature(unsigned(9))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        with m.If(self.o.ready | ~self.o.valid):
            m.d.sync += [
                self.o.valid.eq(self.i.valid),
                self.o.payload.eq(self.i.payload + self.cfg_offset),
            ]
        m.d.comb += self.i.ready.eq(self.o.ready | ~self.o.valid)
        return m


def offset_design() -> Design:
    entry = Block(
        "offset",
        TopKParams,
        "broken_designs:Offset",
        (),
        "offset",
        golden="",
        testbench="",
        proofs="",
    )
    return Design(entry, TopKParams(n=1, k=1))


class OutputMutant(wiring.Component):
    """Any block with its output stream ``port`` broken one way, every other port passed
    through.

    ``flip``: payload bit 0 inverted. ``unheld``: the block's output is taken whether or not
    the sink is ready (valid drops while stalled). ``duplicate``: every output is offered twice.
    ``drop``: every other output, the first among them, is taken from the block and never offered.
    """

    def __init__(self, inner, kind: str, port: str = "o"):
        self.inner, self.kind, self.port = inner, kind, port
        super().__init__(inner.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        for name in self.signature.members:
            if name != self.port:
                a, b = getattr(self, name), getattr(inner, name)
                flow = self.signature.members[name].flow
                if self.signature.members[name].is_signature:
                    pair = (wiring.flipped(a), b) if flow == wiring.In else (b, wiring.flipped(a))
                    wiring.connect(m, *pair)
                else:
                    m.d.comb += a.eq(b) if flow == wiring.Out else b.eq(a)
        o, inner_o = getattr(self, self.port), getattr(inner, self.port)
        payload = inner_o.payload.as_value()
        if self.kind == "flip":
            m.d.comb += [o.valid.eq(inner_o.valid), inner_o.ready.eq(o.ready)]
            m.d.comb += o.payload.eq(payload ^ 1)
        elif self.kind == "unheld":
            m.d.comb += [o.valid.eq(inner_o.valid), inner_o.ready.eq(1), o.payload.eq(payload)]
        elif self.kind == "duplicate":
            again = Signal()
            saved = Signal.like(payload)
            m.d.comb += [
                o.valid.eq(inner_o.valid | again),
                o.payload.eq(Mux(again, saved, payload)),
                inner_o.ready.eq(o.ready & ~again),
            ]
            with m.If(o.valid & o.ready):
                m.d.sync += [again.eq(~again), saved.eq(payload)]
        elif self.kind == "drop":
            skip = Signal(init=1)
            m.d.comb += [
                o.valid.eq(inner_o.valid & ~skip),
                o.payload.eq(payload),
                inner_o.ready.eq(o.ready | skip),
            ]
            with m.If(inner_o.valid & inner_o.ready):
                m.d.sync += skip.eq(~skip)
        return m


class EagerLoads(MoELayerAccelerator):
    """A layer behind an expert cache whose load decoder is always open, a job running or
    not; ``guarded``: its writes still wait for ``quiet``."""

    def __init__(self, params, guarded: bool):
        super().__init__(params)
        self.guarded = guarded

    def _cache(self, m, load, scheduler, engine) -> None:
        super()._cache(m, load, scheduler, engine)
        m.d.comb += load.open.eq(1)
        if not self.guarded:
            m.d.comb += load.quiet.eq(1)


class UnguardedLandings(MoELayerAccelerator):
    """A layer with prefetch whose load decoder is told the job reads some other slot than
    the one a fetch lands in: its landings never wait."""

    def _prefetch(self, m, cache, load, front, scheduler, stats, stats_taken) -> None:
        super()._prefetch(m, cache, load, front, scheduler, stats, stats_taken)
        m.d.comb += load.region.eq(load.landing_slot + 1)
