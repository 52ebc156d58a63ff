"""The row steer: the engine's rows to the activation unit (a gate/up job's) or the combine
unit (a down job's)."""

from amaranth import Module, Mux
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .interface import row_layout
from .params import MoELayerParams

__all__ = ["RowSteer"]


class RowSteer(wiring.Component):
    """Passes ``i`` to ``to_combine`` while ``down``, else to ``to_activation``.

    Members
    -------
    i : In(stream.Signature(row_layout(params)))
    down : In(1)
    to_activation, to_combine : Out(stream.Signature(row_layout(params)))
    """

    def __init__(self, params: MoELayerParams):
        rows = stream.Signature(row_layout(params))
        super().__init__(
            {"i": In(rows), "down": In(1), "to_activation": Out(rows), "to_combine": Out(rows)}
        )

    def elaborate(self, platform):
        m = Module()
        for port, selected in ((self.to_activation, ~self.down), (self.to_combine, self.down)):
            m.d.comb += [
                port.valid.eq(self.i.valid & selected),
                port.payload.eq(self.i.payload),
            ]
        m.d.comb += self.i.ready.eq(Mux(self.down, self.to_combine.ready, self.to_activation.ready))
        return m
