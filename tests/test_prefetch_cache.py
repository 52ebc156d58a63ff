"""The expert cache with prefetch: lookups, prefetch requests, batch ends and landed fetches in
a random order, every answer, fetch request, refusal and mark the golden model's, and each
slot's fetches in flight counted as they are decided and land (in any order)."""

import random

import pytest

from moetile.hw.expert_cache import ExpertCacheParams
from moetile.hw.expert_cache.cache import ExpertCache
from moetile.hw.expert_cache.interface import key_layout, write_layout
from moetile.sim.amaranth_sim import simulate
from moetile.sim.testbenches.expert_cache_cases import mixed_configuration
from moetile.sw.golden.expert_cache import ExpertCacheModel

PARAMS = [
    ExpertCacheParams(slots=5, layers=3, experts=6, policy="lru", prefetch=True),
    ExpertCacheParams(slots=5, layers=3, experts=6, policy="lfu", prefetch=True),
    ExpertCacheParams(slots=4, layers=3, experts=5, policy="lru", usage_width=2, prefetch=True),
]


def _operations(params: ExpertCacheParams, rng: random.Random, count: int) -> list[tuple]:
    """Lookups, prefetches (some out of range), batch ends and landings, mixed."""
    ops = []
    for _ in range(count):
        kind = rng.choices(["lookup", "prefetch", "end", "land"], [4, 4, 1, 3])[0]
        layer = rng.randrange(params.layers)
        if kind == "lookup":
            ops.append(("lookup", layer, rng.randrange(params.experts)))
        elif kind == "prefetch":
            # Layers and experts beyond the Params' reach (their widths allow them) refused.
            reach = (1 << params.layer_width, 1 << params.expert_width)
            ops.append(("prefetch", rng.randrange(reach[0]), rng.randrange(reach[1])))
            needed = rng.sample(range(params.experts), rng.randrange(params.experts + 1))
            ops[-1] += (layer, needed)
        else:
            ops.append((kind, layer))
    return ops


async def _outcome(ctx, dut) -> dict:
    """What the cache does with the request just taken, until it is idle again: its result,
    its fetch request, whether it refused a prefetch."""
    got = {"refused": 0}
    while True:
        _, _, idle, *sampled = await ctx.tick().sample(
            dut.i_config.ready,
            dut.o.valid,
            dut.o.payload,
            dut.o_fetch.valid,
            dut.o_fetch.payload,
            dut.refused,
        )
        o_valid, o, fetch_valid, fetch, refused = sampled
        got["refused"] |= refused
        if o_valid:
            got["result"] = (o.hit, o.refused, o.slot)
        if fetch_valid:
            got["fetch"] = (fetch.layer, fetch.expert, fetch.slot, fetch.prefetch)
        if idle:
            return got


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: f"{p.policy}-s{p.slots}-u{p.usage_width}")
def test_prefetch_decisions_equal_the_golden(params, seed):
    rng = random.Random(seed)
    writes = mixed_configuration(params, rng)
    ops = _operations(params, rng, 400)
    dut = ExpertCache(params)
    key, write = key_layout(params), write_layout(params)
    model = ExpertCacheModel(params)
    seen = {"prefetch_fills": 0, "refused": 0, "marked": 0}

    async def pulse(ctx, signal):
        ctx.set(signal, 1)
        await ctx.tick()
        ctx.set(signal, 0)

    async def testbench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.o_fetch.ready, 1)
        for w in writes:
            ctx.set(dut.i_config.valid, 1)
            ctx.set(dut.i_config.payload, write.const(w))
            await ctx.tick().until(dut.i_config.ready)
            model.configure(w["slot"], **w["entry"])
        ctx.set(dut.i_config.valid, 0)
        queue = []  # the slots of the fetches decided and not landed
        for op in ops:
            fetches_before = len(model.fetches)
            if op[0] == "land":
                if queue:
                    slot = queue.pop(rng.randrange(len(queue)))  # any fetch may land first
                    ctx.set(dut.landed_slot, slot)
                    await pulse(ctx, dut.landed)
                continue
            if op[0] == "end":
                ctx.set(dut.layer, op[1])
                model.end_batch(op[1])
                await pulse(ctx, dut.batch_done)
                continue
            if len(queue) == params.queue_depth:
                continue  # the cache takes nothing while so many fetches are in flight
            if op[0] == "lookup":
                answer = model.lookup(op[1], op[2])
                request = dut.i
            else:
                _, layer, expert, running, needed = op
                answer = model.prefetch(layer, expert, model.keep(running, needed))
                ctx.set(dut.layer, running)
                ctx.set(dut.needed, sum(1 << e for e in needed))
                ctx.set(dut.window, 1)
                request = dut.i_prefetch
            ctx.set(request.valid, 1)
            ctx.set(request.payload, key.const({"layer": op[1], "expert": op[2]}))
            await ctx.tick().until(request.ready)
            ctx.set(request.valid, 0)
            ctx.set(dut.window, 0)
            got = await _outcome(ctx, dut)
            want = {"refused": int(op[0] == "prefetch" and answer.refused)}
            if "fetch" in got:
                got["fetch"], prefetched = got["fetch"][:3], got["fetch"][3]
                assert prefetched == (op[0] == "prefetch")
            if op[0] == "lookup":
                want["result"] = (answer.hit, answer.refused, answer.slot)
            if len(model.fetches) > fetches_before:
                want["fetch"] = model.fetches[-1]
                queue.append(answer.slot)
                seen["prefetch_fills"] += op[0] == "prefetch"
            assert got == want, op
            if op[0] == "prefetch":
                seen["refused"] += answer.refused
                seen["marked"] += answer.hit
            await ctx.tick()
            pending = sum(1 << s for s in set(queue))
            assert ctx.get(dut.pending) == pending

    simulate(dut, testbench, deadline_cycles=100 * len(ops))
    assert all(seen.values()), seen  # fills, refusals and marks all happened


@pytest.mark.cosim
def test_fast_regression_of_100k_lookups_and_prefetches(seed):
    """100,000 lookups and prefetch requests mixed, of a 16-slot cache over 4 layers of 16
    experts, LRU and LFU, on the fast harness, in 50 rounds each (each with its running batch's
    layer and experts, fetches landing every cycle, then every layer's batch ended): every
    result and every fetch request the golden's, in the order the two streams were taken."""
    import numpy as np

    from moetile.hw.registry import Design, block
    from moetile.sim.fast import FastSim, Traffic
    from moetile.sim.testbenches.expert_cache_cases import skewed_keys

    def keys(ks):
        return {name: np.array([k[name] for k in ks]) for name in ("layer", "expert")}

    for policy in ("lru", "lfu"):
        params = ExpertCacheParams(slots=16, layers=4, experts=16, policy=policy, prefetch=True)
        rng = random.Random(f"{seed}-{policy}")
        writes = mixed_configuration(params, rng)
        sim = FastSim(Design(block("expert_cache"), params))
        model = ExpertCacheModel(params)
        for w in writes:
            model.configure(w["slot"], **w["entry"])
        kinds = []
        with sim.open() as session:
            configs = [write_layout(params).const(w).as_bits() for w in writes]
            session.run({"i_config": configs}, budget=1000)
            for round_ in range(50):
                lookups, prefetches = skewed_keys(params, rng, 500), skewed_keys(params, rng, 500)
                running = rng.randrange(params.layers)
                needed = rng.sample(range(params.experts), 3)
                statics = {
                    "window": 1,
                    "layer": running,
                    "needed": sum(1 << e for e in needed),
                    "landed": 1,
                }
                run = session.run(
                    {"i": keys(lookups), "i_prefetch": keys(prefetches)},
                    # As many fetches as come: the order the streams are taken decides them.
                    expect={"o": len(lookups), "o_fetch": 1000},
                    stop=("o_fetch",),
                    budget=(params.miss_latency + 3) * 1000,
                    traffic={
                        "i": Traffic.random(0.5, seed + round_),
                        "i_prefetch": Traffic.random(0.5, seed + round_ + 1),
                        "o_fetch": Traffic.random(0.2, seed + round_),
                    },
                    statics=statics,
                    settle=50,
                )
                taken = sorted(
                    [(int(t), 0, k) for t, k in zip(run.stamps["i"], lookups, strict=True)]
                    + [
                        (int(t), 1, k)
                        for t, k in zip(run.stamps["i_prefetch"], prefetches, strict=True)
                    ]
                )
                results, before = [], len(model.fetches)
                for _t, kind, k in taken:
                    count = len(model.fetches)
                    if kind == 0:
                        a = model.lookup(k["layer"], k["expert"])
                        results.append((int(a.hit), int(a.refused), a.slot))
                    else:
                        model.prefetch(k["layer"], k["expert"], model.keep(running, needed))
                    kinds += [kind] * (len(model.fetches) - count)
                o, f = run.payloads("o"), run.payloads("o_fetch")
                assert list(zip(o["hit"], o["refused"], o["slot"], strict=True)) == results
                got = zip(f["layer"], f["expert"], f["slot"], f["prefetch"], strict=True)
                new = zip(model.fetches[before:], kinds[len(kinds) - len(f["slot"]) :], strict=True)
                assert [tuple(int(v) for v in g) for g in got] == [(*a, b) for a, b in new]
                for layer in range(params.layers):  # every batch ends: the marks too
                    done = {**statics, "layer": layer, "batch_done": 1}
                    session.run({}, budget=10, statics=done, settle=1)
                    model.end_batch(layer)
        assert sum(kinds) > 200 and len(kinds) - sum(kinds) > 1000, (sum(kinds), len(kinds))
