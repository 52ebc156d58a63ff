"""The MixPE engine's software: W4A8 experts, asymmetric int4 groups with scale codes."""

import numpy as np
import torch

from moetile.sw.golden.moe_layer import W4A8Rows
from moetile.sw.quant.ternary import check_finite
from moetile.sw.quant.w4a8 import quantize_groups

from .base import EngineSoftware
from .rows import bits, padded_rows

__all__ = ["MIXPE"]


class MixPESoftware(EngineSoftware):
    def check_weights(self, weight, where):
        check_finite(where, weight.detach())

    def quantize_rows(self, params, weight, where):
        """By :func:`~moetile.sw.quant.w4a8.quantize_groups` (asymmetric int4 groups, each
        row's scale codes in units of its own step, which is the row scale)."""
        e = params.engine
        w = weight.detach().to(torch.float64)
        padded = torch.zeros(w.shape[0], -(-w.shape[1] // e.group) * e.group, dtype=torch.float64)
        padded[:, : w.shape[1]] = w
        q = quantize_groups(padded, e.group, e.weight_scale_width)
        return W4A8Rows(q.codes, q.scales, q.zeros, e.group), q.step

    def check_rows(self, params, name, rows, shape):
        if not isinstance(rows, W4A8Rows):
            raise ValueError(f"{name} must be W4A8Rows for engine 'mixpe'")
        rows.check(params, name, shape)

    def planes(self, params, rows):
        """Codes ``(n, inputs)``, scales and zero points ``(n, inputs / group)``."""
        groups = params.inputs // params.engine.group
        widths = (("codes", params.inputs), ("scales", groups), ("zeros", groups))
        return [padded_rows(getattr(rows, part), width) for part, width in widths]

    def bank_words(self, params, banks):
        """A word per group of each row: the group's codes (code ``i`` at bits
        ``4i .. 4i+3``), its scale code, its zero point."""
        codes, scales, zeros = (np.concatenate(planes) for planes in zip(*banks, strict=True))
        n, groups = scales.shape
        e = params.engine
        return np.concatenate(
            [
                bits(codes, 4).reshape(n * groups, 4 * e.group),
                bits(scales.reshape(-1), e.weight_scale_width),
                bits(zeros.reshape(-1), 4),
            ],
            axis=1,
        )

    def projection_cycles(self, params, rows, length):
        """A MAC per weight of the projection (padding excluded)."""
        return len(rows.codes) * length

    def job_activity(self, params, banks, length, tokens):
        """The engine's MixPE array (:func:`~moetile.sw.cost.activity.mixpe_activity`, all
        its ``lanes`` rows computing, whichever hold a token): a pass per bank row, each
        pass the phase's groups (those covering the rows' inputs), each group ``group``
        steps, the ``arrays`` columns' results out."""
        from moetile.sw.cost.activity import mixpe_activity

        e = params.engine
        passes = len(banks[0][0])
        groups = -(-length // e.group)
        return mixpe_activity(
            params.unit, passes * groups * e.group, passes * groups, passes * params.arrays
        )

    def random_rows(self, rng, params, shape, sparsity):
        """Uniform codes and zero points, scale codes over their whole range (zero for about
        ``sparsity`` of the groups), every fourth row at the extremes (codes 15 against zero
        point 0, or 0 against 15, at the largest scale); padding past the row's inputs has
        zero weights."""
        g = torch.Generator().manual_seed(rng.randrange(1 << 31))
        n, k = shape
        group = params.engine.group
        groups = -(-k // group)
        top = (1 << params.engine.weight_scale_width) - 1
        codes = torch.randint(0, 16, (n, groups * group), generator=g)
        zeros = torch.randint(0, 16, (n, groups), generator=g)
        scales = torch.randint(1, top + 1, (n, groups), generator=g)
        scales[torch.rand(n, groups, generator=g) < sparsity] = 0
        for row in range(0, n, 4):
            high = rng.random() < 0.5
            codes[row], zeros[row], scales[row] = 15 * high, 15 * (not high), top
        codes[:, k:] = zeros.repeat_interleave(group, dim=1)[:, k:]
        return W4A8Rows(codes, scales, zeros, group)


MIXPE = MixPESoftware()
