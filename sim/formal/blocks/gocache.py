"""Proofs of the `gocache` block: ``held`` on every output stream."""

from moetile.hw.gocache import GOCacheParams

from .held import held_spec

SPEC = held_spec(
    "gocache", (GOCacheParams(tokens=4, experts=2, capacity=2, hidden=4, macs=4, width=4),)
)
