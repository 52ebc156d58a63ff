"""The activation unit: requantization, the activation lookup table and the gated product."""

from amaranth import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..pipeline import Pipeline
from .fixed import clamp, requantize_stages, token_multiplier_stages
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
    scales : Out(read_signature(regions * scale_rows, scale_pair_layout(params)))
        Reads of the per-row requantization scales.
    biases : Out(read_signature(regions * scale_rows, scale_pair_layout(params)))
        With ``expert_bias``: reads of each unit's ``b1`` (the word after its scale).

    Ungated experts (``gated`` False): every row is a unit's up row, and its ``h =
    act_table[sat8(requantize(u, token multiplier) + b1)]`` goes to the column at once.
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
                **{
                    name: Out(
                        read_signature(
                            params.regions * params.scale_rows, scale_pair_layout(params)
                        )
                    )
                    for name in ("scales", "biases")[: 1 + params.expert_bias]
                },
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
        table_write, table_read = table.write_port(), table.read_port()
        m.d.comb += [
            table_write.addr.eq(self.act_write.addr),
            table_write.data.eq(self.act_write.data),
            table_write.en.eq(self.act_write.en),
        ]
        pipe = Pipeline(m)
        issuing, issued = self._issue(m, pipe)
        valued = self._requantize(m, pipe, issued)
        m.d.comb += table_read.addr.eq(valued.value.as_unsigned())
        read = pipe.stage("read", **valued.carry(*valued.names))
        if p.gated:
            self._gated(m, pipe, valued, read, table_read.data)
        else:  # the table's entry is the hidden value
            self._columns(m, pipe, read.carry("valid", "lane", "last", "unit"), table_read.data)
        m.d.comb += self.busy.eq(issuing | pipe.occupied)
        return m

    def _gated(self, m, pipe, valued, read, activated):
        """The gate value kept per array and lane until the unit's up row, then the product."""
        p = self.params
        # At least two entries: a synchronous read port of one entry has a zero-width address,
        # which Verilator refuses.
        m.submodules.gated = gated = Memory(
            shape=signed(ACTIVATION_WIDTH), depth=max(2, p.arrays * p.lanes), init=[]
        )
        gated_write, gated_read = gated.write_port(), gated.read_port()
        # Synchronous reads: a gate row's write lands cycles before its up row's read.
        m.d.comb += [
            gated_read.addr.eq(valued.slot),
            gated_write.addr.eq(read.slot),
            gated_write.data.eq(activated),
            gated_write.en.eq(read.valid & ~read.up),
        ]
        self._hidden(m, pipe, read, gated_read.data * read.value)

    def _issue(self, m, pipe):
        """Take a row and issue one lane a cycle, with its sum, token scale code and the row's
        scales, then a spare cycle (the unit takes a row every ``lanes + 2`` cycles). Array
        ``a``'s row ``r`` is unit ``(r // 2) * arrays + a``, a gate row when ``r`` is even."""
        p = self.params
        row = Signal.like(self.i.payload)
        lane = Signal(counter_range(p.lanes + 1))
        issuing = Signal()
        accept = Signal()
        m.d.comb += [self.i.ready.eq(~issuing), accept.eq(self.i.valid & self.i.ready)]
        with m.If(accept):
            m.d.sync += [row.eq(self.i.payload), lane.eq(0), issuing.eq(1)]
        unit = Signal(range(p.gate_up_rows * p.arrays))
        m.d.comb += unit.eq(self._unit(row))
        is_up = row.row[0] if p.gated else 0
        # The row's scales (and bias), read from the row as it is taken and registered: the
        # scale memory's read and the token multiplier's products are a cycle each.
        incoming = self.i.payload
        reading = Mux(accept, self._unit(incoming), unit)
        up = Mux(accept, incoming.row[0], is_up) if p.gated else 0
        scale_addr = self.lanes.region * p.scale_rows + reading * 2
        row_scale = Signal.like(self.scales.data)
        m.d.comb += self.scales.addr.eq(scale_addr + up)
        m.d.sync += row_scale.eq(self.scales.data)
        bias = {}
        if p.expert_bias:
            row_bias = Signal.like(self.biases.data)
            m.d.comb += self.biases.addr.eq(scale_addr + 1)
            m.d.sync += row_bias.eq(self.biases.data)
            bias["bias"] = row_bias.as_value()[: p.unit_bias_width].as_signed()
        working = issuing & (lane < p.lanes)
        with m.If(working):
            m.d.sync += lane.eq(lane + 1)
        with m.If(issuing & (lane == p.lanes)):
            m.d.sync += issuing.eq(0)
        issued = pipe.stage(
            "issued",
            valid=working,
            up=is_up,
            slot=row.array * p.lanes + lane,
            lane=lane,
            last=lane == p.lanes - 1,
            unit=unit,
            y=Array(row.y)[lane],
            code=Array(self.lanes.scale)[lane],
            multiplier=row_scale.multiplier,
            shift=row_scale.shift,
            **bias,
        )
        return issuing, issued

    def _unit(self, row):
        """The hidden unit of a row: array ``a``'s row ``r`` is unit ``(r // 2) * arrays + a``
        (gated; ``r * arrays + a`` ungated)."""
        p = self.params
        first = row.row >> 1 if p.gated else row.row
        return first * p.arrays + row.array

    def _requantize(self, m, pipe, issued):
        """``v = sat8(requantize(y, token multiplier))`` over six stages: the token's
        multiplier (its product, then its rounding), the product, the rounding, the shift,
        then the clamp."""
        p = self.params
        lane = ("valid", "up", "slot", "lane", "last", "unit", *(["bias"] * p.expert_bias))
        scaled = token_multiplier_stages(
            m,
            pipe,
            "lane_multiplier",
            ("token_product", "scaled"),
            issued.carry(*lane, "y", "shift"),
            issued.code,
            issued.multiplier,
            p.token_scale_width,
        )
        shifted = requantize_stages(
            m,
            pipe,
            "sum",
            ("multiplied", "rounded", "shifted"),
            scaled.carry(*lane, "shift"),
            scaled.y,
            scaled.multiplier,
            "shift",
        )
        pre = shifted.wide + shifted.bias if p.expert_bias else shifted.wide
        value = clamp(m, "value", pre, *INT8, signed(ACTIVATION_WIDTH))
        kept = [name for name in lane if name != "bias"]
        return pipe.stage("valued", **shifted.carry(*kept), value=value)

    def _hidden(self, m, pipe, read, gated_value):
        """An up row's ``h = sat8(requantize(a * v, product))`` over four stages into its
        lane's column; the column goes to the hidden buffer the cycle after the last lane."""
        lane = ("lane", "last", "unit")
        gated = pipe.stage(
            "gated", valid=read.valid & read.up, **read.carry(*lane), value=gated_value
        )
        shifted = requantize_stages(
            m,
            pipe,
            "gated",
            ("weighed", "gated_rounded", "gated_shifted"),
            gated.carry("valid", *lane),
            gated.value,
            self.product.multiplier,
            self.product.shift,
        )
        hidden = clamp(m, "hidden", shifted.wide, *INT8, signed(ACTIVATION_WIDTH))
        self._columns(m, pipe, shifted.carry("valid", "lane", "last", "unit"), hidden)

    def _columns(self, m, pipe, lane: dict, hidden):
        """Each lane's ``hidden`` value into its place in the unit's column; the column to the
        hidden buffer the cycle after the last lane."""
        p = self.params
        columns = Array(Signal(signed(ACTIVATION_WIDTH), name=f"h{i}") for i in range(p.lanes))
        with m.If(lane["valid"]):
            m.d.sync += columns[lane["lane"]].eq(hidden)
        flush = pipe.stage("flush", valid=lane["valid"] & lane["last"], unit=lane["unit"])
        m.d.comb += [
            self.hidden_write.addr.eq(flush.unit),
            self.hidden_write.data.eq(Cat(columns)),
            self.hidden_write.en.eq(flush.valid & (flush.unit < p.padded_units)),
        ]
