"""Every supported Hugging Face MoE block class: built small from its own config with random
weights, ``FloatMoELayer.forward`` equals the block's forward.

Bound: both are float32 with the same operations in a different order (routing weights
normalized, experts summed), so they differ by a few units in the last place of the output's
magnitude; 1e-5 of the largest output element is two orders above what is seen (about 1e-7)
and far below any routing difference (a different expert choice changes the output by tens of
percent)."""

import importlib
import inspect
import re
from pathlib import Path

import pytest
import torch
import transformers

from moetile.sw.models.hf_adapters import NOT_EXPRESSIBLE, Unsupported, from_hf, supported
from moetile.sw.models.moe_layer import Expert, FloatMoELayer

RELATIVE_BOUND = 1e-5

#: Sizes set on a config wherever it has the field: small, and with groups to route within.
SMALL = dict(
    hidden_size=32,
    intermediate_size=48,
    moe_intermediate_size=24,
    shared_expert_intermediate_size=40,
    num_experts=8,
    num_local_experts=8,
    n_routed_experts=8,
    num_experts_per_tok=2,
    n_shared_experts=1,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    n_group=4,
    topk_group=2,
)

#: Block class → (its model folder in transformers, config overrides), one entry per case.
CASES = [
    ("MixtralSparseMoeBlock", "mixtral", {}),
    ("SwitchTransformersSparseMLP", "switch_transformers", {"d_model": 32, "d_ff": 24}),
    (
        "SwitchTransformersSparseMLP",
        "switch_transformers",
        {"d_model": 32, "d_ff": 24, "router_bias": True, "dense_act_fn": "gelu"},
    ),
    ("MiniMaxSparseMoeBlock", "minimax", {}),
    ("Qwen3VLMoeTextSparseMoeBlock", "qwen3_vl_moe", {}),
    ("OlmoeSparseMoeBlock", "olmoe", {"norm_topk_prob": False}),
    ("OlmoeSparseMoeBlock", "olmoe", {"norm_topk_prob": True, "num_experts_per_tok": 1}),
    ("Qwen3MoeSparseMoeBlock", "qwen3_moe", {"norm_topk_prob": True}),
    ("FlexOlmoSparseMoeBlock", "flex_olmo", {}),
    ("Cohere2MoeSparseMoeBlock", "cohere2_moe", {}),
    ("MellumSparseMoeBlock", "mellum", {}),
    ("Qwen2MoeSparseMoeBlock", "qwen2_moe", {"norm_topk_prob": False}),
    ("Qwen2MoeSparseMoeBlock", "qwen2_moe", {"norm_topk_prob": True}),
    ("Qwen3NextSparseMoeBlock", "qwen3_next", {}),
    ("Qwen3_5MoeSparseMoeBlock", "qwen3_5_moe", {}),
    ("Qwen3OmniMoeThinkerTextSparseMoeBlock", "qwen3_omni_moe", {}),
    (
        "Qwen3OmniMoeTalkerTextSparseMoeBlock",
        "qwen3_omni_moe",
        {"shared_expert_intermediate_size": 40, "norm_topk_prob": False},
    ),
    ("Lfm2MoeSparseMoeBlock", "lfm2_moe", {"use_expert_bias": True, "norm_topk_prob": True}),
    ("Lfm2MoeSparseMoeBlock", "lfm2_moe", {"use_expert_bias": False, "norm_topk_prob": False}),
    ("MiniMaxM2SparseMoeBlock", "minimax_m2", {}),
    ("Mistral4MoE", "mistral4", {"norm_topk_prob": True, "routed_scaling_factor": 2.0}),
    ("Mistral4MoE", "mistral4", {"norm_topk_prob": False}),
    ("MistralLarge4TextMoE", "mistral_large4", {}),
    ("BeamMoE", "beam", {"norm_topk_prob": True}),
    ("AfmoeSparseMoeBlock", "afmoe", {"route_scale": 1.7}),
    ("Glm5NextTextMoE", "glm5_next", {"swiglu_limit": 0.3}),
    ("HYV4MoE", "hy_v4", {"swiglu_limit": 0.3}),
    ("AriaTextMoELayer", "aria", {"moe_num_experts": 8, "moe_topk": 2}),
    ("HunYuanMoEV1Moe", "hunyuan_v1_moe", {"moe_topk": 2}),
    ("LongcatFlashMoE", "longcat_flash", {"zero_expert_num": 0, "expert_ffn_hidden_size": 24}),
    ("MiMoV2FlashMoE", "mimo_v2_flash", {"norm_topk_prob": True, "routed_scaling_factor": 1.5}),
    (
        "Ernie4_5_MoeSparseMoeBlock",
        "ernie4_5_moe",
        {"moe_num_shared_experts": 1, "moe_norm_min": 0.9},
    ),
    ("Ernie4_5_MoeSparseMoeBlock", "ernie4_5_moe", {"moe_num_shared_experts": 0}),
    ("Kolibri1SparseMoeBlock", "kolibri1", {"norm_topk_prob": True}),
    ("Kolibri1SparseMoeBlock", "kolibri1", {"norm_topk_prob": False}),
    ("FlintSparseMoeBlock", "flint", {"norm_topk_prob": True}),
    ("FlintSparseMoeBlock", "flint", {"norm_topk_prob": False}),
    ("HYV3MoE", "hy_v3", {}),
    ("Dots3NoteTextMoE", "dots3_note", {}),
    ("Dots3NoteVisionMoE", "dots3_note", {}),
    ("JambaSparseMoeBlock", "jamba", {}),
    ("LagunaSparseMoeBlock", "laguna", {"moe_router_logit_softcapping": 0.5}),
    ("LagunaSparseMoeBlock", "laguna", {"moe_router_logit_softcapping": 0.0}),
    ("Qwen4ExpTextSparseMoeBlock", "qwen4_exp", {}),
    ("GraniteMoeMoE", "granitemoe", {}),
    ("GraniteMoeSharedMoE", "granitemoeshared", {}),
    ("GraniteMoeHybridMoE", "granitemoehybrid", {}),
    ("GraniteMoeSWAMoE", "granitemoe_swa", {}),
    ("DeepseekV2Moe", "deepseek_v2", {"topk_method": "greedy", "routed_scaling_factor": 1.5}),
    ("DeepseekV2Moe", "deepseek_v2", {"topk_method": "group_limited_greedy"}),
    ("DeepseekOcr2TextMoe", "deepseek_ocr2", {}),
    ("UnlimitedOcrTextMoe", "unlimited_ocr", {}),
    ("DeepseekV3MoE", "deepseek_v3", {"norm_topk_prob": True, "routed_scaling_factor": 2.5}),
    ("DeepseekV3MoE", "deepseek_v3", {"norm_topk_prob": False, "n_group": 1, "topk_group": 1}),
    ("DeepseekV32MoE", "deepseek_v32", {}),
    ("AXK2MoE", "axk2", {}),
    ("BailingHybridMoE", "bailing_hybrid", {}),
    ("Dots1MoE", "dots1", {}),
    ("ExaoneMoeSparseMoEBlock", "exaone_moe", {}),
    ("Glm4MoeMoE", "glm4_moe", {}),
    ("Glm4MoeLiteMoE", "glm4_moe_lite", {}),
    ("Glm4vMoeTextMoE", "glm4v_moe", {}),
    ("GlmMoeDsaMoE", "glm_moe_dsa", {}),
    ("KimiLinearMoE", "kimi_linear", {}),
    ("SolarOpenMoE", "solar_open", {}),
    ("PhimoeSparseMoeBlock", "phimoe", {"router_jitter_noise": 0.01}),
    ("PhimoeSparseMoeBlock", "phimoe", {"router_jitter_noise": 0.5}),
    ("DbrxFFN", "dbrx", {"moe_normalize_expert_weights": None}),
    ("DbrxFFN", "dbrx", {"moe_normalize_expert_weights": 1.0}),
    ("DbrxFFN", "dbrx", {"moe_normalize_expert_weights": 2.0}),
]


def small_config(folder: str, block_name: str, overrides: dict):
    """The model's own config class (the one whose name shares the longest prefix with the
    block's), every size field of :data:`SMALL` it has set small, then ``overrides``."""
    if folder == "dbrx":
        from transformers.models.dbrx.configuration_dbrx import DbrxConfig

        ffn = dict(ffn_hidden_size=48, moe_num_experts=8, moe_top_k=2, **overrides)
        return DbrxConfig(d_model=32, n_heads=4, ffn_config=ffn)
    module = importlib.import_module(f"transformers.models.{folder}.configuration_{folder}")
    classes = [
        getattr(module, name)
        for name in dir(module)
        if name.endswith("Config") and name not in ("PretrainedConfig", "PreTrainedConfig")
    ]

    def shared_prefix(config_class):
        a, b = config_class.__name__[:-6].lower(), block_name.lower()
        return next((n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))

    config = max(classes, key=shared_prefix)()
    # Multimodal models keep their language model's settings in a text config.
    config = getattr(config, "text_config", None) or config
    if getattr(config, "per_layer_config", None) is not None:
        config.allow_global_per_layer_attribute_access = True  # sizes are set globally here
    for key, value in SMALL.items():
        if hasattr(config, key):
            setattr(config, key, value)
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def build(block_name: str, folder: str, overrides: dict):
    module = importlib.import_module(f"transformers.models.{folder}.modeling_{folder}")
    block_class = getattr(module, block_name)
    config = small_config(folder, block_name, overrides)
    if "layer_idx" in inspect.signature(block_class).parameters:
        return block_class(config, layer_idx=0).eval()
    return block_class(config).eval()


def randomize(block, generator) -> None:
    """Every parameter and float buffer (e.g. a routing bias) random, large enough to make
    routing decisions matter."""
    with torch.no_grad():
        for tensor in [*block.parameters(), *block.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.2)


@pytest.mark.parametrize(
    ("block_name", "folder", "overrides"), CASES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_moe_layer_equals_the_hugging_face_block(block_name, folder, overrides, seed):
    generator = torch.Generator().manual_seed(seed)
    block = build(block_name, folder, overrides)
    randomize(block, generator)
    hidden = 32
    x = torch.randn(3, 7, hidden, generator=generator)
    with torch.no_grad():
        expected = block(x)
        expected = expected[0] if isinstance(expected, tuple) else expected
        ours = from_hf(block).forward(x.reshape(-1, hidden)).reshape(x.shape)
    assert (ours - expected).abs().max() <= RELATIVE_BOUND * expected.abs().max()


def test_every_adapter_is_tested():
    assert sorted({name for name, _, _ in CASES}) == supported()


def test_an_unsupported_block_is_named_with_the_supported_ones():
    with pytest.raises(ValueError, match="unsupported MoE block Linear; supported: AXK2MoE, "):
        from_hf(torch.nn.Linear(2, 2))
    block = build("AXK1MoE", "axk1", {})
    with pytest.raises(Unsupported, match="AXK1MoE cannot be expressed: an RMSNorm applied to"):
        from_hf(block)
    block = build("LongcatFlashMoE", "longcat_flash", {"zero_expert_num": 2})
    with pytest.raises(Unsupported, match="2 zero-computation \\(identity\\) experts"):
        from_hf(block)


def test_moe_layer_rejects_bad_descriptions():
    expert = Expert(up=torch.zeros(4, 2), down=torch.zeros(2, 4))
    experts = (expert,) * 4
    gate = torch.zeros(4, 2)
    with pytest.raises(ValueError, match=r"top_k must be an integer in \[1, 2\], not 3"):
        FloatMoELayer(gate=torch.zeros(2, 2), top_k=3, normalize_top_k=True, experts=(expert,) * 2)
    with pytest.raises(ValueError, match=r"gate must have shape \(2, hidden\)"):
        FloatMoELayer(gate=torch.zeros(3, 2), top_k=1, normalize_top_k=True, experts=(expert,) * 2)
    with pytest.raises(ValueError, match="scoring must be one of .*, not 'tanh'"):
        FloatMoELayer(gate=gate, top_k=1, normalize_top_k=True, experts=experts, scoring="tanh")
    with pytest.raises(ValueError, match="groups must divide the 4 experts"):
        FloatMoELayer(gate=gate, top_k=1, normalize_top_k=True, experts=experts, groups=3)
    with pytest.raises(ValueError, match=r"choice_bias must have shape \(4,\)"):
        FloatMoELayer(gate=gate, top_k=1, normalize_top_k=True, experts=experts, choice_bias=gate)
    with pytest.raises(ValueError, match="sparsemixer routing chooses 2 experts; top_k is 1"):
        FloatMoELayer(
            gate=gate, top_k=1, normalize_top_k=True, experts=experts, routing="sparsemixer"
        )
    with pytest.raises(ValueError, match="activation must be one of"):
        Expert(up=torch.zeros(4, 2), down=torch.zeros(2, 4), activation="swish")
    with pytest.raises(ValueError, match="expert down must have shape"):
        Expert(up=torch.zeros(4, 2), down=torch.zeros(4, 2))


def test_group_limited_routing_chooses_only_within_the_best_groups():
    experts = tuple(Expert(up=torch.eye(2), down=torch.eye(2)) for _ in range(4))
    gate = torch.tensor([[1.0, 0.0], [0.9, 0.0], [0.0, 1.0], [0.0, 0.1]])
    layer = FloatMoELayer(
        gate=gate, top_k=2, normalize_top_k=False, experts=experts, groups=2, topk_groups=1
    )
    # Expert 2 scores above expert 1, but group 0 (best score 1.0) beats group 1 (0.95).
    _, _, chosen = layer.route(torch.tensor([[1.0, 0.95]]))
    assert chosen.tolist() == [[0, 1]]


def moe_block_classes() -> list[str]:
    """Every class of the installed transformers' modeling code that holds experts and routes
    to them (a class body that sets ``self.experts`` and has a forward)."""
    root = Path(transformers.__file__).parent / "models"
    found = set()
    for path in root.glob("*/modeling_*.py"):
        for match in re.finditer(
            r"^class (\w+)\([\w.]+\):[^\n]*\n((?:    .*\n|\n)*)", path.read_text(), re.M
        ):
            if re.search(r"self\.experts\s*=", match.group(2)) and "def forward" in match.group(2):
                found.add(match.group(1))
    return sorted(found)


def test_every_moe_block_of_the_installed_transformers_is_supported_or_refused():
    examined = set(supported()) | set(NOT_EXPRESSIBLE)
    assert sorted(set(moe_block_classes()) - examined) == []


def test_the_supported_blocks_are_moe_blocks_of_the_installed_transformers():
    classes = set(moe_block_classes())
    assert set(supported()) <= classes
    assert set(NOT_EXPRESSIBLE) <= classes and not set(NOT_EXPRESSIBLE) & set(supported())


@pytest.mark.parametrize("name", sorted(NOT_EXPRESSIBLE))
def test_an_inexpressible_block_names_what_is_missing(name):
    block = type(name, (torch.nn.Module,), {})()
    with pytest.raises(Unsupported, match=f"{name} cannot be expressed: "):
        from_hf(block)
