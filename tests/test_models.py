"""Offline workloads: Hugging Face adapters, the tiny MoE, CMoE on MiniLM, and traces."""

import pytest
import torch
from transformers import MixtralConfig, OlmoeConfig
from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock
from transformers.models.olmoe.modeling_olmoe import OlmoeSparseMoeBlock

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
from moetile.sw.models.moe_layer import Expert, MoELayer
from moetile.sw.models.tiny_moe import TinyMoESettings, load_tiny_moe, train_tiny_moe
from moetile.sw.models.trace import load_trace, record_hf_trace, save_trace

# float32 with a different summation order: errors of a few ulps of the output's magnitude.
FLOAT_TOLERANCE = 1e-5

BLOCKS = [
    (
        MixtralSparseMoeBlock,
        MixtralConfig(
            hidden_size=32, intermediate_size=48, num_local_experts=6, num_experts_per_tok=2
        ),
    ),
    (
        OlmoeSparseMoeBlock,
        OlmoeConfig(
            hidden_size=32,
            intermediate_size=48,
            num_experts=6,
            num_experts_per_tok=3,
            norm_topk_prob=False,
        ),
    ),
    (
        OlmoeSparseMoeBlock,
        OlmoeConfig(
            hidden_size=32,
            intermediate_size=48,
            num_experts=5,
            num_experts_per_tok=1,
            norm_topk_prob=True,
        ),
    ),
]


@pytest.mark.parametrize(("cls", "config"), BLOCKS, ids=lambda v: getattr(v, "__name__", ""))
def test_adapter_forward_equals_hugging_face(cls, config, seed):
    torch.manual_seed(seed)
    block = cls(config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in block.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
        x = torch.randn(3, 7, config.hidden_size, generator=generator)
        expected = block(x)
        ours = from_hf(block).forward(x.reshape(-1, config.hidden_size)).reshape(x.shape)
    assert (ours - expected).abs().max() < FLOAT_TOLERANCE * expected.abs().max()


def test_unsupported_block_is_named():
    with pytest.raises(
        ValueError,
        match="unsupported MoE block Linear; supported: MixtralSparseMoeBlock, OlmoeSparseMoeBlock",
    ):
        from_hf(torch.nn.Linear(2, 2))


def test_moe_layer_rejects_bad_descriptions():
    expert = Expert(up=torch.zeros(4, 2), down=torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"top_k must be an integer in \[1, 2\], not 3"):
        MoELayer(gate=torch.zeros(2, 2), top_k=3, normalize_top_k=True, experts=(expert,) * 2)
    with pytest.raises(ValueError, match=r"gate must have shape \(2, hidden\)"):
        MoELayer(gate=torch.zeros(3, 2), top_k=1, normalize_top_k=True, experts=(expert,) * 2)
    with pytest.raises(ValueError, match="activation must be one of"):
        Expert(up=torch.zeros(4, 2), down=torch.zeros(2, 4), activation="swish")
    with pytest.raises(ValueError, match="expert down must have shape"):
        Expert(up=torch.zeros(4, 2), down=torch.zeros(4, 2))


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
    assert again.experts == SMALL_CMOE.routed


def test_cmoe_rejects_bad_settings_and_short_text():
    with pytest.raises(ValueError, match=r"shared must be an integer in \[0, 3\], not 4"):
        CMoESettings(experts=4, shared=4)
    dense = (torch.randn(8, 4), torch.zeros(8), torch.randn(4, 8), torch.zeros(4))
    with pytest.raises(ValueError, match="text too short to calibrate"):
        convert_ffn(*dense, torch.randn(3, 4), CMoESettings(experts=4, shared=1))
    with pytest.raises(ValueError, match="experts must divide the FFN's 8 neurons, not 3"):
        convert_ffn(*dense, torch.randn(30, 4), CMoESettings(experts=3, shared=1))
