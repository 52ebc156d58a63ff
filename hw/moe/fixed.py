"""Fixed-point helpers of the accelerator: the requantization and token-multiplier rules of
:mod:`moetile.sw.golden.moe_layer`, as combinational logic."""

from amaranth import Const, Mux, Signal, signed

__all__ = ["clamp", "requantize", "token_multiplier"]


def requantize(m, name: str, value, multiplier, shift, max_shift: int):
    """``(value * multiplier + 2**(shift-1)) >> shift``, rounding half up; ``shift`` may be a
    signal up to ``max_shift``."""
    if isinstance(multiplier, int):
        multiplier = Const(multiplier)
    product = Signal(signed(len(value) + len(multiplier) + 2), name=f"{name}_product")
    m.d.comb += product.eq(value * multiplier)
    one = 1 if isinstance(shift, int) else Const(1, max_shift + 1)
    rounding = (one << shift) >> 1
    shifted = Signal(signed(len(product) + 1), name=f"{name}_shifted")
    m.d.comb += shifted.eq((product + rounding) >> shift)
    return shifted


def token_multiplier(m, name: str, scale_code, multiplier, scale_width: int):
    """``(scale_code * multiplier + 2**(w-1)) >> w``: a multiplier carrying the token's scale."""
    out = Signal(len(multiplier), name=name)
    m.d.comb += out.eq((scale_code * multiplier + (1 << (scale_width - 1))) >> scale_width)
    return out


def clamp(m, name: str, value, lo: int, hi: int, shape):
    """``value`` clamped to ``[lo, hi]``."""
    out = Signal(shape, name=name)
    m.d.comb += out.eq(Mux(value < lo, lo, Mux(value > hi, hi, value)))
    return out
