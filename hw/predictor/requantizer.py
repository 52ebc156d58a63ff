"""Requantization between the predictor's two GEMVs: int32-class sums to int8 chunks."""

from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..gemv.interface import chunk_layout, result_layout
from ..moe.fixed import clamp, requantize_stages
from ..pipeline import Pipeline
from .params import ACT_WIDTH, PredictorParams

__all__ = ["Requantizer"]


class Requantizer(wiring.Component):
    """Turns the first GEMV's ``rank`` sums into the second GEMV's input chunks.

    Each cycle one chunk of ``min(macs, rank)`` sums is requantized, ``clamp((a · M +
    2**(S-1)) >> S, -128, 127)``, and offered on ``o`` (zeros past ``rank``); the sums are
    released on ``i`` with the last chunk, so they need no buffer of their own. A chunk
    takes :data:`~moetile.hw.predictor.params.REQUANTIZER_STAGES` cycles: its sums, their
    products with the multiplier's halves, their sum rounded and the shift are registered,
    and the whole pipeline stalls while ``o`` waits.

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

        # Flow: a chunk a cycle enters the pipeline while the sums are offered, the sums
        # released with the last; every stage stalls while the output waits.
        advance = Signal()
        pipe = Pipeline(m, advance=advance)
        m.d.comb += self.i.ready.eq(advance & last)
        with m.If(self.i.valid & advance):
            m.d.sync += chunk.eq(Mux(last, 0, chunk + 1))

        # Data: sum ``chunk * macs + j`` requantized in lane ``j``.
        chosen = {}
        for j in range(g.macs):
            sums = [
                self.i.payload.y[c * g.macs + j] for c in range(g.chunks) if c * g.macs + j < p.rank
            ]
            if len(sums) < g.chunks:  # past ``rank`` in the last chunk: padding
                sums.append(0)
            chosen[f"sum{j}"] = Array(sums)[chunk]
        taken = pipe.stage("chosen", valid=self.i.valid, **chosen)
        lo, hi = -(1 << (ACT_WIDTH - 1)), (1 << (ACT_WIDTH - 1)) - 1
        for j in range(g.macs):
            stages = tuple(f"lane{j}_{stage}" for stage in ("multiplied", "rounded", "shifted"))
            shifted = requantize_stages(
                m,
                pipe,
                f"lane{j}",
                stages,
                {"valid": taken.valid},
                getattr(taken, f"sum{j}"),
                self.cfg_multiplier,
                self.cfg_shift,
            )
            m.d.comb += self.o.payload.v[j].eq(
                clamp(m, f"lane{j}_int8", shifted.wide, lo, hi, signed(ACT_WIDTH))
            )
        m.d.comb += [
            self.o.valid.eq(shifted.valid),
            advance.eq(~self.o.valid | self.o.ready),
        ]
        return m
