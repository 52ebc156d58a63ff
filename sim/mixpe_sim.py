"""Runs MixPE passes on the fast harness: exact outputs and measured cycles."""

from dataclasses import dataclass

import torch

from moetile.hw.mixpe import MixPEParams
from moetile.hw.registry import Design, block
from moetile.sw.golden.mixpe import mixpe_cycles
from moetile.sw.mapping.mixpe import MixPEPass, pass_streams

from .fast import FastSim, Traffic

__all__ = ["MixPERun", "fast_backend", "run_passes"]


@dataclass(frozen=True)
class MixPERun:
    outputs: list[torch.Tensor]  # per pass, (rows, cols)
    cycles: int  # first step transfer to last output transfer, inclusive
    run: object  # the harness's RunResult (transfer stamps of every stream)


def run_passes(
    params: MixPEParams, passes: list[MixPEPass], traffic: dict[str, Traffic] | None = None
) -> MixPERun:
    """Every pass back to back in one run; ``traffic`` per stream name (steady by default)."""
    count = len(passes) * params.cols
    slack = 8 if traffic else 1
    run = FastSim(Design(block("mixpe"), params)).run(
        pass_streams(params, passes),
        expect={"o": count},
        traffic=traffic or {},
        budget=slack * mixpe_cycles(params, [p.scales.shape[1] for p in passes]) + 64,
    )
    y = run.payloads("o")["y"].reshape(len(passes), params.cols, params.rows)
    outputs = [torch.from_numpy(tile.T.copy()).to(torch.int64) for tile in y]
    cycles = int(run.stamps["o"][-1] - run.stamps["i_x"][0] + 1)
    return MixPERun(outputs, cycles, run)


def fast_backend(params: MixPEParams, passes: list[MixPEPass]) -> list[torch.Tensor]:
    """A :func:`moetile.sw.mapping.mixpe.run_gemm` backend on the fast harness."""
    return run_passes(params, passes).outputs
