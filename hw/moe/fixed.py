"""Fixed-point helpers of the accelerator: the requantization and token-multiplier rules of
:mod:`moetile.sw.golden.moe_layer`, as combinational logic."""

from amaranth import Const, Mux, Signal, signed

__all__ = [
    "clamp",
    "half",
    "requantize",
    "requantize_product_shape",
    "requantize_stages",
    "shift_rounded",
    "token_multiplier",
    "token_multiplier_stages",
]


def requantize(m, name: str, value, multiplier, shift, max_shift: int):
    """``(value * multiplier + 2**(shift-1)) >> shift``, rounding half up; ``shift`` may be a
    signal up to ``max_shift``."""
    if isinstance(multiplier, int):
        multiplier = Const(multiplier)
    product = Signal(requantize_product_shape(value, multiplier), name=f"{name}_product")
    m.d.comb += product.eq(value * multiplier)
    return shift_rounded(m, name, product + half(shift, max_shift), shift, len(product))


def requantize_stages(m, pipe, name: str, stages, carried: dict, value, multiplier, shift):
    """:func:`requantize` over three stages of ``pipe``, named ``stages``: the products of
    the narrower operand with the wider one's low and high halves (a DSP multiplier each),
    their sum rounded, then the shift; return the last, holding ``carried`` and the shifted
    value ``wide``. ``shift``: a value, or the name of a ``carried`` field that travels with
    each entry (up to 63)."""
    width = requantize_product_shape(value, multiplier).width
    low, high = (
        Signal(signed(width), name=f"{name}_low"),
        Signal(signed(width), name=f"{name}_high"),
    )
    if len(value) > len(multiplier):
        split = (len(value) + 1) // 2
        halves = value[:split] * multiplier, value[split:].as_signed() * multiplier
    else:
        split = (len(multiplier) + 1) // 2
        halves = value * multiplier[:split], value * multiplier[split:]
    m.d.comb += [low.eq(halves[0]), high.eq(halves[1])]
    if isinstance(shift, str):
        shift_of, kept = (lambda stage: getattr(stage, shift)), [k for k in carried if k != shift]
    else:
        shift_of, kept = (lambda stage: shift), list(carried)
    multiplying, rounding, shifting = stages
    multiplied = pipe.stage(multiplying, **carried, low=low, high=high)
    product = Signal(signed(width), name=f"{name}_product")
    m.d.comb += product.eq((multiplied.high << split) + multiplied.low)
    rounded = pipe.stage(
        rounding,
        **multiplied.carry(*carried),
        total=product + half(shift_of(multiplied), 63),
    )
    wide = shift_rounded(m, name, rounded.total, shift_of(rounded), width)
    return pipe.stage(shifting, **rounded.carry(*kept), wide=wide)


def requantize_product_shape(value, multiplier):
    """The shape of :func:`requantize`'s product, for a pipeline that registers it."""
    return signed(len(value) + len(multiplier) + 2)


def half(shift, max_shift: int):
    """``2**(shift-1)`` (0 for a shift of 0): what rounds half up before a right shift."""
    one = 1 if isinstance(shift, int) else Const(1, max_shift + 1)
    return (one << shift) >> 1


def shift_rounded(m, name: str, rounded, shift, product_width: int):
    """``rounded >> shift`` (``rounded``: a product of ``product_width`` bits plus
    :func:`half`), as :func:`requantize` keeps it."""
    shifted = Signal(signed(product_width + 1), name=f"{name}_shifted")
    m.d.comb += shifted.eq(rounded >> shift)
    return shifted


def token_multiplier(m, name: str, scale_code, multiplier, scale_width: int):
    """``(scale_code * multiplier + 2**(w-1)) >> w``: a multiplier carrying the token's scale."""
    out = Signal(len(multiplier), name=name)
    m.d.comb += out.eq((scale_code * multiplier + (1 << (scale_width - 1))) >> scale_width)
    return out


def token_multiplier_stages(m, pipe, name: str, stages, carried: dict, code, multiplier, width):
    """:func:`token_multiplier` over two stages of ``pipe``, named ``stages``: the code's
    products with the multiplier's low and high halves (a DSP multiplier each), then their
    sum's rounding shift; return the second, holding ``carried`` and ``multiplier``."""
    producing, scaling = stages
    half = (len(multiplier) + 1) // 2
    product = pipe.stage(
        producing, **carried, low=code * multiplier[:half], high=code * multiplier[half:]
    )
    out = Signal(len(multiplier), name=name)
    total = (product.high << half) + product.low + (1 << (width - 1))
    m.d.comb += out.eq(total >> width)
    return pipe.stage(scaling, **product.carry(*carried), multiplier=out)


def clamp(m, name: str, value, lo: int, hi: int, shape):
    """``value`` clamped to ``[lo, hi]``."""
    out = Signal(shape, name=name)
    m.d.comb += out.eq(Mux(value < lo, lo, Mux(value > hi, hi, value)))
    return out
