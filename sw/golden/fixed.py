"""Integer bounds shared by golden models and tests: one place that says what fits where."""

import torch

from moetile.hw.checks import signed_range, unsigned_range

__all__ = ["check_integer_tensor", "signed_range", "unsigned_range"]


def check_integer_tensor(name: str, tensor, *, lo: int, hi: int) -> torch.Tensor:
    """Return ``tensor`` as ``int64`` after checking it holds integers in ``[lo, hi]``.

    Raises ``ValueError`` naming ``name`` for a float with a fractional part, NaN or inf, or any
    element out of range. Nothing is clamped.
    """
    t = torch.as_tensor(tensor)
    if t.is_floating_point():
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} must be finite integers; it holds NaN or inf")
        if not torch.equal(t, t.round()):
            raise ValueError(f"{name} must hold integers; it holds fractional values")
    elif t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"{name} must be an integer tensor, not {t.dtype}")
    t = t.to(torch.int64)
    if t.numel() and (t.min() < lo or t.max() > hi):
        raise ValueError(
            f"{name} must lie in [{lo}, {hi}]; it spans [{int(t.min())}, {int(t.max())}]"
        )
    return t
