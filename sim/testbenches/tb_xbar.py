"""cocotb testbench for the multiplexed-crossbar tile: every slot's results bit-exact under idle
and back-pressure, for every schedule kind and operand kind, and cycles equal to the tile's
cycle model when traffic is steady."""

import random

import cocotb
from cocotb.triggers import ClockCycles

from moetile.hw.xbar.interface import input_layout, output_layout, weight_layout
from moetile.sim.cocotb_streams import Scoreboard, StreamSink, StreamSource, reset, until_drained
from moetile.sim.testbench_context import testbench_design, testbench_seed
from moetile.sim.testbenches.xbar_cases import KINDS, tile_case
from moetile.sw.golden.xbar import tile_cycles, tile_slots
from moetile.sw.mapping.xbar import slot_streams
from moetile.sw.mapping.xbar_schedule import SCHEDULES

__all__ = ["slots"]

TRAFFIC = {"steady": (0.0, 0.0), "both": (0.3, 0.5)}


async def _run(dut, weights, slots, traffic):
    params = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-{traffic}")
    idle, backpressure = TRAFFIC[traffic]
    wl, xl, ol = weight_layout(params), input_layout(params), output_layout(params)
    await reset(dut)
    board = Scoreboard("xbar.o", lambda raw: [list(y) for y in ol.from_bits(raw).y])
    program = StreamSource(dut, "i_w", rng=rng, idle=idle)
    vectors = StreamSource(dut, "i_x", rng=rng, idle=idle)
    out = StreamSink(dut, "o", rng=rng, backpressure=backpressure, on_item=board.check)
    for k in range(params.crossbars):
        for r in range(params.rows):
            row = {"crossbar": k, "row": r, "w": weights[k, r].tolist()}
            program.send(wl.const(row).as_bits())
    fields = slot_streams(params, slots)["i_x"]
    for n in range(len(fields["x"])):
        item = {name: fields[name][n].tolist() for name in fields}
        vectors.send(xl.const(item).as_bits())
    for y in tile_slots(params, weights, slots):
        board.expect(y.tolist())
    cocotb.start_soon(program.run(dut.clk))
    while program.queue or program.sent < params.crossbars * params.rows:
        await ClockCycles(dut.clk, 1)
    cocotb.start_soon(vectors.run(dut.clk))
    cocotb.start_soon(out.run(dut.clk))
    model = tile_cycles(params, [len(s.inputs) for s in slots])
    await until_drained(dut, board, 8 * model + 200)
    await ClockCycles(dut.clk, 16)
    board.drain()
    assert out.received == len(slots)
    if traffic == "steady":
        # Both drivers count from the cycle they started.
        measured = out.transfer_cycles[-1] - vectors.transfer_cycles[0] + 1
        assert measured == model, f"measured {measured} cycles, model {model}"


@cocotb.test()
@cocotb.parametrize(kind=list(KINDS), schedule=list(SCHEDULES), traffic=list(TRAFFIC))
async def slots(dut, kind, schedule, traffic):
    params = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-{kind}-{schedule}")
    weights, slot_list = tile_case(params, rng, kind, schedule, tokens=5)
    await _run(dut, weights, slot_list, traffic)
