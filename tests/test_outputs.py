"""Outputs never destroy: every command that writes refuses, before it starts work, a target
holding a file moetile did not write, and that file survives; moetile's own files are replaced
whole, and a failed run changes nothing."""

import json
from unittest import mock

import pytest

from moetile.app.cli import main
from moetile.sw.console import UserError
from moetile.sw.outputs import OWN_FILES, OutputFile, OutputFolder, is_own_png


def _write(folder: OutputFolder, files: dict, **options) -> None:
    with folder.writing(**options) as stage:
        for name, text in files.items():
            (stage / name).write_text(text)


def test_a_new_folder_gets_the_files_and_their_list(tmp_path):
    out = tmp_path / "new" / "out"
    _write(OutputFolder(out), {"a.json": "1", "b.png": "2"})
    assert sorted(p.name for p in out.iterdir()) == [OWN_FILES, "a.json", "b.png"]
    assert json.loads((out / OWN_FILES).read_text())["files"] == ["a.json", "b.png"]


def test_a_rerun_replaces_its_own_files_and_drops_its_stale_ones(tmp_path):
    _write(OutputFolder(tmp_path / "out"), {"a.json": "1", "stale.png": "2"})
    _write(OutputFolder(tmp_path / "out"), {"a.json": "3"})
    assert (tmp_path / "out" / "a.json").read_text() == "3"
    assert not (tmp_path / "out" / "stale.png").exists()
    _write(OutputFolder(tmp_path / "out"), {"b.v": "4"}, keep_earlier=True)
    assert sorted(json.loads((tmp_path / "out" / OWN_FILES).read_text())["files"]) == [
        "a.json",
        "b.v",
    ]


def test_a_foreign_file_is_refused_by_name_and_kept(tmp_path):
    out = tmp_path / "out"
    _write(OutputFolder(out), {"a.json": "1"})
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds notes.txt, which moetile did not write"):
        OutputFolder(out)
    assert (out / "notes.txt").read_text() == "mine"


def test_a_foreign_file_appearing_during_the_run_is_refused_before_writing(tmp_path):
    folder = OutputFolder(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="notes.txt"), folder.writing() as stage:
        (stage / "notes.txt").write_text("moetile's")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_failed_run_changes_nothing(tmp_path):
    out = tmp_path / "out"
    _write(OutputFolder(out), {"a.json": "1"})
    with pytest.raises(RuntimeError), OutputFolder(out).writing() as stage:
        (stage / "a.json").write_text("half")
        raise RuntimeError("the run failed")
    assert sorted(p.name for p in out.iterdir()) == [OWN_FILES, "a.json"]
    assert (out / "a.json").read_text() == "1"
    with pytest.raises(RuntimeError), OutputFolder(tmp_path / "never").writing():
        raise RuntimeError("the run failed")
    assert not (tmp_path / "never").exists()


def test_a_file_where_a_folder_goes_and_the_other_way_round(tmp_path):
    (tmp_path / "report").write_text("mine")
    with pytest.raises(UserError, match="is a file; give a folder"):
        OutputFolder(tmp_path / "report")
    with pytest.raises(UserError, match="is a folder; give a file name"):
        OutputFile(tmp_path, "--plot", is_own_png)
    with pytest.raises(UserError, match="exists and moetile did not write it"):
        OutputFile(tmp_path / "report", "--plot", is_own_png)
    assert (tmp_path / "report").read_text() == "mine"


def test_a_png_moetile_wrote_is_its_own(tmp_path):
    from moetile.sw.predictor.plot import plot_accuracy

    rows = [{"predictor": "x", "layer": 0, "exact_match": 0.5}]
    plot = OutputFile(tmp_path / "a.png", "--plot", is_own_png)
    with plot.writing() as partial:
        plot_accuracy(rows, partial, "title")
    assert is_own_png(tmp_path / "a.png")
    OutputFile(tmp_path / "a.png", "--plot", is_own_png)  # may be replaced
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_a_file_added_to_a_folder_moetile_wrote_joins_its_files(tmp_path):
    _write(OutputFolder(tmp_path), {"suite.json": "1"})
    with OutputFile(tmp_path / "plot.png", "--plot", is_own_png).writing() as partial:
        partial.write_text("png")
    assert OutputFolder(tmp_path).own == {"suite.json", "plot.png"}


def _must_not_run(*args, **kwargs):
    raise AssertionError("work started before the output was checked")


#: Each command that writes, with its output option, and the function it starts work with.
WRITERS = {
    "cosim": (["cosim"], "--out", "moetile.app.cosim.run.cosim"),
    "generate": (["generate", "topk"], "--out", "moetile.sim.verilog.design_verilog"),
    "train-tiny": (
        ["model", "train-tiny"],
        "--out",
        "moetile.sw.models.tiny_moe.train_tiny_moe",
    ),
    "convert-cmoe": (
        ["model", "convert-cmoe"],
        "--out",
        "moetile.sw.models.cmoe_minilm.text_samples",
    ),
    "predictor train": (
        ["predictor", "train", "trace.safetensors"],
        "--out",
        "moetile.sw.predictor.suite.train_suite",
    ),
    "bench": (["bench", "topk"], "--out", "moetile.app.bench.run_bench"),
}


@pytest.mark.parametrize("name", WRITERS)
def test_every_writing_command_refuses_a_foreign_folder_before_working(name, tmp_path, capsys):
    argv, option, work = WRITERS[name]
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("mine")
    trace = mock.Mock(model="tiny-moe", split="train")
    with (
        mock.patch(work, _must_not_run),
        mock.patch("moetile.app.cli.predictor._load_trace", return_value=trace),
    ):
        assert main([*argv, option, str(out)]) == 2
    assert "holds thesis.tex, which moetile did not write" in capsys.readouterr().err
    assert (out / "thesis.tex").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_cosim_refuses_the_working_directory_before_simulating(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_text("mine")
    with mock.patch("moetile.app.cosim.run.cosim", _must_not_run):
        assert main(["cosim", "--out", "."]) == 2
    assert "holds data.csv" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, work",
    [
        (["model", "trace", "tiny-moe"], "moetile.sw.models.tiny_moe.load_tiny_moe"),
        (
            ["predictor", "eval", "suite", "trace.safetensors", "--plot"],
            "moetile.sw.predictor.suite.load_suite",
        ),
    ],
)
def test_a_file_output_refuses_a_foreign_file_before_working(argv, work, tmp_path, capsys):
    target = tmp_path / "mine.dat"
    target.write_text("mine")
    option = "--plot" if "--plot" in argv else "--out"
    argv = [*argv, str(target)] if option == "--plot" else [*argv, "--out", str(target)]
    with mock.patch(work, _must_not_run):
        assert main(argv) == 2
    assert "exists and moetile did not write it" in capsys.readouterr().err
    assert target.read_text() == "mine"


def test_generate_twice_into_one_folder_keeps_both_and_refuses_a_stranger(tmp_path, capsys):
    out = tmp_path / "rtl"
    for k in ("1", "2"):
        argv = ["generate", "topk", "--param", "n=3", "--param", f"k={k}", "--out", str(out)]
        assert main(argv) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["designs"]) == 2
    (out / "constraints.sdc").write_text("mine")
    assert main(["generate", "topk", "--out", str(out)]) == 2
    assert "holds constraints.sdc" in capsys.readouterr().err
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_benchmarks_share_a_folder_each_with_its_report_and_plots(tmp_path, capsys):
    """``moetile bench NAME --out DIR`` adds ``NAME.json`` and the benchmark's plots to DIR,
    keeping the other benchmarks' files there."""
    from moetile.app.bench import BenchReport

    reports = {
        "topk": BenchReport("topk", [{"arch": "network", "cells": 10}]),
        "gocache": BenchReport(
            "gocache",
            [
                {"workload": w, "prompt": p, "speedup": p / 4, "energy_ratio": p / 5}
                for w in ("tiny-moe", "random")
                for p in (8, 16, 32, 64)
            ],
        ),
    }
    out = tmp_path / "benchmarks"
    for name, report in reports.items():
        with mock.patch("moetile.app.bench.run_bench", return_value=report):
            assert main(["bench", name, "--out", str(out)]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == [OWN_FILES, "gocache.json", "gocache.png", "topk.json"]
    assert is_own_png(out / "gocache.png")
    assert json.loads((out / "topk.json").read_text())["rows"] == reports["topk"].rows
    assert f"wrote topk.json to {out}" in capsys.readouterr().err
