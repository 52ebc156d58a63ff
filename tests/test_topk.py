"""Top-k selector: Params, comparator network, golden model, and both microarchitectures in the
Amaranth simulator under random idle and back-pressure."""

import random

import pytest
import torch

from moetile.hw.topk import TopKParams
from moetile.hw.topk.interface import input_layout
from moetile.hw.topk.params import comparator_layers
from moetile.hw.topk.rtl import topk_component
from moetile.sim.amaranth_sim import measure_stream, simulate, stream_recv, stream_send
from moetile.sim.testbenches.topk_cases import decode_top, edge_vectors, random_vectors, topk_items
from moetile.sw.golden.topk import top_k

SHAPES = [(16, 4, 8), (5, 5, 6), (7, 1, 4), (1, 1, 3), (12, 3, 2)]


def reference(scores, k):
    """Top-k by Python's sort on (-score, index): the rule in words."""
    order = sorted(range(len(scores)), key=lambda j: (-scores[j], j))[:k]
    return tuple((j, scores[j]) for j in order)


@pytest.mark.parametrize(
    ("field", "values", "message"),
    [
        ("n", {"n": 0}, "n must be an integer in \\[1, 1024\\], not 0"),
        ("k", {"n": 4, "k": 5}, r"k must be an integer in \[1, 4\], not 5"),
        ("k", {"k": 0}, "k must be"),
        ("score_width", {"score_width": 0}, "score_width must be"),
        ("score_width", {"score_width": 49}, "score_width must be"),
        ("arch", {"arch": "tree"}, "arch must be one of 'network', 'sequential', not 'tree'"),
        ("n", {"n": 4.0}, "n must be an integer"),
    ],
)
def test_params_reject_bad_values(field, values, message):
    with pytest.raises(ValueError, match=message):
        TopKParams(**values)


@pytest.mark.parametrize("n", range(1, 14))
def test_comparator_network_selects_top_k(n, seed):
    rng = random.Random(seed + n)
    for k in range(1, n + 1):
        layers = comparator_layers(n, k)
        for _ in range(100):
            scores = [rng.randint(-2, 2) for _ in range(n)]
            items = [(s, j) for j, s in enumerate(scores)]
            for layer in layers:
                for lo, hi in layer:
                    a, b = items[lo], items[hi]
                    if b[0] > a[0] or (b[0] == a[0] and b[1] < a[1]):
                        items[lo], items[hi] = b, a
            assert tuple((j, s) for s, j in items[:k]) == reference(scores, k)


def comparators(n, k):
    layers = comparator_layers(n, k)
    return len(layers), sum(len(layer) for layer in layers)


def test_network_sizes():
    assert comparators(16, 16) == (10, 80)  # the full bitonic sorter: 10 layers of 8
    assert comparators(16, 1) == (4, 15)  # a maximum tree
    assert comparators(16, 4) == (9, 48)  # sort groups of 4 (3 layers), 2 merge levels of 3
    assert comparators(12, 12)[1] < 80  # comparators on padding are dropped


@pytest.mark.parametrize(("n", "k", "width"), SHAPES)
def test_golden_matches_reference(n, k, width, seed):
    params = TopKParams(n=n, k=k, score_width=width)
    vectors = edge_vectors(params) + random_vectors(params, random.Random(seed), 200)
    indices, scores = top_k(params, torch.tensor(vectors))
    for v, ix, sc in zip(vectors, indices.tolist(), scores.tolist(), strict=True):
        assert tuple(zip(ix, sc, strict=True)) == reference(v, k)


def test_golden_rejects_bad_scores():
    params = TopKParams(n=3, k=1, score_width=4)
    with pytest.raises(ValueError, match=r"scores must lie in \[-8, 7\]"):
        top_k(params, torch.tensor([0, 8, 1]))
    with pytest.raises(ValueError, match=r"scores must have shape \(\.\.\., 3\)"):
        top_k(params, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="NaN or inf"):
        top_k(params, torch.tensor([0.0, float("nan"), 1.0]))


@pytest.mark.parametrize("arch", ["network", "sequential"])
@pytest.mark.parametrize(("n", "k", "width"), SHAPES)
def test_rtl_matches_golden_under_backpressure(arch, n, k, width, seed):
    params = TopKParams(n=n, k=k, score_width=width, arch=arch)
    rng = random.Random(seed)
    count = 60 if arch == "network" else 16
    items = topk_items(params, edge_vectors(params) + random_vectors(params, rng, count))
    dut = topk_component(params)
    received = []

    async def producer(ctx):
        await stream_send(ctx, dut.i, [p for p, _ in items], rng=rng, idle=0.3)

    async def consumer(ctx):
        received.extend(await stream_recv(ctx, dut.o, len(items), rng=rng, backpressure=0.5))
        await ctx.tick().repeat(3 * params.latency)
        assert not ctx.get(dut.o.valid), "an output appeared that no input asked for"

    budget = 6 * len(items) * (params.initiation_interval + params.latency) + 100
    simulate(dut, producer, consumer, deadline_cycles=budget)
    assert [decode_top(r) for r in received] == [expected for _, expected in items]


@pytest.mark.parametrize("arch", ["network", "sequential"])
@pytest.mark.parametrize(("n", "k"), [(16, 4), (5, 5), (1, 1)])
def test_measured_timing_equals_params(arch, n, k, seed):
    params = TopKParams(n=n, k=k, arch=arch)
    items = topk_items(params, random_vectors(params, random.Random(seed), 8))
    layout = input_layout(params)
    timing = measure_stream(
        topk_component(params),
        [layout.const(p) for p, _ in items],
        deadline_cycles=20 * (params.latency + params.initiation_interval),
    )
    assert timing.latency == params.latency
    gaps = {b - a for a, b in zip(timing.inputs, timing.inputs[1:], strict=False)}
    assert gaps == {params.initiation_interval}
    assert [decode_top(r) for r in timing.payloads] == [e for _, e in items]
