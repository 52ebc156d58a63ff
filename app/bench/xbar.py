"""``moetile bench xbar``: multiplexed-crossbar tiles against the unshared tile, on real
routing.

Routing: each MoE layer of the bench's trained tiny MoE (:data:`moetile.app.bench.cosim.
BENCH_MODEL`, 8 experts, top-2) traced on held-out text, and a synthetic skewed trace (expert
popularity ``∝ 1/(rank+1)**1.2``). Sorted groupings take each expert's load from the same
model's routing of training text (the synthetic trace: its popularity). Every trace is cut into
batches of :data:`BATCH` tokens; each batch is scheduled on its own and all batches run back
to back on the fast harness, every slot checked against the golden tile and the cycles
against the cycle model. The tile is one crossbar position of the layer (every position runs
the same schedule): ``experts / size`` groups of ``size`` crossbars of
:data:`BENCH_TILE`, weights and inputs random int8 (values do not change cycles). Every tile's
inputs are double-buffered (a slot's transfers overlap the previous slot's reads); the
unshared tile is measured lock-step too, and the baseline is the better of the two.

The ``aligned`` schedule's transfers are studied on their own too (:mod:`.xbar_schedules`):
skewed routing against ``compact`` and against the CP-SAT optimum.

Area is the tile's digital periphery from Yosys plus its analog parts from the cited table
(:mod:`moetile.sw.cost.area`); area efficiency is MVMs per cycle per mm², relative to the
better unshared tile on its fastest schedule, same trace and ADC. Performance density is the
paper's GOPS/W/mm² (a MAC two operations): operations per nJ of the run's dynamic energy
(:func:`xbar_activity`; the analog parts' energy from the cited table, not simulated) per mm²
of the tile, and for the claim of every tile holding the tiny MoE's experts; it needs no
clock.
"""

import random
from dataclasses import replace

import torch

from moetile.app.bench import PAPERS, BenchReport, Claim, design_synth, xbar_schedules
from moetile.app.bench.xbar_schedules import zipf_routing
from moetile.hw.registry import Design, block
from moetile.hw.xbar import TileParams
from moetile.hw.xbar.analog import ANALOG_MODULE
from moetile.sim.xbar_sim import check_slots, run_slots
from moetile.sw.cost.activity import xbar_activity
from moetile.sw.cost.area import TileArea, analog_area, area_table_rows, digital_area
from moetile.sw.golden.xbar import tile_cycles
from moetile.sw.mapping.xbar import schedule_slots, tile_params_for
from moetile.sw.mapping.xbar_schedule import (
    GROUPINGS,
    SCHEDULES,
    choice_matrix,
    group_experts,
    make_schedule,
)

__all__ = ["BATCH", "BENCH_TILE", "measure", "run"]

#: A 16 × 32-cell crossbar (16 inputs × 8 int8 weights of 4 two-bit slices), 1-bit DAC; its
#: ADC is lossless at 6 bits.
#: Inputs double-buffered (a slot's transfers hidden behind the previous slot's reads), the
#: strongest periphery for every grouping; the lock-step unshared tile is measured too.
BENCH_TILE = TileParams(
    rows=16, cols=8, cell_bits=2, w_bits=8, in_bits=8, dac_bits=1, adc_bits=6, double_buffered=True
)
#: ``(label, grouping, double_buffered)`` of every tile measured: each grouping
#: double-buffered, and ``none-ls``, the unshared tile in lock-step (its slots' input transfers
#: wait for the previous slot's reads).
TILES = tuple((grouping, grouping, True) for grouping in GROUPINGS) + (("none-ls", "none", False),)
#: ADC resolutions measured: lossless, and two bits fewer (saturating).
ADC_BITS = (6, 4)
BATCH = 32
TOKENS = 256
#: A quick run: a 4 × 16-cell crossbar with its lossless ADC, 64 tokens of each trace.
QUICK_TILE, QUICK_TOKENS = replace(BENCH_TILE, rows=4, cols=4), 64
QUICK_ADC_BITS = (QUICK_TILE.crossbar.lossless_adc_bits,)
BASELINE = (
    "the strongest unshared tile (one periphery per crossbar, double-buffered or lock-step) on "
    "its fastest schedule"
)
#: The configuration the claims measure, fixed before the run: four sorted experts per
#: periphery, on the paper's compact schedule (the table has every other).
CLAIM_CONFIG = ("S4", "compact")


def moe_tiles(tile: TileParams) -> int:
    """Tile positions holding every expert of the bench's tiny MoE: each layer's gate and up
    projections (``expert_hidden × hidden``) and its down projection, cut into crossbars."""
    from moetile.app.bench.cosim import BENCH_MODEL

    d, f = BENCH_MODEL.hidden, BENCH_MODEL.expert_hidden
    rows, cols = tile.rows, tile.cols
    per_layer = 2 * -(-d // rows) * -(-f // cols) + -(-f // rows) * -(-d // cols)
    return BENCH_MODEL.layers * per_layer


def _density_claim(rows: list[dict], setting: str, tile: TileParams) -> Claim:
    """GOPS/W/mm² of the whole MoE part: every tile position runs the same schedule, so the
    part's operations per nJ are one tile's, over all the positions' area."""
    tiles = moe_tiles(tile)
    per_tile = sum(r["gops_per_w_per_mm2"] for r in rows) / len(rows)
    area_mm2 = tiles * sum(r["area_um2"] for r in rows) / len(rows) / 1e6
    return Claim(
        "performance_density",
        f"GOPS/W/mm² of the MoE part, {setting}, mean over the trained tiny MoE's layers: "
        f"operations per nJ of dynamic energy over the area of the {tiles} tiles holding every "
        "expert (analog energy and area from the cited ISAAC table, digital area from Yosys, "
        "digital energy from the run's activity; no static energy)",
        15.6,
        per_tile / tiles,
        "the paper's absolute figure (no baseline)",
        decimals=1,
        source=PAPERS["xbar"],
        beyond=f"the figure falls as the part grows (it divides by the area), and this part is "
        f"the tiny MoE's, {area_mm2:.3g} mm² of {tile.rows} × {tile.crossbar.bitlines}-cell "
        "crossbars, not the paper's model and crossbars: not a like-for-like comparison",
    )


def _traces(progress, tokens: int, quick: bool = False) -> dict:
    """``{name: (top_k (tokens, k), expert load for sorting)}``."""
    from moetile.app.bench.cosim import bench_model
    from moetile.sw.models.corpus import stdlib_corpus
    from moetile.sw.models.trace import passages_of, record_hf_trace

    model = bench_model(progress, quick)
    context = model.config.max_position_embeddings
    train, validation = stdlib_corpus().split_bytes()
    progress(f"xbar: tracing {tokens} tokens of held-out text through the bench's tiny MoE")
    held_out = record_hf_trace(model, passages_of(validation, context, tokens), "bench")
    profile = record_hf_trace(model, passages_of(train, context, 4 * tokens), "bench", "train")
    traces = {
        f"tiny-moe layer {n}": (layer.top_k, profile.layers[n].expert_load)
        for n, layer in enumerate(held_out.layers)
    }
    popularity, skewed = zipf_routing(tokens, held_out.experts, held_out.top_k, 1.2)
    traces["skewed"] = (skewed, popularity * 1000)
    return traces


def _tile_area(params: TileParams) -> TileArea:
    names = tuple(f"{ANALOG_MODULE}{g}" for g in range(params.groups))
    synth = design_synth(Design(block("xbar"), params), blackbox=names)
    return TileArea(digital_area(synth.cells_by_type), analog_area(params))


def _run(params: TileParams, top_k, load, grouping: str, schedule: str, rng) -> dict:
    """One trace on one grouping and schedule: every batch, back to back."""
    experts = len(load)
    choices = choice_matrix(top_k, experts)
    groups = group_experts(grouping, load)
    xbar = params.crossbar
    slots, length, transfers, pairs = [], 0, 0, 0
    for start in range(0, len(choices), BATCH):
        plan = make_schedule(schedule, choices[start : start + BATCH], groups)
        inputs = torch.tensor(
            [[rng.randint(*xbar.input_range) for _ in range(xbar.rows)] for _ in range(BATCH)]
        )
        slots += schedule_slots(plan, inputs)
        length, transfers, pairs = (
            length + plan.length,
            transfers + plan.transfers,
            pairs + plan.pairs,
        )
    tile = tile_params_for(params, plan)
    lo, hi = xbar.weight_range
    weights = torch.tensor(
        [
            [[rng.randint(lo, hi) for _ in range(tile.cols)] for _ in range(tile.rows)]
            for _ in range(tile.crossbars)
        ]
    )
    run = run_slots(tile, weights, slots)
    check_slots(tile, weights, slots, run.outputs)
    model = tile_cycles(tile, [len(s.inputs) for s in slots])
    if run.cycles != model:
        raise AssertionError(f"crossbar {tile}: measured {run.cycles} cycles, model {model}")
    area = _tile_area(tile)
    energy = xbar_activity(tile, pairs, len(slots)).energy_pj()
    throughput = pairs / run.cycles
    ops = 2 * params.crossbar.rows * params.crossbar.cols * pairs  # a MAC is two operations
    return {
        "grouping": grouping,
        "schedule": schedule,
        "groups": tile.groups,
        "crossbars_per_group": tile.crossbars_per_group,
        "double_buffered": tile.double_buffered,
        "slots": length,
        "transfers": transfers,
        "mvms": pairs,
        "cycles": run.cycles,
        "bit_exact": True,
        **{k: round(v, 1) for k, v in area.to_json().items()},
        "mvms_per_cycle": throughput,
        "mvms_per_cycle_per_mm2": throughput / area.total * 1e6,
        "energy_nj": energy / 1000,
        # GOPS/W is operations per nJ, whatever the clock.
        "gops_per_w_per_mm2": ops / (energy / 1000) / (area.total / 1e6),
    }


def measure(traces: dict, adc_bits, progress, tile: TileParams = BENCH_TILE) -> list[dict]:
    rows = []
    for trace, (top_k, load) in traces.items():
        for bits in adc_bits:
            mine = []
            for label, grouping, double in TILES:
                params = replace(tile, adc_bits=bits, double_buffered=double)
                progress(f"xbar: {trace}, {bits}-bit ADC, grouping {label}")
                for schedule in SCHEDULES:
                    rng = random.Random(f"{trace}-{bits}-{grouping}-{schedule}")
                    row = _run(params, top_k, load, grouping, schedule, rng)
                    mine.append({"trace": trace, "adc_bits": bits, **row, "grouping": label})
            unshared = [r for r in mine if r["crossbars_per_group"] == 1]
            base = max(r["mvms_per_cycle_per_mm2"] for r in unshared)
            for row in mine:
                row["area_efficiency_vs_unshared"] = row["mvms_per_cycle_per_mm2"] / base
            rows += mine
    return rows


def run(progress, quick: bool = False) -> BenchReport:
    if quick:
        rows = measure(_traces(progress, QUICK_TOKENS, quick), QUICK_ADC_BITS, progress, QUICK_TILE)
    else:
        rows = measure(_traces(progress, TOKENS), ADC_BITS, progress)
    adc_bits = (QUICK_ADC_BITS if quick else ADC_BITS)[0]
    chosen = [
        r
        for r in rows
        if (r["grouping"], r["schedule"], r["adc_bits"]) == (*CLAIM_CONFIG, adc_bits)
    ]
    learned = [r["area_efficiency_vs_unshared"] for r in chosen if r["trace"] != "skewed"]
    (skewed,) = [r["area_efficiency_vs_unshared"] for r in chosen if r["trace"] == "skewed"]
    unshared = next(r for r in rows if r["grouping"] == "none" and r["adc_bits"] == adc_bits)
    shared = f"{unshared['digital_um2'] / unshared['area_um2']:.0%}"
    setting = (
        f"{'/'.join(CLAIM_CONFIG)}, double-buffered (fixed before the run), lossless "
        f"{adc_bits}-bit ADC"
    )
    claims = [
        Claim(
            name,
            f"MoE-part MVMs per cycle per mm², {setting}, {trace}",
            2.2,
            value,
            BASELINE,
            source=PAPERS["xbar"],
            beyond=f"a tile's digital periphery, which the crossbars of a group share, is "
            f"{shared} of the unshared tile's area here",
        )
        for name, trace, value in (
            (
                "area_efficiency",
                "mean over the trained tiny MoE's layers",
                sum(learned) / len(learned),
            ),
            ("area_efficiency_skewed", "the synthetic skewed trace", skewed),
        )
    ]
    learned_rows = [r for r in chosen if r["trace"] != "skewed"]
    claims.append(_density_claim(learned_rows, setting, QUICK_TILE if quick else BENCH_TILE))
    schedule_rows, schedule_claims = xbar_schedules.run(progress, quick)
    return BenchReport("xbar", rows + schedule_rows + area_table_rows(), claims + schedule_claims)
