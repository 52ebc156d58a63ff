"""The combine unit: gate-weighted sums of the experts' outputs, then the results."""

from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..pipeline import Pipeline, Stage
from .fixed import requantize
from .interface import (
    lane_context_layout,
    read_signature,
    result_layout,
    row_layout,
    scale_pair_layout,
)
from .params import MoELayerParams

__all__ = ["CombineUnit"]


class CombineUnit(wiring.Component):
    """Accumulates ``gate * C_e[j] * z`` into each token's output ``j``, one lane a cycle, and
    streams the batch's results out.

    A down row of array ``a``, position ``r``, is output ``j = r * arrays + a``; outputs past
    ``hidden`` (padding) and lanes without a token are skipped. On ``drain`` (with ``tokens``),
    each token's accumulators are read (and cleared), shifted by ``out_shift`` rounding half up
    and sent on ``o`` in chunks of ``io_chunk``, token after token.

    Members
    -------
    i : In(stream.Signature(row_layout(params)))
    lanes : In(lane_context_layout(params))
    scales : Out(read_signature(regions * scale_rows, scale_pair_layout(params)))
    biases : Out(read_signature(regions * scale_rows, scale_pair_layout(params)))
        With ``expert_bias``: reads of each output's ``b2``, added to the row's sums.
    drain : In(1); tokens : In(range(params.max_tokens + 1))
    o : Out(stream.Signature(result_layout(params)))
    busy : Out(1)
    """

    def __init__(self, params: MoELayerParams):
        self.params = params
        super().__init__(
            {
                "i": In(stream.Signature(row_layout(params))),
                "lanes": In(lane_context_layout(params)),
                **{
                    name: Out(
                        read_signature(
                            params.regions * params.scale_rows, scale_pair_layout(params)
                        )
                    )
                    for name in ("scales", "biases")[: 1 + params.expert_bias]
                },
                "drain": In(1),
                "tokens": In(range(params.max_tokens + 1)),
                "o": Out(stream.Signature(result_layout(params))),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.acc = acc = Memory(  # at least two entries, as the activation unit's
            shape=signed(p.combine_width), depth=max(2, p.max_tokens * p.hidden), init=[]
        )
        # One write port and one synchronous read port (block RAM), the accumulation's and
        # the drain's in turn.
        write, read = acc.write_port(), acc.read_port()
        draining = Signal()
        accumulating = self._accumulate(m, write, read, draining)
        self._drain(m, write, read, accumulating, draining)
        return m

    def _accumulate(self, m, write, read, draining):
        """One lane a cycle, over three stages: the lane's token and gate with the row's
        combine multiplier; ``w = gate * C_e[j]``; ``acc[token][j] += w * z``, read the stage
        before. A job's lanes hold distinct tokens and its rows distinct outputs, so no
        accumulator is read before an earlier write to it lands."""
        p = self.params
        row = Signal.like(self.i.payload)
        lane = Signal(counter_range(p.lanes))
        issuing = Signal()
        accept = Signal()
        m.d.comb += [
            self.i.ready.eq(~issuing & ~draining),
            accept.eq(self.i.valid & self.i.ready),
        ]
        with m.If(accept):
            m.d.sync += [row.eq(self.i.payload), lane.eq(0), issuing.eq(1)]
        output = Signal(range(p.pass_rows * p.arrays))
        m.d.comb += output.eq(row.row * p.arrays + row.array)
        # The row's multiplier (and bias), read from the row as it is taken and registered:
        # the scale memory's read and the multiplication are a cycle each.
        incoming = self.i.payload.row * p.arrays + self.i.payload.array
        reading = Mux(accept, incoming, output)
        multipliers = self.lanes.region * p.scale_rows + 2 * p.padded_units
        row_scale = Signal.like(self.scales.data)
        m.d.comb += self.scales.addr.eq(multipliers + reading)
        m.d.sync += row_scale.eq(self.scales.data)
        y = Array(row.y)[lane]
        if p.expert_bias:  # the output's bias, after the multipliers
            row_bias = Signal.like(self.biases.data)
            m.d.comb += self.biases.addr.eq(multipliers + p.padded_outputs + reading)
            m.d.sync += row_bias.eq(self.biases.data)
            y = y + row_bias.as_value()[: p.output_bias_width].as_signed()
        with m.If(issuing):
            m.d.sync += lane.eq(lane + 1)
            with m.If(lane == p.lanes - 1):
                m.d.sync += issuing.eq(0)
        pipe = Pipeline(m)
        issued = pipe.stage(
            "issued",
            valid=issuing & Array(self.lanes.valid)[lane] & (output < p.hidden),
            address=Array(self.lanes.token)[lane] * p.hidden + output,
            gate=Array(self.lanes.gate)[lane],
            multiplier=row_scale.multiplier[: p.combine_multiplier_width],
            y=y,
        )
        weight = Signal(p.gate_width + p.combine_multiplier_width)
        m.d.comb += weight.eq(issued.gate * issued.multiplier)
        weighed = pipe.stage("weighed", **issued.carry("valid", "address", "y"), weight=weight)
        m.d.comb += read.addr.eq(weighed.address)
        term = pipe.stage(
            "term", **weighed.carry("valid", "address"), term=weighed.weight * weighed.y
        )
        with m.If(term.valid):
            m.d.comb += [
                write.addr.eq(term.address),
                write.data.eq(read.data + term.term),
                write.en.eq(1),
            ]
        return issuing | pipe.occupied

    def _drain(self, m, write, read, accumulating, draining):
        """One accumulator a cycle read (and cleared, the read seeing the value before) into
        the chunk register the cycle after, which is offered when full or at the token's last
        output; no read is issued from the one that completes a chunk until it is taken."""
        p = self.params
        token = Signal(range(p.max_tokens + 1))
        output = Signal(counter_range(p.hidden))
        offset = Signal(counter_range(p.io_chunk))
        closing = Signal()
        m.d.comb += self.busy.eq(accumulating | draining)
        with m.If(self.drain & ~draining):
            m.d.sync += [draining.eq(1), token.eq(0), output.eq(0), offset.eq(0)]

        idle = draining & ~closing & ~self.o.valid
        reading = idle & (token < self.tokens)
        last_output = output == p.hidden - 1
        closes = (offset == p.io_chunk - 1) | last_output
        with m.If(reading):
            m.d.comb += [
                read.addr.eq(token * p.hidden + output),
                write.addr.eq(read.addr),
                write.data.eq(0),
                write.en.eq(1),
            ]
            m.d.sync += [output.eq(output + 1), offset.eq(offset + 1)]
            with m.If(closes):
                m.d.sync += [offset.eq(0), closing.eq(1)]
            with m.If(last_output):
                m.d.sync += [output.eq(0), token.eq(token + 1)]
        landed = Stage(m, "landed", valid=reading, offset=offset, closes=closes)
        rounded = requantize(m, "result", read.data, 1, p.out_shift, p.out_shift)
        with m.If(landed.valid):
            m.d.sync += self.o.payload.y[landed.offset].eq(rounded)
            with m.If(landed.closes):
                m.d.sync += [self.o.valid.eq(1), closing.eq(0)]
        with m.If(idle & (token == self.tokens)):
            m.d.sync += draining.eq(0)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += [self.o.valid.eq(0), self.o.payload.eq(0)]
