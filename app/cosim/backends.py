"""Where a quantized MoE layer runs on the design: the fast harness or the cocotb testbench, each
returning the accelerator's own cycle counters next to the results."""

import time

import torch

from moetile.hw.moe import MoELayerParams
from moetile.hw.moe.interface import STATS
from moetile.sw.mapping.moe_layer import load_words, results_of, token_payloads
from moetile.sw.runtime.backends import Backend, GoldenBackend, LayerRun, cycle_bound

from .settings import BACKENDS

__all__ = ["BACKENDS", "CocotbBackend", "FastBackend", "make_backend"]


class FastBackend(Backend):
    """One fast-harness model kept across batches; weights reloaded when the layer changes."""

    name = "fast"

    def __init__(self, params: MoELayerParams):
        from moetile.hw.registry import Design, block
        from moetile.sim.fast import FastSim

        self.params = params
        self.sim = FastSim(Design(block("moe_layer"), params))
        self.session = self.sim.open()
        self.loaded = None

    def run(self, key, layer, x, codes):
        started = time.perf_counter()
        load_cycles = 0
        if key != self.loaded:
            words = load_words(layer.integer)
            load_cycles = self.session.run({"i_load": words}, budget=2 * len(words) + 1000).cycles
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
        return LayerRun(result, stats, seconds, run.cycles + load_cycles)

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


def make_backend(name: str, params: MoELayerParams) -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {name!r}")
    return {"fast": FastBackend, "cocotb": CocotbBackend, "golden": GoldenBackend}[name](
        *(() if name == "golden" else (params,))
    )
