"""Proofs of the `xbar` block (crossbar tiles, one and two crossbars per group): the stream
contract, with one result owed for every slot (an input vector flagged ``last``)."""

from moetile.hw.xbar import TileParams

from ..counting import every
from ..properties import OutputContract
from ..spec import CONTROL_DEPTH, FormalSpec

SMALL = tuple(
    TileParams(
        rows=4,
        cols=2,
        cell_bits=2,
        w_bits=4,
        in_bits=4,
        dac_bits=1,
        adc_bits=6,
        crossbars_per_group=g,
        groups=2,
    )
    for g in (1, 2)
)

SPEC = FormalSpec(
    block="xbar",
    params=SMALL,
    # Two slots owed at most: one in the output register, one read behind it.
    contracts=lambda params: [
        OutputContract("o", every("i_x", flag="last"), capacity=2, latency=params.planes + 1)
    ],
    depth=lambda params: CONTROL_DEPTH,
)
