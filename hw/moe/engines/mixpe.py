"""The MixPE engine: W4A8 experts on a MixPE array, ``lanes`` tokens by ``arrays`` columns."""

from dataclasses import dataclass, field

from ...checks import check_choice, check_int
from ...mixpe.params import GROUP_SIZES, WEIGHT_WIDTH, MixPEParams
from .base import EngineParams, ceil_div, round_up

__all__ = ["MixPEEngineParams"]


@dataclass(frozen=True)
class MixPEEngineParams(EngineParams):
    """The MixPE engine.

    Parameters
    ----------
    group : int
        W4A8 group size, one of 32, 64, 128; the layer's ``arrays`` (the array's columns) must
        be at most ``group``.
    weight_scale_width : int
        Bits of a group's unsigned scale code, ``1 ..= 24``, so that an expert sum fits
        ``MAX_SUM_WIDTH`` bits.
    """

    group: int = 32
    weight_scale_width: int = 8
    name: str = field(default="mixpe", init=False)

    component = "moetile.hw.moe.mixpe_engine:MixPEEngine"
    software = "moetile.sw.engines.mixpe:MIXPE"

    def __post_init__(self):
        check_choice("group", self.group, GROUP_SIZES)
        check_int("weight_scale_width", self.weight_scale_width, minimum=1, maximum=24)

    def check(self, layer):
        if layer.arrays > self.group:
            raise ValueError(
                f"arrays must be at most group ({self.group}) for engine 'mixpe', "
                f"not {layer.arrays}"
            )

    def inputs(self, layer):
        """Padded to whole groups."""
        return round_up(super().inputs(layer), self.group)

    def bank_words(self, layer):
        """A word per group of each row."""
        return layer.bank_rows * (layer.inputs // self.group)

    def bank_word_bits(self, layer):
        """A group's 4-bit codes, then its scale code and zero point."""
        return WEIGHT_WIDTH * (self.group + 1) + self.weight_scale_width

    def sum_width(self, layer):
        return self.unit(layer).acc_width

    def unit(self, layer) -> MixPEParams:
        """The MixPE array: ``lanes`` tokens by ``arrays`` outputs, a pass per row of each
        column, exact sums out. Its dequantization is not pipelined: the layer's clock is
        bound by the banks' reads (docs/benchmarks.md), so a stage would only add cycles."""
        return MixPEParams(
            rows=layer.lanes,
            cols=layer.arrays,
            n_inputs=layer.inputs,
            group=self.group,
            scale_width=self.weight_scale_width,
            scale_frac=0,
            out_shift=0,
            pipelined=False,
        )

    def gate_up_groups(self, layer) -> int:
        """Groups a gate/up pass runs: those that cover ``hidden``."""
        return ceil_div(layer.hidden, self.group)

    def down_groups(self, layer) -> int:
        """Groups a down pass runs: those that cover ``expert_hidden``."""
        return ceil_div(layer.expert_hidden, self.group)
