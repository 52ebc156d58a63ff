"""Offline workloads: Hugging Face adapters, the tiny MoE, CMoE on MiniLM, and traces."""

from dataclasses import replace

import pytest
import torch

from moetile.sw.models.cmoe import CMoESettings, convert_ffn
from moetile.sw.models.cmoe_minilm import (
    convert_minilm,
    ffn_inputs,
    layer_errors,
    load_converted,
    record_cmoe_trace,
    save_converted,
    text_samples,
)
from moetile.sw.models.hf_adapters import from_hf
from moetile.sw.models.minilm import load_minilm, tokenize
from moetile.sw.models.tiny_moe import (
    TinyMoESettings,
    expert_matrices,
    load_tiny_moe,
    ternary_experts,
    train_tiny_moe,
)
from moetile.sw.models.trace import load_trace, passages_of, record_hf_trace, save_trace

# float32 with a different summation order: errors of a few ulps of the output's magnitude.
FLOAT_TOLERANCE = 1e-5

TINY = TinyMoESettings(
    hidden=32,
    layers=2,
    heads=2,
    experts=4,
    expert_hidden=48,
    context=32,
    batch=4,
    steps=3,
    eval_windows=2,
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    metrics = train_tiny_moe(TINY, out)
    return out, metrics


def test_tiny_moe_trains_saves_and_reloads(tiny_model):
    out, metrics = tiny_model
    assert metrics["validation_perplexity"] < 256  # better than uniform over bytes
    model = load_tiny_moe(out)
    assert model.config.num_local_experts == TINY.experts
    again = train_tiny_moe(TINY, out.parent / "again")
    assert again["validation_perplexity"] == metrics["validation_perplexity"]  # seeded


def test_ternary_experts_train_reload_and_recover_exactly(tiny_model, tmp_path):
    out = tmp_path / "ternary"
    metrics = train_tiny_moe(replace(TINY, expert_weights="ternary"), out)
    assert metrics["expert_weights"] == "ternary" and metrics["validation_perplexity"] < 256
    model = load_tiny_moe(out, "ternary")
    matrices = list(expert_matrices(model))
    recovered = ternary_experts(model)
    assert len(recovered) == len(matrices) == TINY.layers * TINY.experts * 3
    for layer, expert, name, weight in matrices:
        codes = recovered[layer, expert, name]
        assert set(codes.codes.unique().tolist()) <= {-1, 0, 1}
        assert torch.equal(codes.dequantize(), weight.detach())  # exactly, not approximately
    # The float model reports its experts ternarized after training; kinds are not mixed up.
    float_metrics = tiny_model[1]
    assert set(float_metrics["ternarized_after_training_perplexity"]) == {"twn", "absmean"}
    with pytest.raises(ValueError, match="holds a tiny MoE with float experts, not ternary"):
        load_tiny_moe(tiny_model[0], "ternary")
    with pytest.raises(ValueError, match="holds a tiny MoE with ternary experts, not float"):
        load_tiny_moe(out, "float")


def test_trace_refuses_a_model_of_the_other_kind(tiny_model, tmp_path, capsys):
    from moetile.app.cli import main

    out = tmp_path / "t.safetensors"
    args = ["model", "trace", "tiny-moe-ternary", "--model-dir", str(tiny_model[0])]
    assert main([*args, "--out", str(out), "--tokens", "8"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("moetile: error: ") and "holds a tiny MoE with float experts" in error
    assert not out.exists()


def test_a_ternary_model_with_non_ternary_weights_is_refused(tmp_path):
    out = tmp_path / "ternary"
    train_tiny_moe(replace(TINY, expert_weights="ternary", steps=1), out)
    model = load_tiny_moe(out)
    with torch.no_grad():
        model.model.layers[1].mlp.experts.down_proj[2, 0, 0] += 0.001
    model.save_pretrained(out)
    with pytest.raises(ValueError, match="layer 1 expert 2 down: weights are not one scale"):
        load_tiny_moe(out)


def test_trace_round_trip_and_router_equivalence(tiny_model, tmp_path):
    model = load_tiny_moe(tiny_model[0])
    tokens = torch.arange(24) + 64
    trace = record_hf_trace(model, tokens, "tiny-moe")
    path = tmp_path / "trace.safetensors"
    save_trace(trace, path)
    loaded = load_trace(path)
    assert loaded.model == "tiny-moe" and torch.equal(loaded.tokens, tokens)
    for ours, theirs, layer in zip(loaded.layers, trace.layers, model.model.layers, strict=True):
        for name in ("pre_attention", "gate_input", "router_logits", "top_k"):
            assert torch.equal(getattr(ours, name), getattr(theirs, name))
        assert int(ours.expert_load.sum()) == len(tokens) * TINY.top_k
        _, _, chosen = from_hf(layer.mlp).route(ours.gate_input)
        assert torch.equal(chosen, ours.top_k)


def test_trace_of_many_passages(tiny_model, tmp_path):
    model = load_tiny_moe(tiny_model[0])
    data = torch.arange(100) % 90 + 32
    passages = passages_of(data, TINY.context, 80)
    assert [len(p) for p in passages] == [32, 32, 16]
    trace = record_hf_trace(model, passages, "tiny-moe", "train")
    save_trace(trace, tmp_path / "t.safetensors")
    loaded = load_trace(tmp_path / "t.safetensors")
    assert loaded.passage_bounds.tolist() == [0, 32, 64, 80] and loaded.split == "train"
    assert torch.equal(loaded.tokens, data[:80])
    # Each passage runs on its own: the last one's routing is that of a separate run.
    alone = record_hf_trace(model, passages[2], "tiny-moe")
    assert torch.equal(loaded.layers[1].top_k[64:], alone.layers[1].top_k)
    with pytest.raises(ValueError, match="the train text holds 100 tokens, fewer than 101"):
        passages_of(data, TINY.context, 101, "the train text")


def test_trace_versions_and_bad_bounds(tiny_model, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    model = load_tiny_moe(tiny_model[0])
    trace = record_hf_trace(model, [torch.arange(10) + 40, torch.arange(5) + 50], "tiny-moe")
    save_trace(trace, tmp_path / "t.safetensors")
    with safe_open(str(tmp_path / "t.safetensors"), framework="pt") as handle:
        meta = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    save_file({**tensors, "passages": torch.tensor([0, 15, 15])}, tmp_path / "b.st", meta)
    with pytest.raises(ValueError, match="passages must be 3 increasing bounds from 0 to 15"):
        load_trace(tmp_path / "b.st")
    version1 = {k: v for k, v in tensors.items() if k != "passages"}
    save_file(version1, tmp_path / "v1.st", {**meta, "version": "1"})
    assert load_trace(tmp_path / "v1.st").passage_bounds.tolist() == [0, 15]
    save_file(tensors, tmp_path / "v9.st", {**meta, "version": "9"})
    with pytest.raises(ValueError, match="this moetile reads versions 1, 2"):
        load_trace(tmp_path / "v9.st")


def test_bad_model_and_trace_files(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="config.json is missing"):
        load_tiny_moe(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_model[0] / "config.json").read_text())
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="cannot load the tiny MoE"):
        load_tiny_moe(broken)
    with pytest.raises(ValueError, match="no moetile-trace file"):
        load_trace(tmp_path / "none.safetensors")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_trace(broken / "model.safetensors")
    with pytest.raises(ValueError, match="is not a moetile-trace file"):
        load_trace(tiny_model[0] / "model.safetensors")


def test_nan_weights_are_refused(tiny_model, tmp_path):
    model = load_tiny_moe(tiny_model[0])
    with torch.no_grad():
        model.model.layers[0].mlp.gate.weight[0, 0] = float("nan")
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="holds NaN or inf"):
        load_tiny_moe(tmp_path)


SMALL_CMOE = CMoESettings(experts=4, shared=1, kmeans_steps=2, gate_steps=30)


@pytest.fixture(scope="module")
def converted():
    return convert_minilm(SMALL_CMOE, text_samples(24, "train"), progress=lambda m: None)


def test_cmoe_with_every_expert_is_the_dense_ffn(converted):
    _, model = load_minilm()
    inputs = ffn_inputs(model, tokenize(text_samples(8, "validation")))
    for layer, ffn, h in zip(model.encoder.layer, converted.ffns, inputs, strict=True):
        dense = layer.output.dense(layer.intermediate(h))
        moe = ffn(h, "calibrated", SMALL_CMOE.routed)
        assert (moe - dense).abs().max() < FLOAT_TOLERANCE * dense.abs().max()
        neurons = torch.cat([ffn.shared_index, ffn.routed_index.flatten()]).sort().values
        assert torch.equal(neurons, torch.arange(1536))
        assert ffn.routed_index.shape == (3, 384)


def test_calibrated_router_beats_random(converted):
    rows = layer_errors(converted, text_samples(16, "validation"), (1,))
    error = {(r["layer"], r["router"]): r["ffn_relative_error"] for r in rows}
    wins = sum(error[n, "calibrated"] < error[n, "random"] for n in range(6))
    assert wins >= 5, error
    assert all(error[n, "oracle"] <= error[n, "calibrated"] + 1e-6 for n in range(6))


def test_cmoe_save_load_and_trace(converted, tmp_path):
    path = tmp_path / "cmoe.safetensors"
    save_converted(converted, path)
    loaded = load_converted(path)
    for a, b in zip(converted.ffns, loaded.ffns, strict=True):
        assert torch.equal(a.routed_index, b.routed_index) and torch.equal(a.gate[0], b.gate[0])
    trace = record_cmoe_trace(loaded, text_samples(8, "validation"), k=1, tokens=40)
    save_trace(trace, tmp_path / "t.safetensors")
    again = load_trace(tmp_path / "t.safetensors")
    assert len(again.layers) == 6 and again.layers[0].top_k.shape == (40, 1)
    bounds = again.passage_bounds.tolist()
    assert bounds[0] == 0 and bounds[-1] == 40 and len(bounds) > 2  # one passage per text
    assert again.experts == SMALL_CMOE.routed


def test_cmoe_rejects_bad_settings_and_short_text():
    with pytest.raises(ValueError, match=r"shared must be an integer in \[0, 3\], not 4"):
        CMoESettings(experts=4, shared=4)
    dense = (torch.randn(8, 4), torch.zeros(8), torch.randn(4, 8), torch.zeros(4))
    with pytest.raises(ValueError, match="text too short to calibrate"):
        convert_ffn(*dense, torch.randn(3, 4), CMoESettings(experts=4, shared=1))
    with pytest.raises(ValueError, match="experts must divide the FFN's 8 neurons, not 3"):
        convert_ffn(*dense, torch.randn(30, 4), CMoESettings(experts=3, shared=1))
