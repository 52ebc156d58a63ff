"""Top-k selectors broken on purpose, to show that the checks catch them: one ranks ties to the
higher index, one ignores ``o.ready`` (it drops results under back-pressure)."""

from unittest import mock

from amaranth import Module
from amaranth.lib import wiring

from moetile.hw.registry import Block, Design
from moetile.hw.topk import TopKParams, network
from moetile.hw.topk.interface import topk_signature

__all__ = ["broken_topk"]


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
