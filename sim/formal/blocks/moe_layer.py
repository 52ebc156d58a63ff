"""Proofs of the `moe_layer` block: the stream contract, with a result chunk owed for every
token chunk and one stats transfer for every batch."""

from amaranth import Module

from moetile.hw.moe import FatEngineParams, MoELayerParams

from ..counting import Passes, closes, every
from ..properties import OutputContract, transfer
from ..spec import CONTROL_DEPTH, FormalSpec

#: The smallest layer: batches of one token of one value, one expert of one hidden unit, one
#: lane and one array. A token's result leaves within :data:`RESULT_LATENCY` cycles, within
#: the solver's reach; a batch of the default layer takes hundreds of cycles, beyond it.
TINY = MoELayerParams(
    hidden=1,
    expert_hidden=1,
    experts=1,
    top_k=1,
    max_tokens=1,
    lanes=1,
    arrays=1,
    router_macs=1,
    engine=FatEngineParams(zero_skip=1),
    exp_entries=2,
    gate_frac=1,
    token_scale_width=1,
    combine_multiplier_width=1,
    out_shift=0,
)

#: With ready sinks, the most cycles TINY owes a result (from its token) or a batch's stats
#: (from the token that closes the batch) before the transfer: the route, gather, gate/up and
#: down steps with every weight dense (the FAT engine skips zero weights), then the output;
#: the router's (its GEMV's included), activation unit's and combine unit's pipelines. Tight:
#: a simulated run of TINY with every weight dense takes exactly these
#: (``tests/test_formal.py``).
RESULT_LATENCY = 86
STATS_LATENCY = 89

#: Steps past the latency for the solver to load weights before the token.
_MARGIN = 10

#: TINY's proofs, 90 to 100 steps deep, on Boolector, several times faster there than Yices,
#: without the driver's check at every step that the assumptions still admit a run
#: (``--presat``), which triples the time: they do, as the only assumption is a ready sink
#: and a simulated run with ready sinks reaches both bounds (``tests/test_formal.py``).
_DEEP_ENGINE = "smtbmc --nopresat boolector"


def _batches(params: MoELayerParams):
    """One stats transfer per batch: a token (its final chunk) with ``last`` set, or the
    ``max_tokens``-th."""

    def owed(m: Module, dut):
        chunks = Passes(m, transfer(dut.i_token), params.io_chunks, 1, "chunks")
        return closes(m, chunks.wrap, dut.i_token.payload.last, params.max_tokens, "tokens")

    return owed


def _contracts(params: MoELayerParams) -> list[OutputContract]:
    """Latency bounds only for TINY: a result is owed from its token only where every token
    closes its batch (the host may hold a longer batch open), and only TINY's are in reach."""
    results = params.max_tokens * params.io_chunks
    if params != TINY:
        return [
            OutputContract("o", every("i_token"), capacity=results),
            OutputContract("o_stats", _batches(params), capacity=1),
        ]

    def deep(port: str, owed, capacity: int, latency: int) -> OutputContract:
        depth = latency + _MARGIN
        return OutputContract(
            port,
            owed,
            capacity=capacity,
            latency=latency,
            counted_depth=depth,
            latency_depth=depth,
            map_memories=True,
            engine=_DEEP_ENGINE,
        )

    return [
        deep("o", every("i_token"), results, RESULT_LATENCY),
        deep("o_stats", _batches(params), 1, STATS_LATENCY),
    ]


SPEC = FormalSpec(
    block="moe_layer",
    params=(MoELayerParams(), TINY),
    labels=("defaults", "smallest"),
    contracts=_contracts,
    depth=lambda params: CONTROL_DEPTH,
)
