"""The ``moetile`` command: generate → lint → synth → bench, and one-line errors on bad input."""

import json
import subprocess
import sys
from importlib import metadata

import pytest

from moetile.app.cli import main
from moetile.hw.gocache import GOCacheParams
from moetile.hw.moe import MoELayerParams
from moetile.hw.predictor import PredictorParams


def moetile(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "moetile.app.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def rtl(tmp_path_factory):
    out = tmp_path_factory.mktemp("rtl")
    assert main(["generate", "--out", str(out)]) == 0
    return out


def test_generate_writes_every_default_design(rtl):
    manifest = json.loads((rtl / "manifest.json").read_text())
    tops = sorted(d["top"] for d in manifest["designs"])
    assert tops == [
        "expert_cache",
        "fat_fat",
        "fat_parapim",
        "gemv",
        "gocache",
        "mixpe_group_multiplier",
        "mixpe_mixpe",
        "mixpe_multiplier",
        "moe_layer",
        "predictor",
        "topk_network",
        "topk_sequential",
        "xbar_g1",
        "xbar_g2",
    ]
    for record in manifest["designs"]:
        text = (rtl / record["verilog"]).read_text()
        names = [p["name"] for p in record["ports"]]
        assert f"module {record['top']}({', '.join(names)});" in text  # the manifest's order
        assert text.startswith(f"// {record['top']}: moetile {metadata.version('moetile')}, ")
        params = text.splitlines()[1]
        assert all(f" {k}={v}" in params for k, v in record["params"].items())
        for port in record["ports"]:  # each payload's fields tile it exactly, in order
            fields = port.get("fields", [])
            assert [f["offset"] for f in fields] == [
                sum(f["width"] for f in fields[:n]) for n in range(len(fields))
            ]
            assert not fields or sum(f["width"] for f in fields) == port["width"]
        ports = {p["name"]: p for p in record["ports"]}
        assert ports["o__payload"]["direction"] == "out"
        if record["block"] == "topk":
            assert ports["i__payload"]["width"] == 16 * 8
            score = {"name": "scores.3", "offset": 24, "width": 8, "signed": True}
            assert score in ports["i__payload"]["fields"]
        elif record["block"] == "fat":
            assert ports["i_w__payload"]["width"] == 2 * record["params"]["n_inputs"]
        elif record["block"] == "mixpe":  # a scale and zero point per column, and last
            params = record["params"]
            width = params["cols"] * (params["scale_width"] + 4) + 1
            assert ports["i_group__payload"]["width"] == width
        elif record["block"] == "xbar":  # rows int8 inputs, a group mask, crossbars, last
            params = record["params"]
            select = max(1, (params["crossbars_per_group"] - 1).bit_length())
            width = params["rows"] * 8 + params["groups"] * (1 + select) + 1
            assert ports["i_x__payload"]["width"] == width
        elif record["block"] == "gocache":  # a chunk of int8 values and start
            assert ports["i_x__payload"]["width"] == 8 * record["params"]["macs"] + 1
        elif record["block"] == "predictor":  # a weight chunk and which matrix it belongs to
            assert ports["i_w__payload"]["width"] == 8 * record["params"]["macs"] + 1
        elif record["block"] == "moe_layer":  # a chunk of int8 values, the scale code, last
            assert ports["i_token__payload"]["width"] == 8 * record["params"]["router_macs"] + 17
        elif record["block"] == "expert_cache":  # 4 layers, 8 experts: 2 + 3 bits; 8 slots
            assert ports["i__payload"]["width"] == 5
            assert ports["o_fetch__payload"]["width"] == 5 + 3
        else:
            assert ports["i_x__payload"]["width"] == 8 * record["params"]["macs"]
    assert manifest["tools"]["amaranth"] == "0.5.10"


def test_generate_with_params_and_config(tmp_path):
    assert (
        main(
            [
                "generate",
                "topk",
                "--param",
                "n=6",
                "--param",
                "arch=sequential",
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    (record,) = json.loads((tmp_path / "a" / "manifest.json").read_text())["designs"]
    assert record["params"] == {"n": 6, "k": 4, "score_width": 8, "arch": "sequential"}
    # Generated again into the same directory: its entry is replaced; another design is added.
    for n in (6, 7):
        assert main(["generate", "topk", "--param", f"n={n}", "--out", str(tmp_path / "a")]) == 0
    records = json.loads((tmp_path / "a" / "manifest.json").read_text())["designs"]
    assert [(r["params"]["n"], r["params"]["arch"]) for r in records] == [
        (6, "sequential"),
        (6, "network"),
        (7, "network"),
    ]
    config = tmp_path / "c.json"
    config.write_text(json.dumps([{"block": "topk", "params": {"n": 3, "k": 2}}]))
    assert main(["generate", "--config", str(config), "--out", str(tmp_path / "b")]) == 0
    (record,) = json.loads((tmp_path / "b" / "manifest.json").read_text())["designs"]
    assert record["params_hash"] != "" and record["params"]["n"] == 3


@pytest.mark.cost(300)
def test_lint_and_synth(rtl, capsys):
    assert main(["lint", "--dir", str(rtl)]) == 0
    assert "14 clean, 0 with warnings, 0 that do not parse" in capsys.readouterr().out
    assert main(["synth", "--dir", str(rtl), "--json"]) == 0
    designs = {d["top"]: d for d in json.loads(capsys.readouterr().out)["designs"]}
    cells = {top: d["cells"] for top, d in designs.items()}
    assert designs["gemv"]["memory_bits"] == (8 * 4 + 4) * 8 * 8  # weights and one vector
    assert designs["fat_fat"]["memory_bits"] == 40 * 8 * 8  # inputs: n_inputs x lanes x 8 bits
    assert designs["topk_network"]["memory_bits"] == 0
    assert designs["moe_layer"]["memory_bits"] == moe_layer_memory_bits(MoELayerParams())
    assert cells["topk_network"] > cells["topk_sequential"] > 0
    assert cells["fat_fat"] > 0 and cells["fat_parapim"] > 0 and cells["gemv"] > 0
    assert designs["mixpe_mixpe"]["memory_bits"] == designs["mixpe_multiplier"]["memory_bits"] == 0
    assert 0 < cells["mixpe_mixpe"] < cells["mixpe_multiplier"]
    assert designs["xbar_g1"]["memory_bits"] == designs["xbar_g2"]["memory_bits"] == 0
    assert cells["xbar_g1"] > 0 and cells["xbar_g2"] > 0
    g = GOCacheParams()  # gate rows and one vector, then every expert's selection
    gate_bits = (g.gate.weight_transfers + g.gate.chunks) * g.macs * 8
    assert designs["gocache"]["memory_bits"] == gate_bits + g.experts * g.capacity * g.entry_width
    p = PredictorParams()  # each GEMV's weights and vector buffer (memories of 2 words or more)
    words = [max(2, q.weight_transfers) + max(2, q.chunks) for q in (p.project, p.score)]
    buffers = [n * q.macs * 8 for n, q in zip(words, (p.project, p.score), strict=True)]
    assert designs["predictor"]["memory_bits"] == sum(buffers) and cells["predictor"] > 0


def test_lint_fails_on_a_real_warning(tmp_path, capsys):
    assert (
        main(["generate", "topk", "--param", "n=3", "--param", "k=2", "--out", str(tmp_path)]) == 0
    )
    (record,) = json.loads((tmp_path / "manifest.json").read_text())["designs"]
    verilog = tmp_path / record["verilog"]
    # A blocking assignment in a clocked block of the top module: a class no waiver covers.
    head, _, tail = verilog.read_text().rpartition("endmodule")
    verilog.write_text(
        f"{head}  reg probe;\n  always @(posedge clk) probe = ~probe;\nendmodule{tail}"
    )
    assert main(["lint", "--dir", str(tmp_path)]) == 1
    assert "0 clean, 1 with warnings, 0 that do not parse" in capsys.readouterr().out


def test_one_word_memories_lint_clean(tmp_path):
    """The smallest layer (memories of one word, whose addresses have no bits) lints clean:
    no zero-width wire reaches its Verilog as Yosys's ``[-1:0]``, two bits to Verilator."""
    from moetile.hw.registry import Design, block
    from moetile.sim.formal.blocks.moe_layer import TINY
    from moetile.sim.lint import lint
    from moetile.sim.verilog import design_verilog

    design = Design(block("moe_layer"), TINY)
    verilog = tmp_path / f"{design.top}.v"
    verilog.write_text(design_verilog(design))
    assert "[-1:0]" not in verilog.read_text()
    result = lint(verilog, design.top)
    assert result.ok, result.messages


def test_lint_counts_a_file_that_does_not_parse_as_an_error(tmp_path, capsys):
    argv = ["generate", "topk", "--param", "n=3", "--param", "k=2", "--out", str(tmp_path)]
    assert main(argv) == 0
    (record,) = json.loads((tmp_path / "manifest.json").read_text())["designs"]
    verilog = tmp_path / record["verilog"]
    verilog.write_text(verilog.read_text().replace("endmodule", "endmodul", 1))
    assert main(["lint", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"ERROR  {record['verilog']}" in out
    assert "0 clean, 0 with warnings, 1 that do not parse" in out


def test_bench_topk_json(tmp_path):
    run = moetile("bench", "topk", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["bench"] == "topk" and report["claims"] == []
    rows = {r["arch"]: r for r in report["rows"]}
    assert rows["network"]["initiation_interval_cycles"] == 1
    assert rows["sequential"]["latency_cycles"] == 16 * 4 + 1
    assert rows["network"]["throughput_vs_sequential"] > 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "nope"], "unknown block 'nope'; allowed: topk, fat"),
        (["generate", "fat", "--param", "arch=isaac"], "arch must be one of 'fat', 'parapim'"),
        (["generate", "fat", "--param", "variable_width=maybe"], "parameter variable_width"),
        (
            ["generate", "fat", "--param", "arch=parapim", "--param", "lanes=0"],
            "lanes must be an integer in [1, 1024], not 0",
        ),
        (["generate", "topk", "--param", "k=99"], r"k must be an integer in [1, 16], not 99"),
        (["generate", "topk", "--param", "q=1"], "unknown parameter 'q' for block 'topk'"),
        (["generate", "topk", "--param", "n=two"], "parameter n must be int, not 'two'"),
        (["generate", "topk", "--param", "n"], "--param must look like name=value"),
        (["generate", "--config", "missing.json"], "cannot read --config missing.json"),
        (["generate", "--config", "bad.json"], "--config bad.json is not valid JSON"),
        (["generate", "--config", "wrong.json"], "--config wrong.json entry 0: each entry must be"),
        (
            ["generate", "moe_layer", "--param", "engine.group=64"],
            "engine 'fat' has no parameter 'group'; allowed: zero_skip",
        ),
        (
            ["generate", "moe_layer", "--param", "engine.nope=1"],
            "unknown parameter 'engine.nope' for block 'moe_layer'",
        ),
        (
            ["generate", "moe_layer", "--param", "engine=pim", "--param", "engine.group=64"],
            "engine must be one of 'fat', 'mixpe', 'xbar', not 'pim'",
        ),
        (["lint", "--dir", "nowhere"], "no manifest.json in nowhere"),
        (["bench", "nope"], "unknown benchmark 'nope'; allowed: topk, fat"),
        (
            ["model", "trace", "nope", "--out", "t.st"],
            "unknown model 'nope'; allowed: tiny-moe, tiny-moe-ternary, cmoe-minilm",
        ),
        (
            ["model", "trace", "tiny-moe", "--out", "t.st", "--model-dir", "nowhere"],
            "nowhere is not a tiny MoE: config.json is missing",
        ),
        (
            ["model", "trace", "cmoe-minilm", "--out", "t.st", "--model-dir", "nowhere"],
            "no moetile-cmoe file at nowhere/cmoe.safetensors",
        ),
        (["model", "train-tiny", "--steps", "0"], "steps must be an integer >= 1, not 0"),
        (
            ["model", "train-tiny", "--experts", "quad"],
            "--experts must be one of float, ternary, not 'quad'",
        ),
        (
            ["model", "trace", "tiny-moe", "--out", "t.st", "--split", "test"],
            "argument --split: invalid choice",
        ),
        (["model", "convert-cmoe", "--shared", "9"], "shared must be an integer in [0, 7], not 9"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "bad.json").write_text("{bad")
    (tmp_path / "wrong.json").write_text("[3]")
    run = moetile(*args, cwd=tmp_path)
    assert run.returncode == 2
    last_line = run.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"moetile: error: {message}"), run.stderr
    assert "Traceback" not in run.stderr


def test_report_gathers_claims(monkeypatch, capsys):
    from moetile.app import bench

    monkeypatch.setattr(bench, "BENCHES", {"topk": bench.BENCHES["topk"]})
    assert main(["report", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"claims": []}


def moe_layer_memory_bits(p: MoELayerParams) -> int:
    """Every memory of the MoE layer accelerator, counted from its Params."""
    g = p.gemv
    top = (
        p.max_tokens * p.io_chunks * p.io_chunk * 8  # token buffer
        + p.max_tokens * p.token_scale_width  # token scale codes
        + p.experts * p.max_tokens * (p.token_width + p.gate_width)  # token lists
        + p.padded_units * p.lanes * 8  # hidden columns
        + p.total_experts * p.scale_rows * (p.multiplier_width + p.shift_width)  # scales
    )
    router = (
        max(2, g.weight_transfers) + max(2, g.chunks)
    ) * g.macs * 8 + p.exp_entries * p.gate_width
    engine = p.inputs * p.lanes * 8 + p.arrays * (
        p.bank_rows * 2 * p.inputs + p.inputs * p.lanes * 8
    )
    units = 256 * 8 + p.arrays * p.lanes * 8 + p.max_tokens * p.hidden * p.combine_width
    return top + router + engine + units


def test_conversion_retries_only_a_wasm_runtime_that_failed_to_start():
    """Amaranth's WebAssembly Yosys can fail to start for a moment; that is tried again, a
    real Yosys error is not."""
    from unittest import mock

    from amaranth._toolchain.yosys import YosysError
    from amaranth.back import verilog

    from moetile.sim.verilog import verilog_text

    flaky = [YosysError("wasmtime._error.WasmtimeError: cannot add seals to the memfd"), "ok"]

    def convert(*args, **kwargs):
        outcome = flaky.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with mock.patch.object(verilog, "convert", convert):
        assert verilog_text(None, "top") == "ok"
    real_error = mock.patch.object(verilog, "convert", side_effect=YosysError("syntax error"))
    with real_error as bad, pytest.raises(YosysError, match="syntax error"):
        verilog_text(None, "top")
    assert bad.call_count == 1


def test_only_memories_with_nonzero_contents_are_initialized_in_verilog():
    """All-zero initial contents are left out (Verilator starts memories at zero); contents
    that say something are kept, word by word."""
    from amaranth import Module
    from amaranth.lib import wiring
    from amaranth.lib.memory import Memory

    from moetile.sim.verilog import verilog_text

    class Memories(wiring.Component):
        addr: wiring.In(2)
        o: wiring.Out(8)

        def elaborate(self, platform):
            m = Module()
            m.submodules.zeros = zeros = Memory(shape=8, depth=4, init=[])
            m.submodules.table = table = Memory(shape=8, depth=4, init=[0, 0x5A, 0, 0])
            reads = [memory.read_port(domain="comb") for memory in (zeros, table)]
            m.d.comb += [read.addr.eq(self.addr) for read in reads]
            m.d.comb += self.o.eq(reads[0].data ^ reads[1].data)
            return m

    text = verilog_text(Memories(), "memories")
    assert "\\table [1] = 8'h5a;" in text
    assert "zeros[" not in text.split("initial begin", 1)[-1].split("end", 1)[0]
    assert text.count("initial begin") == 1


#: Runs of the stand-in benchmark below; its claim's measured value is the run's number.
RUNS = []


def run(progress, quick=False):
    """A stand-in benchmark (this module, registered by the test below)."""
    from moetile.app.bench import BenchReport, Claim

    RUNS.append(progress)
    return BenchReport(
        "fake", [{"run": len(RUNS)}], [Claim("c", "w", 1.0, len(RUNS), "b", source=None)]
    )


def test_report_gathers_recorded_runs_and_reruns_on_request(tmp_path, monkeypatch, capsys):
    from moetile.app import bench
    from moetile.sw.paths import CACHE_DIR_ENV

    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(bench, "BENCHES", {"fake": __name__})
    RUNS.clear()

    def measured(*args):
        assert main(list(args)) == 0
        out = json.loads(capsys.readouterr().out)
        return [c["measured"] for c in out["claims"]]

    assert measured("report", "--json") == [1]  # nothing recorded: measured now
    assert measured("report", "--json") == [1]  # recorded for these sources
    assert measured("bench", "fake", "--json") == [2]  # a bench always measures, and records
    assert measured("report", "--json") == [2]
    assert measured("report", "--json", "--rerun") == [3]
    assert len(RUNS) == 3


def test_a_benchmark_answers_to_its_earlier_name(tmp_path, monkeypatch, capsys):
    from moetile.app import bench
    from moetile.sw.paths import CACHE_DIR_ENV

    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.setitem(bench.BENCHES, "xbar", __name__)
    RUNS.clear()
    assert main(["bench", "crossbar", "--json", "--out", str(tmp_path / "out")]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == [{"run": 1}]
    assert (tmp_path / "out" / "xbar.json").is_file()
    assert not (tmp_path / "out" / "crossbar.json").exists()
    assert bench.bench_name("crossbar") == "xbar" and len(RUNS) == 1


def test_every_registered_part_of_every_block_resolves():
    from moetile.app.bench import BENCHES
    from moetile.hw.registry import blocks, resolve

    for entry in blocks():
        assert callable(resolve(entry.golden)), entry.name
        assert resolve(entry.testbench).__name__ == entry.testbench
        assert resolve(entry.proofs).SPEC.block == entry.name
        if entry.benchmark:
            assert callable(resolve(entry.benchmark).run)
            assert BENCHES[entry.benchmark_name] == entry.benchmark


def test_variants_of_a_block_get_their_own_top_modules(tmp_path, capsys):
    out = str(tmp_path)
    for lanes in ("4", "8", "2"):
        assert main(["generate", "fat", "--param", f"lanes={lanes}", "--out", out]) == 0
    assert main(["generate", "fat", "--param", "lanes=2", "--top", "my_fat", "--out", out]) == 0
    designs = json.loads((tmp_path / "manifest.json").read_text())["designs"]
    tops = [d["top"] for d in designs]
    assert tops == ["fat_fat_lanes4", "fat_fat", "fat_fat_lanes2", "my_fat"]
    for record in designs:
        assert f"module {record['top']}(" in (tmp_path / record["verilog"]).read_text()
    capsys.readouterr()
    assert main(["synth", "--dir", out]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["design", "cells"]
    assert [line.split()[0] for line in table[1:]] == tops


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--top", "fat-1"], "--top must be a Verilog identifier, not 'fat-1'"),
        (["--top", "x"], "--top names one design"),
    ],
)
def test_top_names_one_design_with_a_verilog_identifier(argv, message, tmp_path, capsys):
    block = ["fat"] if "fat-1" in argv else []
    assert main(["generate", *block, *argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_reports_wanting_one_benchmark_at_once_measure_it_once(tmp_path, monkeypatch):
    """Two reports that find no record take turns: the first measures, the second reads."""
    import threading
    import time

    from moetile.app.bench import BenchReport
    from moetile.app.bench.record import recorded
    from moetile.sw.paths import CACHE_DIR_ENV

    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    runs = []

    def measure():
        runs.append(1)
        time.sleep(0.5)
        return BenchReport("fake", [{"run": len(runs)}])

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(recorded("fake", measure))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(runs) == 1
    assert sorted(reused for _report, reused in results) == [False, True]


def test_a_bench_model_is_retrained_when_its_settings_change(tmp_path, monkeypatch):
    """``trained_model`` keys its folder by the settings: a model trained with other settings
    (an older default) is never reused, and the same settings train once."""
    from dataclasses import replace

    from moetile.app import bench
    from moetile.app.bench.cosim import BENCH_MODEL
    from moetile.sw.models import tiny_moe
    from moetile.sw.paths import CACHE_DIR_ENV

    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    trained = []

    def train(settings, path):
        trained.append(settings.steps)
        path.mkdir(parents=True)
        (path / "model.safetensors").write_text("")

    monkeypatch.setattr(tiny_moe, "train_tiny_moe", train)
    monkeypatch.setattr(tiny_moe, "load_tiny_moe", lambda path, kind: path)
    first = bench.trained_model(BENCH_MODEL, "bench-x", lambda m: None)
    again = bench.trained_model(BENCH_MODEL, "bench-x", lambda m: None)
    other = bench.trained_model(replace(BENCH_MODEL, steps=7), "bench-x", lambda m: None)
    assert first == again != other and trained == [BENCH_MODEL.steps, 7]
