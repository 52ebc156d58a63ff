"""The multiplexed-crossbar tile: groups of crossbars, each group behind one shared
periphery, running a schedule slot by slot."""

from amaranth import C, Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from .analog import ANALOG_MODULE, AnalogGroup, offset_code
from .interface import input_layout, output_layout, weight_layout
from .params import TileParams
from .periphery import InputDriver, ShiftAdd, connect_pipelined_read, connect_read

__all__ = ["XbarTile"]


class XbarTile(wiring.Component):
    """``groups`` groups of ``crossbars_per_group`` crossbars; each group reads one of its
    crossbars per slot through its periphery.

    Weights: ``i_w`` programs one crossbar row per transfer (crossbar ``k`` is crossbar
    ``k % crossbars_per_group`` of group ``k // crossbars_per_group``); it is taken only
    between slots, before a slot's first vector when both are offered.

    A slot: its distinct input vectors on ``i_x``, one per transfer (``T`` of them), each
    naming the groups it feeds and the crossbar each reads, the last one flagged ``last``.
    Then every active group reads its crossbar, one read per cycle for ``planes`` cycles, all
    groups in lockstep (pipelined, each read's levels, conversion, weighting and sum a cycle
    apart: ``read_cycles`` cycles in all), and the slot's results leave as one transfer on ``o``. A
    slot thus takes ``T + read_cycles`` cycles when nothing stalls, and the next slot's vectors
    are taken as soon as its results are in the output register. Double-buffered
    (``params.double_buffered``), the next slot's vectors are taken while a slot reads, and it
    starts reading as soon as both are done: ``max(T, read_cycles)`` cycles a slot (exact model:
    :func:`moetile.sw.golden.xbar.tile_cycles`). A group fed twice in one slot keeps the later
    vector.

    Parameters
    ----------
    params : TileParams

    Members
    -------
    i_w : In(stream.Signature(weight_layout(params)))
    i_x : In(stream.Signature(input_layout(params)))
    o : Out(stream.Signature(output_layout(params)))
    """

    def __init__(self, params: TileParams):
        self.params = params
        super().__init__(
            {
                "i_w": In(stream.Signature(weight_layout(params))),
                "i_x": In(stream.Signature(input_layout(params))),
                "o": Out(stream.Signature(output_layout(params))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        computing = Signal()
        started = Signal()  # a vector of the slot being taken has been taken
        # Double-buffered: a slot's vectors are all in, and it waits for the reads to end.
        pending = Signal() if p.double_buffered else C(0, 1)
        # The slot's cycle of reading: read ``plane`` drives its levels in cycle ``plane``.
        cycle = Signal(counter_range(p.read_cycles), name="read_cycle")
        last_cycle = cycle == p.read_cycles - 1
        advance = computing & ~(last_cycle & self.o.valid & ~self.o.ready)
        reading_ends = advance & last_cycle

        # Streams in: weights only between slots, then the slot's vectors (double-buffered,
        # also while the previous slot reads, unless a slot is already waiting).
        busy = pending if p.double_buffered else computing
        m.d.comb += [
            self.i_w.ready.eq(~computing & ~started & ~pending),
            self.i_x.ready.eq(~busy & ~(self.i_w.valid & ~started & ~computing)),
        ]
        taken = self.i_x.valid & self.i_x.ready
        complete = taken & self.i_x.payload.last  # the slot's last vector
        with m.If(taken):
            m.d.sync += started.eq(~self.i_x.payload.last)
        with m.If(advance):
            m.d.sync += cycle.eq(cycle + 1)
            with m.If(last_cycle):
                m.d.sync += computing.eq(0)
        free = ~computing | reading_ends
        start = (complete | pending) & free
        with m.If(start):
            m.d.sync += [computing.eq(1), cycle.eq(0)]
        if p.double_buffered:
            m.d.sync += pending.eq(Mux(start, 0, pending | complete))

        # The groups: analog part, input driver, shift-and-add.
        totals, actives = [], []
        for g in range(p.groups):
            total, active = self._group(m, g, cycle, taken & ~started, advance, start)
            totals.append(total)
            actives.append(active)

        # Results: held until read; the last read of a slot writes them.
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(reading_ends):
            m.d.sync += [self.o.valid.eq(1), self.o.payload.active.eq(Cat(actives))]
            for g in range(p.groups):
                for c in range(p.cols):
                    m.d.sync += self.o.payload.y[g][c].eq(Mux(actives[g], totals[g][c], 0))
        return m

    def _group(self, m, g, cycle, first_vector, advance, start):
        """Group ``g``: its crossbars behind an input driver and a shift-and-add. Returns its
        running totals and whether it is active this slot."""
        p = self.params
        xbar = p.crossbar
        count = p.crossbars_per_group
        analog = AnalogGroup(xbar, count)
        driver = InputDriver(xbar, count, p.double_buffered)
        shift_add = ShiftAdd(xbar, registered=p.pipelined)
        m.submodules[f"{ANALOG_MODULE}{g}"] = analog
        m.submodules[f"driver{g}"] = driver
        m.submodules[f"shift_add{g}"] = shift_add

        # Programming: weights to offset codes, one crossbar row at a time.
        w = self.i_w.payload
        m.d.comb += [
            analog.write_en.eq(self.i_w.valid & self.i_w.ready & (w.crossbar // count == g)),
            analog.write_crossbar.eq(w.crossbar % count),
            analog.write_row.eq(w.row),
        ]
        for c in range(p.cols):
            m.d.comb += analog.write_u[c].eq(offset_code(xbar, w.w[c]))

        # Reading: the driver's levels into the selected crossbar, codes into the shift-add.
        x = self.i_x.payload
        m.d.comb += [
            driver.take.eq(self.i_x.valid & self.i_x.ready & x.groups[g]),
            driver.clear.eq(first_vector),
            driver.swap.eq(start),
            driver.x.eq(x.x),
            driver.crossbar.eq(x.crossbar[g]),
        ]
        if p.pipelined:
            connect_pipelined_read(m, f"read{g}", driver, analog, shift_add, cycle, advance)
        else:
            connect_read(m, driver, analog, shift_add, cycle, step=advance)
        return shift_add.total, driver.active
