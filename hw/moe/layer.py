"""The MoE layer accelerator: router, expert engine, activation unit and combine."""

from types import SimpleNamespace

from amaranth import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..registry import resolve
from .activation import ActivationUnit
from .combine import CombineUnit
from .front import TokenFrontEnd
from .interface import (
    column_layout,
    lane_context_layout,
    load_layout,
    result_layout,
    scale_pair_layout,
    stats_layout,
    token_layout,
)
from .load import LoadDecoder
from .params import ACTIVATION_WIDTH, MoELayerParams
from .router import Router
from .stats import StatsUnit

__all__ = ["MoELayerAccelerator"]


class Step(enum.Enum, shape=4):
    ROUTE = 0
    NEXT_GROUP = 1
    LOAD_LANES = 2
    GATHER = 3
    GATE_UP = 4
    HIDDEN = 5
    DOWN = 6
    OUTPUT = 7
    STATS = 8


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
    """

    def __init__(self, params: MoELayerParams):
        self.params = params
        super().__init__(
            {
                "i_load": In(stream.Signature(load_layout(params))),
                "i_token": In(stream.Signature(token_layout(params))),
                "o": Out(stream.Signature(result_layout(params))),
                "o_stats": Out(stream.Signature(stats_layout(params))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.router = router = Router(p)
        m.submodules.engine = engine = resolve(p.engine.component)(p)
        m.submodules.activation = activation = ActivationUnit(p)
        m.submodules.combine = combine = CombineUnit(p)
        m.submodules.scales = scales = Memory(
            shape=scale_pair_layout(p), depth=p.total_experts * p.scale_rows, init=[]
        )
        m.submodules.front = front = TokenFrontEnd(p)
        wiring.connect(m, wiring.flipped(self.i_token), front.i_token)
        wiring.connect(m, front.to_router, router.i)
        wiring.connect(m, router.o, front.choices)
        m.submodules.hidden = hidden = Memory(
            shape=column_layout(p)["x"].shape, depth=p.padded_units, init=[]
        )
        s = SimpleNamespace(
            step=Signal(Step),
            lanes=Signal(lane_context_layout(p)),
            received=front.received,
            counts=Array(front.counts[e] for e in range(p.experts)),
            units_busy=Signal(),
        )
        m.d.comb += [activation.lanes.eq(s.lanes), combine.lanes.eq(s.lanes)]

        m.submodules.load = load = LoadDecoder(p)
        wiring.connect(m, wiring.flipped(self.i_load), load.i_load)
        wiring.connect(m, load.router, router.i_w)
        wiring.connect(m, load.exp_table, router.exp_write)
        wiring.connect(m, load.act_table, activation.act_write)
        wiring.connect(m, load.banks, engine.bank_write)
        scale_write = scales.write_port()
        m.d.comb += [
            load.open.eq((s.step == Step.ROUTE) & (s.received == 0)),
            front.open.eq(s.step == Step.ROUTE),
            scale_write.addr.eq(load.scales.addr),
            scale_write.data.eq(load.scales.data),
            scale_write.en.eq(load.scales.en),
            router.scale.eq(load.router_scale),
            activation.product.eq(load.product_scale),
        ]
        with m.If((s.step == Step.ROUTE) & front.routed_all):
            m.d.sync += [s.step.eq(Step.NEXT_GROUP), s.lanes.expert.eq(0)]
        self._experts(m, s, engine, front, hidden)
        self._units(m, s, scales, hidden, engine, activation, combine)
        wiring.connect(m, combine.o, wiring.flipped(self.o))
        m.submodules.stats = stats = StatsUnit(p)
        wiring.connect(m, stats.o, wiring.flipped(self.o_stats))
        for name, steps in (
            ("gather", (Step.LOAD_LANES, Step.GATHER)),
            ("gate_up", (Step.GATE_UP, Step.HIDDEN)),
            ("down", (Step.DOWN,)),
            ("output", (Step.OUTPUT,)),
        ):
            m.d.comb += getattr(stats.phase, name).eq(Cat(s.step == step for step in steps).any())
        m.d.comb += [
            stats.phase.route.eq((s.step == Step.ROUTE) & (s.received != 0)),
            stats.send.eq(s.step == Step.STATS),
        ]
        # The stats taken: ready for the next batch.
        stats_taken = stats.o.valid & stats.o.ready
        m.d.comb += front.clear.eq(stats_taken)
        with m.If(stats_taken):
            m.d.sync += [s.step.eq(Step.ROUTE), s.first.eq(0)]
        return m

    def _experts(self, m, s, engine, front, hidden):
        """Expert by expert, group by group: fill the lanes, gather, gate/up, hidden, down."""
        p = self.params
        token_read, scale_read, list_read = front.tokens, front.scales, front.lists
        hidden_read = hidden.read_port(domain="comb")
        lanes = s.lanes
        expert = lanes.expert
        s.first = first = Signal(range(p.max_tokens + p.lanes + 1))
        lane = Signal(counter_range(p.lanes + 1))
        column = Signal(counter_range(p.inputs))
        part = Signal(counter_range(p.io_chunks + 1))
        offset = Signal(counter_range(p.io_chunk))
        job_sent = Signal()
        count = Signal(range(p.max_tokens + 1))
        shared = expert >= p.experts
        routed_count = s.counts[expert[: p.topk.index_width]]
        m.d.comb += count.eq(Mux(shared, s.received, routed_count))
        gathered = Array(
            Signal(signed(ACTIVATION_WIDTH), name=f"gathered{i}") for i in range(p.lanes)
        )

        with m.Switch(s.step):
            with m.Case(Step.NEXT_GROUP):
                # The expert's next group of tokens, or the next expert, or the results.
                with m.If(first < count):
                    m.d.sync += [s.step.eq(Step.LOAD_LANES), lane.eq(0)]
                with m.Elif(expert == p.total_experts - 1):
                    m.d.sync += s.step.eq(Step.OUTPUT)
                with m.Else():
                    m.d.sync += [expert.eq(expert + 1), first.eq(0)]
            with m.Case(Step.LOAD_LANES):
                index = first + lane
                entry = list_read.data
                token = Mux(shared, index, entry[: p.token_width])
                m.d.comb += [
                    list_read.addr.eq(expert * p.max_tokens + index),
                    scale_read.addr.eq(token),
                ]
                m.d.sync += [
                    lanes.token[lane].eq(token),
                    lanes.gate[lane].eq(Mux(shared, 1 << p.gate_frac, entry[p.token_width :])),
                    lanes.valid[lane].eq(index < count),
                    lanes.scale[lane].eq(scale_read.data),
                    lane.eq(lane + 1),
                ]
                with m.If(lane == p.lanes - 1):
                    m.d.sync += [
                        s.step.eq(Step.GATHER),
                        lane.eq(0),
                        column.eq(0),
                        part.eq(0),
                        offset.eq(0),
                    ]
            with m.Case(Step.GATHER):
                # Column ``k`` (chunk ``part``, position ``offset``): input ``k`` of each lane's
                # token, one lane a cycle.
                token_address = Array(lanes.token)[lane] * p.io_chunks + part
                m.d.comb += token_read.addr.eq(token_address)
                byte = Array(token_read.data)[offset]
                with m.If(lane < p.lanes):
                    valid = Array(lanes.valid)[lane] & (column < p.hidden)
                    m.d.sync += [gathered[lane].eq(Mux(valid, byte, 0)), lane.eq(lane + 1)]
                m.d.comb += engine.i_x.valid.eq(lane == p.lanes)
                for i in range(p.lanes):
                    m.d.comb += engine.i_x.payload.x[i].eq(gathered[i])
                with m.If(engine.i_x.valid & engine.i_x.ready):
                    m.d.sync += [column.eq(column + 1), lane.eq(0), offset.eq(offset + 1)]
                    with m.If(offset == p.io_chunk - 1):
                        m.d.sync += [offset.eq(0), part.eq(part + 1)]
                    with m.If(column == p.inputs - 1):
                        m.d.sync += [s.step.eq(Step.GATE_UP), job_sent.eq(0), column.eq(0)]
            with m.Case(Step.GATE_UP, Step.DOWN):
                left = count - first
                m.d.comb += [
                    engine.i_job.valid.eq(~job_sent),
                    engine.i_job.payload.expert.eq(expert),
                    engine.i_job.payload.phase.eq(s.step == Step.DOWN),
                    engine.i_job.payload.lanes.eq(Mux(left > p.lanes, p.lanes, left)),
                ]
                with m.If(engine.i_job.valid & engine.i_job.ready):
                    m.d.sync += job_sent.eq(1)
                with m.If(job_sent & engine.idle & ~s.units_busy):
                    with m.If(s.step == Step.GATE_UP):
                        m.d.sync += [s.step.eq(Step.HIDDEN), column.eq(0)]
                    with m.Else():
                        m.d.sync += [s.step.eq(Step.NEXT_GROUP), first.eq(first + p.lanes)]
            with m.Case(Step.HIDDEN):
                # The hidden columns, zero past the padded units, into the engine.
                m.d.comb += [
                    hidden_read.addr.eq(column),
                    engine.i_x.valid.eq(1),
                    engine.i_x.payload.x.eq(Mux(column < p.padded_units, hidden_read.data, 0)),
                ]
                with m.If(engine.i_x.ready):
                    m.d.sync += column.eq(column + 1)
                    with m.If(column == p.inputs - 1):
                        m.d.sync += [s.step.eq(Step.DOWN), job_sent.eq(0), column.eq(0)]

    def _units(self, m, s, scales, hidden, engine, activation, combine):
        """Engine rows to the activation unit (gate/up) or the combine unit (down)."""
        down = Signal()
        with m.If(engine.i_job.valid & engine.i_job.ready):
            m.d.sync += down.eq(engine.i_job.payload.phase)
        for unit, selected in ((activation, ~down), (combine, down)):
            m.d.comb += [
                unit.i.valid.eq(engine.o.valid & selected),
                unit.i.payload.eq(engine.o.payload),
            ]
        m.d.comb += engine.o.ready.eq(Mux(down, combine.i.ready, activation.i.ready))
        hidden_write = hidden.write_port()
        m.d.comb += [
            hidden_write.addr.eq(activation.hidden_write.addr),
            hidden_write.data.eq(activation.hidden_write.data),
            hidden_write.en.eq(activation.hidden_write.en),
            s.units_busy.eq(activation.busy | combine.busy | engine.o.valid),
        ]
        for unit in (activation, combine):
            read = scales.read_port(domain="comb")
            m.d.comb += [read.addr.eq(unit.scales.addr), unit.scales.data.eq(read.data)]

        # Results: the combine unit drains once every expert is done.
        draining = Signal()
        m.d.comb += [
            combine.tokens.eq(s.received),
            combine.drain.eq((s.step == Step.OUTPUT) & ~draining),
        ]
        with m.If(s.step == Step.OUTPUT):
            m.d.sync += draining.eq(1)
            with m.If(draining & ~combine.busy):
                m.d.sync += [s.step.eq(Step.STATS), draining.eq(0)]
