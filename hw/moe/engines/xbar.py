"""The crossbar engine: int8 experts on crossbars, ``arrays`` peripheries each taking its
tokens one after another."""

from dataclasses import dataclass, field, replace

from ...checks import check_int
from ...xbar.params import CrossbarParams
from ..widths import ACTIVATION_WIDTH
from .base import EngineParams, ceil_div, round_up

__all__ = ["XbarEngineParams"]


@dataclass(frozen=True)
class XbarEngineParams(EngineParams):
    """The crossbar engine.

    Parameters
    ----------
    crossbar_rows, crossbar_cols : int
        Inputs and outputs of one crossbar, ``>= 1``.
    cell_bits : int
        Bits per cell, ``1 ..= 8``.
    dac_bits : int
        Input bits applied per read, ``1 ..= 7``. The ADCs are lossless (:meth:`unit`), so an
        expert sum is the exact int8 product.
    """

    crossbar_rows: int = 16
    crossbar_cols: int = 8
    cell_bits: int = 2
    dac_bits: int = 1
    name: str = field(default="xbar", init=False)

    component = "moetile.hw.moe.xbar_engine:XbarEngine"
    software = "moetile.sw.engines.xbar:XBAR"

    def __post_init__(self):
        check_int("crossbar_rows", self.crossbar_rows, minimum=1)
        check_int("crossbar_cols", self.crossbar_cols, minimum=1)
        _ = self.crossbar  # validates cell_bits and dac_bits

    @property
    def crossbar(self) -> CrossbarParams:
        """One crossbar: int8 weights and inputs, a lossless ADC."""
        shape = CrossbarParams(
            rows=self.crossbar_rows,
            cols=self.crossbar_cols,
            cell_bits=self.cell_bits,
            w_bits=ACTIVATION_WIDTH,
            in_bits=ACTIVATION_WIDTH,
            dac_bits=self.dac_bits,
        )
        return replace(shape, adc_bits=shape.lossless_adc_bits)

    def unit(self, layer) -> CrossbarParams:
        return self.crossbar

    def inputs(self, layer):
        """Padded to whole crossbars."""
        return round_up(super().inputs(layer), self.crossbar_rows)

    def bank_words(self, layer):
        """A word per crossbar."""
        return layer.regions * self.crossbars_per_expert(layer)

    def bank_word_bits(self, layer):
        """A crossbar's int8 weights, input by input (``crossbar_rows``), each
        ``crossbar_cols`` outputs."""
        return self.crossbar_rows * self.crossbar_cols * ACTIVATION_WIDTH

    def sum_width(self, layer):
        return (layer.inputs << (2 * ACTIVATION_WIDTH - 2)).bit_length() + 1

    def gate_up_blocks(self, layer) -> tuple[int, int]:
        """Crossbars of an array's gate/up rows, as (row blocks of ``crossbar_cols`` rows,
        input blocks of ``crossbar_rows`` inputs covering ``hidden``)."""
        return (
            ceil_div(layer.gate_up_rows, self.crossbar_cols),
            ceil_div(layer.hidden, self.crossbar_rows),
        )

    def down_blocks(self, layer) -> tuple[int, int]:
        """The same for an array's down rows (inputs covering ``expert_hidden``)."""
        return (
            ceil_div(layer.down_rows, self.crossbar_cols),
            ceil_div(layer.expert_hidden, self.crossbar_rows),
        )

    def crossbars_per_expert(self, layer) -> int:
        """Each array's crossbars of one expert, gate/up then down."""
        (a, b), (c, d) = self.gate_up_blocks(layer), self.down_blocks(layer)
        return a * b + c * d
