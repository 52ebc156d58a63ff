"""Adapters from Hugging Face ``transformers`` MoE blocks to :class:`FloatMoELayer`.

A new architecture is one function registered with :func:`adapter`. Every adapter reads the
block's own weights and settings (shared, not copied), and the tests check, per class, that
``FloatMoELayer.forward`` equals the block's forward on random input.
"""

from collections.abc import Callable

import torch

from .moe_layer import Expert, FloatMoELayer

__all__ = ["NOT_EXPRESSIBLE", "Unsupported", "adapter", "from_hf", "supported"]

_ADAPTERS: dict[str, Callable] = {}

#: DeepSeek-V3 adds this to the sum of the chosen scores before dividing by it.
DEEPSEEK_NORMALIZE_EPSILON = 1e-20


def adapter(*class_names: str):
    """Register ``function(block) -> FloatMoELayer`` for blocks whose class is one of
    ``class_names``."""

    def register(function):
        for name in class_names:
            _ADAPTERS[name] = function
        return function

    return register


def supported() -> list[str]:
    return sorted(_ADAPTERS)


#: Block classes examined and found inexpressible, with what :class:`FloatMoELayer` lacks.
NOT_EXPRESSIBLE = {
    "AXK1MoE": "an RMSNorm applied to the block's output",
    "GptOssMLP": "gpt-oss's clamped SwiGLU (gate * sigmoid(alpha * gate) * (up + 1), both "
    "clamped at swiglu_limit) on interleaved gate and up rows",
    "Llama4TextMoe": "the routing weight scales the expert's input, not its output",
    "NemotronHMoE": "squared-ReLU experts, run in a latent space between two projections when "
    "moe_latent_size is set",
    "JetMoeAttention": "a mixture of attention experts, not of feed-forward experts",
    "OpenAIPrivacyFilterMLP": "gpt-oss's clamped SwiGLU (gate * sigmoid(alpha * gate) * "
    "(up + 1), both clamped at swiglu_limit)",
    "MiniMaxM3VLSparseMoeBlock": "gpt-oss's clamped SwiGLU (gate * sigmoid(alpha * gate) * "
    "(up + 1), both clamped at swiglu_limit)",
    "InklingMoE": "shared experts weighted by the router, normalized together with the chosen "
    "experts",
    "Inkling2SparseMoeBlock": "a soft-capped SwiGLU activation",
    "MuseSparkMoE": "experts that run between a projection with an RMSNorm and a projection back",
    "ZayaSparseMoeBlock": "a router that takes the previous layer's router state",
    "DeepseekV4SparseMoeBlock": "sqrt-softplus scoring, and in hash_moe layers experts chosen "
    "from the token id",
    "Step3p7SparseMoeBlock": "a SwiGLU clamped after its activation",
    "Ernie4_5_VLMoeSparseMoeBlock": "one half (text or vision) of Ernie4_5_VLMoeMoeBlock, which "
    "sends each token to the half of its modality",
    "NllbMoeSparseMLP": "expert capacity with token dropping and a second-expert policy",
    "VitPoseBackboneMoeMLP": "experts chosen by a given dataset index, not by a router",
    "Gemma4TextDecoderLayer": "a decoder layer with its router and experts inline beside a "
    "dense MLP, not a separate MoE block",
    "DiffusionGemmaEncoderTextLayer": "a decoder layer with its router and experts inline "
    "beside a dense MLP, not a separate MoE block",
    "DiffusionGemmaDecoderTextLayer": "a decoder layer with its router and experts inline "
    "beside a dense MLP, not a separate MoE block",
}


def from_hf(block) -> FloatMoELayer:
    """The :class:`FloatMoELayer` of a Hugging Face MoE block (weights shared, not copied)."""
    name = type(block).__name__
    if name in NOT_EXPRESSIBLE:
        raise Unsupported(f"MoE block {name} cannot be expressed: {NOT_EXPRESSIBLE[name]}")
    if name not in _ADAPTERS:
        raise ValueError(f"unsupported MoE block {name}; supported: {', '.join(supported())}")
    return _ADAPTERS[name](block)


class Unsupported(ValueError):
    """A block of a supported class whose settings :class:`FloatMoELayer` cannot express."""


def _fused_experts(experts, transposed: bool = False, **options) -> tuple[Expert, ...]:
    """transformers 5 stores experts fused: ``gate_up_proj`` ``(E, 2*ff, d)``, ``down_proj``
    ``(E, d, ff)`` (or both transposed, for blocks that multiply ``x @ W``); the first half of
    the gate-up rows is the gate. ``options`` go to every :class:`Expert` (the activation is
    read from the experts' ``act_fn`` unless given)."""
    if "activation" not in options:
        options["activation"] = _activation_of(experts.act_fn, type(experts).__name__)
    out = []
    for e in range(experts.num_experts):
        gate_up, down = experts.gate_up_proj[e].detach(), experts.down_proj[e].detach()
        if transposed:
            gate_up, down = gate_up.T, down.T
        gate, up = gate_up.chunk(2, dim=0)
        out.append(Expert(up=up, down=down, gate=gate, **options))
    return tuple(out)


def _mlp_expert(mlp) -> Expert:
    """A gated MLP with ``gate_proj``, ``up_proj``, ``down_proj`` linears (biases kept, and its
    ``swiglu_limit`` clamp where it has one)."""
    if mlp.gate_proj.bias is not None:
        raise Unsupported(f"{type(mlp).__name__}: a bias on the gate projection")
    return Expert(
        up=mlp.up_proj.weight.detach(),
        down=mlp.down_proj.weight.detach(),
        gate=mlp.gate_proj.weight.detach(),
        up_bias=None if mlp.up_proj.bias is None else mlp.up_proj.bias.detach(),
        down_bias=None if mlp.down_proj.bias is None else mlp.down_proj.bias.detach(),
        activation=_activation_of(mlp.act_fn, type(mlp).__name__),
        swiglu_limit=getattr(mlp, "swiglu_limit", None),
    )


def _routed(block, router, weight=None, experts=None, **description) -> FloatMoELayer:
    """An :class:`FloatMoELayer` from ``router``'s top-k and weight (or ``weight``), the block's
    fused experts (or ``experts``) and ``description`` (routing settings, shared experts)."""
    return FloatMoELayer(
        gate=(router.weight if weight is None else weight).detach(),
        top_k=router.top_k,
        experts=_fused_experts(block.experts) if experts is None else experts,
        name=type(block).__name__,
        **description,
    )


def _grouped(block, router, groups: int, topk_groups: int) -> dict:
    """Group-limited routing settings; the block masks the other groups' scores with 0, which
    equals leaving them out only while the chosen groups hold ``top_k`` experts."""
    if groups > 1 and router.top_k > topk_groups * (len(router.weight) // groups):
        raise Unsupported(
            f"{type(block).__name__}: top_k {router.top_k} exceeds the experts of the "
            f"{topk_groups} chosen groups (the block would pick masked experts)"
        )
    return {"groups": groups, "topk_groups": topk_groups}


@adapter("Qwen3_5MoeSparseMoeBlock")
def _qwen3_5_moe(block) -> FloatMoELayer:
    """Qwen2-MoE's shape with the top-k always renormalized."""
    return _gated_shared(block, normalize_top_k=True)


@adapter("Lfm2MoeSparseMoeBlock")
def _lfm2_moe(block) -> FloatMoELayer:
    """Sigmoid scores, an optional selection-only expert bias, renormalization with 1e-6, a
    routed scaling factor."""
    gate = block.gate
    return _routed(
        block,
        gate,
        scoring="sigmoid",
        choice_bias=block.expert_bias.detach() if block.use_expert_bias else None,
        normalize_top_k=bool(gate.norm_topk_prob),
        normalize_epsilon=1e-6,
        routed_scale=float(gate.routed_scaling_factor),
    )


@adapter("MiniMaxM2SparseMoeBlock")
def _minimax_m2(block) -> FloatMoELayer:
    """Sigmoid scores, a selection-only bias kept on the block, always renormalized."""
    return _routed(
        block,
        block.gate,
        scoring="sigmoid",
        choice_bias=block.e_score_correction_bias.detach(),
        normalize_top_k=True,
    )


@adapter("Mistral4MoE", "MistralLarge4TextMoE")
def _mistral4(block) -> FloatMoELayer:
    """Softmax scores, group-limited top-k (a group scored by the sum of its best two),
    renormalization with DeepSeek's epsilon (always, for Mistral Large 4), a routed scaling
    factor, and the shared experts."""
    gate = block.gate
    return _routed(
        block,
        gate,
        normalize_top_k=bool(getattr(gate, "norm_topk_prob", True)),
        normalize_epsilon=DEEPSEEK_NORMALIZE_EPSILON,
        routed_scale=float(gate.routed_scaling_factor),
        group_score="top2_sum",
        shared=(_mlp_expert(block.shared_experts),),
        **_grouped(block, gate, gate.num_group, gate.topk_group),
    )


@adapter("BeamMoE")
def _beam(block) -> FloatMoELayer:
    """DeepSeek-V3's routing without shared experts, the scaling applied on the block."""
    gate = block.gate
    return _routed(
        block,
        gate,
        scoring="sigmoid",
        choice_bias=gate.e_score_correction_bias.detach(),
        group_score="top2_sum",
        normalize_top_k=bool(gate.norm_topk_prob),
        normalize_epsilon=DEEPSEEK_NORMALIZE_EPSILON,
        routed_scale=float(block.routed_scaling_factor),
        **_grouped(block, gate, gate.num_group, gate.topk_group),
    )


@adapter("FlintSparseMoeBlock")
def _flint(block) -> FloatMoELayer:
    """Sigmoid scores, top-k, renormalized when ``norm_topk_prob``, plus an ungated shared
    expert."""
    return _routed(
        block,
        block.gate,
        scoring="sigmoid",
        normalize_top_k=bool(block.gate.norm_topk_prob),
        shared=(_mlp_expert(block.shared_expert),),
    )


@adapter("HYV3MoE", "Dots3NoteVisionMoE")
def _hy_v3(block) -> FloatMoELayer:
    """Sigmoid scores, a selection-only bias kept on the block, renormalization with 1e-20, a
    router scaling factor, and the shared experts where the block has them."""
    return _routed(
        block,
        block.gate,
        scoring="sigmoid",
        choice_bias=block.e_score_correction_bias.detach(),
        normalize_top_k=True,
        normalize_epsilon=DEEPSEEK_NORMALIZE_EPSILON,
        routed_scale=float(block.gate.router_scaling_factor),
        shared=_shared_experts(block),
    )


@adapter("JambaSparseMoeBlock")
def _jamba(block) -> FloatMoELayer:
    """Softmax over all experts, top-k, not renormalized."""
    return _routed(block, block.router, normalize_top_k=False)


@adapter("LagunaSparseMoeBlock")
def _laguna(block) -> FloatMoELayer:
    """Soft-capped logits, sigmoid scores, a selection-only bias, always renormalized, a routed
    scaling factor, and the shared experts."""
    gate = block.gate
    return _routed(
        block,
        gate,
        logit_softcap=float(gate.router_logit_softcapping),
        scoring="sigmoid",
        choice_bias=gate.e_score_correction_bias.detach(),
        normalize_top_k=True,
        routed_scale=float(block.routed_scaling_factor),
        shared=(_mlp_expert(block.shared_experts),),
    )


@adapter("MixtralSparseMoeBlock", "MiniMaxSparseMoeBlock", "Qwen3VLMoeTextSparseMoeBlock")
def _mixtral(block) -> FloatMoELayer:
    """Softmax over all experts, top-k, always renormalized."""
    return _routed(block, block.gate, normalize_top_k=True)


@adapter(
    "OlmoeSparseMoeBlock",
    "Qwen3MoeSparseMoeBlock",
    "Qwen3OmniMoeThinkerTextSparseMoeBlock",
    "FlexOlmoSparseMoeBlock",
    "Cohere2MoeSparseMoeBlock",
    "MellumSparseMoeBlock",
)
def _olmoe(block) -> FloatMoELayer:
    """Softmax over all experts, top-k, renormalized when ``norm_topk_prob``."""
    return _routed(block, block.gate, normalize_top_k=bool(block.gate.norm_topk_prob))


@adapter("SwitchTransformersSparseMLP")
def _switch(block) -> FloatMoELayer:
    """Switch Transformers: the top-1 expert of the softmax over all experts, weighted by its
    probability; ungated experts ``wo(act(wi x))`` without biases. The block drops a
    sequence's tokens beyond an expert's ``expert_capacity``: this layer is the block for
    sequences of at most ``expert_capacity`` tokens, where nothing is dropped."""
    router = block.router
    experts = [block.experts[f"expert_{e}"] for e in range(router.num_experts)]
    name = type(block).__name__
    return FloatMoELayer(
        gate=router.classifier.weight.detach(),
        gate_bias=None if router.classifier.bias is None else router.classifier.bias.detach(),
        top_k=1,
        normalize_top_k=False,
        experts=tuple(
            Expert(
                up=e.wi.weight.detach(),
                down=e.wo.weight.detach(),
                activation=_activation_of(e.act, name),
            )
            for e in experts
        ),
        name=name,
    )


@adapter(
    "Qwen2MoeSparseMoeBlock",
    "Qwen3NextSparseMoeBlock",
    "Qwen4ExpTextSparseMoeBlock",
    "Qwen3OmniMoeTalkerTextSparseMoeBlock",
)
def _qwen2_moe(block) -> FloatMoELayer:
    """Qwen's routing plus one shared expert behind its own sigmoid gate."""
    return _gated_shared(block, normalize_top_k=bool(block.gate.norm_topk_prob))


def _gated_shared(block, normalize_top_k: bool) -> FloatMoELayer:
    return _routed(
        block,
        block.gate,
        normalize_top_k=normalize_top_k,
        shared=(_mlp_expert(block.shared_expert),),
        shared_gate=block.shared_expert_gate.weight.detach(),
    )


@adapter("GraniteMoeMoE", "GraniteMoeSharedMoE", "GraniteMoeHybridMoE", "GraniteMoeSWAMoE")
def _granite(block) -> FloatMoELayer:
    """Top-k of the logits, softmax over those k: the renormalized top-k of the softmax."""
    return _routed(block, block.router, normalize_top_k=True)


@adapter("DeepseekV2Moe", "DeepseekOcr2TextMoe", "UnlimitedOcrTextMoe")
def _deepseek_v2(block) -> FloatMoELayer:
    """Softmax scores, greedy or group-limited top-k (a group scored by its best expert), no
    renormalization, a routed scaling factor, and the shared experts."""
    gate = block.gate
    methods = {"greedy": 1, "group_limited_greedy": gate.num_group}
    if gate.topk_method not in methods:
        raise Unsupported(f"{type(block).__name__}: topk_method {gate.topk_method!r}")
    groups = methods[gate.topk_method]
    return _routed(
        block,
        gate,
        normalize_top_k=False,
        shared=(_mlp_expert(block.shared_experts),),
        group_score="max",
        routed_scale=float(gate.routed_scaling_factor),
        **_grouped(block, gate, groups, gate.topk_group if groups > 1 else 1),
    )


@adapter(
    "DeepseekV3MoE",
    "DeepseekV32MoE",
    "AXK2MoE",
    "BailingHybridMoE",
    "Dots1MoE",
    "Dots3NoteTextMoE",
    "ExaoneMoeSparseMoEBlock",
    "Glm4MoeMoE",
    "Glm4MoeLiteMoE",
    "Glm4vMoeTextMoE",
    "GlmMoeDsaMoE",
    "KimiLinearMoE",
    "SolarOpenMoE",
    "MiMoV2FlashMoE",
)
def _deepseek_v3(block, experts=None) -> FloatMoELayer:
    """Sigmoid scores, a selection-only bias, group-limited top-k (a group scored by the sum of
    its best two), renormalization with DeepSeek's epsilon, a routed scaling factor, and the
    shared experts where the block has them."""
    gate = block.gate
    return _routed(
        block,
        gate,
        experts=experts,
        normalize_top_k=bool(gate.norm_topk_prob),
        shared=_shared_experts(block),
        scoring="sigmoid",
        choice_bias=gate.e_score_correction_bias.detach(),
        group_score="top2_sum",
        normalize_epsilon=DEEPSEEK_NORMALIZE_EPSILON,
        routed_scale=float(gate.routed_scaling_factor),
        **_grouped(block, gate, gate.num_group, gate.topk_group),
    )


@adapter("PhimoeSparseMoeBlock")
def _phimoe(block) -> FloatMoELayer:
    """PhiMoE's SparseMixer, exact at inference (top-2)."""
    return _routed(
        block,
        block.router,
        normalize_top_k=False,
        routing="sparsemixer",
        jitter_eps=float(block.router.router_jitter_noise),
    )


@adapter("DbrxFFN")
def _dbrx(block) -> FloatMoELayer:
    """Softmax, top-k, the chosen weights divided by their p-norm when the config asks; the
    experts' ``w1`` (gate), ``v1`` (up) and ``w2`` (down, stored transposed) stacked."""
    mlp = block.experts.mlp
    shape = (block.experts.num_experts, block.experts.ffn_hidden_size, block.experts.hidden_size)
    w1, v1, w2 = (w.detach().view(shape) for w in (mlp.w1, mlp.v1, mlp.w2))
    activation = _activation_of(mlp.activation_fn, "DbrxExpertGLU")
    p = block.moe_normalize_expert_weights
    return FloatMoELayer(
        gate=block.router.layer.weight.detach(),
        top_k=block.top_k,
        normalize_top_k=p is not None,
        normalize_p=float(p) if p is not None else 1.0,
        experts=tuple(
            Expert(up=v1[e], down=w2[e].T, gate=w1[e], activation=activation)
            for e in range(shape[0])
        ),
        name=type(block).__name__,
    )


@adapter("Glm5NextTextMoE", "HYV4MoE")
def _glm5_next(block) -> FloatMoELayer:
    """DeepSeek-V3's routing with SiLU experts whose gate and up are clamped at
    ``swiglu_limit``."""
    experts = block.experts
    limited = _fused_experts(experts, activation="silu", swiglu_limit=float(experts.swiglu_limit))
    return _deepseek_v3(block, limited)


@adapter("Ernie4_5_MoeSparseMoeBlock")
def _ernie4_5_moe(block) -> FloatMoELayer:
    """Softmax scores, a selection-only bias, renormalized by the sum floored at ``norm_min``,
    and the shared experts where configured."""
    gate = block.gate
    return _routed(
        block,
        gate,
        choice_bias=gate.moe_statics.e_score_correction_bias.detach().reshape(-1),
        normalize_top_k=True,
        normalize_floor=float(gate.norm_min),
        shared=_shared_experts(block),
    )


@adapter("Kolibri1SparseMoeBlock")
def _kolibri1(block) -> FloatMoELayer:
    """Experts chosen on the logits plus a bias, weighted by the sigmoid of their logits,
    renormalized when ``norm_topk_prob``, and the shared experts."""
    gate = block.gate
    return _routed(
        block,
        gate,
        scoring="sigmoid",
        choose_on_logits=True,
        choice_bias=gate.e_score_correction_bias.detach(),
        normalize_top_k=bool(gate.norm_topk_prob),
        shared=_shared_experts(block),
    )


@adapter("AfmoeSparseMoeBlock")
def _afmoe(block) -> FloatMoELayer:
    """Sigmoid scores, a selection-only bias kept on the block, renormalization with 1e-20, a
    route scale, and the shared experts."""
    router = block.router
    return _routed(
        block,
        router,
        weight=router.gate.weight,
        scoring="sigmoid",
        choice_bias=block.expert_bias.detach(),
        normalize_top_k=True,
        normalize_epsilon=DEEPSEEK_NORMALIZE_EPSILON,
        routed_scale=float(router.route_scale),
        shared=_shared_experts(block),
    )


@adapter("AriaTextMoELayer")
def _aria(block) -> FloatMoELayer:
    """Softmax over the top-k logits (the renormalized top-k), experts stored for ``x @ W``,
    and the shared experts."""
    return _routed(
        block,
        block.router,
        experts=_fused_experts(block.experts, transposed=True),
        normalize_top_k=True,
        shared=_shared_experts(block),
    )


@adapter("HunYuanMoEV1Moe")
def _hunyuan_v1(block) -> FloatMoELayer:
    """Softmax, top-k, renormalized, plus an ungated shared MLP."""
    gate = block.gate
    return _routed(
        block,
        gate,
        weight=gate.wg.weight,
        normalize_top_k=True,
        shared=(_mlp_expert(block.shared_mlp),),
    )


@adapter("LongcatFlashMoE")
def _longcat_flash(block) -> FloatMoELayer:
    """Softmax scores, a selection-only bias, no renormalization, a routed scaling factor;
    the zero-computation (identity) experts are refused."""
    router, experts = block.router, block.experts
    if experts.zero_expert_num:
        raise Unsupported(
            f"LongcatFlashMoE: {experts.zero_expert_num} zero-computation (identity) experts"
        )
    if router.router_bias:
        raise Unsupported("LongcatFlashMoE: a router bias")
    activation = _activation_of(experts.act_fn, "LongcatFlashExperts")
    routed = []
    for e in range(experts.num_routed_experts):
        gate, up = experts.gate_up_proj[e].detach().chunk(2, dim=0)
        routed.append(
            Expert(up=up, down=experts.down_proj[e].detach(), gate=gate, activation=activation)
        )
    return _routed(
        block,
        router,
        weight=router.classifier.weight,
        experts=tuple(routed),
        choice_bias=router.e_score_correction_bias.detach(),
        normalize_top_k=False,
        routed_scale=float(router.routed_scaling_factor),
    )


def _shared_experts(block) -> tuple[Expert, ...]:
    """The block's ``shared_experts`` MLP, if it has one."""
    mlp = getattr(block, "shared_experts", None)
    return () if mlp is None else (_mlp_expert(mlp),)


def _activation_of(act, where: str) -> str:
    probe = torch.linspace(-3, 3, 7)
    for name in ("silu", "gelu", "relu"):
        reference = getattr(torch.nn.functional, name)(probe)
        if torch.allclose(act(probe), reference):
            return name
    raise Unsupported(
        f"{where}: expert activation {type(act).__name__}; supported: silu, gelu, relu"
    )
