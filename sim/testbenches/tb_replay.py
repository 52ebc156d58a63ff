"""cocotb testbench that replays given transactions under given per-cycle traffic patterns on any
design and records what came out and when: the cocotb half of the fast harness's proof that
both paths agree cycle for cycle. The spec and the result are JSON files named by
:data:`REPLAY_ENV` (see :func:`moetile.sim.replay.replay_on_cocotb`)."""

import json
import os
import time
from pathlib import Path

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge

from moetile.sim.cocotb_streams import StreamSink, StreamSource, reset

__all__ = ["REPLAY_ENV", "replay"]

REPLAY_ENV = "MOETILE_REPLAY"


@cocotb.test()
async def replay(dut):
    spec_path = Path(os.environ[REPLAY_ENV])
    spec = json.loads(spec_path.read_text())
    await reset(dut)
    sources, sinks, received = {}, {}, {}
    for name, stream in spec["streams"].items():
        if stream["inbound"]:
            sources[name] = StreamSource(dut, name, pattern=stream["pattern"])
            for payload in stream["payloads"]:
                sources[name].send(payload)
        else:
            received[name] = []
            sinks[name] = StreamSink(
                dut, name, pattern=stream["pattern"], on_item=received[name].append
            )
    for name, driver in sources.items():
        first = spec["streams"][name].get("after")
        if first:
            cocotb.start_soon(_after(dut, sources[first], spec["streams"][first], driver))
        else:
            cocotb.start_soon(driver.run(dut.clk))
    for driver in sinks.values():
        cocotb.start_soon(driver.run(dut.clk))

    def complete() -> bool:
        sent = all(s.sent == len(spec["streams"][n]["payloads"]) for n, s in sources.items())
        return sent and all(s.received >= spec["streams"][n]["count"] for n, s in sinks.items())

    started, cycles = time.perf_counter(), 0
    while not complete() and cycles < spec["budget"]:
        await RisingEdge(dut.clk)
        cycles += 1
    seconds = time.perf_counter() - started
    await ClockCycles(dut.clk, spec["settle"])
    result = {
        "complete": complete(),
        "outputs": received,
        "stamps": {n: d.transfer_cycles for n, d in [*sources.items(), *sinks.items()]},
        "cycles": cycles,
        "seconds": seconds,
    }
    spec_path.with_suffix(".result.json").write_text(json.dumps(result))


async def _after(dut, first: StreamSource, first_spec: dict, driver: StreamSource) -> None:
    """Start ``driver`` once ``first`` has sent all its transactions."""
    while first.sent < len(first_spec["payloads"]):
        await RisingEdge(dut.clk)
    await driver.run(dut.clk)
