"""Offline workloads: models whose weights ship with installed packages or are trained here.

The tiny MoEs that ``moetile cosim`` trains for itself live in the cache's ``models/`` folder,
where a run from any folder finds them (standard library only here)."""

from pathlib import Path

from moetile.sw.paths import cache_root

__all__ = ["CMOE_CALIBRATION_PASSAGES", "CMOE_FILE", "CMOE_MODEL", "TINY_MODELS", "saved_model_dir"]

#: The tiny MoEs by name, each with its expert weights (``float`` or ``ternary``).
TINY_MODELS = {"tiny-moe": "float", "tiny-moe-ternary": "ternary"}
#: The name of all-MiniLM-L6-v2 converted to an MoE (``moetile model convert-cmoe``).
CMOE_MODEL = "cmoe-minilm"
#: The file holding its experts' partition and routers, in the model's folder.
CMOE_FILE = "cmoe.safetensors"
#: Training passages its conversion calibrates on by default.
CMOE_CALIBRATION_PASSAGES = 200


def saved_model_dir(name: str) -> Path:
    """The cache's folder of the tiny MoE ``name`` (a key of :data:`TINY_MODELS`)."""
    return cache_root() / "models" / name
