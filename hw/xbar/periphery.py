"""The digital periphery one group of crossbars shares: the input driver and the
shift-and-add."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from .analog import code_layout
from .params import CrossbarParams

__all__ = ["InputDriver", "ShiftAdd", "connect_read", "vector_layout"]


def vector_layout(params: CrossbarParams) -> data.ArrayLayout:
    """One input vector: a signed ``in_bits`` value per row."""
    return data.ArrayLayout(signed(params.in_bits), params.rows)


class InputDriver(wiring.Component):
    """Holds a group's input vector for a slot and applies it read by read.

    ``take`` stores ``x`` and the crossbar to read and marks the group active; ``clear`` (a
    new slot's first vector) marks it inactive unless it takes that vector. ``chunk`` is the
    wordline levels of read ``plane`` (:class:`~moetile.hw.xbar.params.CrossbarParams`);
    ``input_sum`` is ``sum_r x[r]``, for the weight offset.

    ``double_buffered``: ``take`` and ``clear`` fill a second, staged vector instead, which
    ``swap`` makes the one read (a vector taken in the cycle of the swap goes straight to it),
    so the next slot's vectors arrive while this one reads. Without, ``swap`` is unused.

    Members
    -------
    take, clear, swap : In(1)
    x : In(ArrayLayout(signed(in_bits), rows))
    crossbar : In
    plane : In
    chunk : Out(ArrayLayout(unsigned(dac_bits), rows))
    read_crossbar : Out
    active : Out(1)
    input_sum : Out(signed(input_sum_width))
    """

    def __init__(self, params: CrossbarParams, count: int, double_buffered: bool = False):
        self.params = params
        self.double_buffered = double_buffered
        super().__init__(
            {
                "take": In(1),
                "clear": In(1),
                "swap": In(1),
                "x": In(vector_layout(params)),
                "crossbar": In(counter_range(count)),
                "plane": In(counter_range(params.planes)),
                "chunk": Out(data.ArrayLayout(unsigned(params.dac_bits), params.rows)),
                "read_crossbar": Out(counter_range(count)),
                "active": Out(1),
                "input_sum": Out(signed(params.input_sum_width)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        held = Signal.like(self.x)

        # Taking a vector for the slot (or, double-buffered, for the next one).
        if self.double_buffered:
            staged = Signal.like(self.x)
            staged_crossbar = Signal.like(self.crossbar)
            staged_active = Signal()
            with m.If(self.clear):
                m.d.sync += staged_active.eq(0)
            with m.If(self.take):
                m.d.sync += [staged.eq(self.x), staged_crossbar.eq(self.crossbar)]
                m.d.sync += staged_active.eq(1)
            with m.If(self.swap):
                m.d.sync += [
                    held.eq(Mux(self.take, self.x, staged)),
                    self.read_crossbar.eq(Mux(self.take, self.crossbar, staged_crossbar)),
                    self.active.eq(self.take | (staged_active & ~self.clear)),
                ]
        else:
            with m.If(self.clear):
                m.d.sync += self.active.eq(0)
            with m.If(self.take):
                m.d.sync += [held.eq(self.x), self.read_crossbar.eq(self.crossbar)]
                m.d.sync += self.active.eq(1)

        # Read ``plane``: magnitude bits of every row, a chunk at a time, then the sign bits.
        with m.Switch(self.plane):
            for plane in range(p.planes):
                low = p.in_bits - 1 if plane == p.magnitude_planes else plane * p.dac_bits
                with m.Case(plane):
                    for r in range(p.rows):
                        bits = held[r][low : low + p.chunk_bits(plane)]
                        m.d.comb += self.chunk[r].eq(bits)
        m.d.comb += self.input_sum.eq(sum(held[r] for r in range(p.rows)))
        return m


class ShiftAdd(wiring.Component):
    """Combines a group's ADC codes over slices and reads into one sum per column.

    ``total[c]`` is ``acc[c]`` (or, on a slot's ``first`` read, ``-offset * input_sum``: the
    weight offset removed up front) plus ``sum_s codes[c][s] * 2**(s*cell_bits)`` weighted by
    read ``plane`` (``2**(plane*dac_bits)``, the sign read ``-2**(in_bits-1)``); ``step``
    stores it.

    Members
    -------
    codes : In(code_layout(params))
    plane : In
    first, step : In(1)
    input_sum : In(signed(input_sum_width))
    total : Out(ArrayLayout(signed(acc_width), cols))
    """

    def __init__(self, params: CrossbarParams):
        self.params = params
        super().__init__(
            {
                "codes": In(code_layout(params)),
                "plane": In(counter_range(params.planes)),
                "first": In(1),
                "step": In(1),
                "input_sum": In(signed(params.input_sum_width)),
                "total": Out(data.ArrayLayout(signed(params.acc_width), params.cols)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        offset_bits = p.w_bits - 1
        removed = Signal(signed(p.acc_width))
        m.d.comb += removed.eq(-(self.input_sum << offset_bits))
        for c in range(p.cols):
            acc = Signal(signed(p.acc_width), name=f"acc{c}")
            read = Signal(range(1 << (p.code_width + p.w_bits)), name=f"read{c}")
            m.d.comb += read.eq(sum(self.codes[c][s] << (s * p.cell_bits) for s in range(p.slices)))
            weighted = Signal(signed(p.acc_width), name=f"weighted{c}")
            with m.Switch(self.plane):
                for plane in range(p.planes):
                    with m.Case(plane):
                        if plane == p.magnitude_planes:
                            m.d.comb += weighted.eq(-(read << (p.in_bits - 1)))
                        else:
                            m.d.comb += weighted.eq(read << (plane * p.dac_bits))
            m.d.comb += self.total[c].eq(Mux(self.first, removed, acc) + weighted)
            with m.If(self.step):
                m.d.sync += acc.eq(self.total[c])
        return m


def connect_read(m, driver: InputDriver, analog, shift_add: ShiftAdd, plane, step) -> None:
    """One read path: the driver's levels into the crossbar it selected, the ADC codes into
    the shift-and-add, read ``plane`` on all three; ``step`` stores the shift-and-add's sum
    (its first read starts from the weight offset)."""
    m.d.comb += [
        driver.plane.eq(plane),
        analog.read_crossbar.eq(driver.read_crossbar),
        analog.chunk.eq(driver.chunk),
        shift_add.codes.eq(analog.codes),
        shift_add.plane.eq(plane),
        shift_add.first.eq(plane == 0),
        shift_add.step.eq(step),
        shift_add.input_sum.eq(driver.input_sum),
    ]
