"""What is proved of a block: its small formal Params, each output port's contract, and its
functional properties. Each block registers the module of its proofs (``proofs=``; the built-in
blocks' are in ``moetile.sim.formal.blocks``)."""

from collections.abc import Callable
from dataclasses import dataclass

from moetile.hw.registry import block, resolve

from .properties import Property, contract_properties

__all__ = ["CONTROL_DEPTH", "FormalSpec", "formal_spec"]

#: Steps of a proof over a block's control alone (its stream contract), where the block's own
#: latency is shorter: control proofs at this depth take seconds.
CONTROL_DEPTH = 40


@dataclass(frozen=True)
class FormalSpec:
    """The proofs of one registered block.

    Parameters
    ----------
    block : str
        The registry name.
    params : tuple
        The Params ``moetile prove`` proves when none are given: small enough for the solver.
    contracts : callable
        ``contracts(params)``: one :class:`OutputContract` per output stream.
    depth : callable
        ``depth(params)``: steps of each proof, beyond the longest latency.
    functional : callable
        ``functional(params)``: the block's functional properties (may be empty).
    assumptions : callable or None
        ``assumptions(m, dut, params)``: what every proof assumes of the inputs beyond the stream
        rules (e.g. configuration held static), stated in the README.
    labels : tuple
        A name for each of ``params`` in ``moetile prove``'s table, where they differ in too
        many fields to list; empty to list the fields.
    """

    block: str
    params: tuple
    contracts: Callable
    depth: Callable
    functional: Callable = lambda params: []
    assumptions: Callable | None = None
    labels: tuple = ()

    def properties(self, params) -> list[Property]:
        depth = self.depth(params)
        found = []
        for contract in self.contracts(params):
            found += contract_properties(contract, depth)
        return found + list(self.functional(params))


def formal_spec(name: str) -> FormalSpec:
    """The formal spec of a registered block: the ``SPEC`` of the module it registers as its
    ``proofs``."""
    entry = block(name)
    if not entry.proofs:
        raise ValueError(f"block {name!r} has no formal proofs")
    return resolve(entry.proofs).SPEC
