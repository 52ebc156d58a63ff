"""Dequantization: MixPE's once-per-group unit, and the baseline's per-weight dequantizer."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .arith import shift_add
from .params import WEIGHT_WIDTH, MixPEParams

__all__ = ["GroupDequantizer", "WeightDequantizer"]


class GroupDequantizer(wiring.Component):
    """One column's ``acc[r] += s * (P[r] - z * S[r])``, one row per ``shift`` cycle.

    The column's accumulators form a ring of ``rows`` registers: on each ``shift`` the head
    (row ``r``'s accumulator, ``r`` counting up from 0) takes the head group sum ``p_head`` and
    activation sum ``s_head``, and the updated value goes to the tail, so after ``rows``
    shifts every row is updated and back in place without an addressed read. ``first`` (the
    pass's first group) starts every accumulator afresh. ``z * S`` is a shift-and-add of the
    4-bit zero point; ``s * (...)`` is the one multiplier, used once per group and output.

    Members
    -------
    p_head : In(signed(params.group_sum_width))
    s_head : In(signed(params.act_sum_width))
    scale : In(unsigned(params.scale_width))
    zero : In(unsigned(4))
    shift, first : In(1)
    acc : Out(ArrayLayout(signed(params.acc_width), params.rows))
    """

    def __init__(self, params: MixPEParams):
        self.params = params
        super().__init__(
            {
                "p_head": In(signed(params.group_sum_width)),
                "s_head": In(signed(params.act_sum_width)),
                "scale": In(unsigned(params.scale_width)),
                "zero": In(unsigned(WEIGHT_WIDTH)),
                "shift": In(1),
                "first": In(1),
                "acc": Out(data.ArrayLayout(signed(params.acc_width), params.rows)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        # |P - z*S| = |sum (q - z) x| fits diff_width; the wider intermediate is exact.
        diff = Signal(signed(p.diff_width))
        term = Signal(signed(p.acc_width))
        m.d.comb += [
            diff.eq(self.p_head - shift_add(self.zero, self.s_head)),
            term.eq(self.scale * diff),
        ]
        with m.If(self.shift):
            for r in range(p.rows - 1):
                m.d.sync += self.acc[r].eq(self.acc[r + 1])
            m.d.sync += self.acc[p.rows - 1].eq(Mux(self.first, 0, self.acc[0]) + term)
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
