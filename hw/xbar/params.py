"""Parameters of a crossbar and of a multiplexed-crossbar tile; every width is derived here."""

from dataclasses import dataclass, fields

from ..checks import MAX_UNITS, check_bool, check_int, signed_range, signed_width

__all__ = ["READ_STAGES", "CrossbarParams", "TileParams"]

#: Registers on a pipelined read path: the wordline levels, the ADC codes, the weighted read.
READ_STAGES = 3


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class CrossbarParams:
    """One in-memory-computing crossbar and its read-out, modelled exactly.

    The crossbar holds a signed ``w_bits`` weight ``w[r, c]`` for every row ``r`` (input) and
    column ``c`` (output) in offset encoding, ``u = w + 2**(w_bits - 1)`` in
    ``[0, 2**w_bits)``, cut into ``slices`` slices of ``cell_bits`` (slice ``s`` holds bits
    ``s*cell_bits ..`` of ``u`` in one cell; each slice has its own bitline). A signed
    ``in_bits`` input ``x[r]`` is applied in ``planes`` reads: its ``in_bits - 1`` magnitude
    bits in chunks of up to ``dac_bits`` (chunk ``p`` weighs ``2**(p*dac_bits)``), then its
    sign bit alone (weighing ``-2**(in_bits - 1)``), so every applied level is non-negative.
    Each read gives every bitline the sum ``sum_r chunk[r] * cell[r, c, s]``; an ADC of
    ``adc_bits`` converts it, saturating at ``2**adc_bits - 1``. Shift-and-add combines the
    reads and slices into ``S[c]``, and the weight offset is removed digitally::

        y[c] = S[c] - 2**(w_bits - 1) * sum_r x[r]

    With a lossless ADC (``adc_bits >= lossless_adc_bits``) ``y = x · w`` exactly.

    Parameters
    ----------
    rows : int
        Wordlines (inputs), ``1 ..= 1024``.
    cols : int
        Outputs, ``1 ..= 1024``.
    cell_bits : int
        Bits per cell, ``1 ..= w_bits``.
    w_bits : int
        Bits of a signed weight, ``2 ..= 8``.
    in_bits : int
        Bits of a signed input, ``2 ..= 8``.
    dac_bits : int
        Bits the input driver applies per read, ``1 ..= in_bits - 1``.
    adc_bits : int
        ADC resolution, ``1 ..= 16``.
    """

    rows: int = 16
    cols: int = 8
    cell_bits: int = 2
    w_bits: int = 8
    in_bits: int = 8
    dac_bits: int = 1
    adc_bits: int = 8

    def __post_init__(self):
        check_int("rows", self.rows, minimum=1, maximum=MAX_UNITS)
        check_int("cols", self.cols, minimum=1, maximum=MAX_UNITS)
        check_int("w_bits", self.w_bits, minimum=2, maximum=8)
        check_int("cell_bits", self.cell_bits, minimum=1, maximum=self.w_bits)
        check_int("in_bits", self.in_bits, minimum=2, maximum=8)
        check_int("dac_bits", self.dac_bits, minimum=1, maximum=self.in_bits - 1)
        check_int("adc_bits", self.adc_bits, minimum=1, maximum=16)

    @property
    def weight_range(self) -> tuple[int, int]:
        return signed_range(self.w_bits)

    @property
    def input_range(self) -> tuple[int, int]:
        return signed_range(self.in_bits)

    @property
    def weight_offset(self) -> int:
        """``u - w``."""
        return 1 << (self.w_bits - 1)

    @property
    def slices(self) -> int:
        """Cells (bitlines) per weight."""
        return _ceil_div(self.w_bits, self.cell_bits)

    @property
    def bitlines(self) -> int:
        return self.cols * self.slices

    @property
    def magnitude_planes(self) -> int:
        """Reads of the input's magnitude bits."""
        return _ceil_div(self.in_bits - 1, self.dac_bits)

    @property
    def planes(self) -> int:
        """Reads per input vector: the magnitude chunks, then the sign bit."""
        return self.magnitude_planes + 1

    def chunk_bits(self, plane: int) -> int:
        """Input bits applied in read ``plane``."""
        if plane == self.magnitude_planes:
            return 1
        return min(self.dac_bits, self.in_bits - 1 - plane * self.dac_bits)

    def slice_bits(self, s: int) -> int:
        return min(self.cell_bits, self.w_bits - s * self.cell_bits)

    @property
    def bitline_max(self) -> int:
        """Largest bitline sum: every row at the widest chunk against the widest cell."""
        return self.rows * ((1 << self.dac_bits) - 1) * ((1 << self.cell_bits) - 1)

    @property
    def lossless_adc_bits(self) -> int:
        """The narrowest ADC that never saturates: as wide as a bitline sum."""
        return self.bitline_width

    @property
    def adc_max(self) -> int:
        """Largest ADC code."""
        return (1 << self.adc_bits) - 1

    @property
    def bitline_width(self) -> int:
        """Unsigned width of a bitline sum."""
        return max(1, self.bitline_max.bit_length())

    @property
    def code_width(self) -> int:
        """Unsigned width of an ADC code."""
        return min(self.adc_bits, self.bitline_width)

    @property
    def sum_range(self) -> tuple[int, int]:
        """``S``: every value the shift-and-add can reach (ADC codes at either extreme)."""
        code = min(self.adc_max, self.bitline_max)
        per_read = sum(code << (s * self.cell_bits) for s in range(self.slices))
        magnitude = sum(per_read << (p * self.dac_bits) for p in range(self.magnitude_planes))
        return -(per_read << (self.in_bits - 1)), magnitude

    @property
    def input_sum_range(self) -> tuple[int, int]:
        lo, hi = self.input_range
        return lo * self.rows, hi * self.rows

    @property
    def input_sum_width(self) -> int:
        return signed_width(*self.input_sum_range)

    @property
    def out_range(self) -> tuple[int, int]:
        """``y = S - offset * sum x``."""
        s_lo, s_hi = self.sum_range
        x_lo, x_hi = self.input_sum_range
        return s_lo - self.weight_offset * x_hi, s_hi - self.weight_offset * x_lo

    @property
    def out_width(self) -> int:
        return signed_width(*self.out_range)

    @property
    def acc_width(self) -> int:
        """The shift-and-add accumulator: ``S``, then ``y``."""
        return max(signed_width(*self.sum_range), self.out_width)


@dataclass(frozen=True)
class TileParams(CrossbarParams):
    """A multiplexed-crossbar tile: ``groups`` groups of ``crossbars_per_group`` crossbars.

    The crossbars of a group share one periphery (input driver, ADC bank, shift-and-add and
    output register), so a group reads one of its crossbars per *slot*; the groups work in
    parallel. ``crossbars_per_group = 1`` is the unshared baseline. The crossbar fields are
    those of :class:`CrossbarParams`.

    Parameters
    ----------
    rows, cols, cell_bits, w_bits, in_bits, dac_bits, adc_bits :
        As :class:`CrossbarParams`.
    crossbars_per_group : int
        Crossbars sharing one periphery, ``1 ..= 1024``.
    groups : int
        Peripheries (groups) of the tile, ``1 ..= 1024`` crossbars in all.
    double_buffered : bool
        Each input driver holds a second vector, so the next slot's vectors are taken while a
        slot reads (its transfers hidden behind the reads); otherwise they wait for the reads.
    pipelined : bool
        Register each read's wordline levels, its ADC codes and its weighted sum of slices, so
        a read's levels, its conversion, its weighting and its accumulation take a cycle
        each: a slot's reads take :attr:`read_cycles`, three cycles more than ``planes``.
    """

    crossbars_per_group: int = 2
    groups: int = 2
    double_buffered: bool = False
    pipelined: bool = True

    def __post_init__(self):
        super().__post_init__()
        check_int("crossbars_per_group", self.crossbars_per_group, minimum=1, maximum=MAX_UNITS)
        check_int("groups", self.groups, minimum=1, maximum=MAX_UNITS // self.crossbars_per_group)
        check_bool("double_buffered", self.double_buffered)
        check_bool("pipelined", self.pipelined)

    @property
    def crossbar(self) -> CrossbarParams:
        """One crossbar of the tile."""
        return CrossbarParams(**{f.name: getattr(self, f.name) for f in fields(CrossbarParams)})

    @property
    def arch(self) -> str:
        """Names the generated module: ``g1`` unshared, ``g2`` two crossbars per periphery;
        ``g1_db`` double-buffered."""
        return f"g{self.crossbars_per_group}" + ("_db" if self.double_buffered else "")

    @property
    def crossbars(self) -> int:
        return self.groups * self.crossbars_per_group

    @property
    def read_cycles(self) -> int:
        """Cycles of a slot's reads, from its first levels to its last sum."""
        return self.planes + (READ_STAGES if self.pipelined else 0)
