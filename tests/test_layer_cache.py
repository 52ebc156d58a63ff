"""The layer accelerator behind its expert cache: every batch equal to the golden while experts
come and go through the slots, and every fetch the one the golden policy asks for, lookup by
lookup; the off-chip memory model serving the fetches on the fast harness."""

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from moetile.app.cosim.cached import CachedBackend
from moetile.hw.moe import MoELayerParams
from moetile.sim.offchip import OffChipMemory
from moetile.sim.testbenches.moe_cases import random_layer, random_tokens
from moetile.sw.golden.expert_cache import ExpertCacheModel
from moetile.sw.golden.moe_layer import moe_layer
from moetile.sw.mapping.moe_layer import expert_words, word_bytes


def lookups(params: MoELayerParams, choices: torch.Tensor) -> list[int]:
    """The experts a batch looks up, in the order the layer runs them: each routed expert some
    token chose, then every shared expert."""
    counts = torch.bincount(choices.reshape(-1), minlength=params.experts).tolist()
    return [e for e, n in enumerate(counts) if n] + list(
        range(params.experts, params.total_experts)
    )


@pytest.mark.cosim
@pytest.mark.parametrize("policy", ["lru", "lfu"])
def test_cached_layer_equals_the_golden_and_fetches_what_the_policy_says(policy, seed):
    """Two layers of 4 experts take turns on 4 slots, batches of 1 to 3 tokens: every result
    the golden's, every fetch request the golden policy's, and each batch waits at least its
    fetches' time (the memory's latency and an expert's words at its bandwidth). (The quick
    ``moetile bench generate``'s FAT designs: one Verilator build each.)"""
    p = MoELayerParams(expert_hidden=48, cache_slots=4, cache_layers=2, cache_policy=policy)
    rng = random.Random(seed)
    layers = [random_layer(p, seed + n, 0.4) for n in range(2)]
    model = ExpertCacheModel(p.cache)
    memory = OffChipMemory.named("lpddr5", 2000.0)  # 25.6 bytes a cycle: slower than the port
    image = word_bytes(p, expert_words(layers[0], 0)).tolist()
    backend = CachedBackend(p, memory)
    answers = []
    try:
        for batch in range(12):
            n = batch % 2
            x, codes = random_tokens(p, rng.randint(1, 3), seed + batch)
            run = backend.run(n, SimpleNamespace(integer=layers[n]), x, codes)
            golden = moe_layer(layers[n], x, codes)
            np.testing.assert_array_equal(run.result.numpy(), golden.result.numpy())
            looked = [(e, model.lookup(n, e)) for e in lookups(p, golden.choices)]
            misses = [(n, e, answer.slot) for e, answer in looked if not answer.hit]
            assert run.extra["fetches"] == misses, batch
            assert run.stats["fetch"] >= len(misses) * memory.fetch_cycles(image)
            answers += [answer.hit for _e, answer in looked]
    finally:
        backend.close()
    assert 0 < sum(answers) < len(answers)


def test_a_cache_smaller_than_a_token_s_experts_is_refused():
    with pytest.raises(ValueError, match="cache_slots must be 0 or at least 3 .top_k 2 \\+ shared"):
        MoELayerParams(top_k=2, shared_experts=1, experts=4, cache_slots=2)
