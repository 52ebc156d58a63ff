"""Tiling a ternary linear layer onto the FAT array."""

import random

import pytest
import torch

from moetile.hw.fat import FatParams
from moetile.sim.fat_sim import amaranth_backend
from moetile.sw.golden.fat import fat_cycles
from moetile.sw.mapping.fat import plan_linear, run_linear

PARAMS = FatParams(lanes=3, in_width=6, n_inputs=8, n_outputs=5)


def layer(seed, out_features=11, in_features=19, batch=7):
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(-1, 2, (out_features, in_features), generator=g)
    x = torch.randint(-32, 32, (batch, in_features), generator=g)
    return codes, x


def test_golden_mapping_equals_matmul(seed):
    codes, x = layer(seed)
    plan = plan_linear(PARAMS, codes, x)
    assert len(plan.passes) == 3 * 3 * 3  # token groups × input chunks × output chunks
    assert torch.equal(run_linear(plan), x @ codes.T)
    assert plan.compute_cycles == sum(fat_cycles(PARAMS, p.weights).cycles for p in plan.passes)


@pytest.mark.parametrize("arch", ["fat", "parapim"])
def test_rtl_mapping_equals_matmul(arch, seed):
    params = FatParams(lanes=2, in_width=6, n_inputs=8, n_outputs=3, arch=arch)
    codes, x = layer(seed, out_features=5, in_features=11, batch=3)
    y = run_linear(plan_linear(params, codes, x), backend=amaranth_backend)
    assert torch.equal(y, x @ codes.T)


@pytest.mark.parametrize(
    ("codes", "x", "message"),
    [
        (torch.full((2, 3), 2), torch.zeros(1, 3), r"codes must lie in \[-1, 1\]"),
        (torch.zeros(3), torch.zeros(1, 3), "codes must be 2-D"),
        (torch.zeros(2, 3), torch.zeros(1, 4), r"x must have shape \(batch, 3\)"),
        (torch.zeros(2, 3), torch.full((1, 3), 40), r"x must lie in \[-32, 31\]"),
    ],
)
def test_mapping_rejects_bad_input(codes, x, message):
    with pytest.raises(ValueError, match=message):
        plan_linear(PARAMS, codes, x)


def test_mapping_is_seeded_deterministic(seed):
    rng = random.Random(seed)
    codes, x = layer(rng.randint(0, 1000))
    assert torch.equal(run_linear(plan_linear(PARAMS, codes, x)), x @ codes.T)
