"""The expert cache's slots before generation: Fate's shallow-favoring quotas, popular experts
pinned, and the golden policy keeping to both."""

import pytest

from moetile.hw.moe import MoELayerParams
from moetile.sw.golden.expert_cache import ExpertCacheModel
from moetile.sw.runtime.cache_plan import plan_cache, shallow_quotas


@pytest.mark.parametrize(
    "slots, layers, least, quotas",
    [(8, 4, 2, [2, 2, 2, 2]), (10, 4, 2, [3, 3, 2, 2]), (16, 4, 2, [5, 4, 4, 3]), (7, 1, 3, [7])],
)
def test_shallow_layers_get_more_slots(slots, layers, least, quotas):
    got = shallow_quotas(slots, layers, least)
    assert got == quotas and sum(got) == slots
    assert got == sorted(got, reverse=True) and min(got) >= least


def test_too_few_slots_for_quotas_are_refused():
    with pytest.raises(ValueError, match="cache_slots must be at least 8 for per-layer quotas"):
        shallow_quotas(7, 4, 2)


def test_a_plan_pins_first_then_gives_out_the_rest():
    p = MoELayerParams(experts=6, top_k=2, cache_slots=7, cache_layers=2)
    plan = plan_cache(p, "shallow", [(1, 4)])
    assert [e["slot"] for e in plan.entries] == list(range(7))
    pin = plan.entries[0]
    assert (pin["valid"], pin["pinned"], pin["layer"], pin["expert"]) == (1, 1, 1, 4)
    assert plan.preload == ((1, 4, 0),)
    owners = [e["owner"] for e in plan.entries[1:]]
    assert owners == [0, 0, 0, 1, 1, 1] and not any(e["shared"] for e in plan.entries)
    shared = plan_cache(p)
    assert all(e["shared"] and not e["valid"] for e in shared.entries) and not shared.preload
    with pytest.raises(ValueError, match="cache pins must leave at least 2 of the 7 slots free"):
        plan_cache(p, "shared", [(0, e) for e in range(6)])


def test_the_golden_policy_keeps_pins_and_quotas():
    """A pinned expert always hits and is never replaced; a layer's misses fill only its own
    slots."""
    p = MoELayerParams(experts=6, top_k=2, cache_slots=5, cache_layers=2)
    plan = plan_cache(p, "shallow", [(0, 5)])
    model = ExpertCacheModel(p.cache)
    for entry in plan.entries:
        model.configure(entry["slot"], **{k: v for k, v in entry.items() if k != "slot"})
    owners = {e["slot"]: e["owner"] for e in plan.entries[1:]}
    for n in range(60):
        layer, expert = n % 2, (n * 7) % 5
        answer = model.lookup(layer, expert)
        if not answer.hit:
            assert owners[answer.slot] == layer
        assert model.lookup(0, 5).hit and model.lookup(0, 5).slot == 0
