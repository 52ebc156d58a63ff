"""Where a quantized MoE layer runs on the design: the fast harness or the cocotb testbench, each
returning the accelerator's own cycle counters next to the results."""

import time

import torch

from moetile.hw.moe import MoELayerParams
from moetile.hw.moe.interface import STATS
from moetile.sw.mapping.moe_layer import (
    load_words,
    results_of,
    token_payloads,
    word_bytes,
)
from moetile.sw.runtime.backends import Backend, GoldenBackend, LayerRun, cycle_bound

from .settings import BACKENDS

__all__ = ["BACKENDS", "CocotbBackend", "FastBackend", "make_backend", "memory_traffic"]


def memory_traffic(memory, params: MoELayerParams, words) -> tuple[dict, int]:
    """The load stream's traffic when ``memory`` serves ``words`` (its latency, then its
    bandwidth), and the cycles that takes: for a fast-harness run and its budget."""
    from moetile.sim.fast import Traffic

    if memory is None or not len(words):
        return {}, 0
    offers = memory.offers(word_bytes(params, words).tolist())
    return {"i_load": Traffic.explicit(offers)}, len(offers)


class FastBackend(Backend):
    """One fast-harness model kept across batches; weights reloaded when the layer changes,
    from ``memory`` (an :class:`~moetile.sim.offchip.OffChipMemory`: its latency, then its
    bandwidth) when given, else one word a cycle. ``extra["fetched_bytes"]`` of a run: the
    weight bytes its load moved."""

    name = "fast"

    def __init__(self, params: MoELayerParams, memory=None):
        from moetile.hw.registry import Design, block
        from moetile.sim.fast import FastSim

        self.params = params
        self.memory = memory
        self.sim = FastSim(Design(block("moe_layer"), params))
        self.session = self.sim.open()
        self.loaded = None

    def _load(self, layer) -> tuple[int, int]:
        """Load ``layer``'s weights; return the cycles and the bytes moved."""
        words = load_words(layer.integer)
        traffic, waits = memory_traffic(self.memory, self.params, words)
        budget = 2 * len(words) + 1000 + waits
        cycles = self.session.run({"i_load": words}, budget=budget, traffic=traffic).cycles
        return cycles, int(word_bytes(self.params, words).sum())

    def run(self, key, layer, x, codes):
        started = time.perf_counter()
        load_cycles = fetched = 0
        if key != self.loaded:
            load_cycles, fetched = self._load(layer)
            self.loaded = key
        run = self.session.run(
            {"i_token": token_payloads(self.params, x, codes)},
            expect={"o": len(x) * self.params.io_chunks, "o_stats": 1},
            budget=cycle_bound(self.params, len(x)),
        )
        stats = {name: int(v[0]) for name, v in run.payloads("o_stats").items()}
        stats["load"] = load_cycles
        result = torch.from_numpy(results_of(self.params, run.payloads("o")["y"]))
        seconds = time.perf_counter() - started
        extra = {"fetched_bytes": fetched}
        return LayerRun(result, stats, seconds, run.cycles + load_cycles, extra)

    def close(self):
        self.session.close()


class CocotbBackend(Backend):
    """Each batch replayed on the cocotb testbench under Verilator: the weights, then the tokens."""

    name = "cocotb"

    def __init__(self, params: MoELayerParams):
        from moetile.hw.registry import Design, block
        from moetile.sim.fast import FastSim

        self.params = params
        self.design = Design(block("moe_layer"), params)
        self.ports = FastSim.ports_of(self.design)

    def run(self, key, layer, x, codes):
        from moetile.sim.replay import replay_on_cocotb

        p = self.params
        words = load_words(layer.integer)
        inputs = {
            "i_load": self.ports["i_load"].integers(words),
            "i_token": self.ports["i_token"].integers(
                self.ports["i_token"].pack(token_payloads(p, x, codes))
            ),
        }
        replay, raw = replay_on_cocotb(
            self.design,
            inputs,
            {"o": len(x) * p.io_chunks, "o_stats": 1},
            {},
            budget=cycle_bound(p, len(x)) + 2 * len(words),
            after={"i_token": "i_load"},
        )
        out = self.ports["o"].unpack(self.ports["o"].pack(replay.outputs["o"]))
        stats_port = self.ports["o_stats"]
        stats = stats_port.unpack(stats_port.pack(replay.outputs["o_stats"]))
        stats = {name: int(stats[name][0]) for name in STATS}
        stats["load"] = replay.stamps["i_load"][-1] + 1
        # The bench's own clock: the simulation loop, without the simulator's start-up.
        return LayerRun(
            torch.from_numpy(results_of(p, out["y"])), stats, raw["seconds"], raw["cycles"]
        )


def make_backend(name: str, params: MoELayerParams, memory=None) -> Backend:
    """Backend ``name`` for designs of ``params``; ``memory``: where the fast harness fetches
    the weights from (see :class:`FastBackend`)."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {name!r}")
    if name == "fast":
        return FastBackend(params, memory)
    return CocotbBackend(params) if name == "cocotb" else GoldenBackend()
