"""Expert engines: the interface every engine offers the layer, and the FAT engine (``arrays``
FAT arrays sharing the lanes' input columns, each with its own bank of resident ternary
weight rows)."""

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..fat.array import FatArray
from ..fat.interface import weight_layout
from .interface import column_layout, row_layout, write_signature
from .params import MoELayerParams

__all__ = [
    "ExpertEngine",
    "FatEngine",
    "engine_members",
    "job_layout",
    "take_columns_and_job",
    "take_job",
]


def job_layout(params: MoELayerParams) -> data.StructLayout:
    """One job: the region of the banks holding its expert (the expert itself, or its cache
    slot), a phase (0 for its gate and up rows, interleaved per hidden unit, 1 for its down
    rows) and how many lanes, from the first, hold a token (an engine that takes its lanes one
    after another skips the rest)."""
    return data.StructLayout(
        {
            "region": unsigned(params.region_width),
            "phase": 1,
            "lanes": range(params.lanes + 1),
        }
    )


def engine_members(params: MoELayerParams) -> dict:
    """The ports of every engine (see :class:`FatEngine`)."""
    return {
        "i_x": In(stream.Signature(column_layout(params))),
        "i_job": In(stream.Signature(job_layout(params))),
        "o": Out(stream.Signature(row_layout(params))),
        "bank_write": In(write_signature(params.bank_words, params.bank_word_bits, params.arrays)),
        "idle": Out(1),
    }


class ExpertEngine(wiring.Component):
    """What every engine shares: its ports (:func:`engine_members`) and where a job's rows lie
    in the banks."""

    def __init__(self, params: MoELayerParams):
        self.params = params
        super().__init__(engine_members(params))

    def job_rows(self, job):
        """``(rows, first)``: how many rows each bank runs for ``job``, and the first one's
        bank row (an expert's gate/up rows, then its down rows)."""
        p = self.params
        rows = Mux(job.phase, p.down_rows, p.gate_up_rows)
        first = job.region * (p.gate_up_rows + p.down_rows) + Mux(job.phase, p.gate_up_rows, 0)
        return rows, first

    def run_arrays(self, m, array) -> None:
        """Builds every array with ``array(a) -> (busy, (valid, ready, y, row))``; the engine
        is idle when none is busy, and its output merges theirs (:meth:`merge`)."""
        running, outputs = zip(*(array(a) for a in range(self.params.arrays)), strict=True)
        m.d.comb += self.idle.eq(~Cat(running).any())
        self.merge(m, outputs)

    def merge(self, m, outputs) -> None:
        """One output stream from the arrays' ``(valid, ready, y, row)``: the lowest-numbered
        array with a finished row goes first."""
        p = self.params
        chosen = Signal(counter_range(p.arrays))
        for a in reversed(range(p.arrays)):
            with m.If(outputs[a][0]):
                m.d.comb += chosen.eq(a)
        m.d.comb += self.o.valid.eq(Cat(valid for valid, *_ in outputs).any())
        for a, (_, ready, y, row) in enumerate(outputs):
            with m.If(chosen == a):
                m.d.comb += [
                    self.o.payload.y.eq(y),
                    self.o.payload.array.eq(a),
                    self.o.payload.row.eq(row),
                ]
            m.d.comb += ready.eq(self.o.ready & (chosen == a))


def take_columns_and_job(m, engine) -> tuple[Memory, Signal, Signal]:
    """An engine's input columns, written in order while no job runs, and the job that starts
    once they are all there. Returns ``(columns, start, job)``."""
    p = engine.params
    columns = Memory(shape=column_layout(p)["x"].shape, depth=p.inputs, init=[])
    m.submodules.columns = columns
    column_write = columns.write_port()
    loaded, start, job = take_job(m, engine)
    m.d.comb += [
        column_write.addr.eq(loaded),
        column_write.data.eq(engine.i_x.payload.x),
        column_write.en.eq(engine.i_x.valid & engine.i_x.ready),
    ]
    return columns, start, job


def take_job(m, engine) -> tuple[Signal, Signal, Signal]:
    """Counts the input columns taken while no job runs (the caller stores them), and takes
    the job once all ``inputs`` are there. Returns ``(loaded, start, job)``: the next column's
    index, the job's starting cycle and the job."""
    p = engine.params
    loaded = Signal(range(p.inputs + 1))
    m.d.comb += engine.i_x.ready.eq(engine.idle & (loaded < p.inputs))
    with m.If(engine.i_x.valid & engine.i_x.ready):
        m.d.sync += loaded.eq(loaded + 1)
    job = Signal(job_layout(p))
    start = Signal()
    m.d.comb += [
        engine.i_job.ready.eq(engine.idle & (loaded == p.inputs)),
        start.eq(engine.i_job.valid & engine.i_job.ready),
    ]
    with m.If(start):
        m.d.sync += [job.eq(engine.i_job.payload), loaded.eq(0)]
    return loaded, start, job


class FatEngine(ExpertEngine):
    """Exact ternary matrix-vector products of one expert phase for ``lanes`` tokens at once.

    A job: ``inputs`` columns on ``i_x`` (input ``k`` of every lane), then a job on ``i_job``.
    Every array replays the columns once per pass of ``pass_rows`` rows and streams its share
    of the phase's rows from its bank (array ``a`` holds the rows of units or outputs
    ``j ≡ a (mod arrays)``; layout in :class:`~moetile.hw.moe.params.MoELayerParams`). Each
    finished row leaves on ``o`` tagged with its array and its position in that array's phase;
    when several arrays have one, the lowest-numbered goes first. ``idle`` is high when no job
    runs; columns for the next job are taken only then.

    Members
    -------
    i_x : In(stream.Signature(column_layout(params)))
    i_job : In(stream.Signature(job_layout(params)))
    o : Out(stream.Signature(row_layout(params)))
    bank_write : In(write_signature(bank_words, bank_word_bits, arrays))
        Weight-row writes into array ``bank_write.bank``'s bank.
    idle : Out(1)
    """

    def elaborate(self, platform):
        m = Module()
        # A job starts every array at once.
        columns, start, job = take_columns_and_job(m, self)
        rows, _ = self.job_rows(job)
        _, first = self.job_rows(self.i_job.payload)
        self.run_arrays(m, lambda a: self._array(m, a, columns, start, rows, first))
        return m

    def _array(self, m, a, columns, start, rows, first):
        """Array ``a``: its bank, its feeder (columns replayed per pass, rows in order) and
        its output count. Returns (busy, (array output, rows out)). The bank row to read
        next is a register, set to the job's ``first`` row when it starts and counted on,
        so the bank's read address is not the job's arithmetic."""
        p = self.params
        array = FatArray(p.unit)
        m.submodules[f"array{a}"] = array
        bank = Memory(shape=weight_layout(p.unit), depth=p.bank_rows, init=[])
        m.submodules[f"bank{a}"] = bank
        bank_write = bank.write_port()
        bank_read = bank.read_port(domain="comb")
        column_read = columns.read_port(domain="comb")
        m.d.comb += [
            bank_write.addr.eq(self.bank_write.addr),
            bank_write.data.eq(self.bank_write.data),
            bank_write.en.eq(self.bank_write.en & (self.bank_write.bank == a)),
        ]
        busy = Signal(name=f"busy{a}")
        sent = Signal(counter_range(max(p.gate_up_rows, p.down_rows) + 1), name=f"rows_sent{a}")
        done = Signal.like(sent, name=f"rows_done{a}")
        column = Signal(counter_range(p.inputs), name=f"column{a}")
        passes = Signal.like(sent, name=f"passes_fed{a}")
        row = Signal(range(p.bank_rows + 1), name=f"bank_row{a}")
        with m.If(start):
            m.d.sync += [busy.eq(1), sent.eq(0), done.eq(0), column.eq(0), passes.eq(0)]
            m.d.sync += row.eq(first)

        # Weight rows, in order.
        m.d.comb += [
            bank_read.addr.eq(row),
            array.i_w.payload.eq(bank_read.data),
            array.i_w.valid.eq(busy & (sent < rows)),
        ]
        with m.If(array.i_w.valid & array.i_w.ready):
            m.d.sync += [sent.eq(sent + 1), row.eq(row + 1)]

        # Input columns, once per pass.
        m.d.comb += [
            column_read.addr.eq(column),
            array.i_x.payload.x.eq(column_read.data),
            array.i_x.valid.eq(busy & (passes * p.pass_rows < rows)),
        ]
        with m.If(array.i_x.valid & array.i_x.ready):
            m.d.sync += column.eq(Mux(column == p.inputs - 1, 0, column + 1))
            with m.If(column == p.inputs - 1):
                m.d.sync += passes.eq(passes + 1)

        # The job ends for this array when its last row has been taken.
        with m.If(array.o.valid & array.o.ready):
            m.d.sync += done.eq(done + 1)
            with m.If(done == rows - 1):
                m.d.sync += busy.eq(0)
        return busy, (array.o.valid, array.o.ready, array.o.payload.y, done)
