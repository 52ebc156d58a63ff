"""Requantization between the predictor's two GEMVs: int32-class sums to int8 chunks."""

from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..gemv.interface import chunk_layout, result_layout
from ..moe.fixed import clamp, requantize
from .params import ACT_WIDTH, PredictorParams

__all__ = ["Requantizer"]


class Requantizer(wiring.Component):
    """Turns the first GEMV's ``rank`` sums into the second GEMV's input chunks.

    Each cycle one chunk of ``min(macs, rank)`` sums is requantized, ``clamp((a · M +
    2**(S-1)) >> S, -128, 127)``, and offered on ``o`` (zeros past ``rank``); the sums are
    released on ``i`` with the last chunk, so they need no buffer of their own.

    Parameters
    ----------
    params : PredictorParams

    Members
    -------
    i : In(stream.Signature(result_layout(params.project)))
    o : Out(stream.Signature(chunk_layout(params.score)))
    cfg_multiplier : In(params.multiplier_width)
    cfg_shift : In(params.shift_width)
    """

    def __init__(self, params: PredictorParams):
        self.params = params
        super().__init__(
            {
                "i": In(stream.Signature(result_layout(params.project))),
                "o": Out(stream.Signature(chunk_layout(params.score))),
                "cfg_multiplier": In(params.multiplier_width),
                "cfg_shift": In(params.shift_width),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p, g = self.params, self.params.score
        chunk = Signal(counter_range(g.chunks))
        last = chunk == g.chunks - 1

        # Flow: a chunk per cycle while the sums are offered; the sums go with the last chunk.
        m.d.comb += [
            self.o.valid.eq(self.i.valid),
            self.i.ready.eq(self.o.ready & last),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += chunk.eq(Mux(last, 0, chunk + 1))

        # Data: sum ``chunk * macs + j`` requantized in lane ``j``.
        lo, hi = -(1 << (ACT_WIDTH - 1)), (1 << (ACT_WIDTH - 1)) - 1
        for j in range(g.macs):
            sums = [
                self.i.payload.y[c * g.macs + j] for c in range(g.chunks) if c * g.macs + j < p.rank
            ]
            if len(sums) < g.chunks:  # past ``rank`` in the last chunk: padding
                sums.append(0)
            value = Array(sums)[chunk]
            scaled = requantize(
                m, f"lane{j}", value, self.cfg_multiplier, self.cfg_shift, p.max_shift
            )
            m.d.comb += self.o.payload.v[j].eq(
                clamp(m, f"lane{j}_int8", scaled, lo, hi, signed(ACT_WIDTH))
            )
        return m
