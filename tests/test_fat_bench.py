"""The FAT benchmark's measurement on a small array, and claim bookkeeping."""

from dataclasses import replace

import pytest

from moetile.app.bench.fat import QUICK, measure_sweep


@pytest.mark.cost(90)
def test_sweep_measures_speedups():
    base = QUICK  # the quick benchmark's array: its builds and synthesis are shared
    rows = measure_sweep(base, (0.0, 0.8), progress=lambda message: None)
    by = {(r["sparsity"], r["design"]): r for r in rows}
    assert len(rows) == 8
    # The ablation: variable width alone speeds the baseline up, never as far as FAT's.
    varwidth = by[0.0, "parapim_varwidth"]["speedup_vs_parapim"]
    assert 1 < varwidth < by[0.0, "fat"]["speedup_vs_parapim"]
    assert by[0.8, "fat_varwidth"]["speedup_vs_same_width"] == pytest.approx(
        by[0.8, "fat_varwidth"]["speedup_vs_parapim"]
        / by[0.8, "parapim_varwidth"]["speedup_vs_parapim"]
    )
    # Dense: half the cycles per bit, less a fixed pipeline fill of a few cycles.
    assert 1.95 < by[0.0, "fat"]["speedup_vs_parapim"] < 2.0
    assert 9.0 < by[0.8, "fat"]["speedup_vs_parapim"] < 10.0
    assert by[0.8, "fat_varwidth"]["speedup_vs_parapim"] > by[0.8, "fat"]["speedup_vs_parapim"]
    assert by[0.0, "fat"]["add_cycles"] == by[0.0, "fat"]["nnz_x_acc_bits"]
    assert by[0.0, "fat"]["throughput_per_cell_vs_parapim"] > 1
    # Energy: the latched carry alone when dense; the skipped zeros too when sparse.
    assert by[0.0, "fat"]["energy_efficiency_vs_parapim"] > 1
    assert (
        by[0.8, "fat"]["energy_efficiency_vs_parapim"]
        > 4 * by[0.0, "fat"]["energy_efficiency_vs_parapim"]
    )
    assert by[0.0, "parapim"]["pj_per_mac"] > by[0.0, "fat"]["pj_per_mac"] > 0
    # Power (energy per cycle): energy efficiency = speed-up × power efficiency.
    for row in rows:
        product = row["speedup_vs_parapim"] * row["power_efficiency_vs_parapim"]
        assert product == pytest.approx(row["energy_efficiency_vs_parapim"])
    # Structurally a FAT lane is a baseline lane without the write-back latch.
    assert (
        by[0.0, "fat"]["structural_cells_per_lane"]
        <= by[0.0, "parapim"]["structural_cells_per_lane"]
    )
    assert replace(base, arch="parapim").cycles_per_bit == 2
