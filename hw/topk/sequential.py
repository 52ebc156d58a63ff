"""Sequential top-k: one comparator, one candidate per cycle."""

from amaranth import Array, Module, Mux, Signal
from amaranth.lib import wiring

from ..checks import counter_range
from .compare import beats
from .interface import candidate_layout, topk_signature
from .params import TopKParams

__all__ = ["TopKSequential"]


class TopKSequential(wiring.Component):
    """Top-k by ``k`` passes over the stored scores, one comparison per cycle.

    Pass ``r`` walks candidates ``0 .. n-1`` in index order and keeps the best one not yet taken,
    replacing it only on a strictly higher score, so ties go to the lower index. After ``n * k``
    cycles the ``k`` winners are offered on ``o``; the next input is accepted once they are read.
    The area is one comparator, an ``n``-way read mux and the ``n`` score registers.

    Parameters
    ----------
    params : TopKParams

    Members
    -------
    i : In(stream.Signature(input_layout(params)))
    o : Out(stream.Signature(output_layout(params)))
        ``top[0 .. k-1]``, best first, ``params.latency`` cycles after the input transfer.
    """

    def __init__(self, params: TopKParams):
        self.params = params
        super().__init__(topk_signature(params))

    def elaborate(self, platform):
        m = Module()
        p = self.params
        layout = candidate_layout(p)

        scores = Array(Signal.like(self.i.payload.scores[0], name=f"score{j}") for j in range(p.n))
        taken = Signal(p.n)
        top = Array(Signal(layout, name=f"top{r}") for r in range(p.k))
        candidate = Signal(counter_range(p.n))
        rank = Signal(counter_range(p.k))
        best = Signal(layout)
        have_best = Signal()

        # The candidate under test this cycle.
        current = Signal(layout)
        m.d.comb += [current.index.eq(candidate), current.score.eq(scores[candidate])]
        better = Signal()
        m.d.comb += better.eq(~taken.bit_select(candidate, 1) & (~have_best | beats(current, best)))
        winner = Signal(layout)
        m.d.comb += winner.eq(Mux(better, current.as_value(), best.as_value()))

        m.d.comb += [self.o.payload.top[r].eq(top[r]) for r in range(p.k)]

        with m.FSM():
            with m.State("load"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.sync += [scores[j].eq(self.i.payload.scores[j]) for j in range(p.n)]
                    m.d.sync += [taken.eq(0), candidate.eq(0), rank.eq(0), have_best.eq(0)]
                    m.next = "scan"
            with m.State("scan"):
                with m.If(candidate == p.n - 1):
                    m.d.sync += [top[rank].eq(winner), have_best.eq(0), candidate.eq(0)]
                    m.d.sync += taken.bit_select(winner.index, 1).eq(1)
                    with m.If(rank == p.k - 1):
                        m.next = "offer"
                    with m.Else():
                        m.d.sync += rank.eq(rank + 1)
                with m.Else():
                    m.d.sync += [best.eq(winner), have_best.eq(have_best | better)]
                    m.d.sync += candidate.eq(candidate + 1)
            with m.State("offer"):
                m.d.comb += self.o.valid.eq(1)
                with m.If(self.o.ready):
                    m.next = "load"
        return m
