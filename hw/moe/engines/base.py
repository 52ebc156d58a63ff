"""What every expert engine's Params answers about the layer it serves."""

from dataclasses import dataclass
from typing import ClassVar

__all__ = ["EngineParams", "ceil_div", "round_up"]


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def round_up(a: int, b: int) -> int:
    return ceil_div(a, b) * b


@dataclass(frozen=True)
class EngineParams:
    """One expert engine: its own fields (each subclass's), the geometry it imposes on the
    layer's weight rows and banks, and where its parts live. Every method takes the layer's
    :class:`~moetile.hw.moe.MoELayerParams`. Each subclass has a ``name`` field fixed to its
    registry name (so ``dataclasses.asdict`` says which engine it is)."""

    #: ``"module:Class"`` of the component (``Class(layer_params)``).
    component: ClassVar[str]
    #: ``"module:OBJECT"`` of the engine's software (:mod:`moetile.sw.engines`).
    software: ClassVar[str]

    def check(self, layer) -> None:
        """Refuse a layer this engine cannot serve (the engine's own fields are checked when
        made)."""

    def inputs(self, layer) -> int:
        """Row length on the engine: the longer of a gate/up row (``hidden``) and a down row
        (``expert_hidden``), padded as the engine needs."""
        return max(layer.hidden, layer.expert_hidden)

    def gate_up_rows(self, layer, rows: int) -> int:
        """An array's gate/up rows, ``rows`` of them interleaved, padded as the engine needs."""
        return rows

    def bank_words(self, layer) -> int:
        """Words of each array's bank."""
        return layer.bank_rows

    def bank_word_bits(self, layer) -> int:
        raise NotImplementedError

    def sum_width(self, layer) -> int:
        """Signed width of an exact expert sum (the engine's accumulator)."""
        raise NotImplementedError

    def unit(self, layer):
        """The Params of the engine's compute unit at this layer (one FAT array, the MixPE
        array, one crossbar)."""
        raise NotImplementedError
