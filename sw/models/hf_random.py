"""Small random-initialized ``transformers`` MoE models of a named architecture
(``moetile cosim --hf``).

The architecture comes from a ``transformers`` config: a ``config.json`` file, a folder holding
one, or a ``model_type`` (``qwen3_moe``, ``olmoe``, ``mixtral``...), whose default config is
that of the family's flagship model. Its sizes are then shrunk to fit the accelerator
(:class:`HfShrink`): layers, width, expert width, routed experts and top-k each capped, the
vocabulary made the 256 byte values (the co-simulation's text is bytes), attention heads, their
dimensions and low ranks capped at the width, and every layer made an MoE layer (dense layers
of the config, such as DeepSeek-V3's first three, become MoE layers). Everything else (routing,
scoring, shared experts, activations) is the architecture's own.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from moetile.hw.checks import check_int

__all__ = ["HF_CONTEXT", "HF_VOCABULARY", "SEQ2SEQ_TYPES", "HfShrink", "hf_config", "hf_model"]

#: The vocabulary of a shrunk model: the 256 byte values.
HF_VOCABULARY = 256
#: The context of a shrunk model, at most.
HF_CONTEXT = 256
#: Encoder-decoder model types the co-simulation runs (T5-family layouts).
SEQ2SEQ_TYPES = ("switch_transformers",)
#: Attention sizes (heads' dimensions, low ranks) capped at this.
ATTENTION_DIM = 16

#: Config fields of each size, by the names the families use.
EXPERT_COUNT_FIELDS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
EXPERT_HIDDEN_FIELDS = ("moe_intermediate_size", "shared_expert_intermediate_size")
ATTENTION_FIELDS = (
    "head_dim",
    "kv_lora_rank",
    "q_lora_rank",
    "qk_rope_head_dim",
    "qk_nope_head_dim",
    "v_head_dim",
)
TOKEN_ID_FIELDS = ("bos_token_id", "eos_token_id", "pad_token_id")


@dataclass(frozen=True)
class HfShrink:
    """The caps on a config's sizes: ``layers`` decoder layers, ``hidden`` width,
    ``expert_hidden`` units per expert (the shared experts' too), ``experts`` routed experts,
    ``top_k`` experts per token."""

    layers: int = 2
    hidden: int = 64
    expert_hidden: int = 64
    experts: int = 8
    top_k: int = 2

    def __post_init__(self):
        for name in ("layers", "hidden", "expert_hidden", "experts", "top_k"):
            check_int(f"hf_{name}", getattr(self, name), minimum=1)


def _model_types() -> list[str]:
    from transformers import CONFIG_MAPPING

    return sorted(CONFIG_MAPPING.keys())


def _base_config(spec: str):
    """The config ``spec`` names: a ``config.json``, a folder with one, or a model type."""
    from transformers import CONFIG_MAPPING, AutoConfig

    path = Path(spec)
    if path.is_dir():
        path = path / "config.json"
    if path.suffix == ".json" or path.is_file():
        try:
            values = json.loads(path.read_text())
        except OSError as error:
            raise ValueError(f"--hf {spec}: cannot read {path} ({error.strerror})") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"--hf {spec}: {path} is not JSON ({error.msg})") from None
        kind = values.get("model_type") if isinstance(values, dict) else None
        if kind not in CONFIG_MAPPING:
            raise ValueError(
                f"--hf {spec}: {path} names no transformers model_type (found {kind!r})"
            )
        values = {k: v for k, v in values.items() if k != "model_type"}
        return AutoConfig.for_model(kind, **values)
    if spec not in CONFIG_MAPPING:
        close = [t for t in _model_types() if "moe" in t or spec.split("_")[0] in t][:12]
        raise ValueError(
            f"--hf {spec}: neither a config file nor a transformers model_type"
            + (f" (MoE types include {', '.join(close)})" if close else "")
        )
    return AutoConfig.for_model(spec)


def _cap(config, field: str, most: int) -> None:
    value = getattr(config, field, None)
    if isinstance(value, int) and not isinstance(value, bool) and value > most:
        setattr(config, field, most)


def hf_config(spec: str, shrink: HfShrink):
    """The config of ``spec`` shrunk by ``shrink``; refused (naming it) when the architecture
    has no MoE layers or is not a decoder-only causal language model."""
    config = _base_config(spec)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    kind = config.model_type
    experts_field = next((f for f in EXPERT_COUNT_FIELDS if getattr(text, f, None)), None)
    if experts_field is None:
        raise ValueError(
            f"--hf {spec}: a {kind} config names its experts in none of "
            f"{', '.join(EXPERT_COUNT_FIELDS)}: not an MoE model moetile can shrink"
        )
    seq2seq = bool(getattr(text, "is_encoder_decoder", False))
    if seq2seq and kind not in SEQ2SEQ_TYPES:
        raise ValueError(
            f"--hf {spec}: {kind} is an encoder-decoder model; the co-simulation runs decoder-"
            f"only causal language models and {', '.join(SEQ2SEQ_TYPES)}"
        )
    experts = min(getattr(text, experts_field), shrink.experts)
    setattr(text, experts_field, experts)
    top_k = min(getattr(text, "num_experts_per_tok", 1) or 1, shrink.top_k, experts)
    text.num_experts_per_tok = top_k
    if seq2seq:
        _shrink_t5(text, shrink)
    _cap(text, "num_hidden_layers", shrink.layers)
    _cap(text, "hidden_size", shrink.hidden)
    for field in ("intermediate_size", *EXPERT_HIDDEN_FIELDS):
        _cap(text, field, shrink.expert_hidden)
    _shrink_attention(text)
    _shrink_groups(text, experts)
    # Every layer an MoE layer.
    every_layer = {
        "first_k_dense_replace": 0,
        "decoder_sparse_step": 1,
        "moe_layer_start_index": 0,
        "moe_layer_interval": 1,
    }
    for field, value in every_layer.items():
        if hasattr(text, field):
            setattr(text, field, value)
    if getattr(text, "mlp_only_layers", None):
        text.mlp_only_layers = []
    text.vocab_size = HF_VOCABULARY
    for field in TOKEN_ID_FIELDS:
        value = getattr(text, field, None)
        if isinstance(value, int) and value >= HF_VOCABULARY:
            setattr(text, field, HF_VOCABULARY - 1)
    _cap(text, "max_position_embeddings", HF_CONTEXT)
    return config


def _shrink_t5(config, shrink: HfShrink) -> None:
    """A T5-family encoder-decoder (Switch Transformers): ``layers`` encoder and decoder layers
    each, every one sparse; the width, expert width, heads and their dimension capped; each
    expert's capacity the whole context, so that no token of a passage is dropped."""
    for field in ("num_layers", "num_decoder_layers"):
        _cap(config, field, shrink.layers)
    _cap(config, "d_model", shrink.hidden)
    _cap(config, "d_ff", shrink.expert_hidden)
    _cap(config, "d_kv", ATTENTION_DIM)
    config.num_heads = max(1, min(config.num_heads, config.d_model // ATTENTION_DIM))
    config.encoder_sparse_step = config.decoder_sparse_step = 1
    config.expert_capacity = HF_CONTEXT
    config.decoder_start_token_id = config.pad_token_id


def _shrink_attention(config) -> None:
    """Heads at most one per ``ATTENTION_DIM`` of the width, key-value heads dividing them,
    head dimensions and low ranks at most ``ATTENTION_DIM``."""
    heads = max(1, min(getattr(config, "num_attention_heads", 1), config.hidden_size // 16))
    if hasattr(config, "num_attention_heads"):
        config.num_attention_heads = heads
    kv = getattr(config, "num_key_value_heads", None)
    if isinstance(kv, int):
        config.num_key_value_heads = math.gcd(heads, kv) or 1
    for field in ATTENTION_FIELDS:
        _cap(config, field, ATTENTION_DIM)
    if getattr(config, "head_dim", None) and not getattr(config, "qk_nope_head_dim", None):
        config.head_dim = min(config.head_dim, config.hidden_size // heads)
    if hasattr(config, "qk_head_dim") and getattr(config, "qk_nope_head_dim", None):
        config.qk_head_dim = config.qk_nope_head_dim + config.qk_rope_head_dim


def _shrink_groups(config, experts: int) -> None:
    """Expert groups (group-limited routing) of at least two experts that divide the experts,
    the groups kept per token in the config's proportion."""
    groups = getattr(config, "n_group", None)
    if isinstance(groups, int) and groups > 1:
        fewer = max(d for d in range(1, experts // 2 + 1) if experts % d == 0 and d <= groups)
        kept = max(1, round(config.topk_group * fewer / groups))
        config.n_group, config.topk_group = fewer, min(kept, fewer)


def hf_model(spec: str, shrink: HfShrink, seed: int = 0):
    """``(model, summary)``: the causal language model of the shrunk config of ``spec``,
    random-initialized from ``seed``, in eval mode; ``summary`` its architecture and sizes."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM
    from transformers.utils import logging

    logging.set_verbosity_error()
    config = hf_config(spec, shrink)
    torch.manual_seed(seed)
    seq2seq = config.model_type in SEQ2SEQ_TYPES
    try:
        model = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_config(config)
    except ValueError as error:
        raise ValueError(
            f"--hf {spec}: transformers has no causal language model for {config.model_type} "
            f"({str(error).splitlines()[0]})"
        ) from None
    model.eval()
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    summary = {
        "model_type": config.model_type,
        "layers": text.num_layers + text.num_decoder_layers if seq2seq else text.num_hidden_layers,
        "hidden": text.d_model if seq2seq else text.hidden_size,
        "experts": next(getattr(text, f) for f in EXPERT_COUNT_FIELDS if getattr(text, f, None)),
        "top_k": text.num_experts_per_tok,
        "seed": seed,
    }
    return model, summary
