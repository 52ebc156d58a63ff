"""The multiplexed-crossbar tile under Verilator: bit-exact against the golden tile for every
schedule and operand kind, lossless and saturating ADCs, under idle and back-pressure;
cycle-exact against the cycle model with steady traffic; experts mapped onto tiles equal to
their integer products."""

import random

import pytest
import torch

from moetile.hw.registry import Design, block
from moetile.hw.xbar import TileParams
from moetile.sim.fast import Traffic
from moetile.sim.runner import run_testbench
from moetile.sim.testbenches.xbar_cases import KINDS, tile_case
from moetile.sim.xbar_sim import fast_backend, run_slots
from moetile.sw.golden.xbar import tile_cycles, tile_slots
from moetile.sw.mapping.xbar import map_experts, run_experts
from moetile.sw.mapping.xbar_schedule import (
    GROUPINGS,
    SCHEDULES,
    choice_matrix,
    group_experts,
    make_schedule,
)

pytestmark = pytest.mark.cosim

SHAPES = [
    # Lossless ADC, unshared, 1-bit DAC.
    dict(
        rows=8,
        cols=4,
        cell_bits=2,
        w_bits=8,
        dac_bits=1,
        adc_bits=5,
        crossbars_per_group=1,
        groups=3,
    ),
    # Saturating 4-bit ADC, 3 crossbars per group, 3-bit DAC, 3-bit cells.
    dict(
        rows=6,
        cols=3,
        cell_bits=3,
        w_bits=8,
        dac_bits=3,
        adc_bits=4,
        crossbars_per_group=3,
        groups=2,
    ),
    # One group of two, one-bit cells, a 7-bit DAC (one magnitude read), reads unpipelined.
    dict(
        rows=4,
        cols=2,
        cell_bits=1,
        w_bits=8,
        dac_bits=7,
        adc_bits=9,
        crossbars_per_group=2,
        groups=1,
        pipelined=False,
    ),
    # 4-bit weights in one cell, 6-bit inputs, a 1-bit ADC, double-buffered inputs.
    dict(
        rows=3,
        cols=5,
        cell_bits=4,
        w_bits=4,
        in_bits=6,
        dac_bits=2,
        adc_bits=1,
        crossbars_per_group=2,
        groups=2,
        double_buffered=True,
    ),
]


def shape_id(shape):
    size = f"g{shape['crossbars_per_group']}x{shape['groups']}"
    buffers = "-db" if shape.get("double_buffered") else ""
    reads = "" if shape.get("pipelined", True) else "-unpipelined"
    return f"{size}-d{shape['dac_bits']}-a{shape['adc_bits']}{buffers}{reads}"


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_fast_harness_exact(shape, seed):
    params = TileParams(**shape)
    rng = random.Random(seed)
    for kind in KINDS:
        for schedule in SCHEDULES:
            weights, slots = tile_case(params, rng, kind, schedule, tokens=6)
            expected = tile_slots(params, weights, slots)
            steady = run_slots(params, weights, slots)
            assert all(torch.equal(a, b) for a, b in zip(steady.outputs, expected, strict=True))
            assert steady.cycles == tile_cycles(params, [len(s.inputs) for s in slots])
            masks = [sum(1 << g for g, _, _ in s.reads) for s in slots]
            assert steady.active == masks
            traffic = {n: Traffic.random(0.4, seed + i) for i, n in enumerate(("i_w", "i_x", "o"))}
            busy = run_slots(params, weights, slots, traffic)
            assert all(torch.equal(a, b) for a, b in zip(busy.outputs, expected, strict=True))


@pytest.mark.parametrize("shape", [SHAPES[1], SHAPES[3]], ids=shape_id)
def test_cocotb_bench(shape, seed):
    """Three crossbars per group behind a saturating ADC, and double-buffered inputs; the fast
    harness covers the rest."""
    design = Design(block("xbar"), TileParams(**shape))
    result = run_testbench(design, seed=seed)
    assert result.total == len(KINDS) * len(SCHEDULES) * 2


@pytest.mark.parametrize("grouping", GROUPINGS)
def test_experts_on_tiles_equal_their_products(grouping, seed):
    """Four int8 experts of 20 × 40, cut into 8 × 4 crossbars (lossless ADCs), routed top-2;
    every grouping's tiles give every token's expert outputs exactly."""
    gen = torch.Generator().manual_seed(seed)
    experts = [torch.randint(-128, 128, (20, 40), generator=gen) for _ in range(4)]
    x = torch.randint(-128, 128, (7, 40), generator=gen)
    top = torch.stack([torch.randperm(4, generator=gen)[:2] for _ in range(7)])
    choices = choice_matrix(top, 4)
    schedule = make_schedule("aligned", choices, group_experts(grouping, choices.sum(0)))
    base = TileParams(rows=8, cols=4, cell_bits=2, w_bits=8, dac_bits=2, adc_bits=7)
    mapped = map_experts(base, schedule, experts)
    y = run_experts(mapped, schedule, x, backend=fast_backend)
    for t, e in choices.nonzero().tolist():
        assert torch.equal(y[t, e], experts[e] @ x[t]), (t, e)
    assert torch.equal(y, run_experts(mapped, schedule, x))
