"""``moetile bench sim``: simulated cycles per second of the three simulators and of a bare
Verilator loop, on the same FAT design and the same passes, in one run.

The workload is :data:`PASSES` passes of the FAT benchmark's array at 50 % zero weights, fed
back to back (inputs and weight rows of every pass queued at once). The cocotb testbench and the
fast harness run it whole, on the same transactions with steady traffic, and count their own
cycles; the Amaranth simulator runs it pass by pass (its driver loads a pass's inputs, then
streams its rows), a few cycles a pass more. The bare loop clocks the fast harness's model
with every stream valid and ready and nothing recorded: the ceiling of a Verilator model here,
measured on the harness's build and on one tuned for speed (``-O3``, ``--x-assign fast``,
``--x-initial fast``, ``--noassert``), on which the harness runs too.
"""

import random
import time

from moetile.app.bench import BenchReport, Claim
from moetile.hw.fat import FatParams
from moetile.hw.registry import Design, block
from moetile.sim.fast import FastSim
from moetile.sim.fat_sim import run_passes
from moetile.sim.replay import replay_on_cocotb
from moetile.sim.testbenches.fat_cases import pass_payloads, random_inputs, sparse_weights

__all__ = ["run"]

PARAMS = FatParams(lanes=8, in_width=8, n_inputs=80, n_outputs=8, zero_skip=16)
PASSES = 6
FAST_REPEATS = 40
BARE_CYCLES = 20_000_000
#: ``(FAST_REPEATS, BARE_CYCLES)`` of a quick run.
QUICK_LOOPS = (4, 2_000_000)


def workload(seed: int = 0):
    """``(passes, inputs, expect)``: the ``(weights, x)`` passes and the same as stream
    transactions (packed integers)."""
    rng = random.Random(seed)
    passes = [(sparse_weights(PARAMS, rng, 0.5), random_inputs(PARAMS, rng)) for _ in range(PASSES)]
    columns, rows = [], []
    for weights, x in passes:
        c, r, _ = pass_payloads(PARAMS, weights, x)
        columns += [v.as_bits() for v in c]
        rows += [v.as_bits() for v in r]
    return passes, {"i_x": columns, "i_w": rows}, {"o": PASSES * PARAMS.n_outputs}


def run(progress, quick: bool = False) -> BenchReport:
    repeats, bare_cycles = QUICK_LOOPS if quick else (FAST_REPEATS, BARE_CYCLES)
    design = Design(block("fat"), PARAMS)
    passes, inputs, expect = workload()
    budget = 100 * PASSES * PARAMS.n_outputs * PARAMS.n_inputs * PARAMS.acc_width
    progress("sim: building the fast harness and running the workload on it")
    sim = FastSim(design)
    reference = sim.run(inputs, expect=expect, budget=budget)
    started = time.perf_counter()
    for _ in range(repeats):
        sim.run(inputs, expect=expect, budget=budget)
    fast = _row("fast harness", repeats * reference.end, time.perf_counter() - started)

    progress("sim: the same on the build tuned for speed (building it on first use)")
    tuned = FastSim(design, tuned=True)
    if tuned.run(inputs, expect=expect, budget=budget).integers("o") != reference.integers("o"):
        raise AssertionError("the tuned build and the default build disagree")
    started = time.perf_counter()
    for _ in range(repeats):
        tuned.run(inputs, expect=expect, budget=budget)
    fast_tuned = _row("fast harness, tuned", repeats * reference.end, time.perf_counter() - started)

    progress(f"sim: the bare Verilator loop on both builds, {bare_cycles:,} cycles each")
    bare, bare_tuned = (
        _spin(build, name, inputs, bare_cycles)
        for build, name in ((sim, "bare verilator loop"), (tuned, "bare loop, tuned"))
    )

    progress("sim: the cocotb testbench under Verilator (building it on first use)")
    replay, result = replay_on_cocotb(design, inputs, expect, {}, budget=budget)
    if replay.outputs["o"] != reference.integers("o"):
        raise AssertionError("the cocotb path and the fast harness disagree")
    cocotb = _row("cocotb + verilator", result["cycles"], result["seconds"])

    progress("sim: the Amaranth simulator")
    started = time.perf_counter()
    amaranth_run = run_passes(PARAMS, passes)
    seconds = time.perf_counter() - started
    if [o for p in amaranth_run.outputs for o in p] != [
        tuple(v) for v in reference.payloads("o")["y"].tolist()
    ]:
        raise AssertionError("the Amaranth simulator and the fast harness disagree")
    amaranth = _row("amaranth simulator", reference.end, seconds)

    rows = [amaranth, cocotb, fast, fast_tuned, bare, bare_tuned]
    for row in rows:
        row["vs_cocotb"] = row["cycles_per_second"] / cocotb["cycles_per_second"]
    fast_speed = fast["cycles_per_second"]
    claims = [
        Claim(
            "fast_vs_cocotb",
            "fast harness cycles/s over the cocotb path, same design and workload",
            100.0,
            fast_speed / cocotb["cycles_per_second"],
            "cocotb testbench under Verilator",
            decimals=1,
            source=None,
        ),
        Claim(
            "fast_mcycles_per_second",
            "fast harness, million simulated cycles per second on the FAT array",
            1.0,
            fast_speed / 1e6,
            "target of the fast harness",
            source=None,
        ),
        Claim(
            "bare_loop_over_fast",
            "bare Verilator loop cycles/s, on the build tuned for speed, over the fast harness "
            "(at most 2)",
            2.0,
            bare_tuned["cycles_per_second"] / fast_speed,
            "bare Verilator loop, no I/O, tuned build",
            at_least=False,
            source=None,
        ),
    ]
    return BenchReport("sim", rows, claims)


def _spin(sim: FastSim, engine: str, inputs: dict, cycles: int) -> dict:
    """The model of ``sim`` clocked ``cycles`` cycles, every stream valid and ready."""
    with sim.open() as session:
        started = time.perf_counter()
        session.spin({"i_x": inputs["i_x"][:1], "i_w": inputs["i_w"][:1]}, cycles)
        return _row(engine, cycles, time.perf_counter() - started)


def _row(engine: str, cycles: int, seconds: float) -> dict:
    return {
        "engine": engine,
        "design": f"fat {PARAMS.lanes} lanes x {PARAMS.n_inputs} inputs",
        "cycles": int(cycles),
        "seconds": round(seconds, 3),
        "cycles_per_second": cycles / seconds,
    }
