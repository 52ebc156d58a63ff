"""cocotb testbench for the int8 GEMV block: exact sums under idle and back-pressure, and the
cycles of a vector equal to the Params' count when traffic is steady."""

import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge

from moetile.hw.gemv.interface import chunk_layout, result_layout
from moetile.sim.cocotb_streams import (
    Scoreboard,
    StreamSink,
    StreamSource,
    reset,
    until_drained,
)
from moetile.sim.testbench_context import testbench_design, testbench_seed
from moetile.sim.testbenches.gemv_cases import chunked, edge_vectors, gemv_job, random_matrix

__all__ = ["extreme_weights", "random_weights"]

TRAFFIC = {"steady": (0.0, 0.0), "both": (0.3, 0.5)}


async def _run(dut, weights, vectors, traffic):
    params = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-{traffic}")
    idle, backpressure = TRAFFIC[traffic]
    chunk, result = chunk_layout(params), result_layout(params)
    _, expected = gemv_job(params, weights, vectors)
    await reset(dut)
    board = Scoreboard("gemv.o", lambda raw: tuple(result.from_bits(raw).y))
    ws = StreamSource(dut, "i_w", rng=rng, idle=idle)
    xs = StreamSource(dut, "i_x", rng=rng, idle=idle)
    out = StreamSink(dut, "o", rng=rng, backpressure=backpressure, on_item=board.check)
    for task in (ws.run(dut.clk), xs.run(dut.clk), out.run(dut.clk)):
        cocotb.start_soon(task)
    for values in chunked(params, weights).tolist():
        ws.send(chunk.const({"v": values}).as_bits())
    while ws.queue or ws.sent < params.weight_transfers:
        await RisingEdge(dut.clk)
    for values in chunked(params, vectors).tolist():
        xs.send(chunk.const({"v": values}).as_bits())
    for y in expected.tolist():
        board.expect(tuple(y))
    await until_drained(dut, board, 8 * len(vectors) * params.vector_cycles + 200)
    await ClockCycles(dut.clk, 32)
    board.drain()
    assert out.received == len(vectors)
    if traffic == "steady":
        firsts = xs.transfer_cycles[:: params.chunks]
        spans = [o - f + 1 for f, o in zip(firsts, out.transfer_cycles, strict=True)]
        assert set(spans) == {params.vector_cycles}, spans


@cocotb.test()
@cocotb.parametrize(traffic=list(TRAFFIC))
async def random_weights(dut, traffic):
    params = testbench_design().params
    rng = random.Random(testbench_seed())
    lo, hi = params.value_range
    vectors = np.array([[rng.randint(lo, hi) for _ in range(params.inputs)] for _ in range(12)])
    await _run(dut, random_matrix(params, rng, "mixed"), vectors, traffic)


@cocotb.test()
@cocotb.parametrize(kind=["min", "max"], traffic=list(TRAFFIC))
async def extreme_weights(dut, kind, traffic):
    params = testbench_design().params
    rng = random.Random(testbench_seed())
    await _run(dut, random_matrix(params, rng, kind), edge_vectors(params), traffic)
