"""Expert-choice router with the GO cache: Params, the golden recomputation against the
definition, the cached updates equal to a full recomputation at every step (Amaranth simulator,
cocotb under Verilator, 100,000 tokens on the fast harness), cycles equal to the model, and a
sabotaged design caught."""

import random
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from moetile.hw.gocache import GOCacheParams, selection
from moetile.hw.gocache.interface import token_layout
from moetile.hw.gocache.router import ExpertChoiceRouter
from moetile.hw.registry import Design, block
from moetile.sim.amaranth_sim import simulate, stream_recv, stream_send
from moetile.sim.fast import FastSim, Traffic
from moetile.sim.gocache_sim import random_traffic, run_tokens
from moetile.sim.runner import run_testbench
from moetile.sim.testbenches.gocache_cases import (
    KINDS,
    expected_updates,
    same_updates,
    sequence_tokens,
    token_chunks,
    weight_chunks,
)
from moetile.sw.golden.gocache import expert_choice, gocache, positions, selections

#: The registered design (cocotb); capacity 1; capacity = longest sequence (never full); a
#: capacity whose scan outlasts the gate GEMV.
SHAPES = {
    "default": GOCacheParams(),
    "capacity1": GOCacheParams(tokens=32, experts=3, capacity=1, hidden=5, macs=5),
    "never_full": GOCacheParams(tokens=24, experts=2, capacity=24, hidden=4, macs=2),
    "long_scan": GOCacheParams(tokens=40, experts=5, capacity=20, hidden=6, macs=6),
}
#: For the Amaranth simulator: two chunks per token.
SMALL = GOCacheParams(tokens=12, experts=3, capacity=3, hidden=4, macs=2)
#: A sink that stops for longer than a token takes, then takes a few updates.
STALLS = Traffic.explicit([0] * 40 + [1] * 3)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tokens": 0}, "tokens must be an integer >= 1, not 0"),
        ({"experts": 0}, "experts must be an integer >= 1, not 0"),
        ({"tokens": 4, "capacity": 5}, r"capacity must be an integer in \[1, 4\], not 5"),
        ({"capacity": 0}, r"capacity must be an integer in \[1, 16\], not 0"),
        ({"hidden": 4, "macs": 5}, r"macs must be an integer in \[1, 4\], not 5"),
        ({"width": 17}, r"width must be an integer in \[2, 16\], not 17"),
    ],
)
def test_params_reject_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        GOCacheParams(**values)


def test_cycle_model():
    p = SHAPES["long_scan"]  # GEMV: 1 chunk to load, 5 rows, 2 stages, 1 to present: 9 cycles
    assert p.gate.vector_cycles == 9 and p.score_width == p.gate.acc_width
    assert p.token_period(False) == 9 and p.token_period(True) == 21
    assert p.sequence_cycles([True, False, True]) == 10 + 21 + 9
    assert p.sequence_cycles([]) == 0


def _full_recomputation_per_step(scores, capacity):
    """Each step's selection as sets, by the definition (sorting the prefix)."""
    return [
        [set(sel) for sel in expert_choice(scores[: t + 1], capacity)] for t in range(len(scores))
    ]


score_matrices = st.integers(1, 4).flatmap(
    lambda experts: st.lists(
        st.lists(st.integers(-3, 3), min_size=experts, max_size=experts), min_size=1, max_size=24
    )
)


@settings(max_examples=200, deadline=None)
@given(scores=score_matrices, capacity=st.integers(1, 26))
def test_golden_selections_are_the_definition_at_every_step(scores, capacity):
    """Small score ranges make ties common; a capacity above the length selects everything."""
    selected = selections(scores, capacity)
    for t, expected in enumerate(_full_recomputation_per_step(scores, capacity)):
        for e, chosen in enumerate(expected):
            assert set(selected[t, :, e].nonzero().flatten().tolist()) == chosen


@settings(max_examples=200, deadline=None)
@given(scores=score_matrices, capacity=st.integers(1, 8))
def test_updates_rebuild_every_step_of_the_recomputation(scores, capacity):
    """Applying each token's update (take it, drop the evicted one) to the previous selection
    gives the selection recomputed from scratch, at every step: at most one token leaves an
    expert per step, and only for a token it takes."""
    p = GOCacheParams(tokens=24, experts=len(scores[0]), capacity=min(capacity, 24))
    trace = gocache(p, scores, [True] + [False] * (len(scores) - 1))
    state = [set() for _ in scores[0]]
    for t, expected in enumerate(_full_recomputation_per_step(scores, p.capacity)):
        for e in range(len(state)):
            if trace.evict[t, e]:
                assert trace.take[t, e]
                state[e].remove(int(trace.evicted[t, e]))
            if trace.take[t, e]:
                state[e].add(t)
        assert state == expected


def test_sequences_restart_on_start_and_after_the_longest():
    p = GOCacheParams(tokens=3, capacity=1)
    assert positions(p, [1, 0, 0, 0, 0, 1, 0]).tolist() == [0, 1, 2, 0, 1, 0, 1]


def test_golden_checks_its_inputs():
    p = GOCacheParams(hidden=1, macs=1, experts=2)  # scores fit 16 bits signed
    with pytest.raises(ValueError, match=r"scores must lie in \[-32768, 32767\]"):
        gocache(p, [[1 << 15, 0]], [True])
    with pytest.raises(ValueError, match=r"scores must have shape \(n, 2\), not \(1, 3\)"):
        gocache(p, [[0, 0, 0]], [True])
    with pytest.raises(ValueError, match=r"starts must have one entry per token \(1\)"):
        gocache(p, [[0, 0]], [True, False])
    with pytest.raises(ValueError, match="scores must be finite"):
        gocache(p, torch.tensor([[float("nan"), 0.0]]), [True])


def _amaranth_run(p: GOCacheParams, kind: str, seed: int, n: int = 40):
    rng = random.Random(seed)
    weights, vectors = sequence_tokens(p, np.random.default_rng(seed), kind, n)
    starts = np.zeros(n, dtype=bool)
    starts[[0, n // 2]] = True
    scores, golden = expected_updates(p, weights, vectors, starts)
    dut = ExpertChoiceRouter(p)
    chunks = token_chunks(p, vectors, starts)
    tokens = [
        token_layout(p).const({"v": v, "start": s})
        for v, s in zip(chunks["v"].tolist(), chunks["start"].tolist(), strict=True)
    ]
    got = []

    async def feed_weights(ctx):
        layout = dut.i_w.payload.shape()
        rows = [layout.const({"v": v}) for v in weight_chunks(p, weights)["v"].tolist()]
        await stream_send(ctx, dut.i_w, rows, rng=rng, idle=0.3)

    async def feed_tokens(ctx):  # offered from the start: they must wait for the gate rows
        await stream_send(ctx, dut.i_x, tokens, rng=rng, idle=0.3)

    async def drain(ctx):
        for item in await stream_recv(ctx, dut.o, n, rng=rng, backpressure=0.5):
            got.append(item)

    budget = 8 * n * p.token_period(True) + 20 * p.gate.weight_transfers
    simulate(dut, feed_weights, feed_tokens, drain, deadline_cycles=budget)
    updates = {
        "token": [int(u.token) for u in got],
        "scores": [[int(s) for s in u.scores] for u in got],
        "take": [int(u.take) for u in got],
        "evict": [int(u.evict) for u in got],
        "evicted": [[int(s) for s in u.evicted] for u in got],
    }
    return same_updates(golden, scores, updates)


@pytest.mark.parametrize("kind", KINDS)
def test_router_in_the_amaranth_simulator(kind, seed):
    assert _amaranth_run(SMALL, kind, seed) is None


def _ties_to_the_earlier_token_reversed(a, b):
    return (a.score < b.score) | ((a.score == b.score) & (a.token < b.token))


def test_sabotaged_tie_rule_is_caught(seed):
    """A cache whose scan keeps the earlier of two equal worst entries evicts the wrong
    token."""
    with mock.patch.object(selection, "worse", _ties_to_the_earlier_token_reversed):
        difference = _amaranth_run(SMALL, "ties", seed)
    assert difference is not None and "evicted" in difference


@pytest.mark.cosim
@pytest.mark.parametrize("shape", ["default", "capacity1"])
def test_cocotb_bench(shape, seed):
    design = Design(block("gocache"), SHAPES[shape])
    result = run_testbench(design, seed=seed)
    assert result.total == 18


def _sequences(p: GOCacheParams, rng: np.random.Generator, n: int) -> np.ndarray:
    """Starts of random-length sequences, some longer than the longest (they restart)."""
    starts = rng.random(n) < 1.5 / p.tokens
    starts[0] = True
    return starts


@pytest.mark.cosim
@pytest.mark.parametrize("shape", list(SHAPES))
def test_fast_harness_every_kind_cycle_exact(shape, seed):
    """Every stimulus kind, one session: with steady traffic the updates are exact and the
    cycles equal the model; then again under random idle and back-pressure, and behind a sink
    that stalls for long stretches."""
    p = SHAPES[shape]
    rng = np.random.default_rng(seed)
    with FastSim(Design(block("gocache"), p)).open() as session:
        for n, kind in enumerate(KINDS):
            weights, vectors = sequence_tokens(p, rng, kind, 6 * p.tokens)
            starts = _sequences(p, rng, len(vectors))
            scores, golden = expected_updates(p, weights, vectors, starts)
            steady = run_tokens(p, weights, vectors, starts, session=session)
            assert same_updates(golden, scores, steady.updates) is None
            assert steady.cycles == p.sequence_cycles(golden.scanned.tolist())
            for traffic in (random_traffic(0.3, seed + n), {"o": STALLS}):
                busy = run_tokens(p, weights, vectors, starts, traffic, session=session)
                assert same_updates(golden, scores, busy.updates) is None


@pytest.mark.cosim
def test_fast_random_regression(seed):
    """100,000 tokens (random, tied and extreme, in random-length sequences) under random idle
    and back-pressure, every update equal to the golden recomputation."""
    p = SHAPES["default"]
    rng = np.random.default_rng(seed)
    with FastSim(Design(block("gocache"), p)).open() as session:
        for n, kind in enumerate(KINDS * 2):
            count = 100_000 // 6 + 1
            weights, vectors = sequence_tokens(p, rng, kind, count)
            starts = _sequences(p, rng, count)
            scores, golden = expected_updates(p, weights, vectors, starts)
            run = run_tokens(p, weights, vectors, starts, random_traffic(0.25, seed + n), session)
            assert same_updates(golden, scores, run.updates) is None, kind
            assert int(golden.evict.sum()) > count // 10  # evictions are exercised


@pytest.mark.cosim
def test_bench_counts_the_work_of_both_schemes(seed):
    """The bench's tallies on one sequence: the prompt once, then one token per step with the
    cache and the whole sequence so far at every step without it."""
    from moetile.app.bench.gocache import expert_cost, sequence

    p, prompt, generated = SHAPES["default"], 5, 4
    weights, vectors = sequence_tokens(p, np.random.default_rng(seed), "ties", prompt + generated)
    cost = expert_cost()
    with FastSim(Design(block("gocache"), p)).open() as session:
        tallies = sequence(session, p, weights, vectors, prompt, cost, "test")
    lengths = range(prompt + 1, prompt + generated + 1)
    assert tallies["prefill"].tokens == prompt
    assert tallies["cached"].tokens == generated
    assert tallies["recomputed"].tokens == sum(lengths)
    assert tallies["prefill"].pairs == p.experts * p.capacity
    assert tallies["recomputed"].pairs == generated * p.experts * p.capacity
    _, golden = expected_updates(p, weights, vectors, [True] + [False] * (len(vectors) - 1))
    assert tallies["cached"].pairs == int(golden.take[prompt:].sum())
    period = p.gate.vector_cycles  # no scan outlasts the GEMV here
    assert tallies["cached"].router_cycles == generated * period
    assert tallies["recomputed"].router_cycles == sum(n * period + 1 for n in lengths)
