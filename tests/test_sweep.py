"""``moetile sweep``: specs checked whole before anything runs, points run on a local process
pool or a Dask cluster with the same table, each result cached so that a rerun or an
interrupted sweep does only what is missing, failing points reported without stopping the
others."""

import json

import pytest

from moetile.app.cli import main
from moetile.app.sweep import SweepSpec, read_spec, sweep
from moetile.app.sweep.results import pareto_front, write_results
from moetile.app.sweep.run import _cached_path, point_key

#: The tiny MoE on the FAT designs the documented `moetile cosim` runs build (their Params), 8
#: tokens a point (the FAT engine's bit-serial passes take the most cycles).
FIXED = {
    "model": "tiny-moe",
    "train_steps": 2,
    "tokens": 8,
    "max_tokens": 16,
    "quality_tokens": 0,
}
METRICS = ("cycles_per_token", "utilization", "bit_exact", "error")


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


def test_a_seed_without_a_sample_is_one_line(tmp_path, capsys):
    path = tmp_path / "spec.toml"
    path.write_text(_toml({"fixed": FIXED, "axes": {"lanes": [8, 16]}}))
    assert main(["sweep", str(path), "--seed", "3", "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == "moetile: error: --seed draws a random sample: give --samples N too"


def test_pareto_front():
    points = [(10, 5), (20, 2), (15, 6), (10, 7), (30, 2)]
    assert pareto_front(points) == [0, 1]


@pytest.mark.cosim
def test_a_sweep_resumes_from_its_cache_and_reports_failures(tmp_path):
    spec = SweepSpec(axes={"lanes": [8, 16]}, fixed=FIXED | {"arrays": 2}, metrics=METRICS)
    first = sweep(spec, workers=2, rerun=True)
    assert [r["status"] for r in first.rows] == ["ok", "ok"]
    assert all(r["bit_exact"] and r["cycles_per_token"] > 0 for r in first.rows)
    # 8 tokens leave more of 16 lanes idle than of 8.
    assert first.rows[0]["utilization"] > 1.5 * first.rows[1]["utilization"]
    # An interrupted sweep: one point's result lost; a rerun measures it alone.
    _cached_path(point_key(spec.points()[1], METRICS)).unlink()
    again = sweep(spec, workers=1)
    assert [r["cached"] for r in again.rows] == [True, False]
    assert again.metric_rows() == first.metric_rows()
    files = write_results(again, tmp_path / "out")
    assert files == ["results.csv", "results.jsonl"]  # no area kept: no Pareto plot
    lines = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert lines[0].startswith("lanes,cycles_per_token,utilization,bit_exact,error,status")
    # A point that fails is reported with its error; the others still run.
    others = {k: v for k, v in FIXED.items() if k != "model"} | {"lanes": 8, "arrays": 2}
    broken = SweepSpec(axes={"model": ["tiny-moe", "no/such/model"]}, fixed=others)
    rows = sweep(broken, workers=2).rows
    assert [r["status"] for r in rows] == ["ok", "failed"]
    assert "--model must be one of" in rows[1]["failure"] and rows[1]["error"] is None


@pytest.mark.cosim
def test_a_dask_cluster_gives_the_local_pool_s_table():
    from distributed import LocalCluster

    # Four points on the two designs the documented runs build: 8 and 4 tokens on each.
    fixed = {k: v for k, v in FIXED.items() if k != "tokens"} | {"arrays": 2}
    spec = SweepSpec(axes={"lanes": [8, 16], "tokens": [8, 4]}, fixed=fixed, metrics=METRICS)
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
