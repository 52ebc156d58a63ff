"""Proofs of the `mixpe` block: ``held`` on every output stream."""

from moetile.hw.mixpe import MixPEParams

from .held import held_spec

SPEC = held_spec(
    "mixpe",
    tuple(
        MixPEParams(
            rows=2,
            cols=2,
            n_inputs=32,
            group=32,
            scale_width=4,
            scale_frac=2,
            out_shift=2,
            arch=arch,
        )
        for arch in ("mixpe", "multiplier")
    ),
)
