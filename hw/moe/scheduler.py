"""The job scheduler: the MoE layer's step machine, from a routed batch to its stats."""

from amaranth import Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..expert_cache.interface import key_layout, result_layout
from .engine import job_layout
from .interface import column_layout, read_signature
from .params import MoELayerParams
from .stats import phase_layout

__all__ = ["JobScheduler", "Step"]


class Step(enum.Enum, shape=3):
    ROUTE = 0
    NEXT_GROUP = 1
    GATHER = 2
    GATE_UP = 3
    HIDDEN = 4
    DOWN = 5
    OUTPUT = 6
    STATS = 7


class JobScheduler(wiring.Component):
    """Once the batch is routed: expert by expert, in groups of ``lanes`` of its tokens, the
    lanes gathered (``gather``, ``gathered``), a gate/up job, the hidden columns streamed back
    (``hidden``), a down job; then the combine unit drained and the stats sent. A job ends
    when the engine is idle and the units have taken its rows.

    Members
    -------
    routed_all : In(1)
    received : In(range(params.max_tokens + 1))
    counts : In(data.ArrayLayout(range(params.max_tokens + 1), params.experts))
    expert : Out(counter_range(params.total_experts))
    gather : Out(1); first : Out(range(params.max_tokens + params.lanes + 1));
    count : Out(range(params.max_tokens + 1)); gathered : In(1)
        The gatherer's start, its group and its end.
    columns_in : In(stream.Signature(column_layout(params)))
        The gatherer's columns, passed on to ``columns``.
    hidden : Out(read_signature(params.padded_units, column_layout(params)["x"].shape))
    columns : Out(stream.Signature(column_layout(params)))
    jobs : Out(stream.Signature(job_layout(params)))
    down : Out(1)
        The engine's rows go to the combine unit (the last job was a down job).
    engine_idle, units_busy, combine_busy : In(1)
    drain : Out(1)
    phase : Out(phase_layout(params)); send_stats : Out(1); stats_taken : In(1)
    accepting : Out(1); loading : Out(1)
        Tokens are taken (the batch routes); weights are taken (between batches).
    region : Out(counter_range(params.regions))
        Where the running expert's weights and scales sit in the banks: the expert itself, or
        behind an expert cache its slot.

    Behind an expert cache (``params.cache_slots``), an expert's first group waits for its
    slot: the expert of layer ``layer`` is looked up (``lookup``), and on a miss its fetch
    fills the slot (``fetching`` until ``fetched``) before the lanes are gathered.

    lookup : Out(stream.Signature(key_layout(params.cache))); slot : In(stream.Signature(
    result_layout(params.cache))); layer : In(params.cache.layer_width); fetching : Out(1);
    fetched : In(1)
        Only behind an expert cache.

    With prefetch (``params.cache_prefetch``), the batch leaves routing only once no prefetch
    request is offered or being decided (``hold``), and the cache takes them only in the
    ``window`` between batches or once the batch is routed (the layer closes it while a new
    batch's first token is offered); the expert's slot holds it once
    no fetch into the slot is ``pending`` (a hit may wait for a prefetch still landing).

    window : Out(1); hold : In(1); pending : In(params.cache_slots)
        Only with prefetch, in place of ``fetching`` and ``fetched``.
    """

    def __init__(self, params: MoELayerParams):
        self.params = params
        p = params
        count = range(p.max_tokens + 1)
        column = column_layout(p)
        super().__init__(
            {
                "routed_all": In(1),
                "received": In(count),
                "counts": In(data.ArrayLayout(count, p.experts)),
                "expert": Out(counter_range(p.total_experts)),
                "gather": Out(1),
                "first": Out(range(p.max_tokens + p.lanes + 1)),
                "count": Out(count),
                "gathered": In(1),
                "columns_in": In(stream.Signature(column)),
                "hidden": Out(read_signature(p.padded_units, column["x"].shape)),
                "columns": Out(stream.Signature(column)),
                "jobs": Out(stream.Signature(job_layout(p))),
                "down": Out(1),
                "engine_idle": In(1),
                "units_busy": In(1),
                "combine_busy": In(1),
                "drain": Out(1),
                "phase": Out(phase_layout(p)),
                "send_stats": Out(1),
                "stats_taken": In(1),
                "accepting": Out(1),
                "loading": Out(1),
                "region": Out(counter_range(p.regions)),
                **self._cache_members(p),
            }
        )

    @staticmethod
    def _cache_members(p: MoELayerParams) -> dict:
        if p.cache is None:
            return {}
        members = {
            "lookup": Out(stream.Signature(key_layout(p.cache))),
            "slot": In(stream.Signature(result_layout(p.cache))),
            "layer": In(p.cache.layer_width),
        }
        if p.cache_prefetch:
            return {**members, "window": Out(1), "hold": In(1), "pending": In(p.cache_slots)}
        return {**members, "fetching": Out(1), "fetched": In(1)}

    def elaborate(self, platform):
        m = Module()
        p = self.params
        step = Signal(Step)
        expert, first = self.expert, self.first
        column = Signal(counter_range(p.inputs))
        job_sent, draining = Signal(), Signal()
        shared = expert >= p.experts
        m.d.comb += self.count.eq(
            Mux(shared, self.received, self.counts[expert[: p.topk.index_width]])
        )
        self._flags(m, step)
        wiring.connect(m, wiring.flipped(self.columns_in), wiring.flipped(self.columns))
        more = first < self.count  # the expert has tokens left
        # Where the expert's weights are: its slot behind a cache, else its own region.
        placed = self._place(m, step, more) if p.cache is not None else None
        if placed is None:
            m.d.comb += self.region.eq(expert)

        with m.Switch(step):
            with m.Case(Step.ROUTE), m.If(self._routed()):
                m.d.sync += [step.eq(Step.NEXT_GROUP), expert.eq(0)]
            with m.Case(Step.NEXT_GROUP):
                # The expert's next group of tokens (behind a cache, once its slot holds it),
                # or the next expert, or the results.
                with m.If(more if placed is None else more & placed):
                    m.d.comb += self.gather.eq(1)
                    m.d.sync += step.eq(Step.GATHER)
                if placed is not None:
                    with m.Elif(more):
                        pass  # the slot is being looked up, or filled
                with m.Elif(expert == p.total_experts - 1):
                    m.d.sync += step.eq(Step.OUTPUT)
                with m.Else():
                    m.d.sync += [expert.eq(expert + 1), first.eq(0)]
            with m.Case(Step.GATHER), m.If(self.gathered):
                m.d.sync += [step.eq(Step.GATE_UP), job_sent.eq(0)]
            with m.Case(Step.GATE_UP, Step.DOWN):
                left = self.count - first
                m.d.comb += [
                    self.jobs.valid.eq(~job_sent),
                    self.jobs.payload.region.eq(self.region),
                    self.jobs.payload.phase.eq(step == Step.DOWN),
                    self.jobs.payload.lanes.eq(Mux(left > p.lanes, p.lanes, left)),
                ]
                with m.If(self.jobs.valid & self.jobs.ready):
                    m.d.sync += [job_sent.eq(1), self.down.eq(self.jobs.payload.phase)]
                with m.If(job_sent & self.engine_idle & ~self.units_busy):
                    with m.If(step == Step.GATE_UP):
                        m.d.sync += [step.eq(Step.HIDDEN), column.eq(0)]
                    with m.Else():
                        m.d.sync += [step.eq(Step.NEXT_GROUP), first.eq(first + p.lanes)]
            with m.Case(Step.HIDDEN):
                # The hidden columns, zero past the padded units, into the engine.
                hidden = Mux(column < p.padded_units, self.hidden.data, 0)
                m.d.comb += [
                    self.hidden.addr.eq(column),
                    self.columns.valid.eq(1),
                    self.columns.payload.x.eq(hidden),
                    self.columns_in.ready.eq(0),
                ]
                with m.If(self.columns.ready):
                    m.d.sync += column.eq(column + 1)
                    with m.If(column == p.inputs - 1):
                        m.d.sync += [step.eq(Step.DOWN), job_sent.eq(0), column.eq(0)]
            with m.Case(Step.OUTPUT):
                # Results: the combine unit drains once every expert is done.
                m.d.comb += self.drain.eq(~draining)
                m.d.sync += draining.eq(1)
                with m.If(draining & ~self.combine_busy):
                    m.d.sync += [step.eq(Step.STATS), draining.eq(0)]
            with m.Case(Step.STATS), m.If(self.stats_taken):
                m.d.sync += [step.eq(Step.ROUTE), first.eq(0)]
        return m

    def _place(self, m, step, more):
        """Behind an expert cache: look the expert up before its first group, wait for a
        miss's fetch; return whether the expert's slot holds it."""
        placed, asked, waiting = Signal(), Signal(), Signal()
        expert = self.expert
        wanted = (step == Step.NEXT_GROUP) & more
        m.d.comb += [
            self.lookup.valid.eq(wanted & ~placed & ~asked & ~waiting),
            self.lookup.payload.layer.eq(self.layer),
            self.lookup.payload.expert.eq(expert),
            self.slot.ready.eq(1),
            self.phase.fetch.eq(wanted & ~placed),
        ]
        with m.If(self.lookup.valid & self.lookup.ready):
            m.d.sync += asked.eq(1)
        answer = self.slot.payload
        if self.params.cache_prefetch:
            # Placed once no fetch into the slot is pending (a miss's own is, from its fill).
            with m.If(self.slot.valid):
                m.d.sync += [self.region.eq(answer.slot), asked.eq(0)]
                with m.If(answer.hit & ~self.pending.bit_select(answer.slot, 1)):
                    m.d.sync += placed.eq(1)
                with m.Elif(~answer.refused):
                    m.d.sync += waiting.eq(1)
            with m.If(waiting & ~self.pending.bit_select(self.region, 1)):
                m.d.sync += [placed.eq(1), waiting.eq(0)]
        else:
            m.d.comb += self.fetching.eq(waiting)
            with m.If(self.slot.valid):
                m.d.sync += [self.region.eq(answer.slot), asked.eq(0)]
                with m.If(answer.hit):
                    m.d.sync += placed.eq(1)
                with m.Elif(~answer.refused):
                    m.d.sync += waiting.eq(1)
            with m.If(waiting & self.fetched):
                m.d.sync += [placed.eq(1), waiting.eq(0)]
        # The next expert (or batch) needs its own slot.
        with m.If((step == Step.NEXT_GROUP) & ~more):
            m.d.sync += placed.eq(0)
        return placed

    def _routed(self):
        """The batch may leave routing: routed, and with prefetch, no request held."""
        if self.params.cache_prefetch:
            return self.routed_all & ~self.hold
        return self.routed_all

    def _flags(self, m, step) -> None:
        """What each step lets the rest of the layer do, and which stats counter it runs."""
        routing = step == Step.ROUTE
        m.d.comb += [
            self.accepting.eq(routing),
            self.loading.eq(routing & (self.received == 0)),
            self.send_stats.eq(step == Step.STATS),
            self.phase.route.eq(routing & (self.received != 0)),
            self.phase.gather.eq(step == Step.GATHER),
            self.phase.gate_up.eq((step == Step.GATE_UP) | (step == Step.HIDDEN)),
            self.phase.down.eq(step == Step.DOWN),
            self.phase.output.eq(step == Step.OUTPUT),
        ]
        if self.params.cache_prefetch:
            m.d.comb += self.window.eq(routing & ((self.received == 0) | self.routed_all))
