"""The FAT array (or its ParaPIM-style baseline): the SACU feeding the bit-serial lanes."""

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .interface import input_layout, output_layout, weight_layout
from .lanes import LaneArray
from .params import FatParams
from .sacu import Sacu

__all__ = ["FatArray"]


class FatArray(wiring.Component):
    """Ternary matrix-vector products on ``lanes`` input vectors at once.

    A pass: ``n_inputs`` transfers on ``i_x`` (column ``k`` = input ``k`` of every lane), then
    ``n_outputs`` weight rows on ``i_w``; each row yields one transfer on ``o`` holding
    ``y[lane] = sum_k w[k] * x[lane, k]``. Weight rows may arrive before the inputs are loaded;
    they wait in the SACU. ``params.arch`` selects FAT or the ParaPIM-style baseline (see
    :class:`~moetile.hw.fat.sacu.Sacu` and :class:`~moetile.hw.fat.lanes.LaneArray`); the
    cycle count of a pass is given exactly by :func:`moetile.sw.golden.fat.fat_cycles`.

    Parameters
    ----------
    params : FatParams

    Members
    -------
    i_x : In(stream.Signature(input_layout(params)))
    i_w : In(stream.Signature(weight_layout(params)))
    o : Out(stream.Signature(output_layout(params)))
    """

    def __init__(self, params: FatParams):
        self.params = params
        super().__init__(
            {
                "i_x": In(stream.Signature(input_layout(params))),
                "i_w": In(stream.Signature(weight_layout(params))),
                "o": Out(stream.Signature(output_layout(params))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.sacu = sacu = Sacu(self.params)
        m.submodules.lanes = lanes = LaneArray(self.params)
        wiring.connect(m, sacu.o, lanes.i_op)
        wiring.connect(m, wiring.flipped(self.i_w), sacu.i)
        wiring.connect(m, wiring.flipped(self.i_x), lanes.i_x)
        wiring.connect(m, lanes.o, wiring.flipped(self.o))
        return m
