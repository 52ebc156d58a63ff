"""Pipelined comparator-network top-k: one result per cycle, latency = comparator layers."""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring

from .compare import beats
from .interface import candidate_layout, topk_signature
from .params import TopKParams

__all__ = ["TopKNetwork"]


class TopKNetwork(wiring.Component):
    """Top-k by a bitonic top-k comparator network with a register after every layer.

    The layers come from :attr:`TopKParams.network`; each stage holds only the positions later
    stages still read. The whole pipeline advances when its last stage is empty or is being read
    (``o.ready | ~o.valid``), so it never loses or duplicates an item under back-pressure.

    Parameters
    ----------
    params : TopKParams

    Members
    -------
    i : In(stream.Signature(input_layout(params)))
        ``scores[j]`` is candidate ``j``'s score.
    o : Out(stream.Signature(output_layout(params)))
        ``top[0 .. k-1]``, best first, ``params.latency`` cycles after the input transfer.
    """

    def __init__(self, params: TopKParams):
        self.params = params
        super().__init__(topk_signature(params))

    def elaborate(self, platform):
        m = Module()
        p = self.params
        stages = p.network or ((),)
        layout = candidate_layout(p)

        # Every stage moves together: no stage can be full while a later one drains.
        advance = Signal()
        m.d.comb += advance.eq(self.o.ready | ~self.o.valid)
        m.d.comb += self.i.ready.eq(advance)

        # Candidates enter carrying their own position as index.
        items = {
            j: layout(Cat(Const(j, p.index_width), self.i.payload.scores[j])) for j in range(p.n)
        }
        valid = self.i.valid

        for depth, layer in enumerate(stages):
            items = _compare_layer(layout, items, layer)
            kept = _positions_read_after(stages, depth, p.k)
            items, valid = _register_stage(m, layout, items, kept, valid, advance, depth)

        m.d.comb += self.o.valid.eq(valid)
        m.d.comb += [self.o.payload.top[r].eq(items[r]) for r in range(p.k)]
        return m


def _compare_layer(layout, items, layer):
    """One layer of compare-exchange: the better candidate of each pair moves to ``lo``."""
    out = dict(items)
    for lo, hi in layer:
        swap = beats(items[hi], items[lo])
        out[lo] = layout(Mux(swap, items[hi].as_value(), items[lo].as_value()))
        out[hi] = layout(Mux(swap, items[lo].as_value(), items[hi].as_value()))
    return out


def _positions_read_after(stages, depth, k):
    later = {pos for layer in stages[depth + 1 :] for pair in layer for pos in pair}
    return sorted(later | set(range(k)))


def _register_stage(m, layout, items, positions, valid, advance, depth):
    regs = {pos: Signal(layout, name=f"s{depth}_item{pos}") for pos in positions}
    reg_valid = Signal(name=f"s{depth}_valid")
    with m.If(advance):
        m.d.sync += reg_valid.eq(valid)
        m.d.sync += [regs[pos].eq(items[pos]) for pos in positions]
    return regs, reg_valid
