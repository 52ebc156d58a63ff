"""cocotb drivers for ``amaranth.lib.stream`` ports: a source with seeded random idle, a sink with
seeded random back-pressure, a scoreboard that must drain, and a whole-bench helper.

Both drivers change their outputs just after the falling edge and sample the handshake in the
read-only phase before the rising edge, so a transfer is seen exactly when the DUT sees it. The
fast harness (:mod:`moetile.sim.fast`) drives every cycle the same way.
"""

import random
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

__all__ = [
    "PERIOD_NS",
    "Scoreboard",
    "StreamSink",
    "StreamSource",
    "reset",
    "run_stream_bench",
    "until_drained",
]

#: Clock period of every bench; transfer times are recorded in cycles of it.
PERIOD_NS = 10


class _Traffic:
    """Per-cycle flow control of one driver: an explicit pattern of bits, repeated (the fast
    harness's :class:`~moetile.sim.fast.Traffic` ``pattern``), or seeded random with
    probability ``chance`` of holding back."""

    def __init__(self, rng, chance: float, pattern):
        if pattern is None and rng is None:
            raise ValueError("a stream driver needs an rng or a pattern")
        self.rng, self.chance, self.pattern = rng, chance, pattern

    def allows(self, cycle: int) -> bool:
        if self.pattern is not None:
            return bool(self.pattern[cycle % len(self.pattern)])
        return self.rng.random() >= self.chance


class StreamSource:
    """Drives ``<name>__valid``/``<name>__payload`` from a queue of payload integers.

    Before presenting each new item it idles with probability ``idle`` per cycle (or where
    ``pattern`` has a 0); once ``valid`` is raised it is held, with the payload stable, until
    the transfer. ``transfer_cycles`` counts cycles from the driver's first cycle, as the fast
    harness does.
    """

    def __init__(self, dut, name: str, *, rng=None, idle: float = 0.0, pattern=None):
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.traffic = _Traffic(rng, idle, pattern)
        self.queue: deque[int] = deque()
        self.sent = 0
        self.transfer_cycles: list[int] = []
        self.valid.value = 0

    def send(self, payload: int) -> None:
        self.queue.append(payload)

    async def run(self, clk) -> None:
        showing, cycle = False, 0
        while True:
            await FallingEdge(clk)
            if not showing and self.queue and self.traffic.allows(cycle):
                self.payload.value = self.queue.popleft()
                showing = True
            self.valid.value = int(showing)
            await ReadOnly()
            if showing and self.ready.value == 1:
                showing = False
                self.sent += 1
                self.transfer_cycles.append(cycle)
            cycle += 1


class StreamSink:
    """Drives ``<name>__ready`` low with probability ``backpressure`` per cycle (or where
    ``pattern`` has a 0) and hands every transferred payload integer to ``on_item``."""

    def __init__(
        self, dut, name: str, *, rng=None, backpressure: float = 0.0, on_item=None, pattern=None
    ):
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.traffic = _Traffic(rng, backpressure, pattern)
        self.on_item = on_item
        self.received = 0
        self.transfer_cycles: list[int] = []
        self.ready.value = 0

    async def run(self, clk) -> None:
        cycle = 0
        while True:
            await FallingEdge(clk)
            ready = self.traffic.allows(cycle)
            self.ready.value = int(ready)
            await ReadOnly()
            if ready and self.valid.value == 1:
                self.received += 1
                self.transfer_cycles.append(cycle)
                if self.on_item is not None:
                    self.on_item(self.payload.value.to_unsigned())
            cycle += 1


class Scoreboard:
    """In-order comparison of actual against expected items; :meth:`drain` fails unless every
    expected item arrived, and :meth:`check` fails on a mismatch or an item nobody expected."""

    def __init__(self, name: str, decode=lambda item: item):
        self.name, self.decode = name, decode
        self.expected: deque = deque()
        self.matched = 0

    def expect(self, item) -> None:
        self.expected.append(item)

    def check(self, raw) -> None:
        actual = self.decode(raw)
        if not self.expected:
            raise AssertionError(
                f"{self.name}: unexpected item {actual!r} after {self.matched} matched"
            )
        wanted = self.expected.popleft()
        if actual != wanted:
            raise AssertionError(
                f"{self.name}: item {self.matched} is {actual!r}, expected {wanted!r}"
            )
        self.matched += 1

    def drain(self) -> None:
        if self.expected:
            raise AssertionError(
                f"{self.name}: {len(self.expected)} expected items never "
                f"arrived (matched {self.matched}); next: {self.expected[0]!r}"
            )


async def until_drained(dut, board: Scoreboard, cycle_budget: int) -> int:
    """Wait until every item ``board`` expects has arrived; fail after ``cycle_budget`` cycles.
    Returns the cycles waited."""
    cycles = 0
    while board.expected:
        await RisingEdge(dut.clk)
        cycles += 1
        if cycles > cycle_budget:
            raise AssertionError(
                f"deadline: {cycles} cycles, {board.matched} of "
                f"{board.matched + len(board.expected)} outputs seen"
            )
    return cycles


async def reset(dut, cycles: int = 2):
    """Start ``dut.clk`` and hold ``dut.rst`` high for ``cycles`` rising edges."""
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    dut.rst.value = 1
    await ClockCycles(dut.clk, cycles)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def run_stream_bench(
    dut,
    items,
    *,
    decode,
    rng: random.Random,
    idle: float,
    backpressure: float,
    cycle_budget: int,
    settle: int = 64,
    source: str = "i",
    sink: str = "o",
) -> int:
    """Send ``(payload, expected)`` pairs through a one-in, one-out stream DUT and check every
    output, in order, with ``decode(raw) == expected``.

    Fails if the outputs are not all seen within ``cycle_budget`` cycles, or if anything arrives
    in the ``settle`` cycles after the last one. Returns the number of cycles taken.
    """
    await reset(dut)
    board = Scoreboard(f"{dut._name}.{sink}", decode)
    src = StreamSource(dut, source, rng=rng, idle=idle)
    snk = StreamSink(dut, sink, rng=rng, backpressure=backpressure, on_item=board.check)
    for payload, expected in items:
        src.send(payload)
        board.expect(expected)
    cocotb.start_soon(src.run(dut.clk))
    cocotb.start_soon(snk.run(dut.clk))
    cycles = await until_drained(dut, board, cycle_budget)
    await ClockCycles(dut.clk, settle)
    board.drain()
    assert src.sent == len(items) and snk.received == len(items), (src.sent, snk.received)
    return cycles
