"""The expert-choice router for generation: the int8 gate GEMV in front of the GO cache."""

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..gemv.gemv import Gemv
from ..gemv.interface import chunk_layout
from .cache import GOCache
from .interface import token_layout, update_layout
from .params import GOCacheParams

__all__ = ["ExpertChoiceRouter"]


class ExpertChoiceRouter(wiring.Component):
    """Token by token, the gate scores and each expert's updated selection.

    Gate rows load on ``i_w`` as the GEMV block takes them (:class:`~moetile.hw.gemv.gemv.
    Gemv`). A token arrives on ``i_x`` as ``chunks`` chunks, ``start`` on its first chunk if
    it begins a sequence; the GEMV computes its ``experts`` scores and the GO cache
    (:class:`~moetile.hw.gocache.cache.GOCache`) updates the selections and offers the change
    on ``o``. Cycles with steady traffic: :meth:`GOCacheParams.sequence_cycles`.

    The same datapath without the cache's reuse is the no-cache baseline: the host sends the
    whole sequence again, ``start`` on its first token, at every generation step.

    Parameters
    ----------
    params : GOCacheParams

    Members
    -------
    i_w : In(stream.Signature(chunk_layout(params.gate)))
    i_x : In(stream.Signature(token_layout(params)))
    o : Out(stream.Signature(update_layout(params)))
    """

    def __init__(self, params: GOCacheParams):
        self.params = params
        super().__init__(
            {
                "i_w": In(stream.Signature(chunk_layout(params.gate))),
                "i_x": In(stream.Signature(token_layout(params))),
                "o": Out(stream.Signature(update_layout(params))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.gate = gate = Gemv(p.gate)
        m.submodules.cache = cache = GOCache(p)
        wiring.connect(m, wiring.flipped(self.i_w), gate.i_w)
        wiring.connect(m, cache.o, wiring.flipped(self.o))

        # Chunks go on to the GEMV; a token's ``start`` is kept until its scores leave it (the
        # GEMV takes the next token only after that).
        chunk = Signal(counter_range(p.gate.chunks))
        start = Signal()
        m.d.comb += [
            gate.i_x.payload.v.eq(self.i_x.payload.v),
            gate.i_x.valid.eq(self.i_x.valid),
            self.i_x.ready.eq(gate.i_x.ready),
        ]
        with m.If(self.i_x.valid & self.i_x.ready):
            m.d.sync += chunk.eq(Mux(chunk == p.gate.chunks - 1, 0, chunk + 1))
            with m.If(chunk == 0):
                m.d.sync += start.eq(self.i_x.payload.start)

        # Scores on to the cache, with the token's start.
        m.d.comb += [
            cache.i.payload.scores.eq(gate.o.payload.y),
            cache.i.payload.start.eq(start),
            cache.i.valid.eq(gate.o.valid),
            gate.o.ready.eq(cache.i.ready),
        ]
        return m
