"""FAT array: Params, golden model, cycle model, and both arrays in the Amaranth simulator."""

import random

import pytest
import torch

from moetile.hw.fat import WEIGHT_CODES, FatParams
from moetile.sim.fat_sim import run_passes
from moetile.sim.testbenches.fat_cases import random_inputs, sparse_weights
from moetile.sw.golden.fat import encode_weights, fat_cycles, fat_matvec

SHAPES = [
    dict(lanes=3, in_width=4, n_inputs=12, n_outputs=4, zero_skip=16),
    dict(lanes=2, in_width=8, n_inputs=9, n_outputs=3, zero_skip=2),
    dict(lanes=1, in_width=1, n_inputs=1, n_outputs=1, zero_skip=1),
    # Short adds (6 bits) and a narrow scan window: long zero runs cost visible scan cycles.
    dict(lanes=2, in_width=1, n_inputs=16, n_outputs=4, zero_skip=2),
]
VARIANTS = [
    dict(arch="fat"),
    dict(arch="parapim"),
    dict(arch="fat", variable_width=True),
    dict(arch="parapim", variable_width=True),
]


def variant_id(fields):
    return "-".join(f"{k}={v}" for k, v in fields.items())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lanes": 0}, "lanes must be an integer in \\[1, 1024\\], not 0"),
        ({"in_width": 33}, r"in_width must be an integer in \[1, 32\], not 33"),
        ({"n_inputs": 0}, "n_inputs must be"),
        ({"n_outputs": -1}, "n_outputs must be"),
        ({"zero_skip": 0}, "zero_skip must be"),
        ({"arch": "isaac"}, "arch must be one of 'fat', 'parapim', not 'isaac'"),
        ({"variable_width": 1}, "variable_width must be True or False, not 1"),
    ],
)
def test_params_reject_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        FatParams(**values)


@pytest.mark.parametrize("in_width", [1, 2, 8])
@pytest.mark.parametrize("n_inputs", [1, 3, 64, 100])
def test_acc_width_is_tight(in_width, n_inputs):
    params = FatParams(in_width=in_width, n_inputs=n_inputs)
    lo, hi = params.input_range
    extremes = (n_inputs * lo, -n_inputs * lo)  # all +1 on the minimum; all -1 on it
    width = params.acc_width
    assert all(-(1 << (width - 1)) <= v < (1 << (width - 1)) for v in extremes)
    assert not all(-(1 << (width - 2)) <= v < (1 << (width - 2)) for v in extremes)


def test_golden_matches_float_matmul(seed):
    params = FatParams(lanes=5, n_inputs=33, n_outputs=7)
    rng = random.Random(seed)
    w = sparse_weights(params, rng, 0.5)
    x = random_inputs(params, rng)
    expected = (x.double() @ w.double().T).to(torch.int64)
    assert torch.equal(fat_matvec(params, w, x), expected)


@pytest.mark.parametrize(
    ("weights", "x", "message"),
    [
        (torch.full((2, 3), 2), torch.zeros(2, 3), r"weights must lie in \[-1, 1\]"),
        (torch.zeros(3, 3), torch.zeros(2, 3), r"weights must have shape \(2, 3\)"),
        (torch.zeros(2, 3), torch.full((2, 3), 128), r"x must lie in \[-128, 127\]"),
        (torch.zeros(2, 3), torch.zeros(3, 3), r"x must have shape \(2, 3\)"),
        (torch.tensor([[0.5, 0, 0], [0, 0, 0]]), torch.zeros(2, 3), "fractional"),
        (torch.zeros(2, 3), torch.full((2, 3), float("nan")), "NaN or inf"),
    ],
)
def test_golden_rejects_bad_input(weights, x, message):
    params = FatParams(lanes=2, n_inputs=3, n_outputs=2)
    with pytest.raises(ValueError, match=message):
        fat_matvec(params, weights, x)


def test_weight_codes():
    assert encode_weights(torch.tensor([[1, 0, -1]])) == [[0b01, 0b00, 0b11]]
    assert 0b10 not in WEIGHT_CODES.values()


def test_cycle_model_closed_forms():
    fat = FatParams(lanes=1, n_inputs=10, n_outputs=3, zero_skip=16)
    base = FatParams(lanes=1, n_inputs=10, n_outputs=3, arch="parapim")
    dense = torch.ones(3, 10, dtype=torch.int64)
    startup = 4  # accept, scan, take, output
    assert fat_cycles(fat, dense).cycles == 3 * 10 * fat.acc_width + startup
    assert fat_cycles(base, dense).cycles == 3 * 10 * 2 * base.acc_width + startup
    assert fat_cycles(base, torch.zeros(3, 10)).cycles == fat_cycles(base, dense).cycles
    # Empty rows: one op each, one cycle plus the row hand-over.
    assert fat_cycles(fat, torch.zeros(3, 10)).cycles < 12
    # A long run of zeros with a narrow scan window shows up once it outlasts an add.
    sparse = torch.zeros(3, 10, dtype=torch.int64)
    sparse[:, 0] = sparse[:, 9] = 1
    narrow = FatParams(lanes=1, n_inputs=10, n_outputs=3, zero_skip=1)
    assert fat_cycles(narrow, sparse).cycles == fat_cycles(fat, sparse).cycles
    tiny = FatParams(lanes=1, in_width=1, n_inputs=10, n_outputs=3, zero_skip=1)
    wide = FatParams(lanes=1, in_width=1, n_inputs=10, n_outputs=3, zero_skip=16)
    assert fat_cycles(tiny, sparse).cycles > fat_cycles(wide, sparse).cycles


@pytest.mark.parametrize("fields", VARIANTS, ids=variant_id)
@pytest.mark.parametrize("shape", SHAPES, ids=variant_id)
def test_rtl_exact_and_cycle_exact(shape, fields, seed):
    params = FatParams(**shape, **fields)
    rng = random.Random(seed)
    passes = [
        (sparse_weights(params, rng, sparsity), random_inputs(params, rng, kind))
        for sparsity, kind in [(0.0, "lanes"), (0.5, "min"), (0.8, "max"), (1.0, "random")]
    ]
    passes.append(
        (
            torch.ones(params.n_outputs, params.n_inputs, dtype=torch.int64),
            random_inputs(params, rng, "min"),
        )
    )
    passes.append(
        (
            -torch.ones(params.n_outputs, params.n_inputs, dtype=torch.int64),
            random_inputs(params, rng, "min"),
        )
    )
    run = run_passes(params, passes)
    for (w, x), outputs, cycles in zip(passes, run.outputs, run.cycles, strict=True):
        assert outputs == [tuple(row) for row in fat_matvec(params, w, x).T.tolist()]
        assert cycles == fat_cycles(params, w).cycles


@pytest.mark.parametrize("fields", VARIANTS, ids=variant_id)
def test_scan_window_shows_in_cycles(fields):
    params = FatParams(**SHAPES[3], **fields)
    gaps = torch.zeros(params.n_outputs, params.n_inputs, dtype=torch.int64)
    gaps[:, 0] = gaps[:, 15] = 1  # a run of 14 zeros: 8 scan cycles against a 2..6-cycle add
    gaps[1, 7] = -1
    x = torch.tensor([[-1, 0] * 8, [0, -1] * 8])
    run = run_passes(params, [(gaps, x)])
    assert run.cycles == [fat_cycles(params, gaps).cycles]
    assert run.outputs[0] == [tuple(row) for row in fat_matvec(params, gaps, x).T.tolist()]
    if params.skips_zeros:
        wide = FatParams(**{**SHAPES[3], "zero_skip": 16}, **fields)
        assert fat_cycles(params, gaps).cycles > fat_cycles(wide, gaps).cycles


@pytest.mark.parametrize("fields", VARIANTS, ids=variant_id)
def test_rows_faster_than_the_output_drains(fields, seed):
    """Empty and one-add rows finish every few cycles; heavy back-pressure must stall them."""
    params = FatParams(lanes=2, in_width=2, n_inputs=3, n_outputs=12, **fields)
    rng = random.Random(seed)
    passes = [(sparse_weights(params, rng, s), random_inputs(params, rng)) for s in (1.0, 0.67)]
    run = run_passes(params, passes, rng=rng, idle=0.0, backpressure=0.85)
    for (w, x), outputs in zip(passes, run.outputs, strict=True):
        assert outputs == [tuple(row) for row in fat_matvec(params, w, x).T.tolist()]


@pytest.mark.parametrize("fields", VARIANTS, ids=variant_id)
def test_rtl_exact_under_backpressure(fields, seed):
    params = FatParams(**SHAPES[1], **fields)
    rng = random.Random(seed)
    passes = [(sparse_weights(params, rng, s), random_inputs(params, rng)) for s in (0, 0.6, 1)]
    run = run_passes(params, passes, rng=rng, idle=0.4, backpressure=0.6)
    for (w, x), outputs in zip(passes, run.outputs, strict=True):
        assert outputs == [tuple(row) for row in fat_matvec(params, w, x).T.tolist()]


def test_variable_width_saves_cycles(seed):
    rng = random.Random(seed)
    fixed = FatParams(n_inputs=64, n_outputs=4)
    variable = FatParams(n_inputs=64, n_outputs=4, variable_width=True)
    w = sparse_weights(fixed, rng, 0.5)
    timing = fat_cycles(variable, w)
    assert timing.add_cycles < int((w != 0).sum()) * fixed.acc_width
    assert timing.cycles < fat_cycles(fixed, w).cycles
