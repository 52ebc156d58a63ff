"""The crossbar engine's software: int8 experts, symmetric per row, held crossbar by crossbar."""

import numpy as np
import torch

from moetile.sw.golden.fixed import check_integer_tensor
from moetile.sw.quant.ternary import check_finite

from .base import EngineSoftware
from .rows import bits, check_shape, padded_rows

__all__ = ["XBAR", "int8_rows"]


def int8_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(codes, row scales)``: symmetric int8 per row, ``codes = round(w / s)`` with
    ``s = max |w| / 127`` (an all-zero row gets ``s = 1``), so ``|w - s * codes| <= s / 2``."""
    w = weight.detach().to(torch.float64)
    scale = w.abs().amax(dim=1) / 127
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    codes = (w / safe[:, None]).round().clamp(-127, 127)
    return codes.to(torch.int64), safe


class XbarSoftware(EngineSoftware):
    def check_weights(self, weight, where):
        check_finite(where, weight.detach())

    def quantize_rows(self, params, weight, where):
        return int8_rows(weight)

    def check_rows(self, params, name, rows, shape):
        check_shape(name, check_integer_tensor(name, rows, lo=-128, hi=127), shape)

    def planes(self, params, rows):
        return [padded_rows(rows, params.inputs)]

    def bank_words(self, params, banks):
        return np.concatenate([_crossbar_images(params, planes[0]) for planes in banks])

    def projection_cycles(self, params, rows, length):
        """The reads of the projection's crossbar blocks (``crossbar_cols`` rows ×
        ``crossbar_rows`` inputs, each ``planes`` cycles) times ``lanes``, since a periphery
        takes its tokens one at a time."""
        e = params.engine
        blocks = -(-len(rows) // e.crossbar_cols) * -(-length // e.crossbar_rows)
        return blocks * e.crossbar.planes * params.lanes

    def job_activity(self, params, banks, length, tokens):
        """Each periphery, for each row block and input block of its rows and each token:
        one crossbar read (:func:`~moetile.sw.cost.activity.crossbar_read_activity`) of the
        token's input block (``crossbar_rows`` int8 values from the block memory), its
        ``crossbar_cols`` sums added into the token's accumulators (an add and a register
        write at the expert sum's width)."""
        from moetile.sw.cost.activity import crossbar_read_activity

        e = params.engine
        x = e.crossbar
        reads = sum(
            -(-len(rows) // e.crossbar_cols) * -(-length // e.crossbar_rows) * tokens
            for (rows,) in banks
        )
        a = crossbar_read_activity(x, reads)
        a.add("sram", reads * e.crossbar_rows * x.in_bits)
        a.add("add", params.sum_width, reads * e.crossbar_cols)
        a.add("register", reads * e.crossbar_cols * params.sum_width)
        return a

    def random_rows(self, rng, params, shape, sparsity):
        """About ``sparsity`` of the weights zero, every fifth row at -128 and 127."""
        g = torch.Generator().manual_seed(rng.randrange(1 << 31))
        rows = torch.randint(-128, 128, shape, generator=g)
        rows[torch.rand(shape, generator=g) < sparsity] = 0
        rows[::5] = torch.where(torch.rand(rows[::5].shape, generator=g) < 0.5, -128, 127)
        return rows


XBAR = XbarSoftware()


def _crossbar_images(p, rows: np.ndarray) -> np.ndarray:
    """One expert's bank rows (gate/up, then down; ``(gate_up_rows + down_rows, inputs)``) as
    crossbar words: each phase's rows in blocks of ``crossbar_cols``, each block's inputs in
    blocks of ``crossbar_rows``; weight ``(input r, output c)`` of a crossbar at bits
    ``8 * (r * crossbar_cols + c)``, two's complement."""
    e = p.engine
    words = []
    phases = (
        (rows[: p.gate_up_rows], e.gate_up_blocks(p)),
        (rows[p.gate_up_rows :], e.down_blocks(p)),
    )
    for part, (row_blocks, in_blocks) in phases:
        padded = np.zeros(
            (row_blocks * e.crossbar_cols, in_blocks * e.crossbar_rows), dtype=np.int64
        )
        used = min(part.shape[1], padded.shape[1])
        padded[: len(part), :used] = part[:, :used]
        for rb in range(row_blocks):
            for ib in range(in_blocks):
                block = padded[
                    rb * e.crossbar_cols : (rb + 1) * e.crossbar_cols,
                    ib * e.crossbar_rows : (ib + 1) * e.crossbar_rows,
                ]
                words.append(block.T.reshape(-1))
    return bits(np.array(words).reshape(-1), 8).reshape(len(words), p.bank_word_bits)
