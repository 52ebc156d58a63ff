"""Dequantization: MixPE's once-per-group unit, and the baseline's per-weight dequantizer."""

from amaranth import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..pipeline import Pipeline
from .arith import shift_add
from .params import WEIGHT_WIDTH, MixPEParams

__all__ = ["GroupDequantizer", "WeightDequantizer"]


class GroupDequantizer(wiring.Component):
    """One row's accumulators and ``acc[c] += s * (P[c] - z * S)``, one column per ``update``.

    ``held`` are the row's group sums ``P`` and ``act_sum`` its activation sum ``S``; ``scale``
    and ``zero`` belong to ``column``, the column being updated. ``first`` (the pass's first
    group) starts the accumulator afresh. ``z * S`` is a shift-and-add of the 4-bit zero
    point; ``s * (...)`` is the one multiplier, used once per group and output. ``selected``
    is ``acc[read]``, which the array reads its results through.

    With ``params.pipelined`` an update passes three registers (the column's sum, scale and
    zero point as selected; ``P - z * S``; the product) and reaches its accumulator three
    cycles after it is given; ``held`` and ``zero`` are read the cycle it is given and
    ``act_sum`` the next. ``done`` marks the cycle the update given with ``finishing`` is
    written; ``in_flight``, that an update is still on its way.

    Members
    -------
    held : In(ArrayLayout(signed(params.group_sum_width), params.cols))
    act_sum : In(signed(params.act_sum_width))
    scale : In(unsigned(params.scale_width))
    zero : In(unsigned(4))
    column, read : In(range(params.cols))
    update, first, finishing : In(1)
    acc : Out(ArrayLayout(signed(params.acc_width), params.cols))
    selected : Out(signed(params.acc_width))
    done, in_flight : Out(1)
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
                "read": In(counter_range(params.cols)),
                "update": In(1),
                "first": In(1),
                "finishing": In(1),
                "acc": Out(data.ArrayLayout(signed(params.acc_width), params.cols)),
                "selected": Out(signed(params.acc_width)),
                "done": Out(1),
                "in_flight": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        pipe = Pipeline(m, registered=p.pipelined)

        def job(values: dict) -> dict:
            """What travels with an update: its column, and whether it is first or final."""
            return {key: values[key] for key in ("valid", "column", "first", "end")}

        update = dict(valid=self.update, column=self.column, first=self.first, end=self.finishing)
        chosen = pipe.through(
            "chosen",
            dict(update, held=Array(self.held)[self.column], scale=self.scale, zero=self.zero),
        )
        # |P - z*S| = |sum (q - z) x| fits diff_width; the wider intermediate is exact.
        diff = Signal(signed(p.diff_width))
        m.d.comb += diff.eq(chosen["held"] - shift_add(chosen["zero"], self.act_sum))
        offset = pipe.through("offset", dict(job(chosen), diff=diff, scale=chosen["scale"]))
        term = Signal(signed(p.acc_width))
        m.d.comb += term.eq(offset["scale"] * offset["diff"])
        product = pipe.through("product", dict(job(offset), term=term))

        updated = Array(self.acc)[product["column"]]
        for c in range(p.cols):
            with m.If(product["valid"] & (product["column"] == c)):
                m.d.sync += self.acc[c].eq(Mux(product["first"], 0, updated) + product["term"])
        m.d.comb += [
            self.selected.eq(Array(self.acc)[self.read]),
            self.done.eq(product["valid"] & product["end"]),
            self.in_flight.eq(pipe.occupied),
        ]
        return m


class WeightDequantizer(wiring.Component):
    """The baseline's ``weight = s * (q - z)`` for one column, every step. With
    ``params.pipelined`` the offset ``q - z`` and the scale are registered ahead of the
    multiply: the weight comes a cycle after its operands.

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
        m.d.comb += offset.eq(self.code - self.zero)
        pipe = Pipeline(m, registered=self.params.pipelined)
        operands = pipe.through("offset", dict(offset=offset, scale=self.scale))
        m.d.comb += self.weight.eq(operands["scale"] * operands["offset"])
        return m
