"""The combine unit: gate-weighted sums of the experts' outputs, then the results."""

from amaranth import Array, Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
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
    scales : Out(read_signature(total_experts * scale_rows, scale_pair_layout(params)))
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
                "scales": Out(
                    read_signature(
                        params.total_experts * params.scale_rows, scale_pair_layout(params)
                    )
                ),
                "drain": In(1),
                "tokens": In(range(params.max_tokens + 1)),
                "o": Out(stream.Signature(result_layout(params))),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.acc = acc = Memory(
            shape=signed(p.combine_width), depth=p.max_tokens * p.hidden, init=[]
        )
        write, read = acc.write_port(), acc.read_port(domain="comb")
        accumulating = self._accumulate(m, write, read)
        self._drain(m, write, read, accumulating)
        return m

    def _accumulate(self, m, write, read):
        """One lane a cycle: ``acc[token][j] += gate * C_e[j] * z``."""
        p = self.params
        row = Signal.like(self.i.payload)
        lane = Signal(counter_range(p.lanes))
        active = Signal()
        m.d.comb += self.i.ready.eq(~self.busy)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [row.eq(self.i.payload), lane.eq(0), active.eq(1)]
        output = Signal(range(p.pass_rows * p.arrays))
        m.d.comb += [
            output.eq(row.row * p.arrays + row.array),
            self.scales.addr.eq(self.lanes.expert * p.scale_rows + 2 * p.padded_units + output),
        ]
        token = Array(self.lanes.token)[lane]
        gate = Array(self.lanes.gate)[lane]
        weight = Signal(p.gate_width + p.combine_multiplier_width)
        m.d.comb += weight.eq(gate * self.scales.data.multiplier[: p.combine_multiplier_width])
        with m.If(active):
            m.d.comb += [
                read.addr.eq(token * p.hidden + output),
                write.addr.eq(read.addr),
                write.data.eq(read.data + weight * Array(row.y)[lane]),
                write.en.eq(Array(self.lanes.valid)[lane] & (output < p.hidden)),
            ]
            m.d.sync += lane.eq(lane + 1)
            with m.If(lane == p.lanes - 1):
                m.d.sync += active.eq(0)
        return active

    def _drain(self, m, write, read, accumulating):
        p = self.params
        draining = Signal()
        token = Signal(range(p.max_tokens + 1))
        output = Signal(counter_range(p.hidden))
        offset = Signal(counter_range(p.io_chunk))
        m.d.comb += self.busy.eq(accumulating | draining)
        with m.If(self.drain & ~draining):
            m.d.sync += [draining.eq(1), token.eq(0), output.eq(0), offset.eq(0)]

        # One accumulator a cycle into the chunk register (cleared as it is read), which is
        # offered when full or at the token's last output.
        filling = draining & ~self.o.valid & (token < self.tokens)
        rounded = requantize(m, "result", read.data, 1, p.out_shift, p.out_shift)
        with m.If(filling):
            m.d.comb += [
                read.addr.eq(token * p.hidden + output),
                write.addr.eq(read.addr),
                write.data.eq(0),
                write.en.eq(1),
            ]
            m.d.sync += [
                self.o.payload.y[offset].eq(rounded),
                output.eq(output + 1),
                offset.eq(offset + 1),
            ]
            last_output = output == p.hidden - 1
            with m.If((offset == p.io_chunk - 1) | last_output):
                m.d.sync += [self.o.valid.eq(1), offset.eq(0)]
            with m.If(last_output):
                m.d.sync += [output.eq(0), token.eq(token + 1)]
        with m.If(draining & ~self.o.valid & (token == self.tokens)):
            m.d.sync += draining.eq(0)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += [self.o.valid.eq(0), self.o.payload.eq(0)]
