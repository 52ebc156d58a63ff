"""The fast harness: identical to the cocotb path cycle for cycle, broken designs caught on both,
waveforms on demand, and one clear error for each kind of bad input."""

import contextlib
import random

import numpy as np
import pytest
import torch
from broken_designs import broken_topk, offset_design

from moetile.hw.fat import FatParams
from moetile.hw.registry import Design, block
from moetile.hw.topk import TOPK_ARCHS, TopKParams
from moetile.hw.topk.interface import input_layout
from moetile.sim.fast import DeadlineError, FastSim, Traffic
from moetile.sim.replay import random_patterns, replay_on_cocotb, replay_on_fast
from moetile.sim.testbenches.fat_cases import pass_payloads, random_inputs, sparse_weights
from moetile.sim.testbenches.topk_cases import random_vectors
from moetile.sw.golden.topk import top_k

pytestmark = pytest.mark.cosim

TOPK = TopKParams(n=16, k=4, score_width=8)
FAT_SHAPE = dict(lanes=4, in_width=8, n_inputs=20, n_outputs=6, zero_skip=4)
FAT_VARIANTS = {
    "fat": dict(arch="fat"),
    "parapim": dict(arch="parapim"),
    "fat-varwidth": dict(arch="fat", variable_width=True),
}


def topk_job(params: TopKParams, rng: random.Random, count: int):
    layout = input_layout(params)
    vectors = random_vectors(params, rng, count)
    payloads = [layout.const({"scores": v}).as_bits() for v in vectors]
    return {"i": payloads}, {"o": count}


def fat_job(params: FatParams, rng: random.Random, passes: int):
    columns, rows = [], []
    for sparsity in [0.0, 0.5, 0.9][:passes]:
        c, r, _ = pass_payloads(
            params, sparse_weights(params, rng, sparsity), random_inputs(params, rng, "lanes")
        )
        columns += [v.as_bits() for v in c]
        rows += [v.as_bits() for v in r]
    return {"i_x": columns, "i_w": rows}, {"o": passes * params.n_outputs}


def both_paths(design, inputs, expect, seed, budget):
    sim = FastSim(design)
    patterns = random_patterns(sim, random.Random(seed), 97, 0.4)
    fast = replay_on_fast(sim, inputs, expect, patterns, budget=budget)
    cocotb, _ = replay_on_cocotb(design, inputs, expect, patterns, budget=budget, seed=seed)
    return fast, cocotb


@pytest.mark.parametrize("arch", TOPK_ARCHS)
def test_topk_same_outputs_and_cycles_as_cocotb(arch, seed):
    design = Design(block("topk"), TopKParams(n=16, k=4, score_width=8, arch=arch))
    inputs, expect = topk_job(design.params, random.Random(seed), 30)
    fast, cocotb = both_paths(design, inputs, expect, seed, budget=20_000)
    assert len(fast.outputs["o"]) == 30
    assert fast == cocotb


@pytest.mark.parametrize("variant", FAT_VARIANTS)
def test_fat_same_outputs_and_cycles_as_cocotb(variant, seed):
    design = Design(block("fat"), FatParams(**FAT_SHAPE, **FAT_VARIANTS[variant]))
    inputs, expect = fat_job(design.params, random.Random(seed), 3)
    fast, cocotb = both_paths(design, inputs, expect, seed, budget=200_000)
    assert len(fast.outputs["o"]) == 18
    assert fast == cocotb


def test_topk_results_equal_the_golden_under_traffic(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(-3, 4, size=(5000, TOPK.n))  # narrow: many ties
    run = FastSim(Design(block("topk"), TOPK)).run(
        {"i": {"scores": scores}},
        expect={"o": len(scores)},
        traffic={"i": Traffic.random(0.3, seed), "o": Traffic.random(0.5, seed + 1)},
        budget=100_000,
    )
    index, score = top_k(TOPK, torch.tensor(scores))
    assert np.array_equal(run.payloads("o")["top"]["index"], index.numpy())
    assert np.array_equal(run.payloads("o")["top"]["score"], score.numpy())
    assert np.all(np.diff(run.stamps["o"]) > 0) and run.cycles > len(scores)


@pytest.mark.parametrize("kind", ["wrong_ties", "ignores_ready"])
def test_broken_designs_fail_on_both_paths(kind, seed):
    design = broken_topk(kind, TOPK)
    rng = random.Random(seed)
    vectors = [[0] * TOPK.n, *random_vectors(TOPK, rng, 20)]
    index, score = top_k(TOPK, torch.tensor(vectors))
    layout = input_layout(TOPK)
    inputs = {"i": [layout.const({"scores": v}).as_bits() for v in vectors]}
    expect = {"o": len(vectors)}
    golden = FastSim(Design(block("topk"), TOPK))
    patterns = random_patterns(golden, rng, 31, 0.5)
    good = replay_on_fast(golden, inputs, expect, patterns, budget=5000)
    assert len(good.outputs["o"]) == len(vectors)

    with pytest.raises(DeadlineError) if kind == "ignores_ready" else contextlib.nullcontext():
        fast = replay_on_fast(FastSim(design), inputs, expect, patterns, budget=5000)
        assert fast.outputs != good.outputs
    cocotb, result = replay_on_cocotb(design, inputs, expect, patterns, budget=5000, seed=seed)
    assert cocotb.outputs != good.outputs
    assert result["complete"] == (kind != "ignores_ready")


@pytest.mark.parametrize("waves", ["vcd", "fst"])
def test_waveforms_on_demand(tmp_path, waves):
    params = TopKParams(n=3, k=2, score_width=4)
    try:
        sim = FastSim(Design(block("topk"), params), waves=waves)
    except ValueError as error:  # FST needs system headers that a machine may lack
        assert waves == "fst" and "needs the LZ4 and zlib headers" in str(error)
        return
    path = tmp_path / f"run.{waves}"
    sim.run({"i": {"scores": np.array([[1, 2, 3]])}}, expect={"o": 1}, budget=50, wave_path=path)
    text = path.read_bytes()
    assert len(text) > 100
    if waves == "vcd":
        assert b"$enddefinitions" in text and b"i__valid" in text


def test_a_session_continues_where_the_last_run_left():
    params = FatParams(**FAT_SHAPE)
    rng = random.Random(0)
    columns, rows, expected = pass_payloads(
        params, sparse_weights(params, rng, 0.5), random_inputs(params, rng)
    )
    sim = FastSim(Design(block("fat"), params))
    with sim.open() as session:
        load = session.run({"i_x": [c.as_bits() for c in columns]}, budget=1000)
        rows_run = session.run({"i_w": [r.as_bits() for r in rows]}, expect={"o": 6}, budget=10**5)
    assert load.stamps["i_x"].tolist() == list(range(params.n_inputs))
    assert rows_run.start == load.end
    assert [tuple(y) for y in rows_run.payloads("o")["y"].tolist()] == expected


def test_a_stop_stream_ends_the_run_where_it_is(seed):
    """A run stopped by an output's transfers, continued with the inputs it left, makes the
    same transfers as one run; the second starts on the cycle the first ended."""
    design = Design(block("topk"), TOPK)
    inputs, expect = topk_job(TOPK, random.Random(seed), 40)
    # A sink that stalls often, so the stop comes with inputs still unsent.
    traffic = {"o": Traffic.random(0.8, seed)}
    sim = FastSim(design)
    whole = sim.run(inputs, expect=expect, budget=10_000)
    with sim.open() as session:
        first = session.run(inputs, expect={"o": 3}, budget=10_000, stop=("o",), traffic=traffic)
        assert first.stopped == "o" and len(first.words["o"]) == 3
        sent = len(first.stamps["i"])
        assert 3 <= sent < 40
        rest = session.run({"i": inputs["i"][sent:]}, expect={"o": 37}, budget=10_000)
        assert rest.stopped is None and rest.start == first.end
    assert np.array_equal(np.concatenate([first.words["o"], rest.words["o"]]), whole.words["o"])
    # A stop stream does not hold the run up: it ends once the inputs are sent.
    alone = sim.run({"i": inputs["i"][:2]}, expect={"o": 3}, budget=1000, stop=("o",))
    assert alone.stopped is None and alone.cycles == 2 and len(alone.words["o"]) == 0
    with pytest.raises(ValueError, match="stop stream 'i' is not an output"):
        sim.run(inputs, expect=expect, budget=10, stop=("i",))


def test_a_schedule_offers_each_item_from_its_cycle(seed):
    """Items scheduled on a stream are taken no earlier than their cycles, and at once when
    the sink is ready (the top-k takes one vector a cycle); one late item holds the rest."""
    design = Design(block("topk"), TOPK)
    inputs, expect = topk_job(TOPK, random.Random(seed), 6)
    at = [3, 3, 10, 11, 11, 40]
    run = FastSim(design).run(
        inputs, expect=expect, budget=1000, traffic={"i": Traffic.at(at)}, settle=2
    )
    stamps = run.stamps["i"].tolist()
    assert all(s >= a for s, a in zip(stamps, at, strict=True))
    assert stamps[0] == 3 and stamps[2] == 10 and stamps[5] == 40
    with pytest.raises(ValueError, match="non-decreasing cycles >= 0"):
        Traffic.at([2, 1])
    with pytest.raises(ValueError, match="one cycle an item: 6, not 2"):
        FastSim(design).run(inputs, expect=expect, budget=99, traffic={"i": Traffic.at([0, 1])})


def test_deadline_names_what_is_pending():
    sim = FastSim(Design(block("topk"), TOPK))
    scores = np.zeros((50, TOPK.n), dtype=np.int64)
    with pytest.raises(DeadlineError, match="deadline of 20 cycles passed; i still holds .* of 50"):
        sim.run({"i": {"scores": scores}}, expect={"o": 50}, budget=20)
    with pytest.raises(DeadlineError, match="o received 50 of 60 expected"):
        sim.run({"i": {"scores": scores}}, expect={"o": 60}, budget=500)
    with pytest.raises(DeadlineError, match="o produced more than the expected"):
        sim.run({"i": {"scores": scores}}, expect={"o": 10}, budget=500)


@pytest.mark.parametrize(
    ("inputs", "options", "message"),
    [
        ({"x": [0]}, {}, "unknown input stream 'x' for topk_network; allowed: i"),
        ({"i": [0]}, {"expect": {"i": 1}}, "unknown output stream in expect 'i'"),
        ({"i": [0]}, {"traffic": {"q": Traffic()}}, "unknown stream in traffic 'q'"),
        ({"i": [1 << 128]}, {}, r"stream i: payload 0 must be an integer in \[0, 2\*\*128\)"),
        ({"i": {"scores": np.full((2, 16), 128)}}, {}, r"field scores\[0\] must lie in \[-128"),
        ({"i": {"scores": np.zeros((2, 15), int)}}, {}, r"scores must have shape \(n, 16\)"),
        ({"i": {"scores": np.zeros((2, 16))}}, {}, r"field scores\[0\] must hold integers"),
        ({"i": {"score": np.zeros((2, 16))}}, {}, "payload field scores missing"),
        ({"i": np.zeros((2, 3), np.uint32)}, {}, r"packed words must have shape \(n, 4\)"),
        ({"i": [0]}, {"budget": 0}, "budget must be a cycle count >= 1"),
        ({"i": [0]}, {"expect": {"o": -1}}, "expect\\['o'\\] must be an integer >= 0"),
    ],
)
def test_bad_input_is_refused(inputs, options, message):
    sim = FastSim(Design(block("topk"), TOPK))
    options = {"budget": 100, **options}
    with pytest.raises(ValueError, match=message):
        sim.run(inputs, **options)


def test_bad_traffic_and_designs_are_refused():
    with pytest.raises(ValueError, match="traffic probability must be in"):
        Traffic.random(1.0)
    with pytest.raises(ValueError, match="at least one cycle with a 1"):
        Traffic.explicit([0, 0])
    with pytest.raises(ValueError, match="no fast-harness build of topk_network"):
        FastSim(Design(block("topk"), TopKParams(n=2, k=1, score_width=7)), build=False)


def test_static_inputs_are_set_per_run():
    sim = FastSim(offset_design())
    values = np.arange(256)
    for offset in (0, 255):
        run = sim.run(
            {"i": values.tolist()},
            expect={"o": 256},
            statics={"cfg_offset": offset},
            traffic={"o": Traffic.random(0.5, offset)},
            budget=2000,
        )
        assert run.integers("o") == (values + offset).tolist()
    with pytest.raises(
        ValueError, match=r"static input cfg_offset must be an integer in \[0, 2\*\*8\)"
    ):
        sim.run({"i": [1]}, expect={"o": 1}, statics={"cfg_offset": 256}, budget=10)


def test_the_tuned_build_is_a_library_of_its_own():
    """``FastSim(design, tuned=True)`` (``moetile bench sim``'s ceiling) never shares or
    replaces the default build."""
    from moetile.sim.fast.build import TUNED_VERILATOR_FLAGS, library_path

    design = Design(block("topk"), TopKParams())
    default, tuned = library_path(design), library_path(design, tuned=True)
    assert default != tuned and default.parent.parent == tuned.parent.parent
    assert "--x-assign" in TUNED_VERILATOR_FLAGS
