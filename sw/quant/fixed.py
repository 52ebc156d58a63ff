"""Real scale factors as fixed-point (multiplier, shift) pairs, as integer-only inference
applies them: ``x · real ≈ (x · M) >> S``."""

import math

__all__ = ["fixed_point_pair"]


def fixed_point_pair(real: float, bits: int, max_shift: int, where: str) -> tuple[int, int]:
    """``(M, S)`` with ``M / 2**S`` = ``real`` to ``bits`` significant bits: ``M`` in
    ``[2**(bits-1), 2**bits)``, ``0 <= S <= max_shift``. Raises ``ValueError`` naming
    ``where`` for a factor that is not positive and finite, or out of the shifter's range."""
    if not real > 0 or not math.isfinite(real):
        raise ValueError(f"{where}: scale factor {real} is not a positive number")
    shift = bits - 1 - math.floor(math.log2(real))
    multiplier = round(real * 2.0**shift)
    if multiplier == 1 << bits:
        multiplier, shift = 1 << (bits - 1), shift - 1
    if not 0 <= shift <= max_shift:
        raise ValueError(
            f"{where}: scale factor {real:.3g} needs a shift of {shift}; "
            f"the shifter takes 0 to {max_shift}"
        )
    return multiplier, shift
