"""Ternary quantization: Ternary Weight Networks (Li et al., 2016) per output row, and BitNet
b1.58's absmean (Ma et al., 2024) per matrix, with its straight-through estimator for
ternary-aware training."""

import math
from dataclasses import dataclass

import torch

__all__ = [
    "TernaryWeights",
    "absmean_dequantized",
    "absmean_ste",
    "absmean_ternarize",
    "check_finite",
    "ternarize",
]

#: TWN's threshold: ``delta = 0.7 * mean(|w|)``, the approximate optimum for Gaussian weights.
TWN_THRESHOLD = 0.7

#: Smallest absmean scale: BitNet's epsilon, so that an all-zero matrix quantizes to zeros.
ABSMEAN_EPSILON = 1e-8


@dataclass(frozen=True)
class TernaryWeights:
    """``w ≈ scale[:, None] * codes`` with ``codes`` in {-1, 0, +1}.

    Members
    -------
    codes : torch.Tensor
        ``int64``, ``(out_features, in_features)``.
    scale : torch.Tensor
        ``float32``, ``(out_features,)``: mean ``|w|`` of the weights kept (0 for an empty row).
    threshold : torch.Tensor
        ``float32``, ``(out_features,)``: the per-row ``delta`` below which a weight becomes 0.
    """

    codes: torch.Tensor
    scale: torch.Tensor
    threshold: torch.Tensor

    @property
    def sparsity(self) -> float:
        return float((self.codes == 0).float().mean())

    def dequantize(self) -> torch.Tensor:
        return self.scale[:, None] * self.codes.float()


def check_finite(name: str, tensor: torch.Tensor) -> None:
    """Raise ``ValueError`` naming ``name`` and the first bad position if it holds NaN or inf."""
    bad = ~torch.isfinite(tensor)
    if bad.any():
        where = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{name} must be finite; it holds {tensor[where].item()} at {where}")


def _float_matrix(weight) -> torch.Tensor:
    w = torch.as_tensor(weight)
    if not w.is_floating_point():
        raise ValueError(f"weight must be a floating-point tensor, not {w.dtype}")
    if w.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), not {tuple(w.shape)}")
    check_finite("weight", w)
    return w.float()


def absmean_scale(weight: torch.Tensor) -> torch.Tensor:
    """BitNet b1.58's ``gamma = mean|W|`` over the last two axes (one per matrix), kept away
    from zero so that an all-zero matrix stays zero."""
    return weight.abs().mean(dim=(-2, -1), keepdim=True).clamp(min=ABSMEAN_EPSILON)


def absmean_dequantized(weight: torch.Tensor) -> torch.Tensor:
    """``gamma * clamp(round(W / gamma), -1, 1)`` exactly, for matrices along any leading
    axes: every element is ``0`` or ``±gamma`` of its matrix."""
    gamma = absmean_scale(weight)
    return (weight / gamma).round().clamp(-1, 1) * gamma


def absmean_ste(weight: torch.Tensor) -> torch.Tensor:
    """:func:`absmean_dequantized` in the forward pass (up to a rounding of the sum below) and
    the identity in the backward pass: the straight-through estimator of ternary-aware
    training."""
    return weight + (absmean_dequantized(weight) - weight).detach()


def absmean_ternarize(weight) -> TernaryWeights:
    """BitNet b1.58: ``codes = clamp(round(W / gamma), -1, 1)`` with one ``gamma = mean|W|``
    for the whole matrix (so every row's scale is ``gamma`` and its threshold ``gamma / 2``)."""
    w = _float_matrix(weight)
    gamma = absmean_scale(w)
    codes = (w / gamma).round().clamp(-1, 1).to(torch.int64)
    rows = torch.full((w.shape[0],), float(gamma), dtype=torch.float32)
    return TernaryWeights(codes, rows, rows / 2)


def ternarize(weight, threshold_factor: float = TWN_THRESHOLD) -> TernaryWeights:
    """Ternarize a float ``(out_features, in_features)`` matrix row by row.

    Per output row: ``delta = threshold_factor * mean|w|``; ``code = sign(w)`` where
    ``|w| > delta``, else 0; ``scale = mean(|w| : |w| > delta)``.
    """
    w = _float_matrix(weight)
    if not (
        isinstance(threshold_factor, int | float)
        and math.isfinite(threshold_factor)
        and threshold_factor >= 0
    ):
        raise ValueError(f"threshold_factor must be a finite number >= 0, not {threshold_factor!r}")
    magnitude = w.abs()
    threshold = threshold_factor * magnitude.mean(dim=1)
    keep = magnitude > threshold[:, None]
    codes = (torch.sign(w) * keep).to(torch.int64)
    kept = keep.sum(dim=1)
    scale = torch.where(kept > 0, (magnitude * keep).sum(dim=1) / kept.clamp(min=1), 0.0)
    return TernaryWeights(codes, scale, threshold)
