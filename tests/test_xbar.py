"""The multiplexed-crossbar tile: Params, the golden crossbar against an independent
per-element model, groupings and schedules (property tests), and the tile in the Amaranth
simulator, sabotaged designs included."""

import random
from dataclasses import replace
from unittest import mock

import pytest
import torch
from amaranth import Module
from hypothesis import given, settings
from hypothesis import strategies as st

from moetile.hw.xbar import CrossbarParams, TileParams, analog
from moetile.hw.xbar.interface import input_layout, weight_layout
from moetile.hw.xbar.tile import XbarTile
from moetile.sim.amaranth_sim import simulate, stream_recv, stream_send
from moetile.sw.golden.xbar import crossbar_mvm, tile_cycles, tile_slots
from moetile.sw.mapping.xbar import map_experts, schedule_slots, slot_streams
from moetile.sw.mapping.xbar_schedule import (
    GROUPINGS,
    SCHEDULES,
    choice_matrix,
    group_experts,
    make_schedule,
)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(rows=0), "rows must be an integer in \\[1, 1024\\]"),
        (dict(w_bits=9), r"w_bits must be an integer in \[2, 8\]"),
        (dict(cell_bits=9, w_bits=8), r"cell_bits must be an integer in \[1, 8\]"),
        (dict(dac_bits=8, in_bits=8), r"dac_bits must be an integer in \[1, 7\]"),
        (dict(adc_bits=0), r"adc_bits must be an integer in \[1, 16\]"),
        (dict(crossbars_per_group=0), "crossbars_per_group must be an integer in \\[1, 1024\\]"),
        (dict(groups=0), "groups must be an integer in \\[1, 512\\]"),
    ],
)
def test_params_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        TileParams(**fields)


def _reference(params: CrossbarParams, w: list, x: list) -> list:
    """Per element, with Python integers: every bit of every input and every cell bit."""
    y = []
    for c in range(params.cols):
        total = 0
        for s in range(params.slices):
            reads = []
            for p in range(params.planes):
                bitline = 0
                for r in range(params.rows):
                    u = w[r][c] + params.weight_offset
                    cell = (u >> (s * params.cell_bits)) & ((1 << params.slice_bits(s)) - 1)
                    bits = x[r] & ((1 << params.in_bits) - 1)  # two's complement bits
                    if p == params.magnitude_planes:
                        level, weight = bits >> (params.in_bits - 1), -(1 << (params.in_bits - 1))
                    else:
                        low = p * params.dac_bits
                        level = (bits >> low) & ((1 << params.chunk_bits(p)) - 1)
                        weight = 1 << low
                    bitline += level * cell
                reads.append(weight * min(bitline, params.adc_max))
            total += sum(reads) << (s * params.cell_bits)
        y.append(total - params.weight_offset * sum(x))
    return y


CROSSBARS = [
    CrossbarParams(rows=5, cols=3, cell_bits=2, w_bits=8, in_bits=8, dac_bits=1, adc_bits=16),
    CrossbarParams(rows=5, cols=3, cell_bits=2, w_bits=8, in_bits=8, dac_bits=1, adc_bits=3),
    CrossbarParams(rows=4, cols=2, cell_bits=3, w_bits=8, in_bits=8, dac_bits=3, adc_bits=5),
    CrossbarParams(rows=3, cols=2, cell_bits=4, w_bits=4, in_bits=6, dac_bits=5, adc_bits=8),
    CrossbarParams(rows=2, cols=2, cell_bits=1, w_bits=2, in_bits=2, dac_bits=1, adc_bits=1),
]


@pytest.mark.parametrize(
    "params", CROSSBARS, ids=lambda p: f"c{p.cell_bits}d{p.dac_bits}a{p.adc_bits}"
)
def test_golden_against_reference(params, seed):
    rng = random.Random(seed)
    (wlo, whi), (xlo, xhi) = params.weight_range, params.input_range
    for trial in range(20):
        pick = [lambda lo, hi: rng.randint(lo, hi), lambda lo, hi: rng.choice([lo, hi])][trial % 2]
        w = [[pick(wlo, whi) for _ in range(params.cols)] for _ in range(params.rows)]
        x = [pick(xlo, xhi) for _ in range(params.rows)]
        y = crossbar_mvm(params, torch.tensor(w), torch.tensor(x))
        assert y.tolist() == _reference(params, w, x)
        lo, hi = params.out_range
        assert all(lo <= v <= hi for v in y.tolist())
        if params.adc_bits >= params.lossless_adc_bits:
            assert torch.equal(y, torch.tensor(x) @ torch.tensor(w))


def test_lossless_adc_bits_is_tight():
    """The widest bitline sum needs exactly ``lossless_adc_bits``: one bit less saturates."""
    params = CrossbarParams(rows=6, cols=1, cell_bits=2, w_bits=8, dac_bits=1)
    w = torch.full((6, 1), 127)  # u = 255: every cell at its top level
    x = torch.full((6,), 127)  # every magnitude bit set
    lossless = replace(params, adc_bits=params.lossless_adc_bits)
    assert torch.equal(crossbar_mvm(lossless, w, x), x @ w)
    short = replace(params, adc_bits=params.lossless_adc_bits - 1)
    assert not torch.equal(crossbar_mvm(short, w, x), x @ w)


def test_golden_refuses_bad_input():
    params = CROSSBARS[0]
    w = torch.zeros(params.rows, params.cols, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"x must lie in \[-128, 127\]"):
        crossbar_mvm(params, w, torch.full((params.rows,), 128))
    with pytest.raises(ValueError, match="weights must have shape"):
        crossbar_mvm(params, w[:1], torch.zeros(params.rows))
    with pytest.raises(ValueError, match="x must be finite"):
        crossbar_mvm(params, w, torch.full((params.rows,), float("nan")))


# Groupings and schedules.

choices_strategy = st.integers(1, 8).flatmap(
    lambda experts: st.lists(
        st.lists(st.booleans(), min_size=experts, max_size=experts), min_size=0, max_size=24
    ).map(lambda rows: torch.tensor(rows, dtype=torch.bool).reshape(-1, experts))
)


@settings(max_examples=150, deadline=None)
@given(choices=choices_strategy, grouping=st.sampled_from(GROUPINGS))
def test_schedules_serve_every_pair_once(choices, grouping):
    groups = group_experts(grouping, choices.sum(0))
    assert sorted(e for g in groups for e in g) == list(range(choices.shape[1]))
    schedules = {kind: make_schedule(kind, choices, groups) for kind in SCHEDULES}
    wanted = sorted((t, e) for t, e in choices.nonzero().tolist())
    for schedule in schedules.values():
        served = sorted(pair for slot in schedule.slots for pair in slot.values())
        assert served == wanted  # every pair exactly once
        for slot in schedule.slots:
            assert slot  # no empty slot
            for g, (_, e) in slot.items():
                assert e in groups[g]  # a group serves one of its own experts, once per slot
    loads = [[int(choices[:, list(g)].sum())] for g in groups]
    compact = schedules["compact"].length
    assert compact == max((load[0] for load in loads), default=0)
    assert compact <= schedules["single"].length
    assert schedules["aligned"].length == compact
    assert schedules["single"].transfers == schedules["single"].length
    for schedule in schedules.values():
        assert schedule.transfers <= schedule.pairs


def test_sorted_grouping_pairs_heaviest_with_lightest():
    load = [5, 40, 7, 30, 9, 1, 22, 3]
    assert group_experts("S2", load) == ((1, 5), (3, 7), (0, 6), (2, 4))
    assert group_experts("S4", load) == ((1, 3, 5, 7), (0, 2, 4, 6))
    assert group_experts("U4", load) == ((0, 1, 2, 3), (4, 5, 6, 7))
    assert group_experts("U2", [1, 1, 1]) == ((0, 1), (2,))


def test_aligned_schedule_aligns_tokens():
    """Group 0 serves tokens 0, 1, 2 and group 1 tokens 1, 2: compact sends two tokens in
    each of the first two slots, aligned idles group 1 once and sends one token a slot."""
    choices = torch.tensor([[1, 0, 0, 0], [0, 1, 1, 0], [1, 0, 0, 1]], dtype=torch.bool)
    groups = ((0, 1), (2, 3))
    aligned = make_schedule("aligned", choices, groups)
    compact = make_schedule("compact", choices, groups)
    assert aligned.length == compact.length == 3
    assert (aligned.transfers, compact.transfers) == (3, 5)


def _aligned_by_scan(choices, groups) -> list[dict]:
    """Aligned's rule (module docstring of ``xbar_schedule``) as a plain scan over every token
    at every pick: the reference for the bucketed search."""
    queues = [
        [(t, e) for t in range(len(choices)) for e in sorted(g) if choices[t, e]] for g in groups
    ]
    length = max((len(q) for q in queues), default=0)
    left = [{} for _ in queues]
    for g, queue in enumerate(queues):
        for t, e in queue:
            left[g].setdefault(t, []).append(e)
    slots = []
    for s in range(length):
        unmet = {g for g, q in enumerate(left) if sum(map(len, q.values())) == length - s}
        slot = {}
        while unmet:
            free = [g for g, q in enumerate(left) if q and g not in slot]

            def merit(t, free=free, unmet=unmet):
                holders = [g for g in free if t in left[g]]
                most = max(len(q.get(t, ())) for q in left)
                return (len(unmet.intersection(holders)), len(holders), most, -t)

            token = max({t for g in free for t in left[g]}, key=merit)
            for g in free:
                if token in left[g]:
                    slot[g] = (token, left[g][token].pop(0))
                    if not left[g][token]:
                        del left[g][token]
                    unmet.discard(g)
        slots.append(dict(sorted(slot.items())))
    return slots


@settings(max_examples=100, deadline=None)
@given(choices=choices_strategy, grouping=st.sampled_from(GROUPINGS))
def test_aligned_schedule_picks_as_its_rule_says(choices, grouping):
    groups = group_experts(grouping, choices.sum(0))
    assert list(make_schedule("aligned", choices, groups).slots) == _aligned_by_scan(
        choices, groups
    )


def test_bad_routing_and_groups_are_refused():
    with pytest.raises(ValueError, match=r"top_k must name experts in \[0, 3\]"):
        choice_matrix([[0, 4]], 4)
    with pytest.raises(ValueError, match="grouping must be one of"):
        group_experts("U3", [1, 2, 3])
    choices = torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="groups must cover experts 0..2 once each"):
        make_schedule("compact", choices, ((0, 1), (1, 2)))
    with pytest.raises(ValueError, match="schedule must be one of"):
        make_schedule("greedy", choices, ((0, 1, 2),))
    schedule = make_schedule("compact", choices, ((0, 1, 2),))
    with pytest.raises(ValueError, match="experts must all have the same shape"):
        map_experts(SMALL, schedule, [torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3, 3)])
    with pytest.raises(ValueError, match=r"experts\[1\] must lie in \[-8, 7\]"):
        map_experts(SMALL, schedule, [torch.zeros(2, 3), torch.full((2, 3), 8), torch.zeros(2, 3)])


# The tile in the Amaranth simulator.

SMALL = TileParams(
    rows=3,
    cols=2,
    cell_bits=2,
    w_bits=4,
    in_bits=4,
    dac_bits=2,
    adc_bits=3,
    crossbars_per_group=2,
    groups=2,
)


def _tile_run(params: TileParams, seed: int):
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    (wlo, whi), (xlo, xhi) = params.crossbar.weight_range, params.crossbar.input_range
    weights = torch.randint(
        wlo, whi + 1, (params.crossbars, params.rows, params.cols), generator=gen
    )
    choices = torch.rand(6, params.crossbars, generator=gen) < 0.5
    schedule = make_schedule("compact", choices, ((0, 1), (2, 3)))
    inputs = torch.randint(xlo, xhi + 1, (6, params.rows), generator=gen)
    inputs[0] = xlo
    slots = schedule_slots(schedule, inputs)
    expected = [y.tolist() for y in tile_slots(params, weights, slots)]
    dut = XbarTile(params)
    wl, xl = weight_layout(params), input_layout(params)
    xs = slot_streams(params, slots)["i_x"]
    vectors = [
        xl.const(
            {
                "x": xs["x"][n].tolist(),
                "groups": int(xs["groups"][n]),
                "crossbar": xs["crossbar"][n].tolist(),
                "last": int(xs["last"][n]),
            }
        )
        for n in range(len(xs["x"]))
    ]
    program = [
        wl.const({"crossbar": k, "row": r, "w": weights[k, r].tolist()})
        for k in range(params.crossbars)
        for r in range(params.rows)
    ]
    received = []

    async def source(ctx):
        await stream_send(ctx, dut.i_w, program, rng=rng, idle=0.3)
        await stream_send(ctx, dut.i_x, vectors, rng=rng, idle=0.3)

    async def sink(ctx):
        for item in await stream_recv(ctx, dut.o, len(slots), rng=rng, backpressure=0.5):
            received.append([list(item.y[g]) for g in range(params.groups)])

    budget = 8 * tile_cycles(params, [len(s.inputs) for s in slots]) + 8 * len(program)
    simulate(dut, source, sink, deadline_cycles=budget)

    return received, expected


@pytest.mark.parametrize("double_buffered", [False, True])
def test_tile_in_the_amaranth_simulator(seed, double_buffered):
    received, expected = _tile_run(replace(SMALL, double_buffered=double_buffered), seed)
    assert received == expected


class _Unsaturated(analog.AnalogGroup):
    """An ADC that never saturates."""

    def elaborate(self, platform):
        wide = replace(self.params, adc_bits=self.params.lossless_adc_bits)
        inner = analog.AnalogGroup(wide, self.count)
        m = Module()
        m.submodules.inner = inner
        for name in (
            "write_en",
            "write_crossbar",
            "write_row",
            "write_u",
            "read_crossbar",
            "chunk",
        ):
            m.d.comb += getattr(inner, name).eq(getattr(self, name))
        m.d.comb += self.codes.eq(inner.codes)
        return m


def test_sabotaged_adc_fails(seed):
    """With ADCs that do not saturate, the run disagrees with the golden model."""
    from moetile.hw.xbar import tile

    with mock.patch.object(tile, "AnalogGroup", _Unsaturated):
        received, expected = _tile_run(SMALL, seed)
    assert received != expected
