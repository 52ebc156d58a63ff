"""cocotb testbench for the expert cache: every lookup's result and every fetch request equal to
the golden policy's, LRU and LFU, under idle lookups and back-pressure on both outputs, after a
configuration of quotas, pins and preloaded tags."""

import random

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge

from moetile.hw.expert_cache.interface import (
    fetch_layout,
    key_layout,
    result_layout,
    write_layout,
)
from moetile.sim.cocotb_streams import Scoreboard, StreamSink, StreamSource, reset, until_drained
from moetile.sim.testbench_context import testbench_design, testbench_seed
from moetile.sim.testbenches.expert_cache_cases import expected, mixed_configuration, skewed_keys

__all__ = ["lookups"]

TRAFFIC = {"steady": (0.0, 0.0), "both": (0.3, 0.5)}


def _decode(layout, fields):
    def decode(raw):
        value = layout.from_bits(raw)
        return {name: int(getattr(value, name)) for name in fields}

    return decode


@cocotb.test()
@cocotb.parametrize(traffic=list(TRAFFIC))
async def lookups(dut, traffic):
    params = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-{traffic}")
    idle, backpressure = TRAFFIC[traffic]
    writes = mixed_configuration(params, rng)
    keys = skewed_keys(params, rng, 300)
    results, fetches = expected(params, writes, keys)
    await reset(dut)
    board = Scoreboard("expert_cache.o", _decode(result_layout(params), ("hit", "refused", "slot")))
    fetch_board = Scoreboard(
        "expert_cache.o_fetch", _decode(fetch_layout(params), ("layer", "expert", "slot"))
    )
    config = StreamSource(dut, "i_config", rng=rng)
    source = StreamSource(dut, "i", rng=rng, idle=idle)
    sinks = [
        StreamSink(dut, "o", rng=rng, backpressure=backpressure, on_item=board.check),
        StreamSink(dut, "o_fetch", rng=rng, backpressure=backpressure, on_item=fetch_board.check),
    ]
    for task in (config.run(dut.clk), source.run(dut.clk), *(s.run(dut.clk) for s in sinks)):
        cocotb.start_soon(task)
    for write in writes:
        config.send(write_layout(params).const(write).as_bits())
    while config.queue or config.sent < len(writes):
        await RisingEdge(dut.clk)
    for key in keys:
        source.send(key_layout(params).const(key).as_bits())
    for item in results:
        board.expect(item)
    for item in fetches:
        fetch_board.expect(item)
    await until_drained(dut, board, 4 * len(keys) * (params.miss_latency + 2))
    await ClockCycles(dut.clk, 16)
    board.drain()
    fetch_board.drain()
    assert any(r["hit"] for r in results) and fetches
