"""Proofs of the `moe_layer` block: the stream contract, with a result chunk owed for every
token chunk and one stats transfer for every batch."""

from amaranth import Module, Mux, Signal

from moetile.hw.moe import MoELayerParams

from ..counting import Passes, every
from ..properties import OutputContract, transfer
from ..spec import CONTROL_DEPTH, FormalSpec


def _batches(params: MoELayerParams):
    """One stats transfer per batch: a token (its final chunk) with ``last`` set, or the
    ``max_tokens``-th."""

    def owed(m: Module, dut):
        chunks = Passes(m, transfer(dut.i_token), params.io_chunks, 1, "chunks")
        tokens = Signal(range(params.max_tokens), name="tokens")
        closes = chunks.wrap & (dut.i_token.payload.last | (tokens == params.max_tokens - 1))
        with m.If(chunks.wrap):
            m.d.sync += tokens.eq(Mux(closes, 0, tokens + 1))
        return closes

    return owed


# A batch takes hundreds of cycles, beyond any depth the solver reaches: ``counted`` shows no
# output is offered before it is owed within the depth, and no ``latency`` bound is in reach.
SPEC = FormalSpec(
    block="moe_layer",
    params=(MoELayerParams(),),
    contracts=lambda params: [
        OutputContract("o", every("i_token"), capacity=params.max_tokens * params.io_chunks),
        OutputContract("o_stats", _batches(params), capacity=1),
    ],
    depth=lambda params: CONTROL_DEPTH,
)
