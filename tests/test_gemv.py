"""Int8 GEMV: Params, golden model, the block in the Amaranth simulator, the cocotb testbench under
Verilator, and 100,000 random vectors on the fast harness."""

import random

import numpy as np
import pytest
import torch

from moetile.hw.gemv import PIPELINE_STAGES, GemvParams
from moetile.hw.gemv.gemv import Gemv
from moetile.hw.gemv.interface import chunk_layout
from moetile.hw.registry import Design, block
from moetile.sim.amaranth_sim import simulate, stream_recv, stream_send
from moetile.sim.fast import FastSim, Traffic
from moetile.sim.runner import run_testbench
from moetile.sim.testbenches.gemv_cases import chunked, edge_vectors, gemv_job, random_matrix
from moetile.sw.golden.gemv import gemv

SHAPES = [dict(inputs=32, outputs=8, macs=8), dict(inputs=13, outputs=3, macs=4)]
SHAPES += [dict(inputs=5, outputs=1, macs=5), dict(inputs=1, outputs=2, macs=1, width=2)]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"inputs": 0}, "inputs must be an integer >= 1, not 0"),
        ({"outputs": 0}, "outputs must be an integer >= 1, not 0"),
        ({"inputs": 4, "macs": 5}, r"macs must be an integer in \[1, 4\], not 5"),
        ({"width": 1}, r"width must be an integer in \[2, 16\], not 1"),
        ({"width": 8.0}, "width must be an integer"),
    ],
)
def test_params_reject_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        GemvParams(**values)


def test_widths_hold_the_extremes():
    p = GemvParams(inputs=13, outputs=3, macs=4)
    assert (
        p.chunks == 4
        and p.weight_transfers == 12
        and p.vector_cycles == 4 + 12 + PIPELINE_STAGES + 1
    )
    worst = p.inputs * 128 * 128  # (-128) * (-128) in every position
    assert worst < 1 << (p.acc_width - 1) and worst >= 1 << (p.acc_width - 2)


def test_golden_is_the_matrix_vector_product_and_checks_its_inputs(seed):
    p = GemvParams(inputs=7, outputs=3, macs=2)
    rng = random.Random(seed)
    w = [[rng.randint(-128, 127) for _ in range(7)] for _ in range(3)]
    x = [rng.randint(-128, 127) for _ in range(7)]
    expected = [sum(w[o][k] * x[k] for k in range(7)) for o in range(3)]
    assert gemv(p, w, x).tolist() == expected
    with pytest.raises(ValueError, match=r"x must lie in \[-128, 127\]"):
        gemv(p, w, [128] * 7)
    with pytest.raises(ValueError, match=r"weights must have shape \(3, 7\)"):
        gemv(p, [[0] * 7], x)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 7\)"):
        gemv(p, w, [0] * 6)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_block_in_the_amaranth_simulator(shape, seed):
    p = GemvParams(**shape)
    rng = random.Random(seed)
    weights = random_matrix(p, rng, "mixed")
    lo, hi = p.value_range
    vectors = np.vstack(
        [edge_vectors(p), [[rng.randint(lo, hi) for _ in range(p.inputs)] for _ in range(6)]]
    )
    _, expected = gemv_job(p, weights, vectors)
    dut = Gemv(p)
    layout = chunk_layout(p)
    got = []

    def payloads(rows):
        return [layout.const({"v": c}) for c in chunked(p, rows).tolist()]

    async def feed_weights(ctx):
        await stream_send(ctx, dut.i_w, payloads(weights), rng=rng, idle=0.3)

    async def feed_vectors(ctx):  # offered from the start: they must wait for the matrix
        await stream_send(ctx, dut.i_x, payloads(vectors), rng=rng, idle=0.3)

    async def drain(ctx):
        for item in await stream_recv(ctx, dut.o, len(vectors), rng=rng, backpressure=0.5):
            got.append(tuple(item.y))

    simulate(
        dut,
        feed_weights,
        feed_vectors,
        drain,
        deadline_cycles=20 * len(vectors) * p.vector_cycles + 1000,
    )
    assert got == [tuple(y) for y in expected.tolist()]


@pytest.mark.cosim
@pytest.mark.parametrize("shape", SHAPES[:2], ids=str)
def test_cocotb_bench(shape, seed):
    result = run_testbench(Design(block("gemv"), GemvParams(**shape)), seed=seed)
    assert result.total == 6


@pytest.mark.cosim
@pytest.mark.parametrize("shape", SHAPES[:2], ids=str)
def test_fast_random_regression_and_cycles(shape, seed):
    """100,000 random vectors (a tenth at the extremes) under random idle and back-pressure,
    every result equal to the golden; with steady traffic, each vector takes exactly
    ``vector_cycles``."""
    p = GemvParams(**shape)
    rng = np.random.default_rng(seed)
    lo, hi = p.value_range
    weights = rng.integers(lo, hi + 1, size=(p.outputs, p.inputs))
    weights[0] = lo
    vectors = rng.integers(lo, hi + 1, size=(100_000, p.inputs))
    vectors[::10] = rng.choice([lo, hi], size=vectors[::10].shape)
    inputs, expected = gemv_job(p, weights, vectors)
    sim = FastSim(Design(block("gemv"), p))
    traffic = {name: Traffic.random(0.25, seed + n) for n, name in enumerate(("i_w", "i_x", "o"))}
    run = sim.run(
        inputs,
        expect={"o": len(vectors)},
        traffic=traffic,
        budget=4 * len(vectors) * p.vector_cycles + 10 * p.weight_transfers,
    )
    assert np.array_equal(run.payloads("o")["y"], expected)

    steady = sim.run(
        inputs | {"i_x": {"v": chunked(p, vectors[:50])}}, expect={"o": 50}, budget=10**5
    )
    firsts = steady.stamps["i_x"][:: p.chunks]
    assert set((steady.stamps["o"] - firsts + 1).tolist()) == {p.vector_cycles}
    assert np.array_equal(steady.payloads("o")["y"], expected[:50])
    assert torch.equal(gemv(p, weights, vectors[:3]), torch.from_numpy(expected[:3]))
