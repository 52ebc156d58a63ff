"""The stats unit: the cycles each step of a batch took, sent after the batch's results."""

from amaranth import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .interface import stats_layout, stats_names
from .params import MoELayerParams

__all__ = ["StatsUnit", "phase_layout"]


def phase_layout(params: MoELayerParams) -> data.StructLayout:
    """One flag per counter of :func:`~moetile.hw.moe.interface.stats_names`: this cycle
    counts."""
    return data.StructLayout(dict.fromkeys(stats_names(params), 1))


class StatsUnit(wiring.Component):
    """Counts, for each step, the cycles its ``phase`` flag is high; offers the counts on
    ``o`` while ``send`` is high, and starts again from zero once they are taken.

    Members
    -------
    phase : In(phase_layout(params))
    send : In(1)
    o : Out(stream.Signature(stats_layout(params)))
    """

    def __init__(self, params: MoELayerParams):
        self.params = params
        super().__init__(
            {
                "phase": In(phase_layout(params)),
                "send": In(1),
                "o": Out(stream.Signature(stats_layout(params))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        names = stats_names(self.params)
        counters = {name: Signal(32, name=f"cycles_{name}") for name in names}
        for name, counter in counters.items():
            with m.If(getattr(self.phase, name)):
                m.d.sync += counter.eq(counter + 1)
            m.d.comb += getattr(self.o.payload, name).eq(counter)
        m.d.comb += self.o.valid.eq(self.send)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += [counter.eq(0) for counter in counters.values()]
        return m
