"""Expert-choice routing in the layer: the softmax router's gating weights, decided on by the
gate-output (GO) cache."""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring

from ..gocache.cache import GOCache
from .params import MoELayerParams
from .router import Router, router_members

__all__ = ["ExpertChoiceRouter"]


class ExpertChoiceRouter(wiring.Component):
    """Each expert takes the ``capacity`` best tokens of the sequence so far.

    A token goes through the softmax :class:`~moetile.hw.moe.router.Router` with ``top_k``
    equal to ``experts``: every expert's gating weight, the softmax over all logits, best
    first. Put back in expert order, the weights are the scores of the GO cache
    (:class:`~moetile.hw.gocache.cache.GOCache`), which keeps each expert's ``capacity`` best
    tokens of the sequence (ties to the earlier token) and decides, as the token arrives,
    which experts take it. The choice leaves on ``o`` with ``taken`` marking them. A token
    with ``start`` (read from its final chunk) begins a new sequence; the selections are
    kept across batches until then. Exact rule: :mod:`moetile.sw.golden.moe_layer`.

    Members: those of :class:`~moetile.hw.moe.router.Router`.
    """

    def __init__(self, params: MoELayerParams):
        self.params = params
        super().__init__(router_members(params))

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.router = router = Router(p)
        m.submodules.go_cache = cache = GOCache(p.go_cache)
        wiring.connect(m, wiring.flipped(self.i), router.i)
        wiring.connect(m, wiring.flipped(self.i_w), router.i_w)
        wiring.connect(m, wiring.flipped(self.exp_write), router.exp_write)
        m.d.comb += router.scale.eq(self.scale)
        if p.shared_gate:
            m.d.comb += router.shared_scale.eq(self.shared_scale)

        # The token's ``start``, from its final chunk: the next token's chunks wait until
        # the cache takes this one's weights.
        start = Signal()
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += start.eq(self.i.payload.start)

        # The weights in expert order into the cache; the choice kept while it decides.
        choice = router.o.payload
        for e in range(p.experts):
            score = 0
            for i in range(p.top_k):
                score = Mux(choice.expert[i] == e, choice.gate[i], score)
            m.d.comb += cache.i.payload.scores[e].eq(score)
        m.d.comb += [
            cache.i.payload.start.eq(start),
            cache.i.valid.eq(router.o.valid),
            router.o.ready.eq(cache.i.ready),
        ]
        held = Signal.like(router.o.payload)
        with m.If(cache.i.valid & cache.i.ready):
            m.d.sync += held.eq(choice)

        # The choice out, with the experts that took the token.
        out = self.o.payload
        m.d.comb += [
            self.o.valid.eq(cache.o.valid),
            cache.o.ready.eq(self.o.ready),
            out.expert.eq(held.expert),
            out.gate.eq(held.gate),
        ]
        if p.shared_gate:
            m.d.comb += out.shared_gate.eq(held.shared_gate)
        for i in range(p.top_k):
            m.d.comb += out.taken[i].eq(cache.o.payload.take.bit_select(held.expert[i], 1))
        return m
