"""Proofs of the `gocache` block (expert-choice router with the gate-output cache): the stream
contract, with one update owed for every token (``chunks`` transfers)."""

from moetile.hw.gocache import GOCacheParams

from ..counting import every
from ..properties import OutputContract
from ..spec import CONTROL_DEPTH, FormalSpec

SMALL = (GOCacheParams(tokens=4, experts=2, capacity=2, hidden=4, macs=4, width=4),)


def _latency(params: GOCacheParams) -> int:
    """From a token's last chunk: its scores, then the longest update (one that scans)."""
    return params.token_period(True) - params.gate.chunks + 1


# Two tokens owed at most: one update offered, the next token's scores held behind it.
SPEC = FormalSpec(
    block="gocache",
    params=SMALL,
    contracts=lambda params: [
        OutputContract("o", every("i_x", params.gate.chunks), capacity=2, latency=_latency(params))
    ],
    depth=lambda params: CONTROL_DEPTH,
)
