"""The MoE layer's activity model: the engines' actions counted independently from the
experts' weights and the layer's geometry, jobs per expert, and the energy in the reports."""

import pytest

from moetile.hw.moe import MoELayerParams
from moetile.sim.testbenches.moe_cases import random_layer
from moetile.sw.cost.energy import Activity
from moetile.sw.cost.layer_activity import LayerActivity

SMALL = {"hidden": 24, "expert_hidden": 40, "experts": 4, "top_k": 2, "lanes": 4, "arrays": 2}


def _layer(engine: str, **fields):
    return random_layer(MoELayerParams(**{**SMALL, "engine": engine, **fields}), seed=3)


def _engine_only(layer, counts) -> Activity:
    """A batch's actions less those of a batch routed to no expert (the router's)."""
    activity = LayerActivity(layer)
    tokens = max(counts)
    routed = activity.batch(tokens, counts).counts
    routed.subtract(activity.batch(tokens, [0] * len(counts)).counts)
    return Activity(+routed)


def test_fat_bit_operations_are_each_row_s_non_zero_adds_in_every_lane():
    layer = _layer("fat")
    p = layer.params
    expert = layer.experts[1]
    # Independent of the banks' layout: every gate, up and down row of the expert, its k-th
    # non-zero weight one add of add_width(k) bits, in each of the lanes.
    rows = [*expert.gate.tolist(), *expert.up.tolist(), *expert.down.tolist()]
    per_lane = sum(
        p.unit.add_width(k) for row in rows for k in range(1, sum(1 for v in row if v) + 1)
    )
    counts = [0, p.lanes, 0, 0]
    assert _engine_only(layer, counts).counts[("add", 1)] == p.lanes * per_lane
    # A job takes at most `lanes` tokens: one more is a second job of the same work.
    more = _engine_only(layer, [0, p.lanes + 1, 0, 0]).counts[("add", 1)]
    assert more == 2 * p.lanes * per_lane


@pytest.mark.parametrize("tokens", [1, 3, 9])
def test_crossbar_reads_are_each_token_s_blocks(tokens):
    layer = _layer("xbar")
    p, e = layer.params, layer.params.engine
    x = e.crossbar

    def blocks(rows, inputs):
        return -(-rows // e.crossbar_cols) * -(-inputs // e.crossbar_rows)

    per_token = p.arrays * (blocks(p.gate_up_rows, p.hidden) + blocks(p.down_rows, p.expert_hidden))
    activity = _engine_only(layer, [tokens, 0, 0, 0])
    assert activity.counts[("crossbar", x.rows * x.bitlines)] == tokens * per_token * x.planes
    assert activity.counts[("adc", x.adc_bits)] == tokens * per_token * x.planes * x.bitlines


def test_mixpe_steps_cover_each_phase_s_groups_in_every_lane():
    layer = _layer("mixpe")
    p = layer.params
    e, unit = p.engine, p.unit
    steps = p.gate_up_rows * -(-p.hidden // e.group) * e.group
    steps += p.down_rows * -(-p.expert_hidden // e.group) * e.group
    activity = _engine_only(layer, [0, 0, 2, 0])
    # Every PE adds its code's three shifted copies of x at each step, in every lane: the
    # array's work is a job's, 2 tokens or `lanes`.
    pes = unit.rows * unit.cols
    shift_adds = ("add", unit.product_width)
    assert activity.counts[shift_adds] == 3 * steps * pes
    assert _engine_only(layer, [0, 0, p.lanes, 0]).counts[shift_adds] == 3 * steps * pes


def test_more_tokens_cost_more_and_an_unused_expert_nothing():
    layer = _layer("xbar")
    activity = LayerActivity(layer)
    one, two = (activity.batch(8, [n, 0, 0, 0]).energy_pj() for n in (4, 8))
    assert 0 < one < two
    assert activity.batch(8, [4, 0, 0, 0]).counts == activity.batch(8, [4, 0, 0, 0]).counts
    assert activity.batch(8, [0] * 4).energy_pj() < one


def test_the_combine_and_activation_units_count_per_token_and_unit():
    gated = _layer("xbar")
    p = gated.params
    extra = _engine_only(gated, [1, 0, 0, 0]).counts
    # Gated: per hidden unit and token, the gate and up requantizations and the product's.
    requantize = (p.sum_width, p.multiplier_width)
    assert extra[("multiply", requantize)] == 2 * p.expert_hidden
    assert extra[("multiply", (8, 8))] == p.expert_hidden
    assert extra[("multiply", (p.combine_multiplier_width, p.sum_width))] == p.hidden
