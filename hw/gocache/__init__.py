"""Expert-choice routing for generation with the gate-output (GO) cache: each expert keeps its
``capacity`` best tokens of the sequence so far, and a new token costs one gate row and an
update of each expert's selection instead of a recomputation of the whole sequence.

Importing this package pulls in only :class:`GOCacheParams`; the component is in
:mod:`moetile.hw.gocache.unit`.
"""

from .params import GOCacheParams

__all__ = ["GOCacheParams"]
