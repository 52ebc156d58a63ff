"""Dequantization: MixPE's once-per-group unit, and the baseline's per-weight dequantizer."""

from amaranth import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from .arith import shift_add
from .params import WEIGHT_WIDTH, MixPEParams

__all__ = ["GroupDequantizer", "WeightDequantizer"]


class GroupDequantizer(wiring.Component):
    """One row's accumulators and ``acc[c] += s * (P[c] - z * S)``, one column per ``update``.

    ``held`` are the row's group sums ``P`` and ``act_sum`` its activation sum ``S``; ``scale``
    and ``zero`` belong to ``column``, the column being updated. ``first`` (the pass's first
    group) starts the accumulator afresh. ``z * S`` is a shift-and-add of the 4-bit zero
    point; ``s * (...)`` is the one multiplier, used once per group and output. ``selected``
    is ``acc[column]``, which the array also reads its results through.

    Members
    -------
    held : In(ArrayLayout(signed(params.group_sum_width), params.cols))
    act_sum : In(signed(params.act_sum_width))
    scale : In(unsigned(params.scale_width))
    zero : In(unsigned(4))
    column : In(range(params.cols))
    update, first : In(1)
    acc : Out(ArrayLayout(signed(params.acc_width), params.cols))
    selected : Out(signed(params.acc_width))
    """

    def __init__(self, params: MixPEParams):
        self.params = params
        super().__init__(
            {
                "held": In(data.ArrayLayout(signed(params.group_sum_width), params.cols)),
                "act_sum": In(signed(params.act_sum_width)),
                "scale": In(unsigned(params.scale_width)),
                "zero": In(unsigned(WEIGHT_WIDTH)),
                "column": In(counter_range(params.cols)),
                "update": In(1),
                "first": In(1),
                "acc": Out(data.ArrayLayout(signed(params.acc_width), params.cols)),
                "selected": Out(signed(params.acc_width)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        # |P - z*S| = |sum (q - z) x| fits diff_width; the wider intermediate is exact.
        diff = Signal(signed(p.diff_width))
        term = Signal(signed(p.acc_width))
        m.d.comb += [
            self.selected.eq(Array(self.acc)[self.column]),
            diff.eq(Array(self.held)[self.column] - shift_add(self.zero, self.act_sum)),
            term.eq(self.scale * diff),
        ]
        for c in range(p.cols):
            with m.If(self.update & (self.column == c)):
                m.d.sync += self.acc[c].eq(Mux(self.first, 0, self.selected) + term)
        return m


class WeightDequantizer(wiring.Component):
    """The baseline's ``weight = s * (q - z)`` for one column, every step.

    Members
    -------
    code, zero : In(unsigned(4))
    scale : In(unsigned(params.scale_width))
    weight : Out(signed(params.weight_width))
    """

    def __init__(self, params: MixPEParams):
        self.params = params
        super().__init__(
            {
                "code": In(unsigned(WEIGHT_WIDTH)),
                "zero": In(unsigned(WEIGHT_WIDTH)),
                "scale": In(unsigned(params.scale_width)),
                "weight": Out(signed(params.weight_width)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        offset = Signal(signed(WEIGHT_WIDTH + 1))
        m.d.comb += [
            offset.eq(self.code - self.zero),
            self.weight.eq(self.scale * offset),
        ]
        return m
