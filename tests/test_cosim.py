"""End-to-end co-simulation: a small ternary tiny MoE run through the accelerator on the fast
harness and on cocotb, bit-exact against the golden, with its report; and the runtime's and the
CLI's answers to bad input."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from moetile.app.bench import trained_model_path
from moetile.app.bench.cosim import QUICK_BATCH, QUICK_HARDWARE, QUICK_MODEL, QUICK_MODEL_NAME
from moetile.app.cli import main
from moetile.app.cosim.run import CosimSettings, cosim
from moetile.app.cosim.settings_file import SETTINGS_FILE
from moetile.sw.models.tiny_moe import load_tiny_moe, train_tiny_moe
from moetile.sw.outputs import OWN_FILES
from moetile.sw.runtime.model import AcceleratedModel
from moetile.sw.runtime.quantize import check_supported, quantize_layer

#: The quick cosim benchmark's model and design: the model, trained once into the cache, and
#: its Verilator builds serve both.
SMALL_MODEL = QUICK_MODEL
HARDWARE = dict(**QUICK_HARDWARE, max_tokens=QUICK_BATCH, quality_tokens=64)


@pytest.fixture(scope="module")
def small_model() -> Path:
    return trained_model_path(SMALL_MODEL, QUICK_MODEL_NAME, lambda message: None)


@pytest.fixture(scope="module")
def float_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "small-float"
    train_tiny_moe(replace(SMALL_MODEL, expert_weights="float", steps=2), path)
    return path


@pytest.mark.cosim
def test_fast_cosim_is_bit_exact_with_cycles_and_quality(small_model):
    report = cosim(CosimSettings(model=str(small_model), tokens=40, **HARDWARE), lambda m: None)
    assert report["bit_exact"]
    rows = report["layers"]
    assert [row["layer"] for row in rows] == [0, 1]
    for row in rows:
        assert row["tokens"] == 40 and row["batches"] == 3  # passages of 32 and 8, in 16s
        assert sum(row["expert_tokens"]) == 40 * 2
        cycles = row["cycles"]
        assert cycles["gate_up"] > cycles["down"] > 0 and cycles["route"] > 0 and cycles["load"] > 0
        assert 0 < row["utilization"] <= 1 and row["compute_bound"] > 0
        assert 0 < row["error"] < 0.5
    quality = report["quality"]
    assert quality["fast_perplexity"] == quality["golden_perplexity"]
    assert quality["held_out"]["tokens"] == 64
    assert report["simulation"]["cycles"] > 0
    # Times per token at the design's clock: here none implemented it, so the assumed target.
    clock = report["clock"]
    assert clock["mhz"] == 100 and clock["source"].startswith("assumed")
    for row in rows:
        assert row["us_per_token"] == pytest.approx(row["cycles_per_token"] / 100)


@pytest.mark.cosim
@pytest.mark.cost(100)
def test_cocotb_cosim_agrees_on_a_short_run(small_model):
    settings = CosimSettings(model=str(small_model), tokens=2, backend="cocotb", **HARDWARE)
    report = cosim(settings, lambda m: None)
    assert report["bit_exact"]
    assert report["quality"]["cocotb_perplexity"] == report["quality"]["golden_perplexity"]
    fast = cosim(CosimSettings(model=str(small_model), tokens=2, **HARDWARE), lambda m: None)
    for a, b in zip(report["layers"], fast["layers"], strict=True):
        assert {k: v for k, v in a["cycles"].items() if k != "load"} == {
            k: v for k, v in b["cycles"].items() if k != "load"
        }


@pytest.mark.cosim
def test_mixpe_engine_runs_float_experts_bit_exact(float_model):
    """The float tiny MoE's experts quantized to W4A8 on the MixPE engine: every batch equal to
    the golden, with cycles, and the quantized model close to the float one."""
    settings = CosimSettings(model=str(float_model), tokens=24, engine="mixpe", **HARDWARE)
    report = cosim(settings, lambda m: None)
    assert report["bit_exact"] and report["params"]["engine"]["name"] == "mixpe"
    for row in report["layers"]:
        assert row["bit_exact"] and row["cycles"]["gate_up"] > 0 and 0 < row["utilization"] < 1
        assert row["error"] < 0.25
    quality = report["quality"]
    assert quality["fast_perplexity"] == quality["golden_perplexity"]
    assert abs(quality["golden_perplexity"] / quality["float_perplexity"] - 1) < 0.05


@pytest.mark.cosim
@pytest.mark.cost(55)
def test_xbar_engine_runs_int8_experts_bit_exact(float_model):
    """The float tiny MoE's experts quantized to int8 on crossbars: every batch equal to the
    golden, and the quantized model close to the float one."""
    settings = CosimSettings(model=str(float_model), tokens=24, engine="xbar", **HARDWARE)
    report = cosim(settings, lambda m: None)
    assert report["bit_exact"] and report["params"]["engine"]["name"] == "xbar"
    for row in report["layers"]:
        assert row["bit_exact"] and row["cycles"]["gate_up"] > 0 and 0 < row["utilization"] <= 1
        assert row["error"] < 0.25
    quality = report["quality"]
    assert quality["fast_perplexity"] == quality["golden_perplexity"]
    assert abs(quality["golden_perplexity"] / quality["float_perplexity"] - 1) < 0.05


def test_cli_writes_report_and_plots(small_model, tmp_path, capsys):
    out = tmp_path / "run"
    status = main(
        [
            "cosim",
            "--model",
            str(small_model),
            "--tokens",
            "20",
            "--lanes",
            "4",
            "--arrays",
            "2",
            "--max-tokens",
            "16",
            "--quality-tokens",
            "0",
            "--clock",
            "62.5",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "every layer bit-exact" in printed and "  util  exact" in printed
    assert "times at 62.5 MHz: given with --clock" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["clock"] == {"mhz": 62.5, "source": "given with --clock"}
    assert report["settings"]["clock"] == 62.5  # and so in settings.toml, for --config
    for row in report["layers"]:
        assert row["us_per_token"] == pytest.approx(row["cycles_per_token"] / 62.5)
    files = sorted(p.name for p in out.iterdir())
    plots = ["cycles.png", "error.png", "expert_load.png"]
    assert files == [OWN_FILES, *plots, "report.json", SETTINGS_FILE, "utilization.png"]
    assert json.loads((out / "report.json").read_text())["bit_exact"] is True
    assert not list(tmp_path.glob(".run*"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model", "cmoe-minilm"], "the fat engine runs ternary experts: engine must be"),
        (
            ["--model", "cmoe-minilm", "--engine", "xbar", "--generate", "2"],
            "model cmoe-minilm is a sentence-embedding encoder: it generates no tokens",
        ),
        (
            ["--model", "cmoe-minilm", "--engine", "xbar", "--tokens", "10000000"],
            "tokens: the validation text holds",
        ),
        (["--model", "no/such/dir"], "--model must be one of tiny-moe, cmoe-minilm or a model"),
        (["--backend", "verilog"], "backend must be one of 'fast', 'cocotb', 'golden'"),
        (["--tokens", "0"], "tokens must be an integer >= 1, not 0"),
        (["--engine", "pim"], "engine must be one of 'fat', 'mixpe', 'xbar', not 'pim'"),
        (["--engine", "mixpe", "--arrays", "40"], "arrays must be at most group (32)"),
        (["--clock", "0"], "--clock must be a positive number of MHz, not 0.0"),
        (["--clock", "nan"], "--clock must be a positive number of MHz, not nan"),
    ],
)
def test_cli_refuses_bad_input_and_writes_nothing(arguments, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["cosim", *arguments, "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("moetile: error: ") and message in error
    assert not out.exists()


def test_cli_refuses_float_and_corrupt_models(float_model, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["cosim", "--model", str(float_model), "--out", str(out)]) == 2
    assert "the fat engine runs ternary experts" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text("{not json")
    (corrupt / "model.safetensors").write_bytes(b"garbage")
    assert main(["cosim", "--model", str(corrupt), "--out", str(out)]) == 2
    assert f"cannot load the tiny MoE in {corrupt}" in capsys.readouterr().err
    dense = tmp_path / "dense"
    dense.mkdir()
    (dense / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 32}))
    assert main(["cosim", "--model", str(dense), "--out", str(out)]) == 2
    assert "a bert model without MoE layers the accelerator can run" in capsys.readouterr().err
    assert not out.exists()


def test_runtime_refuses_unsupported_layers_and_bad_tokens(small_model):
    model = load_tiny_moe(small_model, "ternary")
    accelerated = AcceleratedModel(model, {"lanes": 2, "arrays": 2}, 16)
    layer = accelerated.layers[0]
    capped = type(layer)(**{**layer.__dict__, "logit_softcap": 30.0})
    with pytest.raises(ValueError, match="this layer uses soft-capped logits"):
        check_supported(capped, "layer 0")
    calibration = torch.randn(64, layer.hidden)
    from moetile.sw.runtime.quantize import layer_params

    quantized = quantize_layer(layer, layer_params(layer, 16, lanes=2, arrays=2), calibration, "l0")
    with pytest.raises(ValueError, match="l0: hidden states hold NaN or inf"):
        quantized.encode(torch.full((2, layer.hidden), float("nan")), "l0")
    with pytest.raises(ValueError, match="token 1's largest value 1e\\+04 is beyond the layer's"):
        quantized.encode(torch.tensor([[0.5] * layer.hidden, [1e4] * layer.hidden]), "l0")
