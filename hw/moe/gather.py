"""The lane gatherer: fills the lanes with a group of an expert's tokens and streams the
group's input columns to the engine."""

from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from .front import front_reads
from .interface import column_layout, lane_context_layout
from .params import ACTIVATION_WIDTH, MoELayerParams

__all__ = ["LaneGatherer", "lane_tokens_layout"]


def lane_tokens_layout(params: MoELayerParams) -> data.StructLayout:
    """Each lane's token, gating weight, scale code and whether it holds one: the lane context
    (:func:`~moetile.hw.moe.interface.lane_context_layout`) without the expert."""
    fields = dict(lane_context_layout(params))
    return data.StructLayout({name: fields[name].shape for name in fields if name != "expert"})


class LaneGatherer(wiring.Component):
    """On ``start``: one lane a cycle, the next ``lanes`` entries of expert ``expert``'s list
    from entry ``first`` (every token from ``first`` for a shared expert), each lane's token,
    gate (a shared expert's: 1.0, or the token's shared gate) and scale code, a lane past
    ``count`` empty; then every input column of the lanes'
    tokens on ``columns`` (input ``k`` of each lane, zero for an empty lane and past
    ``hidden``), one lane a cycle gathered; ``done`` with the last column taken.

    Members
    -------
    start : In(1)
    expert : In(counter_range(params.total_experts))
    first, count : In(range(params.max_tokens + params.lanes + 1)), In(range(max_tokens + 1))
    lanes : Out(lane_tokens_layout(params))
    tokens, scales, lists, shared_gates : Out(front_reads(params)[...])
        The front end's memories.
    columns : Out(stream.Signature(column_layout(params)))
    done : Out(1)
    """

    def __init__(self, params: MoELayerParams):
        self.params = params
        p = params
        super().__init__(
            {
                "start": In(1),
                "expert": In(counter_range(p.total_experts)),
                "first": In(range(p.max_tokens + p.lanes + 1)),
                "count": In(range(p.max_tokens + 1)),
                "lanes": Out(lane_tokens_layout(p)),
                **{name: Out(signature) for name, signature in front_reads(p).items()},
                "columns": Out(stream.Signature(column_layout(p))),
                "done": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        loading, gathering = Signal(), Signal()
        lane = Signal(counter_range(p.lanes + 1))
        column = Signal(counter_range(p.inputs))
        part = Signal(counter_range(p.io_chunks + 1))
        offset = Signal(counter_range(p.io_chunk))
        shared = self.expert >= p.experts
        gathered = Array(
            Signal(signed(ACTIVATION_WIDTH), name=f"gathered{i}") for i in range(p.lanes)
        )
        with m.If(self.start):
            m.d.sync += [loading.eq(1), lane.eq(0)]

        # Loading: lane ``lane`` takes list entry ``first + lane``.
        index = self.first + lane
        entry = self.lists.data
        token = Mux(shared, index, entry[: p.token_width])
        shared_gate = 1 << p.gate_frac
        if p.shared_gate:
            m.d.comb += self.shared_gates.addr.eq(token)
            shared_gate = self.shared_gates.data
        with m.If(loading):
            m.d.comb += [
                self.lists.addr.eq(self.expert * p.max_tokens + index),
                self.scales.addr.eq(token),
            ]
            m.d.sync += [
                self.lanes.token[lane].eq(token),
                self.lanes.gate[lane].eq(Mux(shared, shared_gate, entry[p.token_width :])),
                self.lanes.valid[lane].eq(index < self.count),
                self.lanes.scale[lane].eq(self.scales.data),
                lane.eq(lane + 1),
            ]
            with m.If(lane == p.lanes - 1):
                m.d.sync += [
                    loading.eq(0),
                    gathering.eq(1),
                    lane.eq(0),
                    column.eq(0),
                    part.eq(0),
                    offset.eq(0),
                ]

        # Gathering: column ``k`` (chunk ``part``, position ``offset``), one lane a cycle.
        with m.If(gathering):
            m.d.comb += self.tokens.addr.eq(Array(self.lanes.token)[lane] * p.io_chunks + part)
            byte = Array(self.tokens.data)[offset]
            with m.If(lane < p.lanes):
                valid = Array(self.lanes.valid)[lane] & (column < p.hidden)
                m.d.sync += [gathered[lane].eq(Mux(valid, byte, 0)), lane.eq(lane + 1)]
            m.d.comb += self.columns.valid.eq(lane == p.lanes)
        m.d.comb += [self.columns.payload.x[i].eq(gathered[i]) for i in range(p.lanes)]
        with m.If(self.columns.valid & self.columns.ready):
            m.d.sync += [column.eq(column + 1), lane.eq(0), offset.eq(offset + 1)]
            with m.If(offset == p.io_chunk - 1):
                m.d.sync += [offset.eq(0), part.eq(part + 1)]
            with m.If(column == p.inputs - 1):
                m.d.comb += self.done.eq(1)
                m.d.sync += [gathering.eq(0), column.eq(0)]
        return m
