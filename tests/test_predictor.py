"""The pre-attention expert predictor: the unit's Params, golden, RTL (Amaranth simulator,
cocotb, 100,000 states on the fast harness, a sabotaged requantizer), and the software that
trains, quantizes and evaluates predictors, with its refusals."""

import random
from dataclasses import replace
from unittest import mock

import numpy as np
import pytest
import torch

from moetile.hw.predictor import PredictorParams, requantizer
from moetile.hw.predictor.interface import weight_layout
from moetile.hw.predictor.unit import ExpertPredictor
from moetile.hw.registry import Design, block
from moetile.sim.amaranth_sim import simulate, stream_recv, stream_send
from moetile.sim.fast import FastSim, Traffic
from moetile.sim.predictor_sim import run_predictions
from moetile.sim.runner import run_testbench
from moetile.sim.testbenches.predictor_cases import (
    KINDS,
    predictor_case,
    state_chunks,
    weight_chunks,
)
from moetile.sw.golden.predictor import predictor
from moetile.sw.models.trace import LayerTrace, Trace
from moetile.sw.predictor.metrics import accuracy, ranking
from moetile.sw.predictor.model import LOSSES, train_predictor
from moetile.sw.predictor.suite import evaluate, load_suite, recover_router, save_suite, train_suite
from moetile.sw.quant.fixed import fixed_point_pair

SHAPES = {
    "default": PredictorParams(),
    "odd": PredictorParams(hidden=6, rank=5, experts=4, k=2, macs=2),
    "wide_rank": PredictorParams(hidden=4, rank=12, experts=6, k=3, macs=4, selector="network"),
    "many_experts": PredictorParams(hidden=3, rank=2, experts=16, k=4, macs=3),
}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"hidden": 0}, "hidden must be an integer >= 1, not 0"),
        ({"experts": 1, "k": 1}, "experts must be an integer >= 2, not 1"),
        ({"k": 9}, r"k must be an integer in \[1, 8\], not 9"),
        ({"hidden": 4, "macs": 5}, r"macs must be an integer in \[1, 4\], not 5"),
        ({"multiplier_width": 33}, r"multiplier_width must be an integer in \[1, 32\], not 33"),
        ({"max_shift": 64}, r"max_shift must be an integer in \[0, 63\], not 64"),
        ({"selector": "heap"}, "selector must be one of 'network', 'sequential', not 'heap'"),
    ],
)
def test_params_reject_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        PredictorParams(**values)


def test_cycle_model():
    p = SHAPES["odd"]  # GEMVs of 3 chunks: 21 and 18 cycles; sequential top-2 of 4: 9
    assert (p.project.vector_cycles, p.score.vector_cycles, p.topk.latency) == (21, 18, 9)
    # The requantizer between the GEMVs: four cycles a chunk.
    assert p.latency == 21 + 4 + 18 + 9 - 1 and p.interval == 21 + 3 - 1
    assert p.cycles(3) == p.latency + 2 * p.interval and p.cycles(0) == 0


def _reference(w1, w2, multiplier, shift, h, k):
    """Per element, in Python integers: the formula of the golden's docstring."""
    out = []
    for state in h:
        middle = []
        for row in w1:
            a = sum(int(w) * int(x) for w, x in zip(row, state, strict=True))
            rounding = (1 << (shift - 1)) if shift else 0
            middle.append(max(-128, min(127, (a * multiplier + rounding) >> shift)))
        logits = [sum(int(w) * m for w, m in zip(row, middle, strict=True)) for row in w2]
        order = sorted(range(len(logits)), key=lambda e: (-logits[e], e))[:k]
        out.append([(e, logits[e]) for e in order])
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_golden_is_the_formula(kind, seed):
    p = SHAPES["odd"]
    w1, w2, m, s, h = predictor_case(p, np.random.default_rng(seed), kind, 20)
    got = predictor(p, torch.tensor(w1), torch.tensor(w2), m, s, torch.tensor(h))
    pairs = [
        list(zip(e, v, strict=True))
        for e, v in zip(got.experts.tolist(), got.scores.tolist(), strict=True)
    ]
    assert pairs == _reference(w1, w2, m, s, h, p.k)


def test_golden_checks_its_inputs():
    p = SHAPES["odd"]
    w1, w2 = torch.zeros(5, 6, dtype=torch.int64), torch.zeros(4, 5, dtype=torch.int64)
    h = torch.zeros(1, 6, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"multiplier must lie in \[0, 255\]"):
        predictor(p, w1, w2, 256, 0, h)
    with pytest.raises(ValueError, match=r"shift must lie in \[0, 31\]"):
        predictor(p, w1, w2, 1, 32, h)
    with pytest.raises(ValueError, match=r"weights must have shape \(5, 6\)"):
        predictor(p, w2, w2, 1, 0, h)
    with pytest.raises(ValueError, match=r"x must lie in \[-128, 127\]"):
        predictor(p, w1, w2, 1, 0, h + 200)


def _amaranth_run(p: PredictorParams, kind: str, seed: int, n: int = 10):
    rng = random.Random(seed)
    w1, w2, m, s, h = predictor_case(p, np.random.default_rng(seed), kind, n)
    golden = predictor(p, torch.tensor(w1), torch.tensor(w2), m, s, torch.tensor(h))
    dut = ExpertPredictor(p)
    chunks = weight_chunks(p, w1, w2)
    loads = [
        weight_layout(p).const({"matrix": a, "v": v})
        for a, v in zip(chunks["matrix"].tolist(), chunks["v"].tolist(), strict=True)
    ]
    layout = dut.i_x.payload.shape()
    states = [layout.const({"v": v}) for v in state_chunks(p, h)["v"].tolist()]
    got = []

    async def configure_and_load(ctx):
        ctx.set(dut.cfg_multiplier, m)
        ctx.set(dut.cfg_shift, s)
        await stream_send(ctx, dut.i_w, loads, rng=rng, idle=0.3)

    async def feed(ctx):
        await ctx.tick().repeat(len(loads) * 3)  # after the weights
        await stream_send(ctx, dut.i_x, states, rng=rng, idle=0.3)

    async def drain(ctx):
        for item in await stream_recv(ctx, dut.o, n, rng=rng, backpressure=0.5):
            got.append([(int(c.index), int(c.score)) for c in item.top])

    simulate(
        dut, configure_and_load, feed, drain, deadline_cycles=20 * n * p.interval + 40 * len(loads)
    )
    return got, [
        list(zip(e, v, strict=True))
        for e, v in zip(golden.experts.tolist(), golden.scores.tolist(), strict=True)
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_unit_in_the_amaranth_simulator(kind, seed):
    got, expected = _amaranth_run(SHAPES["odd"], kind, seed)
    assert got == expected


def test_sabotaged_requantizer_is_caught(seed):
    """A requantizer that forgets to saturate to int8 gives wrong logits on extreme inputs."""
    with mock.patch.object(requantizer, "clamp", lambda m, name, value, lo, hi, shape: value):
        got, expected = _amaranth_run(SHAPES["odd"], "extreme", seed)
    assert got != expected


@pytest.mark.cosim
def test_cocotb_bench(seed):
    design = Design(block("predictor"), SHAPES["odd"])
    assert run_testbench(design, seed=seed).total == 8


@pytest.mark.cosim
@pytest.mark.parametrize("shape", list(SHAPES))
def test_fast_harness_every_kind_cycle_exact(shape, seed):
    p = SHAPES[shape]
    rng = np.random.default_rng(seed)
    with FastSim(Design(block("predictor"), p)).open() as session:
        for n, kind in enumerate(KINDS):
            w1, w2, m, s, h = predictor_case(p, rng, kind, 40)
            golden = predictor(p, torch.tensor(w1), torch.tensor(w2), m, s, torch.tensor(h))
            steady = run_predictions(p, w1, w2, m, s, h, session=session)
            assert np.array_equal(steady.experts, golden.experts.numpy())
            assert np.array_equal(steady.scores, golden.scores.numpy())
            measured = steady.stamps["o"][-1] - steady.stamps["i_x"][0] + 1
            assert measured == p.cycles(len(h))
            traffic = {
                name: Traffic.random(0.3, seed + n + i)
                for i, name in enumerate(("i_w", "i_x", "o"))
            }
            busy = run_predictions(p, w1, w2, m, s, h, traffic, session=session)
            assert np.array_equal(busy.experts, golden.experts.numpy())


@pytest.mark.cosim
def test_fast_random_regression(seed):
    """100,000 states (random, saturating, tied and trained operands) under random idle and
    back-pressure, every prediction equal to the golden."""
    p = SHAPES["default"]
    rng = np.random.default_rng(seed)
    with FastSim(Design(block("predictor"), p)).open() as session:
        for n, kind in enumerate(KINDS):
            w1, w2, m, s, h = predictor_case(p, rng, kind, 100_000 // len(KINDS) + 1)
            golden = predictor(p, torch.tensor(w1), torch.tensor(w2), m, s, torch.tensor(h))
            traffic = {
                name: Traffic.random(0.25, seed + n + i)
                for i, name in enumerate(("i_w", "i_x", "o"))
            }
            run = run_predictions(p, w1, w2, m, s, h, traffic, session=session)
            assert np.array_equal(run.experts, golden.experts.numpy()), kind
            assert np.array_equal(run.scores, golden.scores.numpy()), kind


def test_fixed_point_pair():
    assert fixed_point_pair(0.75, 8, 31, "x") == (192, 8)
    assert fixed_point_pair(1.0, 8, 31, "x") == (128, 7)
    with pytest.raises(ValueError, match="x: scale factor nan is not a positive number"):
        fixed_point_pair(float("nan"), 8, 31, "x")
    with pytest.raises(ValueError, match="needs a shift of -2; the shifter takes 0 to 31"):
        fixed_point_pair(1000.0, 8, 31, "x")


def _trace(model="toy", n=1200, hidden=12, experts=6, k=2, layers=2, data=0, nonlinear=False):
    """A model whose routers are linear in states that a rank-4 map predicts; ``data`` picks
    the text (the tokens), the model stays the same."""
    weights = torch.Generator().manual_seed(0)
    text = torch.Generator().manual_seed(1 + data)
    basis = torch.randn(4, hidden, generator=weights)
    states = torch.randn(n, hidden, generator=text)
    out = []
    for _ in range(layers):
        gate_input = states + 0.01 * torch.randn(n, hidden, generator=text)
        logits = gate_input @ (torch.randn(experts, 4, generator=weights) @ basis).T
        if nonlinear:
            logits = logits.abs()
        out.append(LayerTrace(states, gate_input, logits, torch.topk(logits, k).indices))
    return Trace(model, torch.zeros(n, dtype=torch.long), tuple(out), torch.tensor([0, n]), "train")


@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_loss_learns_a_predictable_router(loss):
    trace = _trace()
    layer = trace.layers[0]
    model = train_predictor(
        layer.pre_attention[:1000], layer.top_k[:1000], 6, rank=4, loss=loss, steps=1000
    )
    with torch.no_grad():
        order = ranking(model(layer.pre_attention[1000:]))
    assert accuracy(order, layer.top_k[1000:], 1)["exact_match"] > 0.8


def test_metrics():
    order = torch.tensor([[0, 1, 2, 3], [1, 3, 0, 2]])
    top_k = torch.tensor([[1, 0], [0, 1]])
    assert accuracy(order, top_k, 1) == {"exact_match": 0.5, "recall": 0.75, "coverage": 1.0}
    assert ranking(torch.tensor([[1.0, 3.0, 3.0, 0.0]])).tolist() == [[1, 2, 0, 3]]


def test_suite_trains_quantizes_evaluates_and_round_trips(tmp_path):
    train, test = _trace(), _trace(n=400, data=1)
    suite = train_suite(
        train, rank=4, loss="pairwise", steps=1000, seed=0, macs=4, progress=lambda m: None
    )
    rows = evaluate(suite, test, 2)
    mean = {r["predictor"]: r["exact_match"] for r in rows if r["layer"] == "mean"}
    assert mean["pre-attention int8"] > 0.8 and mean["fate"] > 0.8 > mean["popular"]
    assert [r["predictor"] for r in rows if r["layer"] == 0] == [
        "pre-attention int8",
        "pre-attention float",
        "popular",
        "router, no attention",
    ]
    save_suite(suite, tmp_path / "p")
    assert evaluate(load_suite(tmp_path / "p"), test, 2) == rows
    q = suite.layers[1].quantized
    assert q.params == replace(PredictorParams(hidden=12, rank=4, experts=6, k=2, macs=4))


def test_bad_traces_are_refused():
    suite = train_suite(
        _trace(), rank=4, loss="ce", steps=5, seed=0, macs=4, progress=lambda m: None
    )
    with pytest.raises(
        ValueError, match="the test trace is a trace of 'other'; the predictor is for 'toy'"
    ):
        evaluate(suite, _trace(model="other"), 2)
    with pytest.raises(
        ValueError,
        match="the test trace has hidden 10, 6 experts, top-2; the predictor expects hidden 12",
    ):
        evaluate(suite, _trace(hidden=10), 2)
    with pytest.raises(ValueError, match="the test trace has 3 layers; the predictor has 2"):
        evaluate(suite, _trace(layers=3), 2)
    with pytest.raises(ValueError, match=r"extra must be an integer in \[0, 4\], not 5"):
        evaluate(suite, _trace(), 5)
    bad = _trace()
    bad.layers[1].gate_input[3, 2] = float("nan")
    with pytest.raises(ValueError, match="the training trace: layer 1 gate_input holds NaN or inf"):
        train_suite(bad, rank=4, loss="ce", steps=5, seed=0, macs=4, progress=lambda m: None)
    with pytest.raises(ValueError, match="the training trace is empty"):
        train_suite(
            _trace(n=0), rank=4, loss="ce", steps=5, seed=0, macs=4, progress=lambda m: None
        )
    with pytest.raises(ValueError, match="layer 0: the router's logits are not a linear map"):
        train_suite(
            _trace(nonlinear=True),
            rank=4,
            loss="ce",
            steps=5,
            seed=0,
            macs=4,
            progress=lambda m: None,
        )
    with pytest.raises(ValueError, match="loss must be one of pairwise, listmle, ce, not 'mse'"):
        train_predictor(
            torch.zeros(4, 3), torch.zeros(4, 1, dtype=torch.long), 2, rank=1, loss="mse", steps=1
        )


def test_recovered_router_is_the_router():
    trace = _trace()
    layer = trace.layers[1]
    weights = recover_router(layer.gate_input, layer.router_logits, "layer 1")
    x = torch.cat([layer.gate_input, torch.ones(len(layer.gate_input), 1)], dim=1)
    assert torch.allclose(x @ weights.T, layer.router_logits, atol=1e-3)
