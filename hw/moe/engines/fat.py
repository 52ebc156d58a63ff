"""The FAT engine: ternary experts on FAT arrays, one row's non-zero weights added bit-serially."""

from dataclasses import dataclass, field

from ...checks import check_int
from ...fat.params import FatParams
from ..widths import ACTIVATION_WIDTH
from .base import EngineParams, round_up

__all__ = ["FatEngineParams"]


@dataclass(frozen=True)
class FatEngineParams(EngineParams):
    """The FAT engine: ``arrays`` FAT arrays of ``lanes`` lanes each.

    Parameters
    ----------
    zero_skip : int
        Weight positions a FAT SACU scans per cycle, ``>= 1``.
    """

    zero_skip: int = 16
    name: str = field(default="fat", init=False)

    component = "moetile.hw.moe.engine:FatEngine"
    software = "moetile.sw.engines.fat:FAT"

    def __post_init__(self):
        check_int("zero_skip", self.zero_skip, minimum=1)

    def gate_up_rows(self, layer, rows):
        """Padded with empty rows to whole passes."""
        return round_up(rows, layer.pass_rows)

    def bank_word_bits(self, layer):
        """A row's two bit planes."""
        return 2 * layer.inputs

    def sum_width(self, layer):
        return self.unit(layer).acc_width

    def unit(self, layer) -> FatParams:
        """One FAT array: a pass loads ``inputs`` columns and runs ``pass_rows`` rows."""
        return FatParams(
            lanes=layer.lanes,
            in_width=ACTIVATION_WIDTH,
            n_inputs=layer.inputs,
            n_outputs=layer.pass_rows,
            zero_skip=self.zero_skip,
        )
