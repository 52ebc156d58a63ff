"""Generation on a timeline: the layer accelerator with its expert cache and prefetch port on the
fast harness, one model across the whole generation, the host's attention and the off-chip
memory in absolute cycles.

Each layer's batch starts where the previous one ended (cycle ``T``). The host's attention of
the layer takes ``A`` cycles (:mod:`moetile.sw.cost.attention`); the layer's own words (its
router, tables and name) are asked of the memory at ``T``, ahead of any expert still queued;
the tokens are offered at ``T + A`` and taken once the layer's words are in. A prefetcher's
requests for the layer (made as its attention starts) are offered once ready; those for the
next layer (made as this MoE block starts) at ``T + A``; the layer decides them between
batches and before a routed batch's first lookup. Every fetch the layer asks for on
``o_fetch`` (a miss, or a prefetch) is served in order, its words landing while the engine
runs other experts. The batch ends as its stats leave; the requests for its own layer not yet
taken are dropped.

A batch's cycles are then the attention, ``load`` (after the attention, the tokens waiting for
the layer's words), ``fetch`` (the jobs waiting for lookups and fetches) and the layer's own
step counters.
"""

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from moetile.hw.moe import MoELayerParams
from moetile.sim.offchip import MemoryQueue, MemoryRequest
from moetile.sw.cost.attention import attention_cycles
from moetile.sw.mapping.moe_layer import fetch_words, results_of, token_payloads, word_bytes
from moetile.sw.runtime.backends import LayerRun, cycle_bound

from .cached import CachedBackend

__all__ = ["BatchTimeline", "TimedBackend"]


@dataclass
class BatchTimeline:
    """What one batch's run saw, in absolute cycles: ``start`` (``T``), ``attention``
    (cycles), ``tokens_at`` (its tokens offered from), ``tokens_in`` (its first token's last
    chunk taken), ``end`` (its stats taken);
    the prefetch requests offered (``(layer, expert)``), those taken with their cycles and
    those dropped; the fetches asked for: ``(layer, expert, slot, asked, landed)``, landed
    filled in once the fetch's last word is taken."""

    layer: int
    step: int
    start: int
    attention: int
    tokens_at: int = -1
    tokens_in: int = -1
    end: int = -1
    offered: list = field(default_factory=list)
    taken: list = field(default_factory=list)
    dropped: list = field(default_factory=list)
    fetches: list = field(default_factory=list)
    predictor_cycles: int = 0


class _Loads:
    """The ``i_load`` words the memory has been asked for and the layer has not taken, in the
    order the memory serves them (:class:`~moetile.sim.offchip.MemoryQueue`); each request's
    tag: its payload rows, and for a fetch its entry of :attr:`BatchTimeline.fetches`."""

    def __init__(self, memory, params: MoELayerParams, words: int):
        self.queue = MemoryQueue(memory)
        self.params, self.words = params, words

    def ask(self, rows: np.ndarray, at: int, priority: int, fetch=None) -> None:
        sizes = word_bytes(self.params, rows).tolist()
        self.queue.ask(MemoryRequest(at, sizes, priority, {"rows": rows, "fetch": fetch}))

    @property
    def rows(self) -> np.ndarray:
        parts = [r.tag["rows"][r.taken :] for r in self.queue.requests]
        return np.concatenate(parts) if parts else np.zeros((0, self.words), np.uint32)

    def schedule(self, now: int) -> list[int]:
        """Each word's cycle within a run starting at ``now``; none before the one ahead."""
        local = np.maximum(np.asarray(self.queue.ready(), np.int64) - now, 0)
        return np.maximum.accumulate(local).tolist() if len(local) else []

    def last_ready(self, now: int) -> int:
        return max(self.queue.ready(), default=now)

    def take(self, count: int, stamps) -> None:
        """The first ``count`` words taken at ``stamps``: each fetch they end has landed."""
        for tag, stamp in self.queue.take(count, stamps):
            if tag["fetch"] is not None:
                tag["fetch"][4] = stamp


class TimedBackend(CachedBackend):
    """The generation of ``model`` (an :class:`~moetile.sw.runtime.model.AcceleratedModel`
    whose layers have ``params``) on one fast-harness model with prefetch; ``memory``: an
    :class:`~moetile.sim.offchip.OffChipMemory`; ``prefetcher``: a
    :class:`~moetile.app.cosim.prefetchers.Prefetcher`; ``prompt_tokens``: each prompt's
    length (the attention's contexts follow from it); ``plan``, ``flush``: as
    :class:`~moetile.app.cosim.cached.CachedBackend`'s. ``timeline``: a
    :class:`BatchTimeline` per batch, in order."""

    def __init__(
        self,
        params: MoELayerParams,
        memory,
        model,
        prefetcher,
        prompt_tokens: int,
        plan=None,
        flush: bool = False,
    ):
        if not params.cache_prefetch:
            raise ValueError("the timed backend needs a layer with cache_prefetch")
        super().__init__(params, memory, plan, model.quantized, flush)
        self.model, self.prefetcher, self.prompt_tokens = model, prefetcher, prompt_tokens
        self.loads = _Loads(memory, params, self.sim.streams["i_load"].words)
        self.requests: list = []  # prefetch requests not taken: [layer, expert, ready cycle]
        self.now = 0
        self.timeline: list[BatchTimeline] = []
        self.states: dict = {}
        self.gate_inputs: dict = {}
        self._hooks = self._capture()

    def _capture(self) -> list:
        """Hooks keeping each layer's latest pre-attention state and router input."""

        def keep(store, n):
            def hook(module, inputs, output):
                store[n] = output.detach().reshape(-1, output.shape[-1])

            return hook

        hooks = []
        for n, layer in enumerate(self.model.model.model.layers):
            hooks.append(layer.input_layernorm.register_forward_hook(keep(self.states, n)))
            gate = layer.post_attention_layernorm.register_forward_hook(keep(self.gate_inputs, n))
            hooks.append(gate)
        return hooks

    def _contexts(self, step: int, tokens: int) -> list[int]:
        """The context lengths of a batch's tokens (each counting itself)."""
        if step == 0:
            prompts = tokens // self.prompt_tokens
            return list(range(1, self.prompt_tokens + 1)) * max(1, prompts)
        return [self.prompt_tokens + step] * tokens

    def run(self, key, layer, x, codes):
        started = time.perf_counter()
        p, step = self.params, self.model.step
        first_of_layer = not self.timeline or (
            (self.timeline[-1].layer, self.timeline[-1].step) != (key, step)
        )
        start = self.now
        attention = 0
        if first_of_layer:
            contexts = self._contexts(step, len(x))
            attention = attention_cycles(p.hidden, contexts, self.memory.bytes_per_cycle)
        record = BatchTimeline(key, step, start, attention)
        own = self._own_words(key, layer)
        fetched = int(word_bytes(p, own).sum())
        self.loads.ask(own, start, priority=0)
        if step and first_of_layer:
            self._offer(record, self.prefetcher.attention(key, step, self.states[key]), start)
            self._offer(
                record, self.prefetcher.moe(key, step, self.gate_inputs[key]), start + attention
            )
        tokens = self.sim.streams["i_token"].pack(token_payloads(p, x, codes))
        chunks, token_at = len(tokens), start + attention
        record.tokens_at = token_at
        results, owed, stats = [], chunks, None
        self._record = record
        while stats is None:
            run = self._step(tokens, token_at, owed, len(x), attention)
            sent, stamps = chunks - len(tokens), run.stamps["i_token"]
            if sent < p.io_chunks <= sent + len(stamps):
                record.tokens_in = int(stamps[p.io_chunks - 1 - sent])
            tokens = tokens[len(stamps) :]
            results.append(run.payloads("o")["y"])
            owed -= len(run.words["o"])
            if len(run.words["o_fetch"]):
                request = {k: int(v[0]) for k, v in run.payloads("o_fetch").items()}
                asked = int(run.stamps["o_fetch"][0])
                fetch = [request["layer"], request["expert"], request["slot"], asked, -1]
                record.fetches.append(fetch)
                image = self.model.quantized[request["layer"]].integer
                words = fetch_words(image, request["expert"], request["slot"])
                fetched += int(word_bytes(p, words).sum())
                self.loads.ask(words, asked, priority=request["prefetch"], fetch=fetch)
            if len(run.words["o_stats"]):
                stats = {name: int(v[0]) for name, v in run.payloads("o_stats").items()}
                record.end = int(run.stamps["o_stats"][0])
        record.dropped = [tuple(r[:2]) for r in self.requests if r[0] == key]
        self.requests = [r for r in self.requests if r[0] != key]
        total = self.now - start
        counted = sum(v for name, v in stats.items() if name != "refused")
        stats["attention"] = attention
        stats["load"] = total - attention - counted
        self.timeline.append(record)
        result = torch.from_numpy(results_of(p, np.concatenate(results)))
        extra = {"fetched_bytes": fetched, "fetches": [tuple(f[:3]) for f in record.fetches]}
        return LayerRun(result, stats, time.perf_counter() - started, total, extra)

    def _offer(self, record: BatchTimeline, requests, at: int) -> None:
        if requests is None:
            return
        ready = at + requests.delay
        record.predictor_cycles += requests.cycles
        for e in requests.experts:
            self.requests.append([requests.layer, e, ready])
            record.offered.append((requests.layer, e))

    def _step(self, tokens, token_at: int, owed: int, count: int, attention: int):
        """One run from now until a fetch is asked for or the batch's stats leave."""
        from moetile.sim.fast import Traffic

        p = self.params
        now = self.now
        prefetch = np.array([r[:2] for r in self.requests], np.int64).reshape(-1, 2)
        loads = self.loads.rows
        inputs = {
            "i_load": loads,
            "i_token": tokens,
            "i_prefetch": {"layer": prefetch[:, 0], "expert": prefetch[:, 1]},
        }
        at = np.maximum.accumulate([max(0, r[2] - now) for r in self.requests] or [0])
        traffic = {
            "i_load": Traffic.at(self.loads.schedule(now)),
            "i_token": Traffic.at([max(0, token_at - now)] * len(tokens)),
            "i_prefetch": Traffic.at(at.tolist()[: len(self.requests)]),
        }
        waiting = int(max(self.loads.last_ready(now), token_at) - now)
        budget = cycle_bound(p, count) + attention + waiting + 4 * len(loads) + 10_000
        run = self.session.run(
            inputs,
            expect={"o": owed, "o_stats": 1, "o_fetch": 1},
            budget=budget,
            traffic=traffic,
            # With nothing left to send, the stats are what the run waits for.
            stop=("o_fetch", "o_stats")
            if len(loads) + len(tokens) + len(prefetch)
            else ("o_fetch",),
        )
        self.now = run.end
        self.loads.take(len(run.stamps["i_load"]), run.stamps["i_load"])
        taken = len(run.stamps["i_prefetch"])
        for request, stamp in zip(self.requests[:taken], run.stamps["i_prefetch"], strict=True):
            self._record.taken.append((request[0], request[1], int(stamp)))
        self.requests = self.requests[taken:]
        return run

    def close(self):
        for hook in self._hooks:
            hook.remove()
        self.prefetcher.close()
        super().close()
