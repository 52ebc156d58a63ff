"""The expert cache: its tag table and replacement equal to the golden policy lookup by lookup
(Amaranth simulator under idle and back-pressure, 100,000 lookups on the fast harness), its
cycle model, and bad Params refused."""

import random

import numpy as np
import pytest

from moetile.hw.expert_cache import ExpertCacheParams
from moetile.hw.expert_cache.cache import ExpertCache
from moetile.hw.expert_cache.interface import key_layout, write_layout
from moetile.hw.registry import Design, block
from moetile.sim.amaranth_sim import simulate, stream_recv, stream_send
from moetile.sim.testbenches.expert_cache_cases import expected, mixed_configuration, skewed_keys

SMALL = [
    ExpertCacheParams(slots=5, layers=3, experts=6, policy="lru"),
    ExpertCacheParams(slots=5, layers=3, experts=6, policy="lfu"),
    # Two usage bits: ages and counts saturate within a few lookups.
    ExpertCacheParams(slots=4, layers=2, experts=5, policy="lru", usage_width=2),
    ExpertCacheParams(slots=4, layers=2, experts=5, policy="lfu", usage_width=2),
    ExpertCacheParams(slots=1, layers=1, experts=3),
]


def _unpack(value, fields):
    return {name: int(getattr(value, name)) for name in fields}


@pytest.mark.parametrize("params", SMALL, ids=lambda p: f"{p.policy}-s{p.slots}-u{p.usage_width}")
def test_lookups_equal_the_golden_under_traffic(params, seed):
    rng = random.Random(seed)
    writes = mixed_configuration(params, rng)
    keys = skewed_keys(params, rng, 150)
    results, fetches = expected(params, writes, keys)
    dut = ExpertCache(params)
    write, key = write_layout(params), key_layout(params)
    got = {}

    async def source(ctx):
        await stream_send(ctx, dut.i_config, [write.const(w) for w in writes], rng=rng)
        await stream_send(ctx, dut.i, [key.const(k) for k in keys], rng=rng, idle=0.3)

    async def sink(ctx):
        got["o"] = await stream_recv(ctx, dut.o, len(keys), rng=rng, backpressure=0.4)

    async def fetch_sink(ctx):
        got["fetch"] = await stream_recv(
            ctx, dut.o_fetch, len(fetches), rng=random.Random(seed + 1), backpressure=0.5
        )

    simulate(dut, source, sink, fetch_sink, deadline_cycles=200 * len(keys))
    assert [_unpack(r, ("hit", "refused", "slot")) for r in got["o"]] == results
    assert [_unpack(f, ("layer", "expert", "slot")) for f in got["fetch"]] == fetches
    assert any(r["hit"] for r in results) and fetches


def test_a_hit_answers_in_two_cycles_a_miss_after_the_scan():
    params = ExpertCacheParams(slots=6, layers=2, experts=4)
    dut = ExpertCache(params)
    key = key_layout(params)
    answers = []

    async def testbench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.o_fetch.ready, 1)
        for expert in (3, 3):  # a miss, then a hit
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, key.const({"layer": 1, "expert": expert}))
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)
            cycles = 1
            while not ctx.get(dut.o.valid):
                await ctx.tick()
                cycles += 1
            answers.append((cycles, int(ctx.get(dut.o.payload.hit))))
            await ctx.tick()

    simulate(dut, testbench, deadline_cycles=100)
    assert answers == [(params.miss_latency, 0), (ExpertCacheParams.HIT_LATENCY, 1)]


@pytest.mark.cosim
def test_fast_regression_of_100k_lookups(seed):
    """100,000 lookups of a 16-slot cache over 4 layers of 16 experts, LRU and LFU, on the fast
    harness: every result and every fetch request the golden policy's."""
    from moetile.sim.fast import FastSim, Traffic

    for policy in ("lru", "lfu"):
        params = ExpertCacheParams(slots=16, layers=4, experts=16, policy=policy)
        rng = random.Random(f"{seed}-{policy}")
        writes = mixed_configuration(params, rng)
        keys = skewed_keys(params, rng, 100_000)
        results, fetches = expected(params, writes, keys)
        sim = FastSim(Design(block("expert_cache"), params))
        configs = [write_layout(params).const(w).as_bits() for w in writes]
        lookups = {name: np.array([k[name] for k in keys]) for name in ("layer", "expert")}
        with sim.open() as session:
            session.run({"i_config": configs}, budget=1000)
            run = session.run(
                {"i": lookups},
                expect={"o": len(keys), "o_fetch": len(fetches)},
                budget=(params.miss_latency + 2) * len(keys),
                traffic={"o": Traffic.random(0.2, seed), "o_fetch": Traffic.random(0.3, seed)},
            )
        o, f = run.payloads("o"), run.payloads("o_fetch")
        assert [
            dict(hit=int(h), refused=int(r), slot=int(s))
            for h, r, s in zip(o["hit"], o["refused"], o["slot"], strict=True)
        ] == results
        assert [
            dict(layer=int(a), expert=int(b), slot=int(c))
            for a, b, c in zip(f["layer"], f["expert"], f["slot"], strict=True)
        ] == fetches
        assert 0.2 < sum(r["hit"] for r in results) / len(results) < 0.95


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"slots": 0}, "slots must be an integer in [1, 256]"),
        ({"policy": "fifo"}, "policy must be one of 'lru', 'lfu'"),
        ({"usage_width": 1}, "usage_width must be an integer in [2, 32]"),
    ],
)
def test_bad_params_are_refused(fields, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ExpertCacheParams(**fields)


@pytest.mark.cosim
@pytest.mark.parametrize("policy", ["lru", "lfu"])
def test_cocotb_bench(policy, seed):
    from moetile.sim.runner import run_testbench

    params = ExpertCacheParams(slots=6, layers=3, experts=8, policy=policy)
    result = run_testbench(Design(block("expert_cache"), params), seed=seed)
    assert result.total == 2


def _results(params, writes, keys, rng) -> list[dict]:
    """The cache's result for each of ``keys`` after ``writes``, every sink always ready."""
    dut = ExpertCache(params)
    write, key = write_layout(params), key_layout(params)
    got = []

    async def source(ctx):
        await stream_send(ctx, dut.i_config, [write.const(w) for w in writes], rng=rng)
        await stream_send(ctx, dut.i, [key.const(k) for k in keys], rng=rng)

    async def sink(ctx):
        ctx.set(dut.o_fetch.ready, 1)
        got.extend(await stream_recv(ctx, dut.o, len(keys), rng=rng))

    simulate(dut, source, sink, deadline_cycles=50 * len(keys))
    return [_unpack(r, ("hit", "refused", "slot")) for r in got]


def test_a_cache_of_another_policy_is_caught(seed):
    """The comparison can fail: an LFU cache checked against the LRU golden (and back) differs
    on the same lookups."""
    rng = random.Random(seed)
    for built, golden in (("lfu", "lru"), ("lru", "lfu")):
        params = ExpertCacheParams(slots=4, layers=2, experts=6, policy=built)
        writes = mixed_configuration(params, rng)
        keys = skewed_keys(params, rng, 200)
        got = _results(params, writes, keys, rng)
        assert got == expected(params, writes, keys)[0]
        other = ExpertCacheParams(slots=4, layers=2, experts=6, policy=golden)
        assert got != expected(other, writes, keys)[0]
