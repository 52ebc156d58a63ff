"""The FAT engine's software: ternary experts, each row one scale times -1/0/+1."""

import numpy as np
import torch

from moetile.hw.moe.widths import ACTIVATION_WIDTH
from moetile.sw.golden.fixed import check_integer_tensor

from .base import EngineSoftware
from .rows import check_shape, padded_rows

__all__ = ["FAT", "ternary_row_bits", "ternary_rows"]


def ternary_rows(weight: torch.Tensor, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(codes, row scales)`` with ``weight == scales[:, None] * codes`` exactly, or a
    ``ValueError`` saying the engine needs ternary weights."""
    w = weight.detach().to(torch.float32)
    if not torch.isfinite(w).all():
        raise ValueError(f"{where}: weights hold NaN or inf")
    scale = w.abs().amax(dim=1)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    codes = (w / safe[:, None]).round().clamp(-1, 1)
    if not torch.equal(codes * safe[:, None], w):
        raise ValueError(
            f"{where}: the fat engine runs ternary experts (each row one scale times -1/0/+1); "
            "these weights are not (use a ternary model, e.g. --model tiny-moe)"
        )
    return codes.to(torch.int64), scale


def ternary_row_bits(rows: np.ndarray, length: int) -> np.ndarray:
    """``(n, 2 * length)`` bits of ternary rows as a FAT weight-row payload (the non-zero
    plane, then the negative plane), zero-padded to ``length`` weights."""
    planes = np.zeros((rows.shape[0], 2, length), dtype=np.uint8)
    planes[:, 0, : rows.shape[1]] = rows != 0
    planes[:, 1, : rows.shape[1]] = rows < 0
    return planes.reshape(rows.shape[0], 2 * length)


class FatSoftware(EngineSoftware):
    def check_weights(self, weight, where):
        ternary_rows(weight, where)

    def quantize_rows(self, params, weight, where):
        return ternary_rows(weight, where)

    def check_rows(self, params, name, rows, shape):
        check_shape(name, check_integer_tensor(name, rows, lo=-1, hi=1), shape)

    def planes(self, params, rows):
        return [padded_rows(rows, params.inputs)]

    def bank_words(self, params, banks):
        """A row per word: its two bit planes."""
        rows = np.concatenate([planes[0] for planes in banks])
        return ternary_row_bits(rows, params.inputs)

    def projection_cycles(self, params, rows, length):
        """A bit-serial add per non-zero weight and accumulator bit; an empty row 1."""
        nnz = (torch.as_tensor(rows) != 0).sum(dim=1)
        return int(torch.where(nnz > 0, nnz * params.sum_width, 1).sum())

    def job_activity(self, params, banks, length, tokens):
        """Every array's rows through :func:`~moetile.sw.cost.activity.fat_activity` (all
        its lanes add, whichever hold a token), and the input columns read once a pass
        (``inputs`` columns of ``lanes`` int8 values)."""
        from moetile.sw.cost.activity import fat_activity
        from moetile.sw.cost.energy import Activity

        p, a = params, Activity()
        for (rows,) in banks:
            a.merge(fat_activity(p.unit, rows))
            passes = -(-len(rows) // p.pass_rows)
            a.add("sram", passes * p.inputs * p.lanes * ACTIVATION_WIDTH)
        return a

    def random_rows(self, rng, params, shape, sparsity):
        g = torch.Generator().manual_seed(rng.randrange(1 << 31))
        signs = torch.randint(0, 2, shape, generator=g) * 2 - 1
        return signs * (torch.rand(shape, generator=g) >= sparsity)


FAT = FatSoftware()
