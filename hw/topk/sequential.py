"""Sequential top-k: one comparator, one candidate per cycle."""

from amaranth import Array, Module, Mux, Signal
from amaranth.lib import wiring

from ..checks import counter_range
from .interface import candidate_layout, topk_signature
from .params import TopKParams

__all__ = ["TopKSequential"]


class TopKSequential(wiring.Component):
    """Top-k by ``k`` passes over the stored scores, one comparison per cycle.

    Pass ``r`` walks candidates ``0 .. n-1`` in index order and keeps the best one not yet taken,
    replacing it only on a strictly higher score, so ties go to the lower index. After ``n * k``
    cycles the ``k`` winners are offered on ``o``; the next input is accepted once they are read.
    The scores and their taken flags rotate one place a cycle past the single comparator, so
    the candidate under test is always in place 0 (no read mux by index) and a pass of ``n``
    cycles leaves them where they started; a one-hot of the candidate marks the winner taken.

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

        scores = [Signal.like(self.i.payload.scores[0], name=f"score{j}") for j in range(p.n)]
        taken = Signal(p.n)
        top = Array(Signal(layout, name=f"top{r}") for r in range(p.k))
        candidate = Signal(counter_range(p.n))
        at = Signal(p.n)  # one-hot of ``candidate``
        rank = Signal(counter_range(p.k))
        best = Signal(layout)
        best_at = Signal(p.n)
        have_best = Signal()

        # The candidate under test this cycle, in place 0. Candidates come in index order, so
        # one beats the best so far only on a strictly higher score.
        current = Signal(layout)
        m.d.comb += [current.index.eq(candidate), current.score.eq(scores[0])]
        better = Signal()
        m.d.comb += better.eq(~taken[0] & (~have_best | (current.score > best.score)))
        winner = Signal(layout)
        m.d.comb += winner.eq(Mux(better, current.as_value(), best.as_value()))
        winner_at = Signal(p.n)
        m.d.comb += winner_at.eq(Mux(better, at, best_at))

        m.d.comb += [self.o.payload.top[r].eq(top[r]) for r in range(p.k)]

        with m.FSM():
            with m.State("load"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.sync += [scores[j].eq(self.i.payload.scores[j]) for j in range(p.n)]
                    m.d.sync += [taken.eq(0), candidate.eq(0), at.eq(1)]
                    m.d.sync += [rank.eq(0), have_best.eq(0)]
                    m.next = "scan"
            with m.State("scan"):
                m.d.sync += [scores[j].eq(scores[(j + 1) % p.n]) for j in range(p.n)]
                m.d.sync += [taken.eq(taken.rotate_right(1)), at.eq(at.rotate_left(1))]
                with m.If(candidate == p.n - 1):
                    # The rotation is back where it started: mark the winner in place.
                    m.d.sync += [top[rank].eq(winner), have_best.eq(0), candidate.eq(0)]
                    m.d.sync += taken.eq(taken.rotate_right(1) | winner_at)
                    with m.If(rank == p.k - 1):
                        m.next = "offer"
                    with m.Else():
                        m.d.sync += rank.eq(rank + 1)
                with m.Else():
                    m.d.sync += [best.eq(winner), best_at.eq(winner_at)]
                    m.d.sync += [have_best.eq(have_best | better), candidate.eq(candidate + 1)]
            with m.State("offer"):
                m.d.comb += self.o.valid.eq(1)
                with m.If(self.o.ready):
                    m.next = "load"
        return m
