"""``moetile sweep``: specs checked whole before anything runs, points run on a local process
pool or a Dask cluster with the same table, each result cached so that a rerun or an
interrupted sweep does only what is missing, failing points reported without stopping the
others."""

import json

import pytest

from moetile.app.cli import main
from moetile.app.sweep import SweepSpec, read_spec, sweep
from moetile.app.sweep.results import pareto_front, point_colours, write_results
from moetile.app.sweep.run import _cached_path, point_key
from moetile.app.sweep.spec import cosim_settings

#: The tiny MoE, 8 tokens a point.
FIXED = {
    "model": "tiny-moe",
    "train_steps": 2,
    "tokens": 8,
    "max_tokens": 16,
    "quality_tokens": 0,
}
METRICS = ("cycles_per_token", "utilization", "bit_exact", "error")
#: The MixPE and crossbar designs the documented `moetile cosim --engine` runs build.
DESIGN = {"lanes": 8, "arrays": 2}
ENGINES = ["mixpe", "xbar"]


def test_grid_and_random_points():
    spec = SweepSpec(axes={"lanes": [4, 8, 16], "engine": ["mixpe", "xbar"]}, fixed=FIXED)
    points = spec.points()
    assert [(p["lanes"], p["engine"]) for p in points][:3] == [
        (4, "mixpe"),
        (4, "xbar"),
        (8, "mixpe"),
    ]
    assert len(points) == 6 and all(p["tokens"] == 8 for p in points)
    sample = SweepSpec(axes=spec.axes, fixed=FIXED, mode="random", samples=3, seed=1).points()
    assert len(sample) == 3 and all(p in points for p in sample)
    again = SweepSpec(axes=spec.axes, fixed=FIXED, mode="random", samples=3, seed=1).points()
    assert sample == again


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"axes": {"lane": [1]}}, "unknown setting 'lane'; allowed: model, tokens"),
        ({"axes": {"lanes": [4, 0]}}, "point 1 (lanes=0): lanes must be an integer >= 1"),
        ({"axes": {"engine": ["fat", "pim"]}}, "point 1 (engine='pim'): engine must be one of"),
        ({"axes": {"lanes": []}}, "the spec has no points: axis lanes lists no values"),
        ({"axes": {}}, "the spec has no axes"),
        ({"axes": {"lanes": [4]}, "metrics": ["speed"]}, "metrics must be some of"),
        ({"axes": {"lanes": [4]}, "mode": "random"}, "a random sweep needs samples >= 1"),
        ({"axes": {"lanes": [4]}, "nodes": 3}, "unknown entry 'nodes'"),
        ({"axes": {"group": [32, 48]}, "fixed": {"engine": "mixpe"}}, "point 1 (group=48): group"),
        ({"axes": {"group": [32]}}, "point 0 (group=32): param 'group=32': the knobs of engine"),
    ],
)
def test_bad_specs_are_refused_in_one_line(spec, message, tmp_path, capsys):
    path = tmp_path / "spec.toml"
    path.write_text(_toml(spec))
    with pytest.raises(ValueError, match="spec.toml: "):
        read_spec(path)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("moetile: error:") and message in error, error
    assert not out.exists()


def _toml(spec: dict) -> str:
    lines = []
    for name, value in spec.items():
        if not isinstance(value, dict):
            lines.append(f"{name} = {json.dumps(value)}")
    for table in ("fixed", "axes"):
        if table in spec:
            lines.append(f"[{table}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in spec[table].items()]
    return "\n".join(lines) + "\n"


def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys):
    path = tmp_path / "spec.toml"
    path.write_text(_toml({"fixed": FIXED, "axes": {"lanes": [8]}}))
    out = tmp_path / "out"
    argv = ["sweep", str(path), "--rerun", "--scheduler", "tcp://127.0.0.1:9", "--out", str(out)]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("moetile: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")


def test_a_knob_axis_sets_the_point_s_params():
    """An axis named by a knob of the accelerator's Params (MixPE's group size here) goes into
    each point's ``params`` setting, beside the spec's own; the rows keep the axis."""
    fixed = {"engine": "mixpe", "params": "router_macs=16"}
    spec = SweepSpec(axes={"group": [32, 64]}, fixed=fixed)
    settings = [cosim_settings(point) for point in spec.points()]
    assert [s["params"] for s in settings] == ["router_macs=16,group=32", "router_macs=16,group=64"]
    # No held-out quality step, whose figures no metric keeps, unless a point asks for one.
    assert all(s["quality_tokens"] == 0 for s in settings)
    asked = SweepSpec(axes={"quality_tokens": [0, 64]}).points()
    assert [cosim_settings(p)["quality_tokens"] for p in asked] == [0, 64]
    with pytest.raises(ValueError, match="knob router_macs is both in params and a setting"):
        SweepSpec(axes={"router_macs": [8]}, fixed=fixed)


def test_knob_points_run_with_their_params():
    """Two W4A8 group sizes on the golden backend: the quantization differs, so the error, and
    the on-chip energy."""
    from moetile.app.sweep.point import run_point

    fixed = {"hf": "qwen3_moe", "engine": "mixpe", "backend": "golden", "tokens": 8}
    spec = SweepSpec(axes={"group": [32, 64]}, fixed=fixed | {"quality_tokens": 0})
    metrics = ("error", "onchip_uj_per_token")
    runs = [run_point(cosim_settings(p), metrics)["metrics"] for p in spec.points()]
    assert runs[0]["error"] != runs[1]["error"]
    # Twice the group: half the group transfers, each dequantizing every PE's sum.
    assert runs[0]["onchip_uj_per_token"] > runs[1]["onchip_uj_per_token"] > 0


def test_a_seed_without_a_sample_is_one_line(tmp_path, capsys):
    path = tmp_path / "spec.toml"
    path.write_text(_toml({"fixed": FIXED, "axes": {"lanes": [8, 16]}}))
    assert main(["sweep", str(path), "--seed", "3", "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == "moetile: error: --seed draws a random sample: give --samples N too"


def test_pareto_front():
    points = [(10, 5), (20, 2), (15, 6), (10, 7), (30, 2)]
    assert pareto_front(points) == [0, 1]


def test_luts_and_energy_make_a_pareto_plot(tmp_path):
    """Area from the FPGA flow (LUTs) and the off-chip energy as colour: a plot, with or without
    energy on every point."""
    from moetile.app.sweep.run import SweepResult

    metrics = ("us_per_token", "luts", "offchip_uj_per_token")
    spec = SweepSpec(axes={"lanes": [4, 8]}, metrics=metrics)
    rows = [
        {"lanes": 4, "us_per_token": 9.0, "luts": 900, "offchip_uj_per_token": 2.0},
        {"lanes": 8, "us_per_token": 5.0, "luts": 1500, "offchip_uj_per_token": None},
    ]
    ok = {"status": "ok", "failure": "", "cached": False, "seconds": 1.0}
    result = SweepResult(spec, [row | ok for row in rows])
    assert write_results(result, tmp_path / "out")[-1] == "pareto.png"


def test_the_plot_s_colour_is_the_energy_every_point_has():
    on, off = "onchip_uj_per_token", "offchip_uj_per_token"
    rows = [{on: 1.0, off: 2.0, "utilization": 0.5}, {on: 3.0, off: None, "utilization": 0.7}]
    both = (on, off, "utilization")
    assert point_colours(both, rows) == (on, [1.0, 3.0])
    assert point_colours(both, rows[:1]) == ("uj_per_token", [3.0])
    assert point_colours(("utilization",), rows) == ("utilization", [0.5, 0.7])
    assert point_colours(("error",), rows) == (None, [])


@pytest.mark.cosim
def test_a_sweep_resumes_from_its_cache_and_reports_failures(tmp_path):
    spec = SweepSpec(axes={"engine": ENGINES}, fixed=FIXED | DESIGN, metrics=METRICS)
    first = sweep(spec, workers=2, rerun=True)
    assert [r["status"] for r in first.rows] == ["ok", "ok"]
    assert all(r["bit_exact"] and r["cycles_per_token"] > 0 for r in first.rows)
    # W4A8 experts quantize coarser than int8 experts.
    assert first.rows[0]["error"] > first.rows[1]["error"]
    # An interrupted sweep: one point's result lost; a rerun measures it alone.
    _cached_path(point_key(cosim_settings(spec.points()[1]), METRICS)).unlink()
    again = sweep(spec, workers=1)
    assert [r["cached"] for r in again.rows] == [True, False]
    assert again.metric_rows() == first.metric_rows()
    files = write_results(again, tmp_path / "out")
    assert files == ["results.csv", "results.jsonl"]  # no area kept: no Pareto plot
    lines = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert lines[0].startswith("engine,cycles_per_token,utilization,bit_exact,error,status")
    # A point that fails is reported with its error; the others still run.
    others = {k: v for k, v in FIXED.items() if k != "model"} | DESIGN | {"engine": "xbar"}
    broken = SweepSpec(axes={"model": ["tiny-moe", "no/such/model"]}, fixed=others)
    rows = sweep(broken, workers=2).rows
    assert [r["status"] for r in rows] == ["ok", "failed"]
    assert "--model must be one of" in rows[1]["failure"] and rows[1]["error"] is None


@pytest.mark.cosim
def test_a_dask_cluster_gives_the_local_pool_s_table():
    from distributed import LocalCluster

    # Four points on the two designs: 8 and 4 tokens on each.
    fixed = {k: v for k, v in FIXED.items() if k != "tokens"} | DESIGN
    spec = SweepSpec(axes={"engine": ENGINES, "tokens": [8, 4]}, fixed=fixed, metrics=METRICS)
    local = sweep(spec, workers=2)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        on_dask = sweep(spec, scheduler=cluster.scheduler_address, rerun=True)
    assert [r["cached"] for r in on_dask.rows] == [False] * 4
    assert on_dask.metric_rows() == local.metric_rows()


def test_init_writes_an_example_that_reads_back(tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    assert main(["sweep", "--init", str(path)]) == 0
    spec = read_spec(path)
    assert list(spec.axes) == ["engine", "lanes", "arrays"] and len(spec.points()) == 8
    assert "cells" in spec.metrics
    assert main(["sweep", "--init", str(path)]) == 0  # its own file: written again
    foreign = tmp_path / "mine.toml"
    foreign.write_text("# my notes\n")
    assert main(["sweep", "--init", str(foreign)]) == 2
    assert foreign.read_text() == "# my notes\n"
    assert main(["sweep"]) == 2
    assert "give a sweep spec" in capsys.readouterr().err


def test_fpga_metrics_come_from_the_implemented_design(monkeypatch):
    """A point asking for FPGA metrics places and routes its layer as ``moetile implement``
    does (the flow itself is tested in tests/test_implement.py; here its report is made up):
    the resources and Fmax are the report's, and the time per token is at that Fmax."""
    from moetile.app.sweep.point import run_point
    from moetile.app.sweep.spec import FPGA_METRICS
    from moetile.hw.moe import MoELayerParams
    from moetile.sim import implementation
    from moetile.sw.cost.fpga import FpgaReport

    placed = []

    def implement_design(design, device, clock_mhz):
        assert isinstance(design.params, MoELayerParams) and design.params.lanes == 4
        placed.append((device, clock_mhz))
        used = {"TRELLIS_COMB": 900, "TRELLIS_FF": 400, "TRELLIS_RAMW": 30, "DP16KD": 2}
        resources = {name: [n, 10**5] for name, n in {**used, "MULT18X18D": 3}.items()}
        critical = {"from": "a", "to": "b", "cells": 3, "logic_ns": 1.0, "routing_ns": 1.0}
        return FpgaReport(
            design.top, device, clock_mhz, 40.0, resources, 7, critical, "abc9", {}, 1
        )

    monkeypatch.setattr(implementation, "implement_design", implement_design)
    # The design the documented `moetile cosim --hf` run builds.
    settings = {"hf": "qwen3_moe", "engine": "xbar", "lanes": 4, "arrays": 2, "max_tokens": 8}
    settings |= {"tokens": 8, "quality_tokens": 0}
    metrics = ("cycles_per_token", "us_per_token", *FPGA_METRICS)
    outcome = run_point(settings, metrics)
    values = outcome["metrics"]
    assert placed == [("ecp5-85k", 100.0)]
    assert (values["luts"], values["ffs"], values["lutram"], values["ebr"], values["dsp"]) == (
        900,
        400,
        30,
        2,
        3,
    )
    assert values["fmax_mhz"] == 40.0
    assert values["us_per_token"] == pytest.approx(values["cycles_per_token"] / 40.0)


@pytest.mark.cosim
def test_a_generation_point_keeps_its_decode_figures():
    """A point with ``generate`` runs ``moetile cosim --generate`` (on the design the README's
    documented generation builds): per generated token, the weights fetched and the cache's
    hit rate; a prefill point has none of these."""
    from moetile.app.sweep.point import run_point
    from moetile.app.sweep.spec import GENERATION_METRICS

    settings = {"train_steps": 2, "lanes": 16, "arrays": 2, "max_tokens": 16}
    generation = {"generate": 2, "prompts": 1, "prompt_tokens": 1}
    metrics = ("cycles_per_token", "bit_exact", "error", "quality", "onchip_uj_per_token")
    metrics += GENERATION_METRICS
    values = run_point(settings | generation, metrics)["metrics"]
    assert values["bit_exact"] is True and values["error"] is None
    assert values["cycles_per_token"] > 0 and values["tokens_per_second"] > 0
    assert values["fetched_kb_per_token"] > 0 and values["offchip_uj_per_token"] > 0
    assert 0 <= values["hit_rate"] <= 1 and 0 <= values["quality"] <= 1
    prefill = run_point(settings | {"backend": "golden", "tokens": 8}, metrics)["metrics"]
    assert all(prefill[name] is None for name in GENERATION_METRICS)
    assert prefill["error"] > 0
    # A prefill batch of 8 tokens shares each expert's jobs; a decode step's one token does not.
    assert values["onchip_uj_per_token"] > prefill["onchip_uj_per_token"] > 0
