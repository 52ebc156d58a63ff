"""Proofs of the `moe_layer` block: ``held`` on every output stream."""

from moetile.hw.moe import MoELayerParams

from .held import held_spec

SPEC = held_spec("moe_layer", (MoELayerParams(),))
