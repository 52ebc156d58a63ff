"""The MixPE benchmark's measurement on a small array and GEMM."""

import pytest

from moetile.app.bench.mixpe import measure
from moetile.hw.mixpe import MixPEParams

pytestmark = pytest.mark.cosim


def test_measure_compares_with_both_multiplier_arrays():
    base = MixPEParams(
        rows=4, cols=4, n_inputs=64, group=32, scale_width=12, scale_frac=0, out_shift=0
    )
    rows = measure(base, (8, 64, 16), (12,), progress=lambda message: None)
    by = {r["design"]: r for r in rows}
    assert set(by) == {"mixpe", "multiplier", "group_multiplier"}
    assert all(r["bit_exact"] for r in rows)
    # Same steps; the baseline waits for its outputs between passes.
    assert by["mixpe"]["cycles"] < by["multiplier"]["cycles"]
    assert by["mixpe"]["cells"] < by["multiplier"]["cells"]
    assert by["mixpe"]["throughput_per_cell_vs_multiplier"] > 1
    assert by["mixpe"]["energy_reduction_vs_multiplier"] > 1
    assert by["mixpe"]["multiply_nj"] < by["multiplier"]["multiply_nj"] / 10
    assert by["multiplier"]["throughput_per_cell_vs_multiplier"] == 1
    # The group-sum array with multipliers: MixPE's cycles, the multiplies back in every PE.
    assert by["group_multiplier"]["cycles"] == by["mixpe"]["cycles"]
    assert by["group_multiplier"]["multiply_nj"] > by["mixpe"]["multiply_nj"]
    assert by["group_multiplier"]["throughput_per_cell_vs_group_multiplier"] == 1
