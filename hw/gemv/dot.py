"""The dot-product unit: ``macs`` multipliers and a balanced adder tree."""

from amaranth import Module, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..tree import tree_sum
from .interface import chunk_layout
from .params import GemvParams

__all__ = ["DotUnit", "product_layout"]


class DotUnit(wiring.Component):
    """``dot = sum_i a[i] * b[i]`` over one chunk, in two halves the caller may register
    between: ``products`` of ``a`` and ``b``, and ``dot``, the sum of ``summed``.

    Parameters
    ----------
    params : GemvParams

    Members
    -------
    a, b : In(chunk_layout(params))
    products : Out(product_layout(params))
        ``a[i] * b[i]``, combinational.
    summed : In(product_layout(params))
    dot : Out(signed(params.acc_width))
        The sum of ``summed``, combinational.
    """

    def __init__(self, params: GemvParams):
        self.params = params
        super().__init__(
            {
                "a": In(chunk_layout(params)),
                "b": In(chunk_layout(params)),
                "products": Out(product_layout(params)),
                "summed": In(product_layout(params)),
                "dot": Out(signed(params.acc_width)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        macs = range(self.params.macs)
        m.d.comb += [self.products[i].eq(self.a.v[i] * self.b.v[i]) for i in macs]
        m.d.comb += self.dot.eq(tree_sum([self.summed[i] for i in macs]))
        return m


def product_layout(params: GemvParams) -> data.ArrayLayout:
    """One chunk's products."""
    return data.ArrayLayout(signed(params.product_width), params.macs)
