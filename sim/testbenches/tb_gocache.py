"""cocotb testbench for the expert-choice router with the GO cache: every token's update equal to
the golden recomputation under idle and back-pressure, for random, tied and extreme scores,
sequences up to the longest and no longer than the capacity; cycles equal to the Params'
model when traffic is steady."""

import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from moetile.hw.gemv.interface import chunk_layout
from moetile.hw.gocache.interface import token_layout, update_layout
from moetile.sim.cocotb_streams import Scoreboard, StreamSink, StreamSource, reset, until_drained
from moetile.sim.testbench_context import testbench_design, testbench_seed
from moetile.sim.testbenches.gocache_cases import (
    KINDS,
    expected_updates,
    sequence_tokens,
    token_chunks,
    weight_chunks,
)

__all__ = ["sequences"]

TRAFFIC = {"steady": (0.0, 0.0), "both": (0.3, 0.5), "stalls": (0.0, 0.0)}
#: ``stalls``: the sink stops for longer than a token takes, then takes a few updates; a cache
#: that overwrote an update nobody had read would lose it here.
STALLS = (0,) * 40 + (1,) * 3
#: Sequence lengths: the longest (and one over, which starts a new sequence), and no longer
#: than the capacity (every expert takes every token).
LENGTHS = ("longest", "capacity")


def _starts(params, lengths: str, n: int) -> np.ndarray:
    size = params.tokens + 1 if lengths == "longest" else params.capacity
    starts = np.zeros(n, dtype=bool)
    starts[::size] = True
    return starts


def _decode(layout):
    def decode(raw):
        u = layout.from_bits(raw)
        return (int(u.token), list(u.scores), int(u.take), int(u.evict), list(u.evicted))

    return decode


@cocotb.test()
@cocotb.parametrize(kind=list(KINDS), lengths=list(LENGTHS), traffic=list(TRAFFIC))
async def sequences(dut, kind, lengths, traffic):
    params = testbench_design().params
    rng = random.Random(f"{testbench_seed()}-{kind}-{lengths}-{traffic}")
    idle, backpressure = TRAFFIC[traffic]
    n = 3 * params.tokens + 2
    weights, vectors = sequence_tokens(params, np.random.default_rng(rng.getrandbits(32)), kind, n)
    starts = _starts(params, lengths, n)
    scores, golden = expected_updates(params, weights, vectors, starts)
    await reset(dut)
    board = Scoreboard("gocache.o", _decode(update_layout(params)))
    program = StreamSource(dut, "i_w", rng=rng, idle=idle)
    tokens = StreamSource(dut, "i_x", rng=rng, idle=idle)
    pattern = STALLS if traffic == "stalls" else None
    out = StreamSink(
        dut, "o", rng=rng, backpressure=backpressure, on_item=board.check, pattern=pattern
    )
    for v in weight_chunks(params, weights)["v"].tolist():
        program.send(chunk_layout(params.gate).const({"v": v}).as_bits())
    chunks = token_chunks(params, vectors, starts)
    for v, start in zip(chunks["v"].tolist(), chunks["start"].tolist(), strict=True):
        tokens.send(token_layout(params).const({"v": v, "start": start}).as_bits())
    bits = 1 << np.arange(params.experts)
    for t in range(n):
        board.expect(
            (
                int(golden.token[t]),
                scores[t].tolist(),
                int(golden.take[t].numpy() @ bits),
                int(golden.evict[t].numpy() @ bits),
                golden.evicted[t].tolist(),
            )
        )
    cocotb.start_soon(program.run(dut.clk))
    while program.queue or program.sent < params.gate.weight_transfers:
        await ClockCycles(dut.clk, 1)
    cocotb.start_soon(tokens.run(dut.clk))
    cocotb.start_soon(out.run(dut.clk))
    model = params.sequence_cycles(golden.scanned.tolist())
    await until_drained(dut, board, 16 * model + 200)
    await ClockCycles(dut.clk, 16)
    board.drain()
    assert out.received == n
    if traffic == "steady":
        measured = out.transfer_cycles[-1] - tokens.transfer_cycles[0] + 1
        assert measured == model, f"measured {measured} cycles, model {model}"
