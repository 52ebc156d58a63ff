"""cocotb testbench for the expert predictor unit: every prediction equal to the golden under idle
and back-pressure, for random, extreme (saturating) and small (tied) operands; cycles equal to
the cycle model when traffic is steady."""

import random

import cocotb
import numpy as np
import torch
from cocotb.triggers import ClockCycles

from moetile.hw.gemv.interface import chunk_layout
from moetile.hw.predictor.interface import weight_layout
from moetile.hw.topk.interface import output_layout
from moetile.sim.cocotb_streams import Scoreboard, StreamSink, StreamSource, reset, until_drained
from moetile.sim.testbench_context import testbench_design, testbench_seed
from moetile.sim.testbenches.predictor_cases import (
    KINDS,
    predictor_case,
    state_chunks,
    weight_chunks,
)
from moetile.sw.golden.predictor import predictor

__all__ = ["predictions"]

TRAFFIC = {"steady": (0.0, 0.0), "both": (0.3, 0.5)}


@cocotb.test()
@cocotb.parametrize(kind=list(KINDS), traffic=list(TRAFFIC))
async def predictions(dut, kind, traffic):
    p = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-{kind}-{traffic}")
    idle, backpressure = TRAFFIC[traffic]
    w1, w2, multiplier, shift, states = predictor_case(
        p, np.random.default_rng(rng.getrandbits(32)), kind, 12
    )
    golden = predictor(
        p, torch.tensor(w1), torch.tensor(w2), multiplier, shift, torch.tensor(states)
    )
    await reset(dut)
    dut.cfg_multiplier.value = multiplier
    dut.cfg_shift.value = shift
    layout = output_layout(p.topk)
    board = Scoreboard(
        "predictor.o", lambda raw: [(int(c.index), int(c.score)) for c in layout.from_bits(raw).top]
    )
    loads = StreamSource(dut, "i_w", rng=rng, idle=idle)
    tokens = StreamSource(dut, "i_x", rng=rng, idle=idle)
    out = StreamSink(dut, "o", rng=rng, backpressure=backpressure, on_item=board.check)
    chunks = weight_chunks(p, w1, w2)
    for matrix, v in zip(chunks["matrix"].tolist(), chunks["v"].tolist(), strict=True):
        loads.send(weight_layout(p).const({"matrix": matrix, "v": v}).as_bits())
    for v in state_chunks(p, states)["v"].tolist():
        tokens.send(chunk_layout(p.project).const({"v": v}).as_bits())
    for experts, scores in zip(golden.experts.tolist(), golden.scores.tolist(), strict=True):
        board.expect(list(zip(experts, scores, strict=True)))
    cocotb.start_soon(loads.run(dut.clk))
    while loads.queue or loads.sent < len(chunks["v"]):
        await ClockCycles(dut.clk, 1)
    cocotb.start_soon(tokens.run(dut.clk))
    cocotb.start_soon(out.run(dut.clk))
    model = p.cycles(len(states))
    await until_drained(dut, board, 8 * model + 200)
    await ClockCycles(dut.clk, 16)
    board.drain()
    assert out.received == len(states)
    if traffic == "steady":
        measured = out.transfer_cycles[-1] - tokens.transfer_cycles[0] + 1
        assert measured == model, f"measured {measured} cycles, model {model}"
