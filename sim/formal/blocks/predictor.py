"""Proofs of the `predictor` block: ``held`` on every output stream."""

from moetile.hw.predictor import PredictorParams

from .held import held_spec

SPEC = held_spec("predictor", (PredictorParams(hidden=8, rank=4, experts=4, k=2, macs=4),))
