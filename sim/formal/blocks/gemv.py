"""Proofs of the `gemv` block: ``held`` on every output stream."""

from moetile.hw.gemv import GemvParams

from .held import held_spec

SPEC = held_spec("gemv", (GemvParams(inputs=8, outputs=2, macs=4, width=4),))
