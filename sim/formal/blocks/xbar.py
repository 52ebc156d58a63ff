"""Proofs of the `xbar` block: ``held`` on every output stream."""

from moetile.hw.xbar import TileParams

from .held import held_spec

SPEC = held_spec(
    "xbar",
    tuple(
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
    ),
)
