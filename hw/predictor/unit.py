"""The expert predictor unit: two int8 GEMVs, the requantizer between them, the top-k."""

from amaranth import Module, Mux
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..gemv.gemv import Gemv
from ..gemv.interface import chunk_layout
from ..topk.interface import output_layout
from ..topk.rtl import topk_component
from .interface import weight_layout
from .params import PredictorParams
from .requantizer import Requantizer

__all__ = ["ExpertPredictor"]


class ExpertPredictor(wiring.Component):
    """Predicts a layer's top-``k`` experts from its pre-attention hidden state.

    Weights arrive on ``i_w``: ``W1``'s rows (``matrix`` 0, as the first GEMV takes them) and
    ``W2``'s (``matrix`` 1), in either order; a state ``h`` arrives on ``i_x`` in chunks of
    ``macs`` int8 values and its prediction leaves on ``o``: the ``k`` best experts (index and
    logit) best first. The first GEMV takes the next state while the second finishes this one.
    ``cfg_multiplier`` and ``cfg_shift`` hold the requantization between the GEMVs. Exact rule:
    :mod:`moetile.sw.golden.predictor`.

    Parameters
    ----------
    params : PredictorParams

    Members
    -------
    i_w : In(stream.Signature(weight_layout(params)))
    i_x : In(stream.Signature(chunk_layout(params.project)))
    o : Out(stream.Signature(output_layout(params.topk)))
    cfg_multiplier : In(params.multiplier_width)
    cfg_shift : In(params.shift_width)
    """

    def __init__(self, params: PredictorParams):
        self.params = params
        super().__init__(
            {
                "i_w": In(stream.Signature(weight_layout(params))),
                "i_x": In(stream.Signature(chunk_layout(params.project))),
                "o": Out(stream.Signature(output_layout(params.topk))),
                "cfg_multiplier": In(params.multiplier_width),
                "cfg_shift": In(params.shift_width),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.project = project = Gemv(p.project)
        m.submodules.requantizer = requantizer = Requantizer(p)
        m.submodules.score = score = Gemv(p.score)
        m.submodules.select = select = topk_component(p.topk)

        # The state through W1, the requantizer, W2 and the top-k.
        wiring.connect(m, wiring.flipped(self.i_x), project.i_x)
        wiring.connect(m, project.o, requantizer.i)
        wiring.connect(m, requantizer.o, score.i_x)
        m.d.comb += [
            requantizer.cfg_multiplier.eq(self.cfg_multiplier),
            requantizer.cfg_shift.eq(self.cfg_shift),
            select.i.payload.scores.eq(score.o.payload.y),
            select.i.valid.eq(score.o.valid),
            score.o.ready.eq(select.i.ready),
        ]
        wiring.connect(m, select.o, wiring.flipped(self.o))

        # Weight chunks to the GEMV their ``matrix`` names.
        second = self.i_w.payload.matrix
        m.d.comb += [
            project.i_w.payload.v.eq(self.i_w.payload.v),
            project.i_w.valid.eq(self.i_w.valid & ~second),
            score.i_w.valid.eq(self.i_w.valid & second),
            self.i_w.ready.eq(Mux(second, score.i_w.ready, project.i_w.ready)),
        ]
        for j in range(p.score.macs):
            m.d.comb += score.i_w.payload.v[j].eq(self.i_w.payload.v[j])
        return m
