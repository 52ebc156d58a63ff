"""Ternary quantization as in Ternary Weight Networks (Li et al., 2016)."""

import math
from dataclasses import dataclass

import torch

__all__ = ["TernaryWeights", "check_finite", "ternarize"]

#: TWN's threshold: ``delta = 0.7 * mean(|w|)``, the approximate optimum for Gaussian weights.
TWN_THRESHOLD = 0.7


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


def ternarize(weight, threshold_factor: float = TWN_THRESHOLD) -> TernaryWeights:
    """Ternarize a float ``(out_features, in_features)`` matrix row by row.

    Per output row: ``delta = threshold_factor * mean|w|``; ``code = sign(w)`` where
    ``|w| > delta``, else 0; ``scale = mean(|w| : |w| > delta)``.
    """
    w = torch.as_tensor(weight)
    if not w.is_floating_point():
        raise ValueError(f"weight must be a floating-point tensor, not {w.dtype}")
    if w.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), not {tuple(w.shape)}")
    if not (
        isinstance(threshold_factor, int | float)
        and math.isfinite(threshold_factor)
        and threshold_factor >= 0
    ):
        raise ValueError(f"threshold_factor must be a finite number >= 0, not {threshold_factor!r}")
    check_finite("weight", w)
    w = w.float()
    magnitude = w.abs()
    threshold = threshold_factor * magnitude.mean(dim=1)
    keep = magnitude > threshold[:, None]
    codes = (torch.sign(w) * keep).to(torch.int64)
    kept = keep.sum(dim=1)
    scale = torch.where(kept > 0, (magnitude * keep).sum(dim=1) / kept.clamp(min=1), 0.0)
    return TernaryWeights(codes, scale, threshold)
