"""cocotb testbench for the top-k selector (either microarchitecture) against the golden model."""

import random

import cocotb

from moetile.hw.topk.interface import input_layout, output_layout
from moetile.sim.cocotb_streams import run_stream_bench
from moetile.sim.testbench_context import testbench_design, testbench_seed
from moetile.sim.testbenches.topk_cases import decode_top, edge_vectors, random_vectors, topk_items

__all__ = ["edge_cases", "random_scores"]

TRAFFIC = {"steady": (0.0, 0.0), "idle": (0.5, 0.0), "stall": (0.0, 0.6), "both": (0.3, 0.5)}


async def _check(dut, vectors, traffic, salt):
    params = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-{salt}-{traffic}")
    idle, backpressure = TRAFFIC[traffic]
    in_layout, out_layout = input_layout(params), output_layout(params)
    items = [
        (in_layout.const(payload).as_bits(), expected)
        for payload, expected in topk_items(params, vectors)
    ]
    budget = 8 * len(items) * (params.initiation_interval + params.latency) + 200
    await run_stream_bench(
        dut,
        items,
        decode=lambda raw: decode_top(out_layout.from_bits(raw)),
        rng=rng,
        idle=idle,
        backpressure=backpressure,
        cycle_budget=budget,
    )


@cocotb.test()
@cocotb.parametrize(traffic=list(TRAFFIC))
async def edge_cases(dut, traffic):
    await _check(dut, edge_vectors(testbench_design().params), traffic, "edge")


@cocotb.test()
@cocotb.parametrize(traffic=["steady", "both"])
async def random_scores(dut, traffic):
    params = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-vectors")
    count = 200 if params.arch == "network" else 40
    await _check(dut, random_vectors(params, rng, count), traffic, "random")
