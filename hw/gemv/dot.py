"""The dot-product unit: ``macs`` multipliers and a balanced adder tree, in one cycle."""

from amaranth import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .interface import chunk_layout
from .params import GemvParams

__all__ = ["DotUnit"]


class DotUnit(wiring.Component):
    """``dot = sum_i a[i] * b[i]`` over one chunk, combinational.

    Parameters
    ----------
    params : GemvParams

    Members
    -------
    a, b : In(chunk_layout(params))
    dot : Out(signed(params.acc_width))
    """

    def __init__(self, params: GemvParams):
        self.params = params
        super().__init__(
            {
                "a": In(chunk_layout(params)),
                "b": In(chunk_layout(params)),
                "dot": Out(signed(params.acc_width)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        products = [self.a.v[i] * self.b.v[i] for i in range(self.params.macs)]
        m.d.comb += self.dot.eq(_tree_sum(products))
        return m


def _tree_sum(values):
    """Pairwise sums, level by level: depth ``ceil(log2 n)`` instead of ``n - 1``."""
    while len(values) > 1:
        pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        values = pairs + (values[-1:] if len(values) % 2 else [])
    return values[0]
