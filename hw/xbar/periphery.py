"""The digital periphery one group of crossbars shares: the input driver and the
shift-and-add."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..pipeline import Pipeline
from ..tree import tree_sum
from .analog import code_layout
from .params import CrossbarParams

__all__ = [
    "InputDriver",
    "ShiftAdd",
    "connect_pipelined_read",
    "connect_read",
    "vector_layout",
]


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
    stores it. ``registered``: the weighted read is registered on ``advance`` and joins the
    sum a cycle later (``first`` and ``step`` then name that cycle).

    Members
    -------
    codes : In(code_layout(params))
    plane : In
    first, step, advance : In(1)
    input_sum : In(signed(input_sum_width))
    total : Out(ArrayLayout(signed(acc_width), cols))
    """

    def __init__(self, params: CrossbarParams, registered: bool = False):
        self.params = params
        self.registered = registered
        super().__init__(
            {
                "codes": In(code_layout(params)),
                "plane": In(counter_range(params.planes)),
                "first": In(1),
                "step": In(1),
                "advance": In(1),
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
        pipe = Pipeline(m, registered=self.registered, advance=self.advance)
        # The sign read weighs ``-2**(in_bits-1)``: its magnitude is subtracted from the sum.
        sign = self.plane == p.magnitude_planes
        for c in range(p.cols):
            acc = Signal(signed(p.acc_width), name=f"acc{c}")
            read = Signal(range(1 << (p.code_width + p.w_bits)), name=f"read{c}")
            slices = (self.codes[c][s] << (s * p.cell_bits) for s in range(p.slices))
            m.d.comb += read.eq(tree_sum(slices))
            magnitude = Signal(unsigned(p.acc_width), name=f"weighted{c}")
            with m.Switch(self.plane):
                for plane in range(p.planes):
                    with m.Case(plane):
                        low = p.in_bits - 1 if plane == p.magnitude_planes else plane * p.dac_bits
                        m.d.comb += magnitude.eq(read << low)
            weighted = pipe.through(f"weighted{c}", dict(value=magnitude, sign=sign))
            base = Mux(self.first, removed, acc)
            m.d.comb += self.total[c].eq(
                Mux(weighted["sign"], base - weighted["value"], base + weighted["value"])
            )
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


def connect_pipelined_read(m, name: str, driver, analog, shift_add, cycle, advance) -> None:
    """The read path of :func:`connect_read` with the wordline levels, the ADC codes and
    the weighted reads in registers (named after ``name``; ``shift_add`` built
    ``registered``): in the slot's ``cycle`` ``p`` read ``p`` drives its levels, read ``p - 1``
    is converted, read ``p - 2`` weighted and read ``p - 3`` summed. The registers move on
    ``advance``, so a stalled slot keeps its last sum. Each read carries its plane and whether
    it is a read (``valid``) and the slot's first; the input sum that removes the weight offset
    is registered once: the driver holds its vector for the whole slot."""
    planes = driver.params.planes
    pipe = Pipeline(m, advance=advance)
    # The cycles after the last read drive levels that are never summed.
    read = cycle[: len(driver.plane)]
    driven = pipe.stage(
        f"{name}_driven",
        valid=cycle < planes,
        first=cycle == 0,
        plane=read,
        levels=driver.chunk,
        input_sum=driver.input_sum,
    )
    converted = pipe.stage(
        f"{name}_converted", **driven.carry("valid", "first", "plane"), codes=analog.codes
    )
    weighed = pipe.stage(f"{name}_weighed", **converted.carry("valid", "first"))
    m.d.comb += [
        driver.plane.eq(read),
        analog.read_crossbar.eq(driver.read_crossbar),
        analog.chunk.eq(driven.levels),
        shift_add.codes.eq(converted.codes),
        shift_add.plane.eq(converted.plane),
        shift_add.advance.eq(advance),
        shift_add.first.eq(weighed.first),
        shift_add.step.eq(advance & weighed.valid),
        shift_add.input_sum.eq(driven.input_sum),
    ]
