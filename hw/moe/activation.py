"""The activation unit: requantization, the activation lookup table and the gated product."""

from amaranth import Array, Cat, Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from .fixed import clamp, requantize, token_multiplier
from .interface import (
    column_layout,
    lane_context_layout,
    read_signature,
    row_layout,
    scale_pair_layout,
    write_signature,
)
from .params import ACTIVATION_WIDTH, MoELayerParams

__all__ = ["ActivationUnit"]

INT8 = (-(1 << (ACTIVATION_WIDTH - 1)), (1 << (ACTIVATION_WIDTH - 1)) - 1)


class ActivationUnit(wiring.Component):
    """Turns the gate/up phase's int32 rows into the int8 hidden vectors of the lanes.

    One lane a cycle. A gate row: ``a = act_table[sat8(requantize(g, token multiplier))]``,
    kept per array and lane until that array's up row of the same unit arrives (an array
    emits a unit's gate row, then its up row). An up row: ``v = sat8(requantize(u, ...))``,
    ``h = sat8(requantize(a * v, product))``; the unit's ``h`` of every lane is written to the
    hidden buffer as one column. Exact rule: :mod:`moetile.sw.golden.moe_layer`.

    Members
    -------
    i : In(stream.Signature(row_layout(params)))
    lanes : In(lane_context_layout(params))
    product : In(scale_pair_layout(params))
    scales : Out(read_signature(total_experts * scale_rows, scale_pair_layout(params)))
        Reads of the per-row requantization scales.
    act_write : In(write_signature(256, signed(8)))
        Activation table writes.
    hidden_write : Out(write_signature(padded_units, column_layout(params)["x"].shape))
        Writes of the hidden columns.
    busy : Out(1)
    """

    def __init__(self, params: MoELayerParams):
        self.params = params
        super().__init__(
            {
                "i": In(stream.Signature(row_layout(params))),
                "lanes": In(lane_context_layout(params)),
                "product": In(scale_pair_layout(params)),
                "scales": Out(
                    read_signature(
                        params.total_experts * params.scale_rows, scale_pair_layout(params)
                    )
                ),
                "act_write": In(write_signature(1 << ACTIVATION_WIDTH, signed(ACTIVATION_WIDTH))),
                "hidden_write": Out(
                    write_signature(params.padded_units, column_layout(params)["x"].shape)
                ),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.act_table = table = Memory(
            shape=signed(ACTIVATION_WIDTH), depth=1 << ACTIVATION_WIDTH, init=[]
        )
        m.submodules.gated = gated = Memory(
            shape=signed(ACTIVATION_WIDTH), depth=p.arrays * p.lanes, init=[]
        )
        table_write, table_read = table.write_port(), table.read_port(domain="comb")
        gated_write, gated_read = gated.write_port(), gated.read_port(domain="comb")
        m.d.comb += [
            table_write.addr.eq(self.act_write.addr),
            table_write.data.eq(self.act_write.data),
            table_write.en.eq(self.act_write.en),
        ]

        # Take a row; decode its unit: array ``a``'s row ``r`` is unit ``(r // 2) * arrays + a``,
        # a gate row when ``r`` is even.
        row = Signal.like(self.i.payload)
        lane = Signal(counter_range(p.lanes + 1))
        m.d.comb += self.i.ready.eq(~self.busy)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [row.eq(self.i.payload), lane.eq(0), self.busy.eq(1)]
        unit = Signal(range(p.gate_up_rows * p.arrays))
        is_up = row.row[0]
        m.d.comb += [
            unit.eq((row.row >> 1) * p.arrays + row.array),
            self.scales.addr.eq(self.lanes.expert * p.scale_rows + unit * 2 + is_up),
        ]

        # One lane a cycle: requantize this lane's sum with its token's multiplier.
        y = Array(row.y)[lane]
        multiplier = token_multiplier(
            m,
            "lane_multiplier",
            Array(self.lanes.scale)[lane],
            self.scales.data.multiplier,
            p.token_scale_width,
        )
        wide = requantize(m, "sum", y, multiplier, self.scales.data.shift, 63)
        value = clamp(m, "value", wide, *INT8, signed(ACTIVATION_WIDTH))
        slot = row.array * p.lanes + lane
        m.d.comb += [
            table_read.addr.eq(value.as_unsigned()),
            gated_write.addr.eq(slot),
            gated_write.data.eq(table_read.data),
            gated_read.addr.eq(slot),
        ]
        product = requantize(
            m, "gated", gated_read.data * value, self.product.multiplier, self.product.shift, 63
        )
        hidden = clamp(m, "hidden", product, *INT8, signed(ACTIVATION_WIDTH))
        columns = Array(Signal(signed(ACTIVATION_WIDTH), name=f"h{i}") for i in range(p.lanes))
        working = self.busy & (lane < p.lanes)
        m.d.comb += gated_write.en.eq(working & ~is_up)
        with m.If(working):
            m.d.sync += lane.eq(lane + 1)
            with m.If(is_up):
                m.d.sync += columns[lane].eq(hidden)

        # After the last lane of an up row, its column goes to the hidden buffer.
        flush = self.busy & (lane == p.lanes)
        m.d.comb += [
            self.hidden_write.addr.eq(unit),
            self.hidden_write.data.eq(Cat(columns)),
            self.hidden_write.en.eq(flush & is_up & (unit < p.padded_units)),
        ]
        with m.If(flush):
            m.d.sync += self.busy.eq(0)
        return m
