"""Random regression on the fast harness: at least 100,000 random transactions per block per
run, under random idle and back-pressure, every result equal to the golden model."""

import random
from dataclasses import replace

import numpy as np
import pytest
import torch

from moetile.hw.fat import FatParams
from moetile.hw.mixpe import MIXPE_ARCHS, MixPEParams
from moetile.hw.registry import Design, block
from moetile.hw.topk import TOPK_ARCHS, TopKParams
from moetile.hw.xbar import TileParams
from moetile.sim.fast import FastSim, Traffic
from moetile.sim.mixpe_sim import run_passes
from moetile.sim.testbenches.mixpe_cases import KINDS, gemm_operands
from moetile.sim.xbar_sim import check_slots, run_slots
from moetile.sw.golden.fat import fat_matvec
from moetile.sw.golden.topk import top_k
from moetile.sw.mapping.mixpe import golden_backend, plan_gemm
from moetile.sw.mapping.xbar import schedule_slots
from moetile.sw.mapping.xbar_schedule import SCHEDULES, make_schedule

pytestmark = pytest.mark.cosim

TRANSACTIONS = 100_000


def traffic(names, seed):
    return {name: Traffic.random(0.25, seed + n) for n, name in enumerate(names)}


@pytest.mark.parametrize("arch", TOPK_ARCHS)
def test_topk_random_regression(arch, seed):
    params = TopKParams(n=16, k=4, score_width=8, arch=arch)
    rng = np.random.default_rng(seed)
    scores = rng.integers(-128, 128, size=(TRANSACTIONS, params.n))
    scores[::2] = rng.integers(-2, 3, size=(TRANSACTIONS // 2, params.n))  # ties
    run = FastSim(Design(block("topk"), params)).run(
        {"i": {"scores": scores}},
        expect={"o": TRANSACTIONS},
        traffic=traffic(("i", "o"), seed),
        budget=4 * TRANSACTIONS * params.initiation_interval + 1000,
    )
    index, score = top_k(params, torch.tensor(scores))
    top = run.payloads("o")["top"]
    assert np.array_equal(top["index"], index.numpy())
    assert np.array_equal(top["score"], score.numpy())


@pytest.mark.parametrize(
    "fields",
    [
        dict(arch="fat"),
        dict(arch="parapim"),
        dict(arch="fat", variable_width=True),
        dict(arch="parapim", variable_width=True),
    ],
)
def test_fat_random_regression(fields, seed):
    """``TRANSACTIONS`` weight rows (and as many output rows), in passes of random sparsity."""
    params = FatParams(lanes=4, in_width=8, n_inputs=12, n_outputs=4, zero_skip=4, **fields)
    passes = TRANSACTIONS // params.n_outputs
    rng = np.random.default_rng(seed)
    lo, hi = params.input_range
    x = rng.integers(lo, hi + 1, size=(passes, params.lanes, params.n_inputs))
    x[::7] = rng.choice([lo, hi], size=x[::7].shape)  # extremes
    density = rng.random((passes, 1, 1))
    w = rng.choice([-1, 1], size=(passes, params.n_outputs, params.n_inputs))
    w = w * (rng.random(w.shape) < density)
    run = FastSim(Design(block("fat"), params)).run(
        {
            "i_x": {"x": x.transpose(0, 2, 1).reshape(-1, params.lanes)},
            "i_w": {
                "nonzero": (w != 0).reshape(-1, params.n_inputs).astype(np.int64),
                "negative": (w < 0).reshape(-1, params.n_inputs).astype(np.int64),
            },
        },
        expect={"o": passes * params.n_outputs},
        traffic=traffic(("i_x", "i_w", "o"), seed),
        budget=passes * params.n_outputs * params.n_inputs * params.acc_width * 8,
    )
    y = run.payloads("o")["y"].reshape(passes, params.n_outputs, params.lanes)
    for p in range(passes):
        assert torch.equal(torch.from_numpy(y[p].T), fat_matvec(params, w[p], x[p])), p


@pytest.mark.parametrize("arch", MIXPE_ARCHS)
def test_mixpe_random_regression(arch, seed):
    """``TRANSACTIONS`` reduction steps in passes of random, extreme and corner operands."""
    params = MixPEParams(rows=4, cols=4, n_inputs=64, group=32, scale_width=8, arch=arch)
    rng = random.Random(seed)
    passes = []
    steps = 0
    while steps < TRANSACTIONS:
        kind = KINDS[len(passes) % len(KINDS)] if len(passes) % 5 == 0 else "random"
        length = replace(params, n_inputs=rng.choice([params.group, params.n_inputs]))
        operands = gemm_operands(length, rng, kind, params.rows, params.cols)
        passes += plan_gemm(params, *operands).passes
        steps += length.n_inputs
    names = ("i_x", "i_w", "i_group", "o")
    run = run_passes(params, passes, traffic(names, seed))
    assert run.run.stamps["i_x"].size >= TRANSACTIONS
    for n, (got, expected) in enumerate(
        zip(run.outputs, golden_backend(params, passes), strict=True)
    ):
        assert torch.equal(got, expected), n


@pytest.mark.parametrize(
    "adc_bits, double_buffered", [(4, False), (9, True)], ids=["saturating", "lossless-db"]
)
def test_xbar_random_regression(adc_bits, double_buffered, seed):
    """``TRANSACTIONS`` input vectors: random routings of random and extreme tokens, in runs
    of every schedule kind, checked per crossbar in one batched golden call; the lossless tile
    double-buffered."""
    params = TileParams(
        rows=6,
        cols=3,
        cell_bits=3,
        dac_bits=3,
        adc_bits=adc_bits,
        crossbars_per_group=3,
        groups=2,
        double_buffered=double_buffered,
    )
    gen = torch.Generator().manual_seed(seed)
    xbar = params.crossbar
    (wlo, whi), (xlo, xhi) = xbar.weight_range, xbar.input_range
    weights = torch.randint(
        wlo, whi + 1, (params.crossbars, params.rows, params.cols), generator=gen
    )
    weights[0] = xbar.weight_range[1]
    groups = ((0, 1, 2), (3, 4, 5))
    slots, sent = [], 0
    while sent < TRANSACTIONS:
        kind = SCHEDULES[len(slots) % len(SCHEDULES)]
        choices = torch.rand(2000, params.crossbars, generator=gen) < 0.3
        inputs = torch.randint(xlo, xhi + 1, (2000, params.rows), generator=gen)
        inputs[::5] = xbar.input_range[1]
        part = schedule_slots(make_schedule(kind, choices, groups), inputs)
        slots += part
        sent += sum(len(s.inputs) for s in part)
    traffic_ = {n: Traffic.random(0.25, seed + i) for i, n in enumerate(("i_w", "i_x", "o"))}
    run = run_slots(params, weights, slots, traffic_)
    assert run.run.stamps["i_x"].size >= TRANSACTIONS
    check_slots(params, weights, slots, run.outputs)
