"""W4A8 quantization as the W4A8 LLM quantizers do it: asymmetric int4 weights with a scale
and zero point per group of ``g`` input features and output, and symmetric int8 activations
per token. Scales become the unsigned fixed-point integers the MixPE array multiplies by.

Error bound (float reference ``x @ w.T`` against the hardware result, per element ``(m, n)``).
With ``s = scales[n, G] * step[n]`` the real scale of weight ``j``'s group, the quantizer keeps
``s >= (max(w_G, 0) - min(w_G, 0)) / 15`` and ``z = round(-min(w_G, 0) / s)``, so
``w / s + z`` lies in ``[-0.5, 15.5]`` and rounding and clamping to ``[0, 15]`` leave
``|w - s (q - z)| <= s / 2``; activations give ``|x - sx * xq| <= sx / 2``. The array's
accumulator is exact, so with ``ŵ = s (q - z)`` and the output rounding of
``2**(out_shift - 1)`` accumulator units (one unit is ``step[n] * sx[m]``)::

    |x·w - y * 2**out_shift * step[n] * sx[m]|
        <= sum_j |x_j| s_j / 2 + sx[m] / 2 * sum_j |ŵ_j| + 2**(out_shift - 1) * step[n] * sx[m]

:func:`gemm_error_bound` evaluates it; the tests check the hardware result against it.
"""

from dataclasses import dataclass

import torch

from .ternary import check_finite

__all__ = ["GroupWeights", "gemm_error_bound", "quantize_activations", "quantize_groups"]

CODE_MAX = 15  # 4-bit unsigned codes and zero points
ACT_MAX = 127  # symmetric int8: -128 is never produced


@dataclass(frozen=True)
class GroupWeights:
    """``w[n, j] ≈ (codes[n, j] - zeros[n, G]) * scales[n, G] * step[n]`` for ``j`` in group
    ``G`` (``group`` consecutive input features).

    Members
    -------
    codes : torch.Tensor
        ``int64`` ``(N, K)`` in ``[0, 15]``.
    scales, zeros : torch.Tensor
        ``int64`` ``(N, K / group)``: scale codes in ``[0, 2**scale_width - 1]`` and zero
        points in ``[0, 15]``.
    step : torch.Tensor
        ``float64`` ``(N,)``: the real weight value of one scale code unit.
    group : int
    """

    codes: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor
    step: torch.Tensor
    group: int

    def real_scales(self) -> torch.Tensor:
        """``(N, K / group)`` float64 scales."""
        return self.scales.double() * self.step[:, None]

    def dequantize(self) -> torch.Tensor:
        """``(N, K)`` float64 weights the hardware computes with."""
        offsets = (self.codes - self.zeros.repeat_interleave(self.group, dim=1)).double()
        return offsets * self.real_scales().repeat_interleave(self.group, dim=1)


def quantize_groups(weight, group: int, scale_width: int) -> GroupWeights:
    """Asymmetric int4 quantization of a float ``(N, K)`` weight matrix in groups of ``group``
    along ``K``. Each output's scale codes use ``scale_width`` bits, its largest group scale
    the full range; codes are rounded up so no group's range is clipped. Refuses NaN or inf
    and a ``K`` that is not a multiple of ``group`` (pad the matrix with zero columns first)."""
    w = torch.as_tensor(weight)
    if not w.is_floating_point() or w.ndim != 2:
        raise ValueError(
            f"weight must be a 2-D float tensor (N, K), not {w.dtype} {tuple(w.shape)}"
        )
    check_finite("weight", w)
    if group < 1 or w.shape[1] % group:
        raise ValueError(
            f"weight has K = {w.shape[1]} input features, not a multiple of group = {group}; "
            "pad it with zero columns to a multiple of the group"
        )
    n, k = w.shape
    wg = w.double().reshape(n, k // group, group)
    low = wg.amin(dim=2).clamp(max=0.0)
    high = wg.amax(dim=2).clamp(min=0.0)
    ideal = (high - low) / CODE_MAX
    top = (1 << scale_width) - 1
    step = ideal.amax(dim=1) / top
    step = torch.where(step > 0, step, torch.ones_like(step))
    scales = torch.ceil(ideal / step[:, None]).clamp(0, top)
    real = scales * step[:, None]
    safe = torch.where(real > 0, real, torch.ones_like(real))
    zeros = torch.round(-low / safe).clamp(0, CODE_MAX)
    codes = (torch.round(wg / safe[:, :, None]) + zeros[:, :, None]).clamp(0, CODE_MAX)
    return GroupWeights(
        codes.reshape(n, k).to(torch.int64),
        scales.to(torch.int64),
        zeros.to(torch.int64),
        step,
        group,
    )


def quantize_activations(x) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per token: ``x[m] ≈ codes[m] * scale[m]`` with ``scale = max|x[m]| / 127``
    (1 for an all-zero token). Returns ``(codes int64 (M, K), scale float64 (M,))``."""
    t = torch.as_tensor(x)
    if not t.is_floating_point() or t.ndim != 2:
        raise ValueError(f"x must be a 2-D float tensor (M, K), not {t.dtype} {tuple(t.shape)}")
    check_finite("x", t)
    t = t.double()
    scale = t.abs().amax(dim=1) / ACT_MAX
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    codes = torch.round(t / scale[:, None]).clamp(-ACT_MAX, ACT_MAX).to(torch.int64)
    return codes, scale


def gemm_error_bound(x, weights: GroupWeights, act_scale, out_shift: int) -> torch.Tensor:
    """``(M, N)`` bound on ``|x @ w.T - y_real|`` (module docstring)."""
    xd = torch.as_tensor(x).double()
    per_weight = weights.real_scales().repeat_interleave(weights.group, dim=1)  # (N, K)
    weight_term = xd.abs() @ per_weight.T / 2
    act_term = act_scale[:, None] / 2 * weights.dequantize().abs().sum(dim=1)[None, :]
    rounding = (1 << out_shift) / 2 * act_scale[:, None] * weights.step[None, :] if out_shift else 0
    return weight_term + act_term + rounding
