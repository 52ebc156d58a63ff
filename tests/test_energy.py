"""The energy model: every table entry cited, the stated scaling rules, and the activity each
block's simulation turns into."""

from dataclasses import replace

import pytest

from moetile.hw.fat import FatParams
from moetile.hw.mixpe import MixPEParams
from moetile.hw.xbar import TileParams
from moetile.sw.cost.activity import fat_activity, mixpe_activity, xbar_activity
from moetile.sw.cost.energy import (
    ENERGY_TABLE,
    Activity,
    action_energy,
    energy_table_rows,
    static_energy,
)


def test_every_entry_has_a_source():
    for row in energy_table_rows():
        assert (
            row["pj"] > 0 and row["what"] and ("ISSCC" in row["source"] or "ISCA" in row["source"])
        )
    assert ENERGY_TABLE["add8"].pj == 0.03 and ENERGY_TABLE["mul8"].pj == 0.2


def test_scaling_rules_meet_the_table():
    assert action_energy("add", 8) == pytest.approx(0.03)
    assert action_energy("add", 32) == pytest.approx(0.1)
    assert action_energy("add", 4) == pytest.approx(0.015)
    assert action_energy("add", 20) == pytest.approx(0.065)
    assert action_energy("add", 64) == pytest.approx(0.2)
    assert action_energy("multiply", (8, 8)) == pytest.approx(0.2)
    assert action_energy("multiply", (32, 32)) == pytest.approx(3.1, rel=0.05)
    assert action_energy("sram", 64) == pytest.approx(10.0)
    assert action_energy("register", 10) == pytest.approx(0.09)
    # One register bit (5.98 µm²) leaks 7.4e-5 mW: 7.4e-5 pJ in a 1 ns cycle; so does a memory bit.
    assert static_energy(5.98, 0, 1000) == pytest.approx(0.074)
    assert static_energy(0, 10, 1000) == pytest.approx(0.74)
    with pytest.raises(ValueError, match="action kind must be one of add, multiply"):
        action_energy("wire", 3)
    with pytest.raises(ValueError, match="action kind must be one of"):
        Activity().add("leakage", 1)


def test_mixpe_moves_multiplies_out_of_the_inner_loop():
    steps, groups, outputs = 640, 20, 80
    energy = {
        arch: mixpe_activity(MixPEParams(arch=arch), steps, groups, outputs).by_kind()
        for arch in ("mixpe", "multiplier")
    }
    assert energy["mixpe"]["multiply"] * 10 < energy["multiplier"]["multiply"]
    assert energy["mixpe"]["sram"] == energy["multiplier"]["sram"]  # the same operands move
    total = {arch: sum(kinds.values()) for arch, kinds in energy.items()}
    assert total["mixpe"] < total["multiplier"]


@pytest.mark.parametrize("arch", ["mixpe", "multiplier", "group_multiplier"])
def test_mixpe_pipeline_registers_cost_register_writes_alone(arch):
    steps, groups, outputs = 640, 20, 80
    pipelined, unpipelined = (
        mixpe_activity(MixPEParams(arch=arch, pipelined=b), steps, groups, outputs).by_kind()
        for b in (True, False)
    )
    assert pipelined["register"] > unpipelined["register"]
    assert {k: v for k, v in pipelined.items() if k != "register"} == {
        k: v for k, v in unpipelined.items() if k != "register"
    }


def test_xbar_pipeline_registers_cost_register_writes_alone():
    tile = TileParams()
    pipelined, unpipelined = (
        xbar_activity(replace(tile, pipelined=b), 40, 10).by_kind() for b in (True, False)
    )
    # Each of a read's planes registers its levels, codes and weighted columns.
    x = tile.crossbar
    staged = x.rows * x.dac_bits + x.bitlines * x.code_width + x.cols * x.acc_width
    extra = action_energy("register", 40 * x.planes * staged)
    assert pipelined["register"] - unpipelined["register"] == pytest.approx(extra)
    assert {k: v for k, v in pipelined.items() if k != "register"} == {
        k: v for k, v in unpipelined.items() if k != "register"
    }


def test_fat_saves_the_carry_write_back_and_the_zeros():
    fat, base = FatParams(), FatParams(arch="parapim")
    ones = [[1] * fat.n_inputs] * fat.n_outputs
    dense = {p.arch: fat_activity(p, ones) for p in (fat, base)}
    ratio = dense["parapim"].energy_pj() / dense["fat"].energy_pj()
    assert 1.2 < ratio < 2
    fifth = [[int(j % 5 == 0) for j in range(fat.n_inputs)]] * fat.n_outputs
    sparse = fat_activity(fat, fifth).energy_pj()
    assert dense["parapim"].energy_pj() / sparse > 4 * ratio
    # The baseline adds the zeros too: its activity does not depend on the codes.
    assert fat_activity(base, fifth).counts == dense["parapim"].counts
