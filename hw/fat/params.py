"""Parameters of the FAT array and its baseline; every width is derived here."""

from dataclasses import dataclass

from ..checks import MAX_UNITS, check_bool, check_choice, check_int, signed_range

__all__ = ["FAT_ARCHS", "WEIGHT_CODES", "FatParams"]

#: ``fat``: the Sparse Addition Control Unit issues only non-zero weights, and each lane adds one
#: bit per cycle with its carry in a sense-amplifier latch.
#: ``parapim``: the baseline; every weight, zero included, is an add, and the carry is written back
#: to the array, so each bit takes two cycles.
FAT_ARCHS = ("fat", "parapim")

#: 2-bit weight encoding: bit 0 = non-zero, bit 1 = negative. ``0b10`` is not a weight; the
#: golden model and the mapper refuse it, and the hardware would treat it as zero.
WEIGHT_CODES = {0: 0b00, 1: 0b01, -1: 0b11}


@dataclass(frozen=True)
class FatParams:
    """FAT array parameters.

    One *pass* loads ``n_inputs`` input columns (one value per lane each), then streams
    ``n_outputs`` weight rows and returns one output row (one sum per lane) per weight row:
    ``y[lane, m] = sum_k w[m, k] * x[lane, k]``.

    Parameters
    ----------
    lanes : int
        Columns working in parallel, each with its own input vector, ``1 ..= 1024``.
    in_width : int
        Width of a signed input, ``1 ..= 32``.
    n_inputs : int
        ``K``: inputs per lane per pass (weight row length), ``>= 1``.
    n_outputs : int
        ``M``: weight rows (outputs per lane) per pass, ``>= 1``.
    zero_skip : int
        Weight positions the SACU examines per cycle (``fat`` only); a run of zeros costs
        ``ceil(run / zero_skip)`` scan cycles, hidden behind the previous add.
    variable_width : bool
        The ``i``-th add of a row runs over ``in_width + bit_length(i)`` bits (what the running
        sum can occupy) instead of ``acc_width``: FAT's addition beyond the paper, which the
        ``parapim`` baseline may have too (every one of its adds counts, zeros included).
    arch : str
        One of :data:`FAT_ARCHS`.
    """

    lanes: int = 8
    in_width: int = 8
    n_inputs: int = 40
    n_outputs: int = 8
    zero_skip: int = 16
    variable_width: bool = False
    arch: str = "fat"

    def __post_init__(self):
        check_int("lanes", self.lanes, minimum=1, maximum=MAX_UNITS)
        check_int("in_width", self.in_width, minimum=1, maximum=32)
        check_int("n_inputs", self.n_inputs, minimum=1)
        check_int("n_outputs", self.n_outputs, minimum=1)
        check_int("zero_skip", self.zero_skip, minimum=1)
        check_bool("variable_width", self.variable_width)
        check_choice("arch", self.arch, FAT_ARCHS)

    @property
    def input_range(self) -> tuple[int, int]:
        return signed_range(self.in_width)

    @property
    def acc_width(self) -> int:
        """Signed width holding any sum of ``n_inputs`` ternary products exactly:
        ``|y| <= n_inputs * 2**(in_width - 1)``."""
        return (self.n_inputs << (self.in_width - 1)).bit_length() + 1

    @property
    def skips_zeros(self) -> bool:
        return self.arch == "fat"

    @property
    def cycles_per_bit(self) -> int:
        """1 with the carry latched at the sense amplifier, 2 when it is written back."""
        return 1 if self.arch == "fat" else 2

    def add_width(self, ordinal: int) -> int:
        """Bits the ``ordinal``-th (1-based) add of a row runs over."""
        if not self.variable_width:
            return self.acc_width
        return min(self.acc_width, self.in_width + ordinal.bit_length())
