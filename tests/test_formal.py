"""Formal proofs: every registered block has them, each property fails on a design broken on
purpose (with a counterexample waveform), and ``moetile prove`` refuses bad requests."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from broken_designs import EagerLoads, OutputMutant, UnguardedLandings, WrongTies

from moetile.app.cli import main
from moetile.hw.gocache import selection
from moetile.hw.registry import Design, block, blocks
from moetile.sim.formal.harness import output_streams
from moetile.sim.formal.run import SHORT_INDUCTION_DEPTH, prove_design, prove_designs
from moetile.sim.formal.spec import formal_spec
from moetile.sim.formal.tools import SbyOutcome
from moetile.sw.paths import CACHE_DIR_ENV


def test_every_block_proves_held_on_every_output_port():
    for entry in blocks():
        spec = formal_spec(entry.name)
        assert spec.params, entry.name
        for params in spec.params:
            component = entry.build(params)
            component._MustUse__silence = True
            names = {p.name for p in spec.properties(params)}
            for port in output_streams(component):
                assert f"{port}.held" in names, (entry.name, port)


def _fails(name: str, index: int, prop: str, mutant: str, make):
    """Prove ``prop`` of block ``name``'s ``index``-th formal Params on the design ``make``
    builds; it must fail with a counterexample waveform."""
    spec = formal_spec(name)
    design = Design(block(name), spec.params[index])
    (result,) = prove_design(design, spec, [prop], (mutant, lambda: make(design)))
    assert result.status == "failed", (name, prop, mutant, result)
    assert Path(result.trace).stat().st_size > 0


@pytest.mark.parametrize(
    "name, index, prop, kind",
    [
        ("topk", 0, "o.held", "unheld"),
        ("topk", 0, "o.counted", "duplicate"),
        ("topk", 1, "o.latency", "drop"),
        ("topk", 1, "rule", "flip"),
        ("fat", 0, "o.held", "unheld"),
        ("fat", 0, "o.counted", "duplicate"),
        ("fat", 0, "o.latency", "drop"),
        ("fat", 0, "sums", "flip"),
        ("fat", 1, "sums", "flip"),
        ("fat", 2, "sums", "flip"),
        ("xbar", 0, "o.held", "unheld"),
        ("xbar", 1, "o.counted", "duplicate"),
        ("xbar", 0, "o.latency", "drop"),
        ("xbar", 0, "mvm", "flip"),
        ("xbar", 1, "mvm", "flip"),
        ("gemv", 0, "o.held", "unheld"),
        ("gemv", 0, "o.counted", "duplicate"),
        ("gemv", 0, "o.latency", "drop"),
        ("gemv", 0, "product", "flip"),
        ("mixpe", 0, "o.counted", "duplicate"),
        ("mixpe", 1, "o.latency", "drop"),
        ("gocache", 0, "o.counted", "duplicate"),
        ("gocache", 0, "o.latency", "drop"),
        ("gocache", 0, "selection", "flip"),
        ("predictor", 0, "o.counted", "duplicate"),
        ("predictor", 0, "o.latency", "drop"),
        ("expert_cache", 0, "o.held", "unheld"),
        ("expert_cache", 1, "o.counted", "duplicate"),
        ("expert_cache", 0, "o.latency", "drop"),
        ("expert_cache", 1, "o_fetch.held", "unheld"),
        ("expert_cache", 0, "fetch", "flip"),
        # Not moe_layer's latency: a failing proof there is some 90 steps deep; its property is
        # the one every other block's drop and tightness cases break, and a simulated witness
        # shows its bounds tight (test_moe_layer_latency_bounds_are_reached).
        ("moe_layer", 1, "o_stats.counted", "duplicate"),
    ],
)
def test_a_broken_output_fails_its_property(name, index, prop, kind):
    port = prop.split(".")[0] if "." in prop else "o"
    _fails(name, index, prop, kind, lambda d: OutputMutant(d.component(), kind, port))


BOUNDED = ["gemv", "mixpe", "xbar", "gocache", "predictor", "expert_cache", "moe_layer"]


@pytest.mark.parametrize(
    "name, bound, prop",
    [(name, "capacity", "counted") for name in BOUNDED]
    + [(name, "latency", "latency") for name in BOUNDED if name != "moe_layer"],
)
def test_contract_bounds_are_tight(name, bound, prop):
    """One less than each block's stated latency and capacity fails, on every port with a
    latency bound (that they hold is proved by ``moetile prove``): the bounds say what the
    hardware does, not merely something it stays under. (moe_layer's latencies, some 90 steps
    deep, are reached by a simulated witness instead: see below.)"""
    spec = formal_spec(name)
    checked = 0
    for index, params in enumerate(spec.params):
        # A port with no latency bound in reach (moe_layer's default Params) is not checked.
        ports = [c.port for c in spec.contracts(params) if c.latency is not None]
        if not ports:
            continue
        design = Design(block(name), params)

        def tighter(p, ports=ports):
            return [
                dataclasses.replace(c, **{bound: getattr(c, bound) - 1}) if c.port in ports else c
                for c in spec.contracts(p)
            ]

        results = prove_design(
            design,
            dataclasses.replace(spec, contracts=tighter),
            [f"{port}.{prop}" for port in ports],
            (f"{bound}_less", design.component),
        )
        assert [r.status for r in results] == ["failed"] * len(ports), (name, index, results)
        checked += len(ports)
    assert checked


def test_moe_layer_latency_bounds_are_reached():
    """moe_layer's latency bounds are tight: with every weight dense and every sink ready, the
    smallest layer's token waits exactly ``RESULT_LATENCY`` cycles for its result and
    ``STATS_LATENCY`` for its batch's stats, in the Amaranth simulator. A run that reaches a
    bound is a counterexample to the bound one cycle less, found without a 90-step search."""
    from moetile.sim.amaranth_sim import simulate
    from moetile.sim.formal.blocks.moe_layer import RESULT_LATENCY, STATS_LATENCY, TINY
    from moetile.sim.testbenches.moe_cases import random_layer
    from moetile.sw.mapping.moe_layer import WORD_BITS, load_words, token_payloads

    for seed, value in ((0, -128), (1, 127)):
        dut = Design(block("moe_layer"), TINY).component()
        fields = token_payloads(TINY, [[value]], [1])
        token = {name: fields[name][0].tolist() for name in ("x", "scale", "last")}
        words = [
            sum(int(w) << (WORD_BITS * n) for n, w in enumerate(word))
            for word in load_words(random_layer(TINY, seed, sparsity=0.0))
        ]
        seen = {"token": [], "o": [], "o_stats": []}

        async def testbench(ctx, dut=dut, token=token, words=words, seen=seen):
            ctx.set(dut.o.ready, 1)
            ctx.set(dut.o_stats.ready, 1)
            sends = [(dut.i_load, w, dut.i_load.payload.as_value()) for w in words]
            sends.append((dut.i_token, token, dut.i_token.payload))
            cycle = 0
            while not (seen["o"] and seen["o_stats"]):
                stream = sends[0][0] if sends else None
                if sends:
                    ctx.set(stream.valid, 1)
                    ctx.set(sends[0][2], sends[0][1])
                *_, taken, result, stats = await ctx.tick().sample(
                    stream.ready if stream is not None else dut.o.valid,
                    dut.o.valid,
                    dut.o_stats.valid,
                )
                if stream is not None and taken:
                    sends.pop(0)
                    ctx.set(stream.valid, 0)
                    if stream is dut.i_token:
                        seen["token"].append(cycle)
                for port, valid in (("o", result), ("o_stats", stats)):
                    if valid:
                        seen[port].append(cycle)
                cycle += 1

        simulate(dut, testbench, deadline_cycles=5000)
        (taken,) = seen["token"]
        assert (seen["o"][0] - taken, seen["o_stats"][0] - taken) == (RESULT_LATENCY, STATS_LATENCY)


@pytest.mark.parametrize("prop", ["rule", "miter"])
def test_ties_to_the_higher_index_fail_rule_and_miter(prop):
    _fails("topk", 0, prop, "wrong_ties", lambda d: WrongTies(d.params))


def _ties_to_the_later_token(a, b):
    return (a.score < b.score) | ((a.score == b.score) & (a.token < b.token))


def _ties_unbroken(a, b):
    return a.score < b.score


@pytest.mark.parametrize("worse", [_ties_to_the_later_token, _ties_unbroken])
def test_a_scan_that_misranks_ties_fails_selection(worse):
    """The GO cache's scan for each expert's new worst entry, with ties ranked wrong: the
    next token that beats it drops the wrong one."""
    with mock.patch.object(selection, "worse", worse):
        _fails("gocache", 0, "selection", worse.__name__, lambda d: d.component())


@pytest.mark.parametrize("guarded, status", [(True, "proved"), (False, "failed")])
def test_a_load_into_a_slot_waits_while_a_job_reads_it(guarded, status):
    """The smallest cached layer with its load stream open at all times: the guard on its
    writes alone keeps every slot a job reads untouched (proved by k-induction); without it, a
    word lands while a job runs (a counterexample)."""
    spec = formal_spec("moe_layer")
    design = Design(block("moe_layer"), spec.params[2])
    assert design.params.cache is not None
    mutant = (
        f"eager_{'guarded' if guarded else 'unguarded'}",
        lambda: EagerLoads(design.params, guarded),
    )
    (result,) = prove_design(design, spec, ["slot_safe"], mutant)
    assert result.status == status, result
    assert (result.trace is not None) == (status == "failed")


def test_a_fetch_landing_beside_a_job_is_caught_in_the_job_s_slot():
    """The smallest layer with prefetch, its landing guard fooled: the solver finds a word
    landing in the slot a job reads (with the guard, ``moetile prove`` proves it never does)."""
    spec = formal_spec("moe_layer")
    design = Design(block("moe_layer"), spec.params[3])
    assert design.params.cache_prefetch
    mutant = ("unguarded_landings", lambda: UnguardedLandings(design.params))
    (result,) = prove_design(design, spec, ["slot_safe"], mutant)
    assert result.status == "failed" and result.trace is not None, result


def test_correct_designs_pass_the_properties_their_mutants_fail():
    spec = formal_spec("topk")
    design = Design(block("topk"), spec.params[0])
    results = prove_design(design, spec, ["o.held", "o.counted", "rule", "miter"])
    assert [r.status for r in results] == ["proved", "bounded", "bounded", "bounded"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["prove", "nosuch"], "unknown block 'nosuch'"),
        (["prove", "--param", "n=3"], "--param needs a block name"),
        (["prove", "topk", "--param", "width=3"], "unknown parameter 'width'"),
        (["prove", "topk", "--param", "k=9"], "k must be"),
        (["prove", "topk", "--property", "nosuch"], "unknown property nosuch"),
        (["prove", "topk", "--max-depth", "0"], "--max-depth must be at least 1, not 0"),
    ],
)
def test_bad_requests_are_refused(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_max_depth_caps_every_property_s_depth(tmp_path):
    """``--max-depth``: a deep bounded property stops at the cap; an inductive one that closes
    within it is still proved."""
    spec = formal_spec("topk")
    design = Design(block("topk"), spec.params[0])
    with mock.patch.dict(os.environ, {CACHE_DIR_ENV: str(tmp_path)}):
        results = prove_designs([(design, spec)], ["o.held", "miter"], max_depth=5)
    by_name = {r.name: r for _design, r in results}
    assert (by_name["miter"].status, by_name["miter"].depth) == ("bounded", 5)
    assert by_name["o.held"].status == "proved"


def test_proves_with_the_environment_not_activated(tmp_path):
    """SymbiYosys finds Yosys and every solver beside the running Python, not on PATH: the
    installed ``moetile`` works from a virtual environment that was never activated."""
    env = {"HOME": os.environ["HOME"], "PATH": "/usr/bin:/bin", CACHE_DIR_ENV: str(tmp_path)}
    moetile = Path(sys.executable).parent / "moetile"
    for block_name, prop, proved in (("topk", "o.held", 2), ("expert_cache", "o.held", 2)):
        run = subprocess.run(
            [str(moetile), "prove", block_name, "--property", prop],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"{proved} proved unbounded" in run.stdout, run.stdout


@pytest.mark.parametrize(
    "short, depths",
    [("proved", [SHORT_INDUCTION_DEPTH]), ("failed", [SHORT_INDUCTION_DEPTH]), ("bounded", None)],
)
def test_an_inductive_property_runs_at_full_depth_unless_the_short_run_decides(
    tmp_path, short, depths
):
    """A short k-induction run stands when it proves or fails the property; when it only
    bounds it, the property runs again at its own depth, so the verdict is that of one run at
    the full depth."""
    spec = formal_spec("topk")
    design = Design(block("topk"), spec.params[1])
    (held,) = [p for p in spec.properties(design.params) if p.name == "o.held"]
    assert held.inductive and held.depth > SHORT_INDUCTION_DEPTH
    calls = []

    def sby(job_dir, text, mode, depth, *rest):
        calls.append(depth)
        status = short if depth == SHORT_INDUCTION_DEPTH else "bounded"
        return SbyOutcome(status, depth, None, "")

    with (
        mock.patch.dict(os.environ, {CACHE_DIR_ENV: str(tmp_path)}),
        mock.patch("moetile.sim.formal.run.run_sby", sby),
    ):
        (result,) = prove_design(design, spec, ["o.held"])
    assert calls == (depths or [SHORT_INDUCTION_DEPTH, held.depth])
    assert (result.status, result.depth) == (short, calls[-1])
