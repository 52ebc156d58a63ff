"""Parameters of the MixPE array and its multiplier baseline; every width is derived here."""

from dataclasses import dataclass

from ..checks import (
    MAX_UNITS,
    check_bool,
    check_choice,
    check_int,
    signed_range,
    signed_width,
    unsigned_range,
)

__all__ = ["ACT_WIDTH", "GROUP_SIZES", "MIXPE_ARCHS", "WEIGHT_WIDTH", "MixPEParams"]

#: ``mixpe``: each product by shift-and-add, one dequantization per group and output.
#: ``multiplier``: the conventional baseline; every weight dequantized to ``s * (q - z)`` as
#: it enters the array, then multiplied by a hardware multiplier in every PE.
#: ``group_multiplier``: MixPE's array with a 4 × 8 multiplier in each PE instead of its
#: shift-and-add (the same group sums, dequantization per group and accumulation): the
#: baseline that isolates the shift-and-add.
MIXPE_ARCHS = ("mixpe", "multiplier", "group_multiplier")

#: Group sizes along the reduction axis (the W4A8 quantizers' usual choices).
GROUP_SIZES = (32, 64, 128)

#: W4A8: unsigned 4-bit weight codes and zero points, signed 8-bit activations.
WEIGHT_WIDTH = 4
ACT_WIDTH = 8


@dataclass(frozen=True)
class MixPEParams:
    """W4A8 GEMM array parameters.

    One *pass* computes a ``rows × cols`` tile of ``y = x · dequant(q)ᵀ`` over ``n_inputs``
    reduction steps: ``rows`` tokens (one int8 activation each per step) against ``cols``
    outputs (one 4-bit weight code each per step), with a scale and zero point per group of
    ``group`` steps and output::

        acc[r, n] = sum_G s[G, n] * (sum_{j in G} (q[j, n] - z[G, n]) * x[r, j])
        y[r, n]   = floor((acc[r, n] + 2**(out_shift - 1)) / 2**out_shift)

    ``acc`` is exact (in units of ``2**-scale_frac``); ``y`` drops ``out_shift`` fraction bits
    with rounding half up and is never saturated.

    Parameters
    ----------
    rows : int
        Tokens per pass (PE rows), ``1 ..= 1024``.
    cols : int
        Outputs per pass (PE columns), ``1 ..= group`` (``mixpe`` dequantizes one column a
        cycle and must finish a group before the next one ends).
    n_inputs : int
        ``K``: reduction steps per pass, a positive multiple of ``group``.
    group : int
        Group size along ``K``, one of :data:`GROUP_SIZES`.
    scale_width : int
        Bits of an unsigned scale, ``1 ..= 24``.
    scale_frac : int
        Fraction bits of a scale, ``0 ..= scale_width``.
    out_shift : int
        Fraction bits dropped from the accumulator on output, ``0 ..= 31``.
    arch : str
        One of :data:`MIXPE_ARCHS`.
    pipelined : bool
        Register the dequantization for the clock: per group, the column's sums, scale and
        zero point as they are selected, then ``P - z * S``, then its product with the scale
        (three cycles more a pass); ``multiplier``, a step's offsets ``q - z`` with their
        scales, its dequantized weights, then each PE's product (three cycles more). See
        :attr:`dequant_stages`.
    """

    rows: int = 4
    cols: int = 8
    n_inputs: int = 64
    group: int = 32
    scale_width: int = 8
    scale_frac: int = 4
    out_shift: int = 4
    arch: str = "mixpe"
    pipelined: bool = True

    def __post_init__(self):
        check_choice("group", self.group, GROUP_SIZES)
        check_int("rows", self.rows, minimum=1, maximum=MAX_UNITS)
        check_int("cols", self.cols, minimum=1, maximum=self.group)
        check_int("n_inputs", self.n_inputs, minimum=self.group)
        if self.n_inputs % self.group:
            raise ValueError(
                f"n_inputs must be a multiple of group ({self.group}), not {self.n_inputs}"
            )
        check_int("scale_width", self.scale_width, minimum=1, maximum=24)
        check_int("scale_frac", self.scale_frac, minimum=0, maximum=self.scale_width)
        check_int("out_shift", self.out_shift, minimum=0, maximum=31)
        check_choice("arch", self.arch, MIXPE_ARCHS)
        check_bool("pipelined", self.pipelined)

    @property
    def dequantizes_groups(self) -> bool:
        """Integer group sums, dequantized once per group and output (``mixpe`` and
        ``group_multiplier``), rather than every weight as it enters (``multiplier``)."""
        return self.arch != "multiplier"

    @property
    def dequant_stages(self) -> int:
        """Pipeline registers between a dequantization's inputs and the accumulator it
        updates: the cycles a pass's results leave later than unpipelined."""
        return 3 if self.pipelined else 0

    @property
    def groups(self) -> int:
        """Groups per pass."""
        return self.n_inputs // self.group

    @property
    def act_range(self) -> tuple[int, int]:
        return signed_range(ACT_WIDTH)

    @property
    def code_range(self) -> tuple[int, int]:
        """Weight codes and zero points."""
        return unsigned_range(WEIGHT_WIDTH)

    @property
    def scale_range(self) -> tuple[int, int]:
        return unsigned_range(self.scale_width)

    @property
    def product_width(self) -> int:
        """``q * x`` with ``q`` in ``[0, 15]``: ``[-1920, 1905]``."""
        return signed_width(*self._product_bounds(self.code_range))

    @property
    def group_sum_width(self) -> int:
        """``P = sum_{j in G} q[j] * x[j]``."""
        lo, hi = self._product_bounds(self.code_range)
        return signed_width(lo * self.group, hi * self.group)

    @property
    def act_sum_width(self) -> int:
        """``S = sum_{j in G} x[j]``."""
        lo, hi = self.act_range
        return signed_width(lo * self.group, hi * self.group)

    @property
    def diff_width(self) -> int:
        """``P - z * S = sum_{j in G} (q[j] - z) * x[j]``, with ``q - z`` in ``[-15, 15]``."""
        lo, hi = self._product_bounds(self._offset_range)
        return signed_width(lo * self.group, hi * self.group)

    @property
    def weight_width(self) -> int:
        """The baseline's dequantized weight ``s * (q - z)``."""
        top = self.scale_range[1]
        lo, hi = self._offset_range
        return signed_width(top * lo, top * hi)

    @property
    def acc_range(self) -> tuple[int, int]:
        """Every value the exact accumulator can reach over a pass."""
        top = self.scale_range[1]
        lo, hi = self._product_bounds(self._offset_range)
        return lo * top * self.n_inputs, hi * top * self.n_inputs

    @property
    def acc_width(self) -> int:
        return signed_width(*self.acc_range)

    @property
    def out_range(self) -> tuple[int, int]:
        lo, hi = self.acc_range
        half = (1 << self.out_shift) >> 1
        return (lo + half) >> self.out_shift, (hi + half) >> self.out_shift

    @property
    def out_width(self) -> int:
        return signed_width(*self.out_range)

    @property
    def _offset_range(self) -> tuple[int, int]:
        top = self.code_range[1]
        return -top, top

    def _product_bounds(self, weight_range: tuple[int, int]) -> tuple[int, int]:
        """Extremes of ``w * x`` for ``w`` in ``weight_range`` and ``x`` an activation."""
        corners = [w * x for w in weight_range for x in self.act_range]
        return min(corners), max(corners)
