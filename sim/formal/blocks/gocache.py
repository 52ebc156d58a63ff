"""Proofs of the `gocache` block (expert-choice router with the gate-output cache): the stream
contract, with one update owed for every token (``chunks`` transfers), and every update equal to
what the expert-choice rule makes of the token's gate scores and the sequence's earlier ones."""

from amaranth import Module, Mux, Signal, Value, signed
from amaranth.hdl import Assert
from amaranth.lib import data

from moetile.hw.gocache import GOCacheParams

from ..chunks import assume_zero_padding, chunked, keep_chunks
from ..counting import Passes, every
from ..harness import past
from ..properties import OutputContract, Property, transfer
from ..spec import CONTROL_DEPTH, FormalSpec

SMALL = (GOCacheParams(tokens=4, experts=2, capacity=2, hidden=1, macs=1, width=2),)

#: The most updates the block owes at once: one offered, the next token's scores held behind
#: it in the gate.
_MOST_OWED = 2

#: Updates the harness queues while they are owed: more than the block can owe, and a power of
#: two, so the queue's read and write counters wrap on their own.
_QUEUE = 2 * _MOST_OWED


def _latency(params: GOCacheParams) -> int:
    """From a token's last chunk: its scores, then the longest update (one that scans)."""
    return params.token_period(True) - params.gate.chunks + 1


def _ranks_above(a, a_token: int, b, b_token: int):
    """Token ``a_token`` (score ``a``) ranks above token ``b_token`` (score ``b``) for an
    expert: a higher score, or the same score and the earlier token."""
    if a_token < b_token:
        return a >= b
    return a > b


def _expected_update(params: GOCacheParams, position, scores, history) -> dict:
    """The update token ``position`` of a sequence makes (its fields but the position), from
    its ``scores`` and the earlier tokens' (``history[j][e]``, read where ``j < position``),
    by the rule's definition: an expert selects a token when fewer than ``capacity`` of the
    sequence's tokens rank above it; once ``capacity`` tokens came before, taking it drops the
    one that ranked ``capacity``-th before it came."""
    tokens, capacity = params.tokens, params.capacity
    full = position >= capacity
    take, evicted = [], []
    for e, score in enumerate(scores):
        earlier = [(j < position) & (history[j][e] >= score) for j in range(tokens)]
        take.append(sum(earlier) < capacity)
        dropped = 0
        for j in range(tokens):
            above = sum(
                (i < position) & _ranks_above(history[i][e], i, history[j][e], j)
                for i in range(tokens)
                if i != j
            )
            dropped |= Mux((j < position) & (above == capacity - 1), j, 0)
        evicted.append(Mux(full & take[-1], dropped, 0))
    return {"scores": scores, "take": take, "evict": [full & t for t in take], "evicted": evicted}


def _arrivals(m: Module, dut, params: GOCacheParams):
    """The harness keeps the gate rows and each token's chunks where the stream order puts
    them. Returns ``(arrived, start, scores)``: high the cycle after a token's last chunk
    (everything kept, and the rows unchanged until its update leaves the gate), the token's
    ``start``, and its scores ``sum_k w[e, k] * x[k]`` at their exact width."""
    gate = params.gate
    shape = signed(params.width)
    weights = [
        [Signal(shape, name=f"w_{e}_{k}") for k in range(params.hidden)]
        for e in range(params.experts)
    ]
    vector = [Signal(shape, name=f"x_{k}") for k in range(params.hidden)]
    keep_chunks(m, dut.i_w, [w for row in weights for w in chunked(row, gate.macs)], "w")
    keep_chunks(m, dut.i_x, chunked(vector, gate.macs), "x")
    chunk = Passes(m, transfer(dut.i_x), gate.chunks, 1, "chunk")
    start = Signal(name="start")
    with m.If(transfer(dut.i_x) & (chunk.position == 0)):
        m.d.sync += start.eq(dut.i_x.payload.start)
    sums = [sum(w * x for w, x in zip(row, vector, strict=True)) for row in weights]
    scores = [Signal(Value.cast(v).shape(), name=f"score_{e}") for e, v in enumerate(sums)]
    m.d.comb += [s.eq(v) for s, v in zip(scores, sums, strict=True)]
    return past(m, chunk.wrap, "arrived"), start, scores


def _sequence(m: Module, arrived, start, scores, params: GOCacheParams):
    """The arriving token's position (0 on ``start`` or after ``tokens`` tokens) and the
    scores of the sequence's tokens so far (``history[j][e]``, each written as token ``j``
    arrives)."""
    next_position = Signal(range(params.tokens), name="next_position")
    position = Signal(range(params.tokens), name="position")
    m.d.comb += position.eq(Mux(start, 0, next_position))
    history = [
        [Signal.like(s, name=f"history_{j}_{e}") for e, s in enumerate(scores)]
        for j in range(params.tokens)
    ]
    with m.If(arrived):
        last = position == params.tokens - 1
        m.d.sync += next_position.eq(Mux(last, 0, position + 1))
        with m.Switch(position):
            for j, kept in enumerate(history):
                with m.Case(j):
                    m.d.sync += [h.eq(s) for h, s in zip(kept, scores, strict=True)]
    return position, history


def _assert_in_order(m: Module, dut, arrived, position, expected: dict, params):
    """Queues each arriving token's expected update; each update offered must equal the oldest
    one queued, in every field."""
    token_shape = range(params.tokens)
    layout = data.StructLayout(
        {
            "token": token_shape,
            "scores": data.ArrayLayout(expected["scores"][0].shape(), params.experts),
            "take": params.experts,
            "evict": params.experts,
            "evicted": data.ArrayLayout(token_shape, params.experts),
        }
    )
    queue = [Signal(layout, name=f"queued_{i}") for i in range(_QUEUE)]
    queued = Signal(range(_QUEUE), name="queued")
    offered = Signal(range(_QUEUE), name="offered")
    fields = ("scores", "take", "evict", "evicted")
    with m.If(arrived), m.Switch(queued):
        m.d.sync += queued.eq(queued + 1)
        for i, entry in enumerate(queue):
            with m.Case(i):
                m.d.sync += entry.token.eq(position)
                for field in fields:
                    values = expected[field]
                    m.d.sync += [getattr(entry, field)[e].eq(v) for e, v in enumerate(values)]
    with m.If(transfer(dut.o)):
        m.d.sync += offered.eq(offered + 1)
    got = dut.o.payload
    with m.If(dut.o.valid), m.Switch(offered):
        for i, entry in enumerate(queue):
            with m.Case(i):
                m.d.comb += Assert(got.token == entry.token)
                for field in fields:
                    m.d.comb += [
                        Assert(getattr(got, field)[e] == getattr(entry, field)[e])
                        for e in range(params.experts)
                    ]


def _selection(params: GOCacheParams) -> Property:
    """Every update against the rule's, computed by the harness from what the block accepted:
    the gate rows, the token, and the earlier tokens of its sequence."""

    def build(m: Module, components, free):
        dut = components["dut"]
        arrived, start, scores = _arrivals(m, dut, params)
        position, history = _sequence(m, arrived, start, scores, params)
        expected = _expected_update(params, position, scores, history)
        _assert_in_order(m, dut, arrived, position, expected, params)

    return Property(
        "selection",
        "every update (position, scores, take, evict, evicted) is the expert-choice rule's "
        "for sum_k w[e, k] * x[k] of the loaded rows and the token, and the sequence so far",
        build,
        _selection_depth(params),
        map_memories=True,
    )


def _selection_depth(params: GOCacheParams) -> int:
    """The gate rows, then a whole sequence to its last update, every token's update
    scanning (the last one offered on the final step)."""
    gate = params.gate
    return (
        gate.weight_transfers
        + gate.vector_cycles
        + (params.tokens - 1) * params.token_period(True)
        + 1
    )


SPEC = FormalSpec(
    block="gocache",
    params=SMALL,
    contracts=lambda params: [
        OutputContract(
            "o", every("i_x", params.gate.chunks), capacity=_MOST_OWED, latency=_latency(params)
        )
    ],
    depth=lambda params: CONTROL_DEPTH,
    functional=lambda params: [_selection(params)],
    assumptions=lambda m, dut, params: assume_zero_padding(m, dut, params.gate),
)
