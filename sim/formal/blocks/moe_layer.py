"""Proofs of the `moe_layer` block: the stream contract, with a result chunk owed for every
token chunk and one stats transfer for every batch; behind an expert cache, that no slot is
overwritten while a job reads it."""

from dataclasses import replace

from amaranth import Module
from amaranth.hdl import Assert

from moetile.hw.moe import FatEngineParams, MoELayerParams

from ..counting import Passes, closes, every
from ..harness import Opened
from ..properties import OutputContract, Property, transfer
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

#: TINY behind an expert cache of one slot, with two experts: a batch's expert may need the
#: slot another batch's filled, so every lookup may miss and fetch into the slot a job read.
TINY_CACHED = replace(TINY, experts=2, cache_slots=1)

#: TINY with prefetch: two experts in two slots, so a fetch may land in one slot while a job
#: reads the other.
TINY_PREFETCH = replace(TINY, experts=2, cache_slots=2, cache_prefetch=True)

#: TINY with a shared expert weighed by a sigmoid gate: the router's extra logit, step and
#: division, the front end's gate memory.
TINY_SHARED_GATE = replace(TINY, shared_experts=1, shared_gate=True)

#: TINY with the sigmoid router: four experts in two groups, one kept by its best two's sum,
#: a selection bias.
TINY_SIGMOID = replace(
    TINY,
    experts=4,
    scoring="sigmoid",
    choice_bias=True,
    groups=2,
    topk_groups=1,
    group_score="top2_sum",
)

#: TINY with an ungated expert with biases: one row a unit, the biases read beside the scales.
TINY_UNGATED = replace(TINY, gated=False, expert_bias=True)

#: TINY with CMoE's router: logits plus a selection bias, each chosen expert weighing 1.
TINY_UNWEIGHTED = replace(
    TINY, experts=2, scoring="unweighted", renormalize=False, choice_bias=True
)

#: TINY with expert choice: two experts each keeping one token of sequences of two, so the
#: GO cache fills, evicts and scans, and a token may go to no expert or to both.
TINY_EXPERT_CHOICE = replace(
    TINY, experts=2, top_k=2, routing="expert_choice", capacity=1, max_sequence=2
)

#: With ready sinks, the most cycles TINY owes a result (from its token) or a batch's stats
#: (from the token that closes the batch) before the transfer: the route, gather, gate/up and
#: down steps with every weight dense (the FAT engine skips zero weights), then the output;
#: the router's (its GEMV's included), activation unit's and combine unit's pipelines. Tight:
#: a simulated run of TINY with every weight dense takes exactly these
#: (``tests/test_formal.py``).
RESULT_LATENCY = 87
STATS_LATENCY = 90

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
    """What is owed, and latency bounds, only for TINY: a result is owed from its token only
    where every token closes its batch (the host may hold a longer batch open), and no other
    Params offers a result or stats within a depth the solver reaches (not within
    ``CONTROL_DEPTH`` steps of reset, for the defaults and TINY_CACHED alike), so counting them
    there would prove nothing. Their ports' ``held`` is proved, unbounded."""
    fetches = ["o_fetch"] if params.cache is not None else []
    if params != TINY:
        return [OutputContract(port) for port in ("o", "o_stats", *fetches)]
    results = params.max_tokens * params.io_chunks

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


def _slot_safe(params: MoELayerParams) -> list[Property]:
    """Behind an expert cache: no weight row or scale is written (a fetch filling a slot, or
    the layer's load) while a job is taken or run by the engine, or its rows are still in the
    activation or combine unit. Every slot a job reads is then untouched until the job is
    done, whichever slot the cache gives a miss."""
    if params.cache is None:
        return []

    def build(m: Module, components, free):
        layer = components["dut"]
        engine, activation, combine = (layer.part(n) for n in ("engine", "activation", "combine"))
        reading = transfer(engine.i_job) | ~engine.idle | engine.o.valid
        reading |= activation.busy | combine.busy
        writing = engine.bank_write.en | layer.part("scales").write.en
        if params.cache_prefetch:
            # A fetch lands while jobs read other slots: never in the slot they read.
            load = layer.part("load")
            writing &= load.landing_slot == layer.part("scheduler").region
        m.d.comb += Assert(~(writing & reading))

    what = (
        "no weight or scale written into the slot of the job the engine takes or runs or whose "
        "rows its units hold"
        if params.cache_prefetch
        else "no weight or scale written while the engine takes or runs a job or its units hold "
        "its rows"
    )
    return [
        Property(
            "slot_safe",
            f"{what}: a job's slot is never overwritten while the job reads it",
            build,
            CONTROL_DEPTH,
            components=lambda make_dut: {"dut": Opened(make_dut())},
            inductive=True,
            map_memories=True,
        )
    ]


SPEC = FormalSpec(
    block="moe_layer",
    params=(
        MoELayerParams(),
        TINY,
        TINY_CACHED,
        TINY_PREFETCH,
        TINY_SHARED_GATE,
        TINY_SIGMOID,
        TINY_UNGATED,
        TINY_UNWEIGHTED,
        TINY_EXPERT_CHOICE,
    ),
    labels=(
        "defaults",
        "smallest",
        "smallest, cached",
        "smallest, prefetch",
        "smallest, shared gate",
        "smallest, sigmoid",
        "smallest, ungated",
        "smallest, unweighted",
        "smallest, expert choice",
    ),
    contracts=_contracts,
    depth=lambda params: CONTROL_DEPTH,
    functional=_slot_safe,
)
