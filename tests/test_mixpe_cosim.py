"""MixPE and its baseline under Verilator: bit-exact against the golden model on random and
extreme operands, several group sizes, one token and more tokens than rows, under idle and
back-pressure; cycle-exact against the cycle model with steady traffic."""

import random
from dataclasses import replace

import pytest
import torch

from moetile.hw.mixpe import MIXPE_ARCHS, MixPEParams
from moetile.hw.registry import Design, block
from moetile.sim.fast import Traffic
from moetile.sim.mixpe_sim import run_passes
from moetile.sim.runner import run_testbench
from moetile.sim.testbenches.mixpe_cases import KINDS, gemm_operands
from moetile.sw.golden.mixpe import mixpe_cycles
from moetile.sw.mapping.mixpe import golden_backend, plan_gemm

pytestmark = pytest.mark.cosim

SHAPES = [
    dict(rows=1, cols=1, n_inputs=32, group=32, scale_width=1, scale_frac=0, out_shift=0),
    dict(rows=4, cols=5, n_inputs=64, group=32, scale_width=8, scale_frac=4, out_shift=4),
    dict(rows=3, cols=2, n_inputs=128, group=64, scale_width=16, scale_frac=8, out_shift=9),
    dict(rows=2, cols=3, n_inputs=256, group=128, scale_width=24, scale_frac=24, out_shift=31),
]


def shape_id(shape):
    return f"{shape['rows']}x{shape['cols']}-g{shape['group']}-s{shape['scale_width']}"


#: Every shape on MixPE and the conventional baseline; the group-multiplier baseline, whose
#: control is MixPE's, on the quick benchmark's array (whose build it shares).
FAST_CASES = [
    *((shape, arch) for shape in SHAPES for arch in MIXPE_ARCHS if arch != "group_multiplier"),
    (
        dict(rows=4, cols=4, n_inputs=64, group=32, scale_width=12, scale_frac=0, out_shift=0),
        "group_multiplier",
    ),
]


@pytest.mark.parametrize(
    ("shape", "arch"), FAST_CASES, ids=[f"{shape_id(s)}-{a}" for s, a in FAST_CASES]
)
def test_fast_harness_exact(shape, arch, seed):
    params = MixPEParams(**shape, arch=arch)
    rng = random.Random(seed)
    passes = []
    for kind in KINDS:
        for tokens in (1, 2 * params.rows + 1):
            plan = plan_gemm(params, *gemm_operands(params, rng, kind, tokens, params.cols + 1))
            passes += plan.passes
    # A pass of one group, where the Params allow more.
    one_group = replace(params, n_inputs=params.group)
    passes += plan_gemm(params, *gemm_operands(one_group, rng, "random", 2, 2)).passes
    expected = golden_backend(params, passes)
    steady = run_passes(params, passes)
    assert all(torch.equal(a, b) for a, b in zip(steady.outputs, expected, strict=True))
    assert steady.cycles == mixpe_cycles(params, [p.scales.shape[1] for p in passes])
    names = ("i_x", "i_w", "i_group", "o")
    traffic = {name: Traffic.random(0.4, seed + n) for n, name in enumerate(names)}
    busy = run_passes(params, passes, traffic)
    assert all(torch.equal(a, b) for a, b in zip(busy.outputs, expected, strict=True))


@pytest.mark.parametrize(
    ("shape", "arch"),
    [
        (SHAPES[1], "mixpe"),
        (SHAPES[1], "multiplier"),
        (SHAPES[2], "mixpe"),
        (SHAPES[3], "multiplier"),
    ],
    ids=["g32-mixpe", "g32-multiplier", "g64-mixpe", "g128-multiplier"],
)
def test_cocotb_bench(shape, arch, seed):
    design = Design(block("mixpe"), MixPEParams(**shape, arch=arch))
    result = run_testbench(design, seed=seed)
    assert result.total == 10
