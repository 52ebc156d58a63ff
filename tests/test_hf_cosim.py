"""``moetile cosim --hf``: small random-initialized transformers MoEs of several architectures,
shrunk from their configs and co-simulated bit-exact; architectures the layer cannot express
refused, naming what is missing."""

import json

import pytest

from moetile.app.cli import main
from moetile.app.cosim.run import CosimSettings, cosim
from moetile.sw.models.hf_random import HF_VOCABULARY, HfShrink, hf_config, hf_model
from moetile.sw.runtime.model import AcceleratedModel

#: Small enough to co-simulate in seconds: the documented run's settings in tests/test_docs.py,
#: whose Verilator build they share.
SMALL = dict(tokens=16, quality_tokens=0, max_tokens=16, lanes=4, arrays=2)


@pytest.mark.parametrize(
    ("kind", "block", "renormalize"),
    [
        ("qwen3_moe", "Qwen3MoeSparseMoeBlock", False),  # norm_topk_prob off by default
        ("olmoe", "OlmoeSparseMoeBlock", False),
        ("mixtral", "MixtralSparseMoeBlock", True),
        ("granitemoe", "GraniteMoeMoE", True),
        ("qwen2_moe", "Qwen2MoeSparseMoeBlock", False),
        ("deepseek_v3", "DeepseekV3MoE", True),
        ("glm4_moe", "Glm4MoeMoE", True),
    ],
)
def test_configs_shrink_to_models_the_runtime_maps(kind, block, renormalize):
    model, summary = hf_model(kind, HfShrink(layers=2, hidden=32, experts=4, top_k=2))
    assert summary == {
        "model_type": kind,
        "layers": 2,
        "hidden": 32,
        "experts": 4,
        "top_k": 2,
        "seed": 0,
    }
    assert model.config.vocab_size == HF_VOCABULARY
    accelerated = AcceleratedModel(model, {"engine": "xbar"}, 8)
    assert [type(b).__name__ for b in accelerated._blocks()] == [block, block]
    (layer, _) = accelerated.layers
    assert (layer.top_k, len(layer.experts), layer.hidden) == (2, 4, 32)
    assert layer.normalize_top_k is renormalize


def test_dense_layers_become_moe_layers_and_groups_still_divide_the_experts():
    config = hf_config("deepseek_v3", HfShrink(layers=3, experts=8))
    assert (config.first_k_dense_replace, config.num_hidden_layers) == (0, 3)
    assert (config.n_group, config.topk_group) == (4, 2)  # 8 groups, 4 kept: in proportion
    config = hf_config("qwen3_moe", HfShrink(hidden=64))
    assert (config.num_attention_heads, config.num_key_value_heads) == (4, 4)


@pytest.mark.cosim
@pytest.mark.parametrize(
    ("kind", "engine", "routing"),
    [
        ("qwen3_moe", "xbar", {"renormalize": False, "shared_experts": 0}),
        ("olmoe", "mixpe", {"renormalize": False}),
        # A shared expert weighed by its sigmoid gate.
        ("qwen2_moe", "xbar", {"shared_experts": 1, "shared_gate": True}),
        # Sigmoid scores, a selection bias, the best 2 of 4 groups by their best two's sum,
        # routed scaling in the combine multipliers, an unweighted shared expert.
        (
            "deepseek_v3",
            "mixpe",
            {"scoring": "sigmoid", "choice_bias": True, "groups": 4, "topk_groups": 2},
        ),
        # An encoder-decoder: ungated ReLU experts, top-1 of the softmax over all experts.
        ("switch_transformers", "xbar", {"gated": False, "top_k": 1, "renormalize": False}),
    ],
)
def test_hf_models_run_bit_exact_on_the_fast_harness(kind, engine, routing):
    settings = CosimSettings(hf=kind, engine=engine, **SMALL)
    report = cosim(settings, lambda message: None)
    assert report["model"] == f"hf:{kind}" and report["bit_exact"]
    assert {k: report["params"][k] for k in routing} == routing
    for row in report["layers"]:
        per_token = report["params"]["top_k"] + report["params"]["shared_experts"]
        assert row["tokens"] == 16 and sum(row["expert_tokens"]) == 16 * per_token
        assert row["cycles"]["gate_up"] > 0


def test_an_encoder_decoder_runs_every_layer_of_both_stacks():
    model, summary = hf_model("switch_transformers", HfShrink(layers=2, hidden=32))
    assert (summary["layers"], summary["hidden"], summary["top_k"]) == (4, 32, 1)
    assert model.config.expert_capacity >= 256  # no token of a passage dropped
    accelerated = AcceleratedModel(model, {"engine": "xbar"}, 8)
    stacks = [parent for parent, _ in accelerated.sites]
    assert stacks == [b.layer[-1] for b in (*model.encoder.block, *model.decoder.block)]
    assert all(layer.experts[0].gate is None for layer in accelerated.layers)


def test_a_config_file_names_the_architecture(tmp_path):
    from transformers import AutoConfig

    AutoConfig.for_model("mixtral", num_local_experts=6).to_json_file(tmp_path / "config.json")
    for spec in (tmp_path, tmp_path / "config.json"):
        config = hf_config(str(spec), HfShrink(experts=8))
        assert (config.model_type, config.num_local_experts) == ("mixtral", 6)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hf", "phimoe", "--engine", "xbar"], "this layer uses sparsemixer routing"),
        (["--hf", "ernie4_5_moe", "--engine", "xbar"], "a selection bias on softmax scores"),
        (["--hf", "gpt_oss", "--engine", "xbar"], "gpt-oss's clamped SwiGLU"),
        (["--hf", "qwen3_moe"], "the fat engine runs ternary experts"),
        (["--hf", "llama"], "not an MoE model"),
        (["--hf", "nllb-moe"], "nllb-moe is an encoder-decoder model"),
        (
            ["--hf", "switch_transformers", "--engine", "xbar", "--generate", "2"],
            "encoder-decoder model: --generate decodes decoder-only models",
        ),
        (["--hf", "qwen4_moe"], "neither a config file nor a transformers model_type"),
        (["--hf", "mixtral", "--model", "tiny-moe-x"], "hf replaces model"),
        (["--hf", "mixtral", "--hf-experts", "0"], "hf_experts must be"),
        (["--hf", "mixtral", "--generate", "2", "--prefetch", "preattn"], "with hf use none"),
    ],
)
def test_what_the_layer_cannot_run_is_refused_in_one_line(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["cosim", *argv, "--tokens", "8", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("moetile: error:") and message in error, error
    assert not out.exists()


def test_a_config_file_that_is_not_one_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "nonesuch"}))
    with pytest.raises(ValueError, match="names no transformers model_type"):
        hf_config(str(tmp_path), HfShrink())
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(ValueError, match="is not JSON"):
        hf_config(str(tmp_path), HfShrink())
