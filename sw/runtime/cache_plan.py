"""How the expert cache's slots are given out before generation: every slot free to any layer,
or Fate's shallow-favoring allocation (a quota of slots per layer, more for the shallower
layers), and a set of popular experts pinned and preloaded."""

from dataclasses import dataclass

import torch

from moetile.hw.expert_cache import ALLOCATIONS
from moetile.hw.moe import MoELayerParams

__all__ = ["CachePlan", "plan_cache", "popular_experts", "shallow_quotas"]


@dataclass(frozen=True)
class CachePlan:
    """Each slot's configuration (``entries``, as
    :func:`moetile.sw.mapping.moe_layer.cache_words` takes them) and the experts to preload,
    ``(layer, expert, slot)``."""

    entries: tuple[dict, ...]
    preload: tuple[tuple[int, int, int], ...]


def shallow_quotas(slots: int, layers: int, least: int) -> list[int]:
    """Slots per layer favouring the shallow ones: proportional to ``layers - l`` (layer 0 the
    most), each at least ``least`` (a token's experts of one layer), largest remainders
    rounding, ``slots`` in all."""
    if slots < layers * least:
        raise ValueError(
            f"cache_slots must be at least {layers * least} for per-layer quotas ({layers} "
            f"layers x {least}, a token's experts of one layer), not {slots}"
        )
    spare = slots - layers * least
    weights = [layers - layer for layer in range(layers)]
    shares = [spare * w / sum(weights) for w in weights]
    quotas = [least + int(share) for share in shares]
    order = sorted(range(layers), key=lambda layer: (-(shares[layer] % 1), layer))
    for layer in order[: slots - sum(quotas)]:
        quotas[layer] += 1
    return quotas


def popular_experts(layers, inputs: list[torch.Tensor], count: int) -> list[tuple[int, int]]:
    """The ``count`` (layer, expert) pairs the float ``layers``' routers choose most often on
    their ``inputs`` (each layer's ``(tokens, hidden)`` input), most chosen first, ties to the
    lower layer and expert."""
    chosen = []
    for n, (layer, x) in enumerate(zip(layers, inputs, strict=True)):
        _, _, indices = layer.route(x.float())
        counts = torch.bincount(indices.reshape(-1), minlength=len(layer.experts)).tolist()
        chosen += [(-c, n, e) for e, c in enumerate(counts)]
    return [(n, e) for _c, n, e in sorted(chosen)[:count]]


def plan_cache(
    params: MoELayerParams, allocation: str = "shared", pinned: list[tuple[int, int]] = ()
) -> CachePlan:
    """The slots of ``params``' cache: the ``pinned`` experts first (preloaded, never
    replaced), then the rest free, owned per layer by :func:`shallow_quotas` when
    ``allocation`` is ``shallow``."""
    if allocation not in ALLOCATIONS:
        raise ValueError(
            f"cache allocation must be one of {', '.join(ALLOCATIONS)}, not {allocation!r}"
        )
    least = params.top_k + params.shared_experts
    free = params.cache_slots - len(pinned)
    if free < least:
        raise ValueError(
            f"cache pins must leave at least {least} of the {params.cache_slots} slots free "
            f"(a token's experts of one layer), not {free}"
        )
    entries, preload = [], []
    for slot, (layer, expert) in enumerate(pinned):
        tag = (layer, expert)
        entries.append(_entry(slot, valid=1, pinned=1, shared=0, owner=layer, tag=tag))
        preload.append((layer, expert, slot))
    if allocation == "shared":
        owners = [None] * free
    else:
        quotas = shallow_quotas(free, params.cache_layers, least)
        owners = [layer for layer, quota in enumerate(quotas) for _ in range(quota)]
    for slot, owner in enumerate(owners, start=len(pinned)):
        entries.append(_entry(slot, valid=0, pinned=0, shared=owner is None, owner=owner or 0))
    return CachePlan(tuple(entries), tuple(preload))


def _entry(slot: int, *, valid, pinned, shared, owner, tag=(0, 0)) -> dict:
    return {
        "slot": slot,
        "valid": int(valid),
        "pinned": int(pinned),
        "shared": int(shared),
        "owner": owner,
        "layer": tag[0],
        "expert": tag[1],
    }
