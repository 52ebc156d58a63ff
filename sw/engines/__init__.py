"""Each expert engine's software, found from its Params (``EngineParams.software``): how the
runtime quantizes a projection's weights for it, how the golden checks its rows, how its rows
become bank words, the lane cycles a projection costs it, and random rows for its benches."""

from moetile.hw.registry import resolve

from .base import EngineSoftware

__all__ = ["EngineSoftware", "engine_software"]


def engine_software(params) -> EngineSoftware:
    """The software of ``params``'s engine (``params``: a layer's Params or an engine's)."""
    engine = getattr(params, "engine", params)
    return resolve(engine.software)
