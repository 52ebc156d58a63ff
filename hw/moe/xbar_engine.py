"""The crossbar expert engine: ``arrays`` crossbar peripheries, each multiplexing the
crossbars that hold its share of every expert's int8 rows."""

from amaranth import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..xbar.analog import ANALOG_MODULE, AnalogBank, offset_code
from ..xbar.periphery import InputDriver, ShiftAdd, connect_read, vector_layout
from .engine import ExpertEngine, job_layout, take_job
from .interface import read_signature, row_layout, write_signature

__all__ = ["XbarEngine", "XbarPeriphery", "block_layout"]


def block_layout(params) -> data.ArrayLayout:
    """``crossbar_rows`` consecutive inputs of every lane: ``[lane][row]``."""
    return data.ArrayLayout(vector_layout(params.engine.crossbar), params.lanes)


class XbarEngine(ExpertEngine):
    """Exact int8 products of one expert phase, token by token, on crossbars.

    The interface of :class:`~moetile.hw.moe.engine.FatEngine`; array ``a`` is a periphery
    (input driver, ADC bank, shift-and-add) in front of a bank of crossbars, one memory word
    each (:class:`~moetile.hw.xbar.analog.AnalogBank`), holding the rows of units and outputs
    ``j ≡ a (mod arrays)`` (layout in :class:`~moetile.hw.moe.params.MoELayerParams`): the
    phase's rows in blocks of ``crossbar_cols``, each block's inputs in blocks of
    ``crossbar_rows``. The columns are kept as blocks (``crossbar_rows`` columns of every
    lane in one memory word), since a crossbar read takes a block of one lane at once. For
    each row block, each input block, each of the job's lanes that holds a token: one
    crossbar read of ``planes`` cycles (the next vector is taken in the last one),
    the block's sums added into the lane's accumulators; then the row block's rows leave on
    ``o``, one a cycle, lanes side by side (zero for lanes without a token). ADCs are
    lossless, so sums are the exact int8 products.

    Members
    -------
    As :func:`~moetile.hw.moe.engine.engine_members`.
    """

    def elaborate(self, platform):
        m = Module()
        blocks = self._blocks(m)
        _, start, job = take_job(m, self)
        self.run_arrays(m, lambda a: self._periphery(m, a, blocks, start, job))
        return m

    def _periphery(self, m, a, blocks, start, job):
        """Periphery ``a``, wired: its bank's writes, the job, the blocks; returns its
        ``(busy, (valid, ready, y, row))`` for :meth:`~ExpertEngine.run_arrays`."""
        periphery = m.submodules[f"periphery{a}"] = XbarPeriphery(self.params)
        block_read = blocks.read_port(domain="comb")
        m.d.comb += [
            periphery.bank_write.en.eq(self.bank_write.en & (self.bank_write.bank == a)),
            periphery.bank_write.addr.eq(self.bank_write.addr),
            periphery.bank_write.data.eq(self.bank_write.data),
            periphery.start.eq(start),
            periphery.starting.eq(self.i_job.payload),
            periphery.job.eq(job),
            block_read.addr.eq(periphery.blocks.addr),
            periphery.blocks.data.eq(block_read.data),
        ]
        o = periphery.o
        return periphery.busy, (o.valid, o.ready, o.payload.y, o.payload.row)

    def _blocks(self, m) -> Memory:
        """The job's input columns as blocks of ``crossbar_rows`` inputs of every lane: a
        block is gathered in a staging register as its columns arrive, then written whole."""
        p = self.params
        e = p.engine
        layout = block_layout(p)
        blocks = Memory(shape=layout, depth=max(2, p.inputs // e.crossbar_rows), init=[])
        m.submodules.blocks = blocks
        write = blocks.write_port()
        staging = Signal(layout)
        gathered = Signal(layout)
        position = Signal(counter_range(e.crossbar_rows))
        for lane in range(p.lanes):
            for r in range(e.crossbar_rows):
                column = Mux(position == r, self.i_x.payload.x[lane], staging[lane][r])
                m.d.comb += gathered[lane][r].eq(column)
        taken = self.i_x.valid & self.i_x.ready
        m.d.comb += [
            write.data.eq(gathered),
            write.en.eq(taken & (position == e.crossbar_rows - 1)),
        ]
        with m.If(taken):
            m.d.sync += [staging.eq(gathered), position.eq(position + 1)]
            with m.If(write.en):
                m.d.sync += [position.eq(0), write.addr.eq(write.addr + 1)]
        with m.If(self.i_job.valid & self.i_job.ready):
            m.d.sync += write.addr.eq(0)
        return blocks


class XbarPeriphery(wiring.Component):
    """One periphery of the crossbar engine: its crossbars (an
    :class:`~moetile.hw.xbar.analog.AnalogBank`), input driver and shift-and-add, and the loop
    over a job's row blocks, input blocks and lanes (see :class:`XbarEngine`).

    Members
    -------
    bank_write : In(write_signature(params.bank_words, params.bank_word_bits))
        A whole crossbar per write, ``w`` to offset code.
    start : In(1); starting : In(job_layout(params)); job : In(job_layout(params))
        The job's first cycle, the job offered then, and the job held while it runs.
    blocks : Out(read_signature(...))
        The job's input blocks (:func:`block_layout`).
    o : Out(stream.Signature(data.StructLayout({"y": ..., "row": ...})))
        The row block's rows, lanes side by side.
    busy : Out(1)
    """

    def __init__(self, params):
        self.params = params
        p, e = params, params.engine
        rows = row_layout(p)
        super().__init__(
            {
                "bank_write": In(write_signature(p.bank_words, p.bank_word_bits)),
                "start": In(1),
                "starting": In(job_layout(p)),
                "job": In(job_layout(p)),
                "blocks": Out(read_signature(max(2, p.inputs // e.crossbar_rows), block_layout(p))),
                "o": Out(
                    stream.Signature(
                        data.StructLayout(
                            {
                                "y": rows["y"].shape,
                                "row": range(max(p.gate_up_rows, p.down_rows) + 1),
                            }
                        )
                    )
                ),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p, e = self.params, self.params.engine
        xbar, job = e.crossbar, self.job
        m.submodules[ANALOG_MODULE] = bank = AnalogBank(xbar, p.bank_words)
        m.submodules.driver = driver = InputDriver(xbar, p.bank_words)
        m.submodules.shift_add = shift_add = ShiftAdd(xbar)
        self._program(m, bank)

        rows, row_blocks, ins = self._shape(job)
        gu_rows, gu_ins = e.gate_up_blocks(p)
        starting = self.starting
        first = starting.region * e.crossbars_per_expert(p) + Mux(
            starting.phase, gu_rows * gu_ins, 0
        )

        busy, holding, emitting = self.busy, Signal(), Signal()
        plane = Signal(counter_range(xbar.planes))
        lane = Signal(counter_range(p.lanes))
        block = Signal(counter_range(p.inputs // e.crossbar_rows), name="in_block")
        row_block = Signal(counter_range(max(gu_rows, e.down_blocks(p)[0])))
        row_word = Signal(counter_range(p.bank_words))
        column = Signal(counter_range(xbar.cols), name="out_column")
        with m.If(self.start):
            m.d.sync += [busy.eq(1), holding.eq(0), emitting.eq(0), plane.eq(0)]
            m.d.sync += [lane.eq(0), block.eq(0), row_block.eq(0), row_word.eq(first)]

        # Reads: the next vector is taken at once, or in the current read's last cycle.
        last_plane = plane == xbar.planes - 1
        last_lane = lane == job.lanes - 1
        last_read = last_lane & (block == ins - 1)
        advance = holding & last_plane
        next_lane = Mux(advance, Mux(last_lane, 0, lane + 1), lane)
        next_block = Mux(advance & last_lane, block + 1, block)
        take = busy & ~emitting & (~holding | (last_plane & ~last_read))
        m.d.comb += [
            self.blocks.addr.eq(next_block),
            driver.take.eq(take),
            driver.x.eq(self.blocks.data[next_lane]),
            driver.crossbar.eq(row_word + next_block),
        ]
        connect_read(m, driver, bank, shift_add, plane, step=holding)
        with m.If(holding):
            m.d.sync += plane.eq(Mux(last_plane, 0, plane + 1))
        with m.If(take):
            m.d.sync += [holding.eq(1), plane.eq(0)]

        # Sums: each lane's accumulators gather the input blocks of the row block.
        acc = [
            [Signal(signed(p.sum_width), name=f"acc{n}_{c}") for c in range(xbar.cols)]
            for n in range(p.lanes)
        ]
        with m.If(advance):
            m.d.sync += [lane.eq(next_lane), block.eq(next_block)]
            with m.Switch(lane):
                for n in range(p.lanes):
                    with m.Case(n):
                        for c in range(xbar.cols):
                            kept = Mux(block == 0, 0, acc[n][c])
                            m.d.sync += acc[n][c].eq(kept + shift_add.total[c])
            with m.If(last_read):
                m.d.sync += [holding.eq(0), emitting.eq(1), column.eq(0)]

        # Rows out: the row block's rows, lanes side by side; then the next row block. Lanes
        # past the job's tokens were not read: zero, as an engine with all lanes in parallel
        # gives for their zero inputs.
        by_column = Array(
            Cat(Mux(n < job.lanes, acc[n][c], 0) for n in range(p.lanes)) for c in range(xbar.cols)
        )
        row = self.o.payload.row
        m.d.comb += [
            self.o.valid.eq(emitting),
            row.eq(row_block * xbar.cols + column),
            self.o.payload.y.eq(by_column[column]),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += column.eq(column + 1)
            with m.If((column == xbar.cols - 1) | (row == rows - 1)):
                m.d.sync += [emitting.eq(0), lane.eq(0), block.eq(0)]
                m.d.sync += [row_block.eq(row_block + 1), row_word.eq(row_word + ins)]
                with m.If(row_block == row_blocks - 1):
                    m.d.sync += busy.eq(0)
        return m

    def _shape(self, job):
        """A job's rows, row blocks and input blocks (its phase's)."""
        p, e = self.params, self.params.engine
        (gu_rows, gu_ins), (down_rows, down_ins) = e.gate_up_blocks(p), e.down_blocks(p)
        rows = Mux(job.phase, p.down_rows, p.gate_up_rows)
        return rows, Mux(job.phase, down_rows, gu_rows), Mux(job.phase, down_ins, gu_ins)

    def _program(self, m, bank) -> None:
        """A whole crossbar per load word, each weight to its offset code."""
        xbar = self.params.engine.crossbar
        m.d.comb += [
            bank.write_en.eq(self.bank_write.en),
            bank.write_crossbar.eq(self.bank_write.addr),
        ]
        for r in range(xbar.rows):
            for c in range(xbar.cols):
                bit = (r * xbar.cols + c) * xbar.w_bits
                weight = self.bank_write.data[bit : bit + xbar.w_bits].as_signed()
                m.d.comb += bank.write_u[r][c].eq(offset_code(xbar, weight))
