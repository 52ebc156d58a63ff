"""cocotb testbench for the FAT array and its baseline: bit-exact sums, and cycles equal to the
cycle model when traffic is steady."""

import random

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge

from moetile.hw.fat.interface import output_layout
from moetile.sim.cocotb_streams import (
    Scoreboard,
    StreamSink,
    StreamSource,
    reset,
    until_drained,
)
from moetile.sim.testbench_context import testbench_design, testbench_seed
from moetile.sim.testbenches.fat_cases import pass_payloads, random_inputs, sparse_weights
from moetile.sw.golden.fat import fat_cycles

__all__ = ["back_to_back", "extremes", "sparsity_sweep"]

TRAFFIC = {"steady": (0.0, 0.0), "both": (0.3, 0.5)}


async def _streams(dut, params, rng, traffic):
    """Reset, then start the input and weight sources and the checked output sink."""
    idle, backpressure = TRAFFIC[traffic]
    layout = output_layout(params)
    await reset(dut)
    board = Scoreboard("fat.o", lambda raw: tuple(layout.from_bits(raw).y))
    xs = StreamSource(dut, "i_x", rng=rng, idle=idle)
    ws = StreamSource(dut, "i_w", rng=rng, idle=idle)
    out = StreamSink(dut, "o", rng=rng, backpressure=backpressure, on_item=board.check)
    for task in (xs.run(dut.clk), ws.run(dut.clk), out.run(dut.clk)):
        cocotb.start_soon(task)
    return board, xs, ws, out


def _budget(params, weights) -> int:
    """A generous cycle deadline for one pass under any traffic."""
    return 4 * fat_cycles(params, weights).cycles + 8 * params.n_inputs + 100


async def _run(dut, passes, traffic):
    """Run ``(weights, x)`` passes; check every output row, and with steady traffic check each
    pass's cycles (first weight-row transfer to last output transfer) against the model."""
    params = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-{traffic}-{len(passes)}")
    board, xs, ws, out = await _streams(dut, params, rng, traffic)
    for weights, x in passes:
        columns, rows, expected = pass_payloads(params, weights, x)
        for column in columns:
            xs.send(column.as_bits())
        # Steady traffic: the weights follow the loaded inputs, as the cycle model assumes.
        while traffic == "steady" and xs.queue:
            await RisingEdge(dut.clk)
        await ClockCycles(dut.clk, 2)
        first_row = len(ws.transfer_cycles)
        for row, y in zip(rows, expected, strict=True):
            ws.send(row.as_bits())
            board.expect(y)
        await until_drained(dut, board, _budget(params, weights))
        if traffic == "steady":
            measured = out.transfer_cycles[-1] - ws.transfer_cycles[first_row] + 1
            assert measured == fat_cycles(params, weights).cycles, (
                f"measured {measured} cycles, model {fat_cycles(params, weights).cycles}"
            )
    await ClockCycles(dut.clk, 32)
    board.drain()
    assert out.received == sum(params.n_outputs for _ in passes)


@cocotb.test()
@cocotb.parametrize(sparsity=[0.0, 0.5, 0.8, 0.95, 1.0], traffic=list(TRAFFIC))
async def sparsity_sweep(dut, sparsity, traffic):
    params = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-{sparsity}")
    passes = [
        (sparse_weights(params, rng, sparsity), random_inputs(params, rng, kind))
        for kind in ("lanes", "random")
    ]
    await _run(dut, passes, traffic)


@cocotb.test()
@cocotb.parametrize(sign=[1, -1], inputs=["min", "max"])
async def extremes(dut, sign, inputs):
    params = testbench_design().params
    rng = random.Random(testbench_seed())
    weights = sparse_weights(params, rng, 0.0).abs() * sign
    await _run(dut, [(weights, random_inputs(params, rng, inputs))], "steady")


@cocotb.test()
@cocotb.parametrize(traffic=list(TRAFFIC))
async def back_to_back(dut, traffic):
    """Every pass's inputs and weight rows queued at once: the array must take a pass's rows
    only after its inputs are loaded, however early they arrive."""
    params = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-back-to-back-{traffic}")
    board, xs, ws, out = await _streams(dut, params, rng, traffic)
    budget = 0
    for sparsity in (0.0, 0.5, 0.9, 0.5):
        weights = sparse_weights(params, rng, sparsity)
        columns, rows, expected = pass_payloads(params, weights, random_inputs(params, rng))
        for column in columns:
            xs.send(column.as_bits())
        for row, y in zip(rows, expected, strict=True):
            ws.send(row.as_bits())
            board.expect(y)
        budget += _budget(params, weights)
    await until_drained(dut, board, budget)
    await ClockCycles(dut.clk, 32)
    board.drain()
    assert out.received == 4 * params.n_outputs
