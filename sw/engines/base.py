"""What every engine's software provides; each method takes the layer's Params."""

import random

import numpy as np
import torch

__all__ = ["EngineSoftware"]


class EngineSoftware:
    """One engine's software. ``rows`` are a projection's weight rows in the engine's form
    (:meth:`quantize_rows`), ``(outputs, inputs)`` before the layer's padding."""

    def check_weights(self, weight: torch.Tensor, where: str) -> None:
        """Refuse, naming ``where``, float weights the engine cannot hold."""
        raise NotImplementedError

    def quantize_rows(self, params, weight: torch.Tensor, where: str):
        """``(rows, row scales)``: float weights ``(outputs, inputs)`` as the engine holds
        them, each row's weights being its scale times its integer weights."""
        raise NotImplementedError

    def check_rows(self, params, name: str, rows, shape: tuple[int, int]) -> None:
        """Refuse rows not of the engine's form and ``shape``."""
        raise NotImplementedError

    def bank_words(self, params, banks: list[list[np.ndarray]]) -> np.ndarray:
        """A bank's ``(bank_words, bank_word_bits)`` bits from every expert's bank rows (the
        planes of :meth:`planes`, gate/up then down)."""
        raise NotImplementedError

    def planes(self, params, rows) -> list[np.ndarray]:
        """Rows as integer planes of ``len(rows)`` rows each, zero-padded to the layer's
        inputs (the mapping picks each bank's rows from them)."""
        raise NotImplementedError

    def projection_cycles(self, params, rows, length: int) -> int:
        """Lane cycles of one token through one projection of ``length`` inputs."""
        raise NotImplementedError

    def job_activity(self, params, banks: list[list[np.ndarray]], length: int, tokens: int):
        """The engine's :class:`~moetile.sw.cost.energy.Activity` for one job of ``tokens``
        tokens through one phase: every array's ``banks[a]`` (the planes of :meth:`planes` of
        the rows the job runs on array ``a``), rows of ``length`` inputs (``hidden`` for
        gate/up rows, ``expert_hidden`` for down rows) before padding."""
        raise NotImplementedError

    def random_rows(self, rng: random.Random, params, shape: tuple[int, int], sparsity: float):
        """Random rows of ``shape``, about ``sparsity`` of the weights zero, with extremes."""
        raise NotImplementedError
