"""The MixPE expert engine: one MixPE array of ``lanes`` rows by ``arrays`` columns, each
column with its own bank of resident W4A8 weight rows."""

from amaranth import Module, Mux, Signal
from amaranth.lib.memory import Memory

from ..checks import counter_range
from ..mixpe.array import MixPEArray
from ..mixpe.params import WEIGHT_WIDTH
from .engine import ExpertEngine, take_columns_and_job

__all__ = ["MixPEEngine"]


class MixPEEngine(ExpertEngine):
    """Exact W4A8 products of one expert phase for ``lanes`` tokens at once.

    The interface of :class:`~moetile.hw.moe.engine.FatEngine`, with the array's column ``c``
    in the part of FAT array ``c``: its bank holds the rows of the units and outputs
    ``j ≡ c (mod arrays)`` (layout in :class:`~moetile.hw.moe.params.MoELayerParams`), each
    row as ``inputs / group`` words of a group's 4-bit codes, scale code and zero point. A job
    of ``R`` rows runs ``R`` passes: pass ``t`` replays the phase's columns (the groups that
    cover ``hidden`` for gate/up rows, ``expert_hidden`` for down rows) and streams row ``t``
    of every bank, and its ``arrays`` results leave as rows tagged (column ``c``, row ``t``),
    column 0 first. Sums are exact, in units of one scale code step.

    Members
    -------
    As :func:`~moetile.hw.moe.engine.engine_members`.
    """

    def elaborate(self, platform):
        m = Module()
        p = self.params
        e = p.engine
        columns, start, job = take_columns_and_job(m, self)
        m.submodules.array = array = MixPEArray(p.unit)
        rows, _ = self.job_rows(job)
        _, first = self.job_rows(self.i_job.payload)
        groups = Mux(job.phase, e.down_groups(p), e.gate_up_groups(p))

        # Feeding: pass after pass, every column of the job against row ``fed`` of each bank.
        # The row's first bank word is a register, set when the job starts and counted on a
        # row at a time, so the banks' read address is not the job's arithmetic.
        busy = Signal()
        fed = Signal(counter_range(max(p.gate_up_rows, p.down_rows) + 1))
        step = Signal(counter_range(p.inputs))
        group_bits = (e.group - 1).bit_length()
        words_per_row = p.inputs // e.group
        row_word = Signal(range(p.bank_words + words_per_row + 1))
        word = row_word + step[group_bits:]
        feeding = busy & (fed < rows)
        column_read = columns.read_port(domain="comb")
        group_index = step[group_bits:]
        last_group = group_index == groups - 1
        m.d.comb += [
            column_read.addr.eq(step),
            array.i_x.payload.x.eq(column_read.data),
            array.i_x.valid.eq(feeding),
            array.i_w.valid.eq(feeding),
            array.i_group.valid.eq(feeding),
            array.i_group.payload.last.eq(last_group),
        ]
        for c in range(p.arrays):
            self._bank(m, c, word, step[:group_bits], array)
        with m.If(array.i_x.valid & array.i_x.ready):
            m.d.sync += step.eq(step + 1)
            with m.If(last_group & (step[:group_bits] == e.group - 1)):
                m.d.sync += [step.eq(0), fed.eq(fed + 1), row_word.eq(row_word + words_per_row)]

        # Results: each pass's columns in order; the job ends with its last row.
        column = Signal(counter_range(p.arrays))
        row = Signal.like(fed)
        m.d.comb += [
            self.o.valid.eq(array.o.valid),
            self.o.payload.y.eq(array.o.payload.y),
            self.o.payload.array.eq(column),
            self.o.payload.row.eq(row),
            array.o.ready.eq(self.o.ready),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += column.eq(column + 1)
            with m.If(column == p.arrays - 1):
                m.d.sync += [column.eq(0), row.eq(row + 1)]
                with m.If(row == rows - 1):
                    m.d.sync += busy.eq(0)
        with m.If(start):
            m.d.sync += [busy.eq(1), fed.eq(0), step.eq(0), column.eq(0), row.eq(0)]
            m.d.sync += row_word.eq(first * words_per_row)
        m.d.comb += self.idle.eq(~busy)
        return m

    def _bank(self, m, c, word, position, array):
        """Column ``c``'s bank: written by the load stream, read a group word at a time."""
        p = self.params
        e = p.engine
        bank = Memory(shape=p.bank_word_bits, depth=p.bank_words, init=[])
        m.submodules[f"bank{c}"] = bank
        write, read = bank.write_port(), bank.read_port(domain="comb")
        codes = WEIGHT_WIDTH * e.group
        m.d.comb += [
            write.addr.eq(self.bank_write.addr),
            write.data.eq(self.bank_write.data),
            write.en.eq(self.bank_write.en & (self.bank_write.bank == c)),
            read.addr.eq(word),
            array.i_w.payload.q[c].eq(read.data[:codes].word_select(position, WEIGHT_WIDTH)),
            array.i_group.payload.scale[c].eq(read.data[codes : codes + e.weight_scale_width]),
            array.i_group.payload.zero[c].eq(read.data[codes + e.weight_scale_width :]),
        ]
