"""Runs FAT passes in the Amaranth simulator or on the fast harness: exact outputs and
measured cycles."""

import random
from dataclasses import dataclass

from moetile.hw.fat import FatParams
from moetile.hw.fat.array import FatArray
from moetile.sim.amaranth_sim import simulate, stream_send
from moetile.sim.testbenches.fat_cases import pass_payloads

__all__ = ["PassRun", "amaranth_backend", "fast_passes", "run_passes"]


@dataclass(frozen=True)
class PassRun:
    outputs: list[list[tuple]]  # per pass, per weight row: y of every lane
    cycles: list[int]  # per pass: first weight-row transfer to last output transfer, inclusive


def run_passes(
    params: FatParams,
    passes,
    *,
    rng: random.Random | None = None,
    idle: float = 0.0,
    backpressure: float = 0.0,
) -> PassRun:
    """Run ``passes`` (``(weights, x)`` pairs) back to back.

    Each pass loads its inputs, then streams its weight rows. With ``idle`` and
    ``backpressure`` zero the weights are offered every cycle and the output is always ready,
    the conditions of :func:`moetile.sw.golden.fat.fat_cycles`; the cycles are counted per pass.
    """
    rng = rng or random.Random(0)
    dut = FatArray(params)
    jobs = [pass_payloads(params, w, x) for w, x in passes]
    outputs, cycles = [], []

    async def driver(ctx):
        for columns, rows, expected in jobs:
            await stream_send(ctx, dut.i_x, columns, rng=rng, idle=idle)
            ctx.set(dut.o.ready, 0)
            start = None
            sent = received = cycle = 0
            got = []
            while received < len(expected):
                offer = sent < len(rows) and rng.random() >= idle
                ready = rng.random() >= backpressure
                ctx.set(dut.i_w.valid, offer)
                if offer:
                    ctx.set(dut.i_w.payload, rows[sent])
                ctx.set(dut.o.ready, ready)
                _, _, w_ready, o_valid, y = await ctx.tick().sample(
                    dut.i_w.ready, dut.o.valid, dut.o.payload
                )
                if offer and w_ready:
                    start = cycle if start is None else start
                    sent += 1
                if ready and o_valid:
                    got.append(tuple(y.y))
                    received += 1
                cycle += 1
            ctx.set(dut.i_w.valid, 0)
            ctx.set(dut.o.ready, 0)
            cycles.append(cycle - start)
            outputs.append(got)
            # Nothing more may come out of a finished pass.
            for _ in range(4):
                assert not (await ctx.tick().sample(dut.o.valid))[2], "unexpected output"

    budget = sum(_budget(params, len(r)) for _, r, _ in jobs) * (4 if idle or backpressure else 1)
    simulate(dut, driver, deadline_cycles=budget)
    return PassRun(outputs, cycles)


def _budget(params: FatParams, rows: int) -> int:
    per_row = params.n_inputs * (2 * params.acc_width * params.cycles_per_bit + 4) + 16
    return rows * per_row + 4 * params.n_inputs + 100


def amaranth_backend(params: FatParams, passes) -> list:
    """A :func:`moetile.sw.mapping.fat.run_linear` backend running every pass on the RTL."""
    import torch

    run = run_passes(params, [(p.weights, p.x) for p in passes])
    return [torch.tensor(rows, dtype=torch.int64).T for rows in run.outputs]


def fast_passes(params: FatParams, passes) -> PassRun:
    """:func:`run_passes` on the fast harness, with steady traffic: each pass's inputs are
    loaded in one run, its weight rows streamed in the next, on one model."""
    import numpy as np

    from moetile.hw.registry import Design, block
    from moetile.sw.golden.fat import weight_planes

    from .fast import FastSim

    sim = FastSim(Design(block("fat"), params))
    outputs, cycles = [], []
    with sim.open() as session:
        for weights, x in passes:
            w, xs = np.asarray(weights), np.asarray(x)
            session.run({"i_x": {"x": xs.T}}, budget=4 * params.n_inputs + 16)
            run = session.run(
                {"i_w": {k: v.numpy() for k, v in weight_planes(w).items()}},
                expect={"o": params.n_outputs},
                budget=_budget(params, params.n_outputs),
            )
            outputs.append([tuple(row) for row in run.payloads("o")["y"].tolist()])
            cycles.append(int(run.stamps["o"][-1] - run.stamps["i_w"][0] + 1))
    return PassRun(outputs, cycles)
