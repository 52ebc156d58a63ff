"""The layer accelerator behind its expert cache on the fast harness, the off-chip memory
answering its fetch requests: each batch loads its layer's own words (router, tables, the layer's
name), then runs its tokens; whenever the design asks for an expert, the run stops there and the
next one brings the expert's image after the memory's latency, at its bandwidth."""

import time

import numpy as np
import torch

from moetile.hw.moe import MoELayerParams
from moetile.sw.mapping.moe_layer import (
    cache_words,
    expert_words,
    layer_words,
    results_of,
    token_payloads,
    word_bytes,
)
from moetile.sw.runtime.backends import Backend, LayerRun, cycle_bound
from moetile.sw.runtime.cache_plan import plan_cache

from .backends import memory_traffic

__all__ = ["CachedBackend"]


class CachedBackend(Backend):
    """One fast-harness model of a layer with ``params.cache_slots`` behind its cache, kept
    across batches (so its cache is too). ``memory`` serves every word (an
    :class:`~moetile.sim.offchip.OffChipMemory`); ``plan``: the slots' configuration
    written once, first (a :class:`~moetile.sw.runtime.cache_plan.CachePlan`: quotas, pins and
    the pinned experts preloaded from ``layers``, the quantized layers by index; by default
    every slot free to any layer); ``flush``:
    empty every slot before each batch, so that every expert a batch needs is fetched
    (load-on-demand without a cache). A run's ``extra``: ``fetched_bytes``, ``fetches`` (the
    (layer, expert, slot) requests in order)."""

    name = "fast"

    def __init__(
        self,
        params: MoELayerParams,
        memory,
        plan=None,
        layers=None,
        flush: bool = False,
    ):
        from moetile.hw.registry import Design, block
        from moetile.sim.fast import FastSim

        if params.cache is None:
            raise ValueError("the cached backend needs a layer with cache_slots")
        self.params, self.memory = params, memory
        self.sim = FastSim(Design(block("moe_layer"), params))
        self.session = self.sim.open()
        self.layers: dict[int, object] = {}
        self._pending = self._planned(plan, layers) if plan is not None else None
        self._flush = cache_words(params, list(plan_cache(params).entries)) if flush else None

    def _planned(self, plan, layers) -> np.ndarray:
        """The slots' configuration, then each preloaded expert's image in its slot."""
        words = [cache_words(self.params, list(plan.entries))]
        for layer, expert, slot in plan.preload:
            words.append(expert_words(layers[layer].integer, expert, slot))
        return np.concatenate(words)

    def _load(self, words: np.ndarray, inputs: dict, expect: dict, budget: int, **options):
        """One run with ``words`` arriving on the load stream from the memory."""
        traffic, waits = memory_traffic(self.memory, self.params, words)
        return self.session.run(
            {**inputs, "i_load": words},
            expect=expect,
            budget=budget + waits,
            traffic=traffic,
            **options,
        )

    def _own_words(self, key, layer) -> np.ndarray:
        """What a batch of layer ``key`` loads first: the slots' plan (the first batch's), the
        emptied slots (with ``flush``), the layer's own words."""
        own = layer_words(layer.integer, key)
        if self._pending is not None:
            own, self._pending = np.concatenate([self._pending, own]), None
        if self._flush is not None:
            own = np.concatenate([self._flush, own])
        return own

    def run(self, key, layer, x, codes):
        started = time.perf_counter()
        p = self.params
        self.layers[key] = layer
        own = self._own_words(key, layer)
        fetched = int(word_bytes(p, own).sum())
        load = self._load(own, {}, {}, 2 * len(own) + 1000)
        return self._tokens(x, codes, load.cycles, fetched, started)

    def _tokens(self, x, codes, load_cycles: int, fetched: int, started: float):
        """The batch's tokens through, every fetch it asks for served; its results."""
        p = self.params
        ports = self.sim.streams
        tokens = ports["i_token"].pack(token_payloads(p, x, codes))
        results, fetches, cycles = [], [], load_cycles
        words = np.zeros((0, ports["i_load"].words), np.uint32)
        owed = len(x) * p.io_chunks
        while True:
            run = self._load(
                words,
                {"i_token": tokens},
                {"o": owed, "o_stats": 1, "o_fetch": 1},
                cycle_bound(p, len(x)),
                stop=("o_fetch",),
            )
            cycles += run.cycles
            tokens = tokens[len(run.stamps["i_token"]) :]
            assert len(run.stamps["i_load"]) == len(words), "a fetch outran its words"
            results.append(run.payloads("o")["y"])
            owed -= len(run.words["o"])
            if run.stopped is None:
                stats = {name: int(v[0]) for name, v in run.payloads("o_stats").items()}
                break
            request = {k: int(v[0]) for k, v in run.payloads("o_fetch").items()}
            fetches.append((request["layer"], request["expert"], request["slot"]))
            words = expert_words(self.layers[request["layer"]].integer, request["expert"])
            fetched += int(word_bytes(p, words).sum())
        stats["load"] = load_cycles
        result = torch.from_numpy(results_of(p, np.concatenate(results)))
        extra = {"fetched_bytes": fetched, "fetches": fetches}
        return LayerRun(result, stats, time.perf_counter() - started, cycles, extra)

    def close(self):
        self.session.close()
