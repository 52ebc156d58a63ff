"""``moetile bench gocache`` on the whole MoE layer accelerator: the GO cache as the layer's
router, generating 8 tokens after a prompt, against recomputing the sequence at every step.

Workload: the first MoE block of the bench's trained tiny MoE
(:data:`moetile.app.bench.cosim.BENCH_MODEL`) routed by expert choice (each of its 8 experts
keeps :data:`~moetile.app.bench.gocache.BENCH_ROUTER`'s ``capacity`` tokens), quantized by the
runtime for the crossbar engine (calibrated on training text), on its float inputs of held-out
passages. For each prompt length each sequence runs once with the cache, the prompt in batches
of ``max_tokens`` and then one token a batch as in decode, and at every generation step again
from its first token (``start``), replayed through the layer.

Without the cache, a new token's experts are known only once the router has gated the whole
sequence again: the baseline (the strongest one fair to it) pays, per generated token, the
layer's routing of the whole replayed sequence, then the new token's experts as the cached run
ran them (the layer's ``route`` counter and its other cycles; the router's energy and the
experts'). The replay itself, every token's experts run again, is reported beside it.

Cycles are the layer's own, measured on the fast harness: each batch from its first token in
to its stats out. Every result equals the golden over the whole stream, and each replayed
step's last token equals the cached run's result for the same token. Energy: the layer's
actions (:class:`~moetile.sw.cost.layer_activity.LayerActivity`: router GEMV, token buffer,
engine, activation and combine) and the GO cache's updates and scans
(:func:`~moetile.sw.cost.activity.go_cache_activity`), priced by the project's table.
"""

from dataclasses import dataclass, replace

import numpy as np
import torch

from moetile.app.bench import PAPERS, Claim

__all__ = ["LAYER_HARDWARE", "layer_claims", "layer_rows"]

#: The layer's hardware: crossbars (MoE-PIM's engine), the GO cache following the longest
#: sequence of the bench; a quick run's has fewer arrays.
LAYER_HARDWARE = {"engine": "xbar", "lanes": 4, "arrays": 4}
QUICK_LAYER_HARDWARE = {**LAYER_HARDWARE, "arrays": 2}
MAX_TOKENS = 16
WORKLOAD = "tiny-moe layer"
BASELINE = (
    "the same layer without the cache: at each step its router gates the whole sequence "
    "again, then the new token's experts run"
)


@dataclass
class Work:
    """Cycles and energy of some batches: all their cycles and the router's (its ``route``
    counter), the router's energy (gate GEMV, token buffer, GO cache) and the experts'."""

    cycles: int = 0
    route_cycles: int = 0
    router_pj: float = 0.0
    expert_pj: float = 0.0
    tokens: int = 0
    expert_tokens: int = 0

    def __add__(self, other: "Work") -> "Work":
        names = self.__dataclass_fields__
        return Work(**{n: getattr(self, n) + getattr(other, n) for n in names})

    @property
    def energy_pj(self) -> float:
        return self.router_pj + self.expert_pj

    def rerouted(self, replay: "Work") -> "Work":
        """This step's experts after ``replay``'s routing of the whole sequence."""
        experts = self.cycles - self.route_cycles
        return replace(
            self,
            cycles=replay.route_cycles + experts,
            route_cycles=replay.route_cycles,
            router_pj=replay.router_pj,
            tokens=replay.tokens,
        )


class LayerRunner:
    """The layer's stream on the fast harness: tokens in batches of ``max_tokens``, each
    batch's results checked against the golden of the stream since its sequence began."""

    def __init__(self, session, quantized):
        from moetile.sw.cost.layer_activity import LayerActivity

        self.session, self.q = session, quantized
        self.activity = LayerActivity(quantized.integer)

    def sequence(self, x: torch.Tensor, batches: list[tuple[int, int]], what: str):
        """Sequence ``x`` from its first token, in ``batches`` ``(first, end)``: ``(results,
        work of each batch)``."""
        from moetile.sw.golden.moe_layer import moe_layer
        from moetile.sw.mapping.moe_layer import results_of, token_payloads
        from moetile.sw.runtime.backends import cycle_bound

        p = self.q.params
        xq, codes = self.q.encode(x, what)
        starts = torch.zeros(len(x), dtype=torch.bool)
        starts[0] = True
        golden = moe_layer(self.q.integer, xq, codes, starts)
        results, work = [], []
        for first, end in batches:
            run = self.session.run(
                {"i_token": token_payloads(p, xq[first:end], codes[first:end], starts[first:end])},
                expect={"o": (end - first) * p.io_chunks, "o_stats": 1},
                budget=cycle_bound(p, end - first),
            )
            results.append(results_of(p, run.payloads("o")["y"]))
            route = int(run.payloads("o_stats")["route"][0])
            work.append(Work(run.cycles, route, *self._energy(golden.selection, first, end)))
        results = np.concatenate(results)
        if not np.array_equal(results, golden.result.numpy()):
            raise AssertionError(f"gocache bench, {what}: the layer differs from the golden")
        return results, work

    def _energy(self, selection, first: int, end: int) -> tuple[float, float, int, int]:
        """The router's and the experts' energy (pJ) of tokens ``first .. end`` of the
        stream (``selection``: its GO cache updates), their count and the (token, expert)
        pairs the experts ran."""
        from moetile.sw.cost.activity import go_cache_activity

        p = self.q.params
        takes = selection.take[first:end]
        scans = int(takes[selection.scanned[first:end]].sum()) * p.capacity
        tokens = end - first
        counts = takes.sum(dim=0).tolist() + [tokens] * p.shared_experts
        whole = self.activity.batch(tokens, counts).energy_pj()
        experts = self.activity.batch(0, counts).energy_pj()
        cache = go_cache_activity(p.go_cache, tokens, int(takes.sum()), scans).energy_pj()
        return whole - experts + cache, experts, tokens, int(takes.sum())


def _batches(first: int, end: int, size: int) -> list[tuple[int, int]]:
    return [(at, min(at + size, end)) for at in range(first, end, size)]


def _sequence(runner: LayerRunner, x: torch.Tensor, prompt: int, what: str) -> dict:
    """``{"prefill", "cached", "rerouted", "replayed"}`` work of one sequence: its prompt,
    then its generated tokens with the cache (one a batch), and without it each step's
    routing of the whole sequence then its new token's experts, or the whole replay."""
    size = runner.q.params.max_tokens
    steps = [(t, t + 1) for t in range(prompt, len(x))]
    cached, work = runner.sequence(x, _batches(0, prompt, size) + steps, f"{what}, cached")
    prompt_batches = len(work) - len(steps)
    tallies = {
        "prefill": sum(work[:prompt_batches], Work()),
        "cached": sum(work[prompt_batches:], Work()),
        "rerouted": Work(),
        "replayed": Work(),
    }
    for n, end in enumerate(range(prompt + 1, len(x) + 1)):
        again, step = runner.sequence(x[:end], _batches(0, end, size), f"{what}, step {end}")
        if not np.array_equal(again[-1], cached[end - 1]):
            raise AssertionError(f"gocache bench, {what}: token {end - 1} differs from the cache")
        replay = sum(step, Work())
        tallies["replayed"] += replay
        tallies["rerouted"] += work[prompt_batches + n].rerouted(replay)
    return tallies


def _layer(traced, hardware: dict):
    """The tiny MoE's first block routed by expert choice, quantized: ``(quantized layer,
    held-out float inputs of each passage)``."""
    from moetile.app.bench.gocache import BENCH_ROUTER, GENERATED, PROMPTS
    from moetile.sw.models.hf_adapters import from_hf
    from moetile.sw.runtime.quantize import layer_params, quantize_layer

    model, held_out, calibration = traced
    block = from_hf(model.model.layers[0].mlp)
    layer = replace(block, routing="expert_choice", capacity=BENCH_ROUTER.capacity)
    length = max(PROMPTS) + GENERATED
    params = layer_params(layer, MAX_TOKENS, max_sequence=length, **hardware)
    q = quantize_layer(layer, params, calibration.layers[0].gate_input, "tiny-moe layer 0")
    bounds = held_out.passage_bounds[:-1].tolist()
    inputs = held_out.layers[0].gate_input
    return layer, q, [inputs[first : first + length] for first in bounds]


def layer_rows(progress, traced, quick: bool = False) -> list[dict]:
    """One row per prompt length: the layer generating with the GO cache and without."""
    from moetile.app.bench.gocache import GENERATED, PROMPTS
    from moetile.hw.registry import Design, block
    from moetile.sim.fast import FastSim
    from moetile.sw.mapping.moe_layer import load_words

    hardware = QUICK_LAYER_HARDWARE if quick else LAYER_HARDWARE
    layer, q, sequences = _layer(traced, hardware)
    rows = []
    with FastSim(Design(block("moe_layer"), q.params)).open() as session:
        session.run({"i_load": load_words(q.integer)}, budget=4 * len(load_words(q.integer)))
        runner = LayerRunner(session, q)
        for prompt in PROMPTS:
            progress(f"gocache: the MoE layer, {prompt}-token prompt, cached and not")
            tallies = {k: Work() for k in ("prefill", "cached", "rerouted", "replayed")}
            for n, x in enumerate(sequences):
                mine = _sequence(runner, x[: prompt + GENERATED], prompt, f"sequence {n}")
                tallies = {k: tallies[k] + mine[k] for k in tallies}
            rows.append(_row(q.params, prompt, len(sequences), tallies))
    return rows


def _row(params, prompt: int, count: int, tallies: dict) -> dict:
    from moetile.app.bench.gocache import GENERATED

    prefill, cached, rerouted, replayed = (
        tallies[k] for k in ("prefill", "cached", "rerouted", "replayed")
    )
    whole, no_cache, replay = prefill + cached, prefill + rerouted, prefill + replayed
    return {
        "workload": WORKLOAD,
        "prompt": prompt,
        "generated": GENERATED,
        "sequences": count,
        "bit_exact": True,
        "engine": params.engine.name,
        "tokens_gated": whole.tokens,
        "tokens_gated_no_cache": no_cache.tokens,
        "expert_mvms": whole.expert_tokens,
        "expert_mvms_replay": replay.expert_tokens,
        "cycles": whole.cycles,
        "cycles_no_cache": no_cache.cycles,
        "cycles_replay": replay.cycles,
        "speedup": no_cache.cycles / whole.cycles,
        "generation_speedup": rerouted.cycles / cached.cycles,
        "generation_speedup_replay": replayed.cycles / cached.cycles,
        "energy_nj": round(whole.energy_pj / 1000, 2),
        "energy_nj_no_cache": round(no_cache.energy_pj / 1000, 2),
        "energy_nj_replay": round(replay.energy_pj / 1000, 2),
        "energy_ratio": no_cache.energy_pj / whole.energy_pj,
        "generation_energy_ratio": rerouted.energy_pj / cached.energy_pj,
        "generation_energy_ratio_replay": replayed.energy_pj / cached.energy_pj,
    }


def layer_claims(rows: list[dict]) -> list[Claim]:
    """The paper's 4.2x speed and 10.1x energy for 8 generated tokens, on the layer."""
    from moetile.app.bench.gocache import CLAIM_PROMPT, GENERATED, PROMPT_LEFT_OUT

    row = next(r for r in rows if r["prompt"] == CLAIM_PROMPT)
    setting = (
        f"the {GENERATED} tokens generated after a {CLAIM_PROMPT}-token prompt on the whole MoE "
        f"layer accelerator ({row['engine']} engine), tiny-MoE block"
    )
    return [
        Claim(
            f"layer_generation_{figure}_8_tokens",
            f"{kind} of {setting}",
            paper,
            row[column],
            BASELINE,
            source=PAPERS["gocache"],
            beyond=PROMPT_LEFT_OUT,
        )
        for figure, kind, paper, column in (
            ("speedup", "cycles", 4.2, "generation_speedup"),
            ("energy", "energy", 10.1, "generation_energy_ratio"),
        )
    ]
