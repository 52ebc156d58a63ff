"""cocotb testbench for the MixPE array and its multiplier baseline: every result bit-exact under
idle and back-pressure, and cycles equal to the cycle model when traffic is steady."""

import random

import cocotb
from cocotb.triggers import ClockCycles

from moetile.hw.mixpe.interface import (
    activation_layout,
    group_layout,
    output_layout,
    weight_layout,
)
from moetile.sim.cocotb_streams import Scoreboard, StreamSink, StreamSource, reset, until_drained
from moetile.sim.testbench_context import testbench_design, testbench_seed
from moetile.sim.testbenches.mixpe_cases import KINDS, gemm_operands
from moetile.sw.mapping.mixpe import golden_backend, group_last_flags, plan_gemm

__all__ = ["extremes", "random_gemm"]

TRAFFIC = {"steady": (0.0, 0.0), "both": (0.3, 0.5)}


async def _run(dut, operands, traffic):
    """Run the GEMM of ``operands`` pass by pass; check every output column, and with steady
    traffic the cycles from the first step to the last output against the model."""
    params = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-{traffic}")
    idle, backpressure = TRAFFIC[traffic]
    plan = plan_gemm(params, *operands)
    xl, wl, gl, ol = (
        f(params) for f in (activation_layout, weight_layout, group_layout, output_layout)
    )
    await reset(dut)
    board = Scoreboard("mixpe.o", lambda raw: tuple(ol.from_bits(raw).y))
    sources = {
        name: StreamSource(dut, name, rng=rng, idle=idle) for name in ("i_x", "i_w", "i_group")
    }
    out = StreamSink(dut, "o", rng=rng, backpressure=backpressure, on_item=board.check)
    for job, tile in zip(plan.passes, golden_backend(params, plan.passes), strict=True):
        for j in range(job.x.shape[1]):
            sources["i_x"].send(xl.const({"x": job.x[:, j].tolist()}).as_bits())
            sources["i_w"].send(wl.const({"q": job.codes[:, j].tolist()}).as_bits())
        for g, last in enumerate(group_last_flags(job).tolist()):
            group = {"scale": job.scales[:, g].tolist(), "zero": job.zeros[:, g].tolist()}
            sources["i_group"].send(gl.const({**group, "last": last}).as_bits())
        for c in range(params.cols):
            board.expect(tuple(tile[:, c].tolist()))
    for source in sources.values():
        cocotb.start_soon(source.run(dut.clk))
    cocotb.start_soon(out.run(dut.clk))
    budget = 8 * plan.cycles + 200
    await until_drained(dut, board, budget)
    await ClockCycles(dut.clk, 32)
    board.drain()
    assert out.received == len(plan.passes) * params.cols
    if traffic == "steady":
        measured = out.transfer_cycles[-1] - sources["i_x"].transfer_cycles[0] + 1
        model = plan.cycles
        assert measured == model, f"measured {measured} cycles, model {model}"


@cocotb.test()
@cocotb.parametrize(tokens=[1, "more"], traffic=list(TRAFFIC))
async def random_gemm(dut, tokens, traffic):
    """One token, and more tokens and outputs than the array has rows and columns."""
    params = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-{tokens}")
    m = 1 if tokens == 1 else 2 * params.rows + 1
    await _run(dut, gemm_operands(params, rng, "random", m, 2 * params.cols + 1), traffic)


@cocotb.test()
@cocotb.parametrize(kind=[k for k in KINDS if k != "random"], traffic=list(TRAFFIC))
async def extremes(dut, kind, traffic):
    params = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-{kind}")
    await _run(dut, gemm_operands(params, rng, kind, params.rows + 1, params.cols), traffic)
