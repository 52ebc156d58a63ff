"""Workloads of the expert cache: slot configurations (quotas, pins, preloaded tags), skewed
streams of lookups, and what the golden model answers to them."""

import random

from moetile.hw.expert_cache import ExpertCacheParams
from moetile.sw.golden.expert_cache import ExpertCacheModel

__all__ = ["expected", "mixed_configuration", "skewed_keys"]


def mixed_configuration(params: ExpertCacheParams, rng: random.Random) -> list[dict]:
    """A write per slot: most slots shared, some owned by one layer (a quota), a few pinned
    with a preloaded expert, some preloaded and replaceable, the rest free."""
    writes = []
    for slot in range(params.slots):
        kind = rng.choice(["shared", "shared", "owned", "pinned", "preloaded", "free"])
        entry = {
            "valid": kind in ("pinned", "preloaded"),
            "pinned": kind == "pinned",
            "shared": kind != "owned",
            "owner": rng.randrange(params.layers),
            "layer": rng.randrange(params.layers),
            "expert": rng.randrange(params.experts),
        }
        writes.append({"slot": slot, "entry": entry})
    # Preloaded tags are distinct, as a host writes them: a later duplicate is left free.
    seen = set()
    for write in writes:
        e = write["entry"]
        if e["valid"] and (e["layer"], e["expert"]) in seen:
            e["valid"] = e["pinned"] = False
        seen.add((e["layer"], e["expert"]))
    return writes


def skewed_keys(params: ExpertCacheParams, rng: random.Random, count: int) -> list[dict]:
    """``count`` lookups, layer by layer in turn as decoding walks them, each layer's experts
    drawn with a skew (a few popular ones), so hits, misses and replacements all happen."""
    weights = [1.0 / (1 + e) ** 1.2 for e in range(params.experts)]
    keys = []
    for n in range(count):
        layer = (n // 2) % params.layers
        expert = rng.choices(range(params.experts), weights)[0]
        keys.append({"layer": layer, "expert": expert})
    return keys


def expected(params: ExpertCacheParams, writes: list[dict], keys: list[dict]):
    """The golden model's results (``hit``, ``refused``, ``slot``) and fetch requests
    (``layer``, ``expert``, ``slot``) for ``writes`` then ``keys``."""
    model = ExpertCacheModel(params)
    for write in writes:
        model.configure(write["slot"], **write["entry"])
    results = [model.lookup(k["layer"], k["expert"]) for k in keys]
    fetches = [{"layer": lay, "expert": e, "slot": s} for lay, e, s in model.fetches]
    outputs = [{"hit": int(r.hit), "refused": int(r.refused), "slot": r.slot} for r in results]
    return outputs, fetches
