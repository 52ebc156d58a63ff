"""The gate-output cache: every expert's selection, updated token by token."""

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from .interface import scores_layout, update_layout
from .params import GOCacheParams
from .selection import ExpertSelection

__all__ = ["GOCache"]


class GOCache(wiring.Component):
    """Expert-choice selections of a growing sequence, kept across tokens.

    Each token's scores (one per expert) arrive on ``i``; the cache decides in one cycle, for
    every expert at once, whether it takes the token and which token it drops
    (:class:`ExpertSelection`), writes the taken entries, and offers the update on ``o``.
    After a token that changed a full selection, the experts that changed scan their slots
    for their new worst entry (``capacity`` cycles) before the next token is taken. The
    selections equal, after every token, each expert's top ``capacity`` of the whole sequence
    recomputed from scratch (:mod:`moetile.sw.golden.gocache`).

    Parameters
    ----------
    params : GOCacheParams

    Members
    -------
    i : In(stream.Signature(scores_layout(params)))
    o : Out(stream.Signature(update_layout(params)))
    """

    def __init__(self, params: GOCacheParams):
        self.params = params
        super().__init__(
            {
                "i": In(stream.Signature(scores_layout(params))),
                "o": Out(stream.Signature(update_layout(params))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        experts = [ExpertSelection(p) for _ in range(p.experts)]
        for e, expert in enumerate(experts):
            m.submodules[f"expert{e}"] = expert

        # The new token's position: the next one, or 0 on a new (or an overlong) sequence.
        count = Signal(range(p.tokens + 1))
        token = Signal(p.token_width)
        full = Signal()
        m.d.comb += token.eq(Mux(self.i.payload.start | (count == p.tokens), 0, count))
        if p.capacity < p.tokens:  # else a selection never fills (and the compare is constant)
            m.d.comb += full.eq(token >= p.capacity)

        # Taking a token once no scan runs and the last update has left (or leaves now).
        scanning = Signal()
        scan_addr = Signal(counter_range(p.slots))
        accept = Signal()
        m.d.comb += [
            self.i.ready.eq(~scanning & (~self.o.valid | self.o.ready)),
            accept.eq(self.i.valid & self.i.ready),
        ]
        for e, expert in enumerate(experts):
            m.d.comb += [
                expert.score.eq(self.i.payload.scores[e]),
                expert.token.eq(token),
                expert.full.eq(full),
                expert.accept.eq(accept),
                expert.scan.eq(scanning),
                expert.scan_first.eq(scan_addr == 0),
                expert.scan_addr.eq(scan_addr),
            ]
        takes = Cat(expert.take for expert in experts)

        # Offering the update; a change to a full selection starts a scan.
        with m.If(accept):
            m.d.sync += [
                self.o.valid.eq(1),
                self.o.payload.token.eq(token),
                self.o.payload.scores.eq(self.i.payload.scores),
                self.o.payload.take.eq(takes),
                self.o.payload.evict.eq(Mux(full, takes, 0)),
                count.eq(token + 1),
                scanning.eq((token + 1 >= p.capacity) & takes.any()),
                scan_addr.eq(0),
            ]
            for e, expert in enumerate(experts):
                evicted = Mux(full & expert.take, expert.evicted, 0)
                m.d.sync += self.o.payload.evicted[e].eq(evicted)
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(scanning):
            m.d.sync += scan_addr.eq(scan_addr + 1)
            with m.If(scan_addr == p.capacity - 1):
                m.d.sync += scanning.eq(0)
        return m
