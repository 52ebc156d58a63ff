"""Arithmetic shared by the MixPE components: products without a multiplier, and the output
rounding."""

from amaranth import Mux

from ..tree import tree_sum

__all__ = ["round_shift", "shift_add"]


def shift_add(code, value):
    """``code * value`` for an unsigned ``code``: the shifted copies of ``value`` that the
    code's bits select, summed in a balanced tree (no multiplier)."""
    return tree_sum(Mux(code[b], value << b, 0) for b in range(len(code)))


def round_shift(value, shift: int):
    """``floor((value + 2**(shift-1)) / 2**shift)``: drop ``shift`` fraction bits, rounding half
    up."""
    if shift == 0:
        return value
    return (value + (1 << (shift - 1))) >> shift
