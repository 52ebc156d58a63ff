"""What runs a quantized MoE layer: the :class:`Backend` interface and the golden backend.

Every backend takes a layer's integer tokens and returns its integer results; the simulator
backends (:mod:`moetile.app.cosim.backends`) also return the accelerator's own cycle counters.
The caller checks every result against the golden.
"""

import time
from dataclasses import dataclass, field

import torch

from moetile.hw.moe import MoELayerParams
from moetile.sw.golden.moe_layer import moe_layer

from .quantize import QuantizedLayer

__all__ = ["Backend", "GoldenBackend", "LayerRun", "cycle_bound"]


@dataclass
class LayerRun:
    """One batch of one layer: ``result`` ``(n, d)``; ``stats``: cycles per step
    (:data:`~moetile.hw.moe.interface.STATS`) and ``load`` (the weight load), ``None`` from
    the golden; ``seconds``: wall time of the simulation."""

    result: torch.Tensor
    stats: dict | None = None
    seconds: float = 0.0
    cycles: int = 0
    extra: dict = field(default_factory=dict)


def cycle_bound(params: MoELayerParams, tokens: int) -> int:
    """A deadline no batch of ``tokens`` can need: every row dense, every group separate."""
    p = params
    groups = p.total_experts + tokens * (p.top_k + p.shared_experts) // p.lanes + 1
    rows = p.gate_up_rows + p.down_rows
    per_group = rows * (p.inputs * p.sum_width + 4) + 4 * p.inputs * (p.lanes + 2) + 1000
    router = tokens * (p.gemv.vector_cycles + p.experts + p.top_k * 64 + 100)
    return 2 * (groups * per_group + router + tokens * p.hidden * 4) + 100_000


class Backend:
    """Runs batches of one design's layers; ``key`` names the layer whose weights are loaded."""

    name = ""

    def run(self, key, layer: QuantizedLayer, x: torch.Tensor, codes: torch.Tensor) -> LayerRun:
        raise NotImplementedError

    def close(self) -> None:
        pass


class GoldenBackend(Backend):
    name = "golden"

    def run(self, key, layer, x, codes):
        started = time.perf_counter()
        result = moe_layer(layer.integer, x, codes).result
        return LayerRun(result, seconds=time.perf_counter() - started)
