"""The MoE layer accelerator: router, expert engine, activation unit and combine."""

from amaranth import Cat, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..expert_cache.cache import ExpertCache
from ..expert_cache.interface import fetch_layout, key_layout
from ..registry import resolve
from .activation import ActivationUnit
from .buffer import SharedMemory
from .choice_router import ExpertChoiceRouter
from .combine import CombineUnit
from .front import TokenFrontEnd, front_memories
from .gather import LaneGatherer
from .interface import (
    column_layout,
    load_layout,
    result_layout,
    scale_pair_layout,
    stats_layout,
    token_layout,
)
from .load import LoadDecoder
from .params import MoELayerParams
from .router import Router
from .scheduler import JobScheduler
from .score_router import ScoreRouter
from .stats import StatsUnit
from .steer import RowSteer

__all__ = ["MoELayerAccelerator"]


def _router(params: MoELayerParams) -> type:
    """The router component: the GO cache's expert choice, the softmax router or the score
    router."""
    if params.expert_choice:
        return ExpertChoiceRouter
    return Router if params.scoring == "softmax" else ScoreRouter


class MoELayerAccelerator(wiring.Component):
    """The MoE feed-forward block of one layer, for a batch of tokens.

    Weights first: ``i_load`` writes the gate, tables, scales and expert rows into resident
    memories (``params.load_targets``); it is taken only between batches. Then tokens on
    ``i_token`` (the one with ``last`` set, or the ``max_tokens``-th, closes the batch): each
    is stored and routed as it arrives, and appended to the token lists of its experts. Then
    expert by expert, in groups of ``lanes`` tokens: the group's tokens are gathered into the
    lanes' columns, the engine runs the gate/up rows, the activation unit writes the hidden
    columns, the engine runs the down rows on them, and the combine unit accumulates the
    weighted results (shared experts take every token with weight 1). Last, one result per
    token on ``o``, in arrival order, then one transfer on ``o_stats`` with the cycles of each
    step (:data:`~moetile.hw.moe.interface.STATS`). Exact arithmetic:
    :mod:`moetile.sw.golden.moe_layer`.

    Parameters
    ----------
    params : MoELayerParams

    Members
    -------
    i_load : In(stream.Signature(load_layout(params)))
    i_token : In(stream.Signature(token_layout(params)))
    o : Out(stream.Signature(result_layout(params)))
    o_stats : Out(stream.Signature(stats_layout(params)))

    Behind an expert cache (``params.cache_slots``), each expert's slot is looked up before
    its first group and a missing expert is asked for on ``o_fetch`` (its words come back on
    ``i_load``). With ``params.cache_prefetch``, ``i_prefetch`` takes (layer, expert) requests
    ahead of the layer that needs them (see :class:`~moetile.hw.expert_cache.cache.ExpertCache`
    and :class:`~moetile.hw.moe.scheduler.JobScheduler`).

    o_fetch : Out(stream.Signature(fetch_layout(params.cache)))
        Only behind an expert cache.
    i_prefetch : In(stream.Signature(key_layout(params.cache)))
        Only with prefetch.
    """

    def __init__(self, params: MoELayerParams):
        self.params = params
        fetch = {}
        if params.cache is not None:
            fetch["o_fetch"] = Out(stream.Signature(fetch_layout(params.cache)))
        if params.cache_prefetch:
            fetch["i_prefetch"] = In(stream.Signature(key_layout(params.cache)))
        super().__init__(
            {
                "i_load": In(stream.Signature(load_layout(params))),
                "i_token": In(stream.Signature(token_layout(params))),
                "o": Out(stream.Signature(result_layout(params))),
                "o_stats": Out(stream.Signature(stats_layout(params))),
                **fetch,
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.load = load = LoadDecoder(p)
        m.submodules.front = front = TokenFrontEnd(p)
        m.submodules.router = router = _router(p)(p)
        m.submodules.scheduler = scheduler = JobScheduler(p)
        m.submodules.gather = gather = LaneGatherer(p)
        m.submodules.engine = engine = resolve(p.engine.component)(p)
        m.submodules.steer = steer = RowSteer(p)
        m.submodules.activation = activation = ActivationUnit(p)
        m.submodules.combine = combine = CombineUnit(p)
        m.submodules.stats = stats = StatsUnit(p)
        # Per-expert scales (loaded; read by the activation and combine units) and the hidden
        # columns (written by the activation unit; streamed back by the scheduler).
        # With expert biases, one more read each for the activation and combine units.
        readers = 2 + 2 * p.expert_bias
        scales = SharedMemory(p.regions * p.scale_rows, scale_pair_layout(p), readers=readers)
        hidden = SharedMemory(p.padded_units, column_layout(p)["x"].shape, readers=1)
        m.submodules.scales, m.submodules.hidden = scales, hidden
        # Weights in.
        wiring.connect(m, wiring.flipped(self.i_load), load.i_load)
        wiring.connect(m, load.router, router.i_w)
        wiring.connect(m, load.exp_table, router.exp_write)
        if p.choice_bias:
            wiring.connect(m, load.choice_bias, router.bias_write)
        wiring.connect(m, load.act_table, activation.act_write)
        wiring.connect(m, load.banks, engine.bank_write)
        wiring.connect(m, load.scales, scales.write)
        wiring.connect(m, activation.scales, scales.read0)
        wiring.connect(m, combine.scales, scales.read1)
        if p.expert_bias:
            wiring.connect(m, activation.biases, scales.read2)
            wiring.connect(m, combine.biases, scales.read3)
        wiring.connect(m, activation.hidden_write, hidden.write)
        wiring.connect(m, scheduler.hidden, hidden.read0)
        # Tokens in, routed, listed per expert, gathered into the lanes.
        wiring.connect(m, wiring.flipped(self.i_token), front.i_token)
        wiring.connect(m, front.to_router, router.i)
        wiring.connect(m, router.o, front.choices)
        for name in front_memories(p):
            wiring.connect(m, getattr(gather, name), getattr(front, name))
        wiring.connect(m, gather.columns, scheduler.columns_in)
        # Jobs through the engine, its rows to the units, the results and stats out.
        wiring.connect(m, scheduler.columns, engine.i_x)
        wiring.connect(m, scheduler.jobs, engine.i_job)
        wiring.connect(m, engine.o, steer.i)
        wiring.connect(m, steer.to_activation, activation.i)
        wiring.connect(m, steer.to_combine, combine.i)
        wiring.connect(m, combine.o, wiring.flipped(self.o))
        wiring.connect(m, stats.o, wiring.flipped(self.o_stats))
        stats_taken = stats.o.valid & stats.o.ready
        m.d.comb += [
            load.open.eq(scheduler.loading),
            front.open.eq(scheduler.accepting),
            front.clear.eq(stats_taken),
            scheduler.routed_all.eq(front.routed_all),
            scheduler.received.eq(front.received),
            scheduler.counts.eq(front.counts),
            gather.start.eq(scheduler.gather),
            gather.expert.eq(scheduler.expert),
            gather.first.eq(scheduler.first),
            gather.count.eq(scheduler.count),
            scheduler.gathered.eq(gather.done),
            steer.down.eq(scheduler.down),
            scheduler.engine_idle.eq(engine.idle),
            scheduler.units_busy.eq(activation.busy | combine.busy | engine.o.valid),
            scheduler.combine_busy.eq(combine.busy),
            combine.drain.eq(scheduler.drain),
            combine.tokens.eq(front.received),
            stats.phase.eq(scheduler.phase),
            stats.send.eq(scheduler.send_stats),
            scheduler.stats_taken.eq(stats_taken),
            router.scale.eq(load.router_scale),
            *([router.shared_scale.eq(load.shared_gate_scale)] if p.shared_gate else []),
            activation.product.eq(load.product_scale),
        ]
        if p.cache is not None:
            self._cache(m, load, scheduler, engine)
        if p.cache_prefetch:
            self._prefetch(m, m.submodules.cache, load, front, scheduler, stats, stats_taken)
        for unit in (activation, combine):  # the lane context: the expert and the lanes' tokens
            m.d.comb += unit.lanes.region.eq(scheduler.region)
            for field in ("token", "gate", "scale", "valid"):
                m.d.comb += getattr(unit.lanes, field).eq(getattr(gather.lanes, field))
        return m

    def _cache(self, m, load, scheduler, engine) -> None:
        """The expert cache between the scheduler and the banks: the scheduler's lookups, the
        load stream's slot configuration, the fetch requests out, the fetched words into the
        slot, which waits while a job reads the banks."""
        m.submodules.cache = cache = ExpertCache(self.params.cache)
        wiring.connect(m, scheduler.lookup, cache.i)
        wiring.connect(m, cache.o, scheduler.slot)
        wiring.connect(m, load.cache_config, cache.i_config)
        wiring.connect(m, cache.o_fetch, wiring.flipped(self.o_fetch))
        m.d.comb += [
            scheduler.layer.eq(load.layer),
            load.quiet.eq(engine.idle & ~scheduler.jobs.valid & ~scheduler.units_busy),
        ]
        if not self.params.cache_prefetch:
            m.d.comb += [
                load.fetching.eq(scheduler.fetching),
                load.slot.eq(scheduler.region),
                scheduler.fetched.eq(load.fetched),
            ]

    def _prefetch(self, m, cache, load, front, scheduler, stats, stats_taken) -> None:
        """Prefetch requests into the cache in its window; each fetch landing in the slot its
        first word names unless a job reads it; the batch's tokens after its layer's words;
        the refusals counted."""
        p = self.params
        batch = front.received != 0
        needed = [front.counts[e] != 0 for e in range(p.experts)]
        wiring.connect(m, wiring.flipped(self.i_prefetch), cache.i_prefetch)
        m.d.comb += [
            # Between batches only while no token is offered: a request met by a batch's
            # tokens waits until they are routed, to keep the slots they need.
            cache.window.eq(scheduler.window & (batch | ~self.i_token.valid)),
            cache.layer.eq(load.layer),
            cache.needed.eq(Cat(*needed, *([batch] * p.shared_experts))),
            cache.batch_done.eq(stats_taken),
            cache.landed.eq(load.fetched),
            cache.landed_slot.eq(load.landing_slot),
            load.region.eq(scheduler.region),
            load.clear.eq(stats_taken),
            scheduler.hold.eq(self.i_prefetch.valid | cache.prefetching),
            scheduler.pending.eq(cache.pending),
            stats.phase.refused.eq(cache.refused),
            front.open.eq(scheduler.accepting & load.named),
        ]
