"""Designs made for the harness tests: top-k selectors broken on purpose, to show that the
checks catch them (one ranks ties to the higher index, one ignores ``o.ready`` and drops
results under back-pressure), and a small stream adder with a static input."""

from unittest import mock

from amaranth import Module, unsigned
from amaranth.lib import stream, wiring

from moetile.hw.registry import Block, Design
from moetile.hw.topk import TopKParams, network
from moetile.hw.topk.interface import topk_signature

__all__ = ["broken_topk", "offset_design"]


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
    return Design(Block(f"topk_{kind}", TopKParams, f"broken_designs:{_CLASSES[kind]}", ()), params)


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
    return Design(Block("offset", TopKParams, "broken_designs:Offset", ()), TopKParams(n=1, k=1))
