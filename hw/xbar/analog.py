"""A behavioural model of a group's analog part: its crossbars' cells, the bitline sums of a
read and the ADC bank. Area and energy of this part come from the cited analog table
(:mod:`moetile.sw.cost.area`), not from synthesis, which counts it out by module name
(:data:`ANALOG_MODULE`)."""

from amaranth import Array, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from .params import CrossbarParams

__all__ = [
    "ANALOG_MODULE",
    "AnalogBank",
    "AnalogGroup",
    "cell_row_layout",
    "code_layout",
    "convert",
    "offset_code",
]

#: Submodule name (then its index) of every analog model in a tile or crossbar engine.
ANALOG_MODULE = "analog"


def offset_code(params: CrossbarParams, w):
    """The cell code ``u = w + 2**(w_bits - 1)`` of a signed weight: its bits with the sign
    bit flipped."""
    return w.as_unsigned() ^ (1 << (params.w_bits - 1))


def cell_row_layout(params: CrossbarParams) -> data.ArrayLayout:
    """One crossbar row of offset-encoded weights ``u``."""
    return data.ArrayLayout(unsigned(params.w_bits), params.cols)


def code_layout(params: CrossbarParams) -> data.ArrayLayout:
    """ADC codes of a read: per column, one per slice."""
    return data.ArrayLayout(
        data.ArrayLayout(unsigned(params.code_width), params.slices), params.cols
    )


def _members(params: CrossbarParams, count: int, writes: dict) -> dict:
    """Ports of an analog model of ``count`` crossbars: a write (``writes``: what it carries),
    a read's crossbar and wordline levels, the ADC codes."""
    return {
        "write_en": In(1),
        "write_crossbar": In(counter_range(count)),
        **writes,
        "read_crossbar": In(counter_range(count)),
        "chunk": In(data.ArrayLayout(unsigned(params.dac_bits), params.rows)),
        "codes": Out(code_layout(params)),
    }


class AnalogGroup(wiring.Component):
    """``count`` crossbars behind one ADC bank.

    A write stores row ``write_row`` of crossbar ``write_crossbar`` at the clock edge. A read is
    combinational: crossbar ``read_crossbar`` gets level ``chunk[r]`` on wordline ``r``, every
    bitline sums ``chunk[r] * cell[r, c, s]`` and its ADC converts the sum, saturating at
    ``2**adc_bits - 1``.

    Members
    -------
    write_en, write_crossbar, write_row, write_u : In
    read_crossbar : In
    chunk : In(ArrayLayout(unsigned(dac_bits), rows))
    codes : Out(code_layout(params))
    """

    def __init__(self, params: CrossbarParams, count: int):
        self.params, self.count = params, count
        writes = {
            "write_row": In(counter_range(params.rows)),
            "write_u": In(cell_row_layout(params)),
        }
        super().__init__(_members(params, count, writes))

    def elaborate(self, platform):
        m = Module()
        p = self.params
        cells = [
            [Signal(cell_row_layout(p), name=f"cells{k}_{r}") for r in range(p.rows)]
            for k in range(self.count)
        ]

        # Programming: one row at a time.
        with m.If(self.write_en):
            for k in range(self.count):
                with m.If(self.write_crossbar == k):
                    for r in range(p.rows):
                        with m.If(self.write_row == r):
                            m.d.sync += cells[k][r].eq(self.write_u)

        # Reading: the selected crossbar's cells against the wordline levels.
        read = [
            Array(cells[k][r] for k in range(self.count))[self.read_crossbar] for r in range(p.rows)
        ]
        convert(m, p, read, self.chunk, self.codes)
        return m


def convert(m, params: CrossbarParams, cells, chunk, codes) -> None:
    """A read: wordline ``r`` at level ``chunk[r]`` against ``cells[r]`` (one crossbar row of
    offset codes); every bitline's sum, converted by its ADC into ``codes``."""
    p = params
    for c in range(p.cols):
        for s in range(p.slices):
            low = s * p.cell_bits
            terms = [chunk[r] * cells[r][c][low : low + p.slice_bits(s)] for r in range(p.rows)]
            bitline = Signal(p.bitline_width, name=f"bitline{c}_{s}")
            m.d.comb += bitline.eq(sum(terms))
            code = bitline
            if p.adc_max < p.bitline_max:
                code = Mux(bitline > p.adc_max, p.adc_max, bitline)
            m.d.comb += codes[c][s].eq(code)


def crossbar_layout(params: CrossbarParams) -> data.ArrayLayout:
    """A whole crossbar of offset codes, row by row."""
    return data.ArrayLayout(cell_row_layout(params), params.rows)


class AnalogBank(wiring.Component):
    """``count`` crossbars behind one ADC bank, for many crossbars: each crossbar is one word
    of a memory, programmed whole (``write_u``, offset codes, row by row) at address
    ``write_crossbar``; a read of crossbar ``read_crossbar`` is combinational, as in
    :class:`AnalogGroup`.

    Members
    -------
    write_en, write_crossbar, write_u : In
    read_crossbar : In
    chunk : In(ArrayLayout(unsigned(dac_bits), rows))
    codes : Out(code_layout(params))
    """

    def __init__(self, params: CrossbarParams, count: int):
        self.params, self.count = params, count
        super().__init__(_members(params, count, {"write_u": In(crossbar_layout(params))}))

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.cells = cells = Memory(
            shape=crossbar_layout(p), depth=max(2, self.count), init=[]
        )
        write, read = cells.write_port(), cells.read_port(domain="comb")
        m.d.comb += [
            write.addr.eq(self.write_crossbar),
            write.data.eq(self.write_u),
            write.en.eq(self.write_en),
            read.addr.eq(self.read_crossbar),
        ]
        convert(m, p, [read.data[r] for r in range(p.rows)], self.chunk, self.codes)
        return m
