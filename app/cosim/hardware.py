"""The accelerator a run builds: the engine and its size (``lanes``, ``arrays``), and the knobs
a run may set besides (``moetile cosim --param NAME=VALUE``, written ``NAME=VALUE,...`` in a
run's settings): the layer's router size and fixed-point widths, and the chosen engine's own
Params (MixPE's group size, a crossbar's rows, columns and cell bits, FAT's zero skipping).
Every other field of the layer's Params follows from the model (standard library only)."""

from dataclasses import fields

from moetile.hw.moe import ENGINES

__all__ = ["LAYER_KNOBS", "hardware", "knob_names", "knob_text", "parse_knobs"]

#: Fields of the layer's Params a run may set. The rest follow from the model (its sizes and
#: routing) or are settings of their own (``lanes``, ``arrays``, ``max_tokens``), or belong to
#: generation (the expert cache).
LAYER_KNOBS = (
    "router_macs",
    "exp_entries",
    "gate_frac",
    "token_scale_width",
    "combine_multiplier_width",
    "out_shift",
)


def knob_names(engine: str | None = None) -> tuple[str, ...]:
    """The knobs of a run on ``engine``: the layer's, then the engine's fields (``None``: every
    engine's)."""
    engines = ENGINES if engine is None else {engine: ENGINES[engine]}
    own = (f.name for kind in engines.values() for f in fields(kind) if f.init)
    return tuple(dict.fromkeys((*LAYER_KNOBS, *own)))


def parse_knobs(text: str | None, engine: str) -> dict[str, int]:
    """``"group=64,router_macs=16"`` → ``{"group": 64, "router_macs": 16}``, each name a knob
    of ``engine`` and each value an integer."""
    knobs: dict[str, int] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, raw = (part.strip() for part in item.partition("="))
        allowed = knob_names(engine)
        if not sep or name not in allowed:
            raise ValueError(
                f"param {item.strip()!r}: the knobs of engine {engine!r} are NAME=VALUE with "
                f"NAME one of {', '.join(allowed)}"
            )
        try:
            knobs[name] = int(raw)
        except ValueError:
            raise ValueError(f"param {name} must be an integer, not {raw!r}") from None
    return knobs


def knob_text(knobs: dict[str, int]) -> str | None:
    """``knobs`` as a run's ``params`` setting (``None`` for none)."""
    return ",".join(f"{name}={value}" for name, value in knobs.items()) or None


def hardware(engine: str, lanes: int, arrays: int, params: str | None) -> dict:
    """The layer Params a run sets (:func:`~moetile.sw.runtime.quantize.layer_params`'s
    ``hardware``): the engine's Params with its knobs, its size and the layer's knobs."""
    knobs = parse_knobs(params, engine)
    own = {f.name for f in fields(ENGINES[engine]) if f.init}
    layer = {name: value for name, value in knobs.items() if name not in own}
    engine_knobs = {name: value for name, value in knobs.items() if name in own}
    return {
        "engine": ENGINES[engine](**engine_knobs),
        "lanes": lanes,
        "arrays": arrays,
        **layer,
    }
