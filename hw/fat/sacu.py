"""Sparse Addition Control Unit: turns weight rows into a stream of add operations."""

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from .interface import op_layout, weight_layout
from .params import FatParams

__all__ = ["Sacu"]


class Sacu(wiring.Component):
    """Issues one op per weight the row needs, row after row.

    ``fat``: a mask of the row's not-yet-issued non-zero weights; each cycle a priority encoder
    finds the lowest one and issues it if it lies within ``zero_skip`` positions of the scan
    pointer, otherwise the pointer jumps ``zero_skip`` ahead. A run of zeros therefore costs
    ``ceil(run / zero_skip)`` cycles, spent while the lanes are still adding the previous op
    (the op register is refilled as soon as it is taken). The op that empties the mask is marked
    ``last``; a row with no non-zero weight becomes one ``empty`` op.

    ``parapim``: a counter issues every position, zeros included, one per op.

    Parameters
    ----------
    params : FatParams

    Members
    -------
    i : In(stream.Signature(weight_layout(params)))
    o : Out(stream.Signature(op_layout(params)))
    """

    def __init__(self, params: FatParams):
        self.params = params
        super().__init__(
            {
                "i": In(stream.Signature(weight_layout(params))),
                "o": Out(stream.Signature(op_layout(params))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        negative = Signal(p.n_inputs)
        have_row = Signal()

        # Accept a row whenever the previous one has been fully issued.
        m.d.comb += self.i.ready.eq(~have_row)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [negative.eq(self.i.payload.negative.as_value()), have_row.eq(1)]

        # The op register refills when empty or being taken.
        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)
        with m.If(advance):
            m.d.sync += self.o.valid.eq(0)
        issue = _fat_issue if p.skips_zeros else _dense_issue
        issue(m, p, self.i, self.o, negative, have_row, advance)
        return m


def _fat_issue(m, p, i, o, negative, have_row, advance):
    # The scan's window as a mask: the positions below the pointer plus ``zero_skip``. No
    # non-zero weight lies below the pointer (each op issues the lowest one left), so the next
    # op is the row's lowest remaining one where it lies inside the mask, and otherwise the
    # window moves on. Masks and one-hots only: no shift of the row by the pointer, no index
    # compared, no select by index, and the cycles are those of a pointer scan.
    remaining = Signal(p.n_inputs)
    window = Signal(p.n_inputs)
    skip = _ones(p.zero_skip, p.n_inputs)
    with m.If(i.valid & i.ready):
        m.d.sync += [remaining.eq(i.payload.nonzero.as_value()), window.eq(skip)]

    # ``r ^ (r - 1)``: the positions up to the lowest one, and ``r & (r - 1)`` the row without it.
    below = Signal(p.n_inputs)
    m.d.comb += below.eq(remaining - 1)
    through_lowest = Signal(p.n_inputs)
    m.d.comb += through_lowest.eq(remaining ^ below)
    lowest = Signal(p.n_inputs)
    m.d.comb += lowest.eq(remaining & through_lowest)
    rest = Signal(p.n_inputs)
    m.d.comb += rest.eq(remaining & below)
    # Its index: bit ``b`` set where the one-hot lies on a position with bit ``b`` set.
    first = Signal(counter_range(p.n_inputs))
    bits = range(len(first))
    m.d.comb += first.eq(Cat((lowest & _positions_with_bit(p.n_inputs, b)).any() for b in bits))

    with m.If(have_row & advance):
        with m.If(remaining == 0):
            m.d.sync += [
                o.valid.eq(1),
                o.payload.eq(0),
                o.payload.empty.eq(1),
                o.payload.last.eq(1),
                have_row.eq(0),
            ]
        with m.Elif((remaining & window).any()):
            m.d.sync += [
                o.valid.eq(1),
                o.payload.eq(0),
                o.payload.k.eq(first),
                o.payload.negative.eq((negative & lowest).any()),
                o.payload.last.eq(rest == 0),
                remaining.eq(rest),
                window.eq((through_lowest << p.zero_skip) | skip),
            ]
            with m.If(rest == 0):
                m.d.sync += have_row.eq(0)
        with m.Else():
            m.d.sync += window.eq((window << p.zero_skip) | skip)


def _ones(count: int, width: int) -> Const:
    """A ``width``-bit mask of the lowest ``count`` positions."""
    return Const((1 << min(count, width)) - 1, width)


def _positions_with_bit(n: int, bit: int) -> Const:
    """An ``n``-bit mask of the positions whose index has bit ``bit`` set."""
    return Const(sum(1 << i for i in range(n) if i >> bit & 1), n)


def _dense_issue(m, p, i, o, negative, have_row, advance):
    nonzero = Signal(p.n_inputs)
    position = Signal(counter_range(p.n_inputs))
    with m.If(i.valid & i.ready):
        m.d.sync += [nonzero.eq(i.payload.nonzero.as_value()), position.eq(0)]
    with m.If(have_row & advance):
        last = position == p.n_inputs - 1
        m.d.sync += [
            o.valid.eq(1),
            o.payload.eq(0),
            o.payload.k.eq(position),
            o.payload.negative.eq(negative.bit_select(position, 1)),
            o.payload.zero.eq(~nonzero.bit_select(position, 1)),
            o.payload.last.eq(last),
            position.eq(position + 1),
        ]
        with m.If(last):
            m.d.sync += have_row.eq(0)
