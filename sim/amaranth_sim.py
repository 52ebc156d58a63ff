"""Amaranth-simulator helpers: stream send/receive with random idle and back-pressure, a run
with a deadline, and cycle-exact latency/throughput measurement."""

import random
from dataclasses import dataclass

from amaranth.sim import Simulator

__all__ = ["StreamTiming", "measure_stream", "simulate", "stream_recv", "stream_send"]

CLOCK_PERIOD = 1e-6


def simulate(dut, *testbenches, deadline_cycles: int) -> None:
    """Run ``testbenches`` (``async def tb(ctx)``) on ``dut``; fail if any is unfinished after
    ``deadline_cycles`` clock cycles."""
    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    finished = []

    def wrap(testbench):
        async def run(ctx):
            await testbench(ctx)
            finished.append(testbench)

        return run

    for testbench in testbenches:
        sim.add_testbench(wrap(testbench))
    sim.run_until(deadline_cycles * CLOCK_PERIOD)
    stuck = [tb.__name__ for tb in testbenches if tb not in finished]
    if stuck:
        raise AssertionError(f"deadline of {deadline_cycles} cycles passed; unfinished: {stuck}")


async def stream_send(ctx, stream, payloads, *, rng: random.Random, idle: float = 0.0) -> None:
    """Send every payload, idling with probability ``idle`` before each; valid is held until
    the transfer."""
    for payload in payloads:
        while rng.random() < idle:
            ctx.set(stream.valid, 0)
            await ctx.tick()
        ctx.set(stream.valid, 1)
        ctx.set(stream.payload, payload)
        await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_recv(
    ctx, stream, count: int, *, rng: random.Random, backpressure: float = 0.0
) -> list:
    """Receive ``count`` payloads, dropping ``ready`` with probability ``backpressure``."""
    items = []
    while len(items) < count:
        ready = rng.random() >= backpressure
        ctx.set(stream.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
        if ready and valid:
            items.append(payload)
    ctx.set(stream.ready, 0)
    return items


@dataclass(frozen=True)
class StreamTiming:
    """Cycle numbers of each input and output transfer, and the outputs themselves."""

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    payloads: tuple

    @property
    def latency(self) -> int:
        """Cycles from the first input transfer to the first output transfer."""
        return self.outputs[0] - self.inputs[0]

    @property
    def cycles(self) -> int:
        """Cycles from the first input transfer to the last output transfer, inclusive."""
        return self.outputs[-1] - self.inputs[0] + 1


def measure_stream(
    dut,
    payloads,
    *,
    expected_outputs: int | None = None,
    deadline_cycles: int,
    source: str = "i",
    sink: str = "o",
) -> StreamTiming:
    """Feed ``payloads`` back to back with the output always ready and record, cycle by cycle,
    when each input and output transfer happens."""
    i, o = getattr(dut, source), getattr(dut, sink)
    count = len(payloads) if expected_outputs is None else expected_outputs
    ins, outs, results = [], [], []

    async def testbench(ctx):
        ctx.set(o.ready, 1)
        pending, cycle = list(payloads), 0
        while len(outs) < count:
            ctx.set(i.valid, bool(pending))
            if pending:
                ctx.set(i.payload, pending[0])
            _, _, in_ready, out_valid, out = await ctx.tick().sample(i.ready, o.valid, o.payload)
            if pending and in_ready:
                ins.append(cycle)
                pending.pop(0)
            if out_valid:
                outs.append(cycle)
                results.append(out)
            cycle += 1

    simulate(dut, testbench, deadline_cycles=deadline_cycles)
    return StreamTiming(tuple(ins), tuple(outs), tuple(results))
