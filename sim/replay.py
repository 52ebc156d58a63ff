"""The same transactions under the same per-cycle traffic patterns on both Verilator paths:
the cocotb testbench (:mod:`moetile.sim.testbenches.tb_replay`) and the fast harness. Both return a
:class:`Replay`, which compares exactly."""

import json
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from moetile.hw.registry import Design

from .build import design_dir
from .fast import FastSim, Traffic
from .runner import run_testbench
from .testbenches.tb_replay import REPLAY_ENV

__all__ = ["Replay", "random_patterns", "replay_on_cocotb", "replay_on_fast"]


@dataclass(frozen=True)
class Replay:
    """Outputs (packed integers) per output stream and transfer cycles per stream."""

    outputs: dict[str, list[int]]
    stamps: dict[str, list[int]]


def random_patterns(sim: FastSim, rng: random.Random, length: int, probability: float) -> dict:
    """A random per-cycle pattern for every stream: 0 (hold back) with ``probability``."""
    return {
        name: [int(rng.random() >= probability) for _ in range(length)] or [1]
        for name in sim.streams
    }


def replay_on_fast(sim: FastSim, inputs: dict, expect: dict, patterns: dict, *, budget: int):
    """``inputs``: stream → packed payload integers; ``expect``: stream → count."""
    traffic = {name: Traffic.explicit(bits) for name, bits in patterns.items()}
    run = sim.run(
        {n: [int(v) for v in values] for n, values in inputs.items()},
        expect=expect,
        traffic=traffic,
        budget=budget,
    )
    return Replay(
        {name: run.integers(name) for name in expect},
        {name: run.stamps[name].tolist() for name in sim.streams},
    )


def replay_on_cocotb(
    design: Design,
    inputs: dict,
    expect: dict,
    patterns: dict,
    *,
    budget: int,
    seed: int = 0,
    after: dict | None = None,
):
    """The same on the cocotb testbench; returns the :class:`Replay` and the bench's raw result
    (with its cycles and wall-clock seconds). ``after``: input stream → the input stream
    whose transactions must all be sent before it starts (e.g. weights before tokens)."""
    streams = FastSim.ports_of(design)
    spec = {
        "streams": {
            name: {
                "inbound": port.inbound,
                "payloads": [int(v) for v in inputs.get(name, [])],
                "count": expect.get(name, 0),
                "pattern": patterns.get(name, [1]),
                "after": (after or {}).get(name),
            }
            for name, port in streams.items()
        },
        "budget": budget,
        "settle": 0,
    }
    runs = design_dir(design) / "replays"
    runs.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=runs, delete=False) as handle:
        json.dump(spec, handle)
    module = "moetile.sim.testbenches.tb_replay"
    run_testbench(design, seed=seed, module=module, extra_env={REPLAY_ENV: handle.name})
    result = json.loads(Path(handle.name).with_suffix(".result.json").read_text())
    replay = Replay(
        {name: result["outputs"][name] for name in expect},
        {name: result["stamps"][name] for name in streams},
    )
    return replay, result
