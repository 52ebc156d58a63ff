"""The expert engines of the MoE layer accelerator. An engine is its own Params (a frozen
dataclass here, standard library only), which names its component (``hw``) and its software
(``sw``: quantizer, bank image, golden rows, work model). The layer holds one, chosen once:
``MoELayerParams(engine=MixPEEngineParams(group=64))`` (or ``engine="mixpe"`` for its
defaults). A new engine is a Params module here, its component, its software module, and one
line in :data:`ENGINES`."""

from .base import EngineParams
from .fat import FatEngineParams
from .mixpe import MixPEEngineParams
from .xbar import XbarEngineParams

__all__ = [
    "ENGINES",
    "EngineParams",
    "FatEngineParams",
    "MixPEEngineParams",
    "XbarEngineParams",
    "engine_params",
]

#: Engine name → its Params class.
ENGINES = {
    "fat": FatEngineParams,
    "mixpe": MixPEEngineParams,
    "xbar": XbarEngineParams,
}


def engine_params(value) -> EngineParams:
    """An engine's Params from itself, its name (its defaults) or its dict (``name`` and its
    fields, as :func:`dataclasses.asdict` writes it)."""
    if isinstance(value, EngineParams):
        return value
    if isinstance(value, str) and value in ENGINES:
        return ENGINES[value]()
    if isinstance(value, dict) and value.get("name") in ENGINES:
        fields = {k: v for k, v in value.items() if k != "name"}
        return ENGINES[value["name"]](**fields)
    raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, not {value!r}")
