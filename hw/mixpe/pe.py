"""Processing elements: MixPE's shift-and-add group-sum PE and the baseline's multiplier PE."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..pipeline import Pipeline
from .arith import shift_add
from .params import ACT_WIDTH

__all__ = ["GroupSumPE", "MultiplierPE"]


class GroupSumPE(wiring.Component):
    """``P = sum_{j in G} code[j] * x[j]`` over one group, by shift-and-add (or, with
    ``multiply``, by a hardware multiplier: the baseline that isolates the shift-and-add).

    On ``step`` the product joins the running sum, which restarts on a group's first step
    (``group_first``). On the group's last step (``capture``) the complete sum moves to
    ``held``, where it waits for the dequantizer while the next group accumulates. With
    ``code`` tied to 1 the same PE sums the activations (``S``).

    Parameters
    ----------
    code_width : int
        Bits of the unsigned weight code.
    sum_width : int
        Signed width of the group sum.
    multiply : bool
        Form ``code * x`` with a multiplier instead of shift-and-add.

    Members
    -------
    x : In(signed(8))
    code : In(unsigned(code_width))
    step, group_first, capture : In(1)
    held : Out(signed(sum_width))
    """

    def __init__(self, code_width: int, sum_width: int, multiply: bool = False):
        self.multiply = multiply
        super().__init__(
            {
                "x": In(signed(ACT_WIDTH)),
                "code": In(unsigned(code_width)),
                "step": In(1),
                "group_first": In(1),
                "capture": In(1),
                "held": Out(signed(sum_width)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        partial = Signal.like(self.held)
        total = Signal.like(self.held)
        product = self.code * self.x if self.multiply else shift_add(self.code, self.x)
        m.d.comb += total.eq(Mux(self.group_first, 0, partial) + product)
        with m.If(self.step):
            m.d.sync += partial.eq(total)
        with m.If(self.step & self.capture):
            m.d.sync += self.held.eq(total)
        return m


class MultiplierPE(wiring.Component):
    """``acc += weight * x`` with a hardware multiplier, on every ``step``; ``clear`` (a pass's
    first step) starts the sum afresh. ``registered``: the product, with its ``step`` and
    ``clear``, is registered ahead of the accumulator, which takes it a cycle later.

    Parameters
    ----------
    weight_width, acc_width : int
        Signed widths of the dequantized weight and of the exact accumulator.
    registered : bool
        Register the product.

    Members
    -------
    x : In(signed(8))
    weight : In(signed(weight_width))
    step, clear : In(1)
    acc : Out(signed(acc_width))
    """

    def __init__(self, weight_width: int, acc_width: int, registered: bool = False):
        self.registered = registered
        super().__init__(
            {
                "x": In(signed(ACT_WIDTH)),
                "weight": In(signed(weight_width)),
                "step": In(1),
                "clear": In(1),
                "acc": Out(signed(acc_width)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        pipe = Pipeline(m, registered=self.registered)
        product = pipe.through(
            "product", dict(valid=self.step, clear=self.clear, value=self.weight * self.x)
        )
        with m.If(product["valid"]):
            m.d.sync += self.acc.eq(Mux(product["clear"], 0, self.acc) + product["value"])
        return m
