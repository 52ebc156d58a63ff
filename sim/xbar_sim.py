"""Runs multiplexed-crossbar tile slots on the fast harness: exact results and measured
cycles."""

from dataclasses import dataclass

import torch

from moetile.hw.registry import Design, block
from moetile.hw.xbar import TileParams
from moetile.sw.golden.xbar import TileSlot, crossbar_mvm, tile_cycles
from moetile.sw.mapping.xbar import slot_streams, weight_streams

from .fast import FastSim, Traffic

__all__ = ["XbarRun", "check_slots", "fast_backend", "run_slots"]


@dataclass(frozen=True)
class XbarRun:
    outputs: list[torch.Tensor]  # per slot, (groups, cols)
    active: list[int]  # per slot, the mask of groups that read
    cycles: int  # first vector transfer to last result transfer, inclusive
    run: object  # the harness's RunResult of the slots


def run_slots(
    params: TileParams,
    weights,
    slots: list[TileSlot],
    traffic: dict[str, Traffic] | None = None,
) -> XbarRun:
    """Program ``weights`` ``(crossbars, rows, cols)``, then run ``slots`` back to back;
    ``traffic`` per stream name (steady by default)."""
    sim = FastSim(Design(block("xbar"), params))
    traffic = traffic or {}
    slack = 8 if traffic else 1
    with sim.open() as session:
        session.run(
            weight_streams(params, weights),
            traffic={k: v for k, v in traffic.items() if k == "i_w"},
            budget=slack * params.crossbars * params.rows + 64,
        )
        streams = slot_streams(params, slots)
        budget = slack * tile_cycles(params, [len(s.inputs) for s in slots]) + 64
        run = session.run(
            streams,
            expect={"o": len(slots)},
            traffic={k: v for k, v in traffic.items() if k != "i_w"},
            budget=budget,
        )
    out = run.payloads("o")
    outputs = [torch.from_numpy(y.astype("int64")) for y in out["y"]]
    cycles = int(run.stamps["o"][-1] - run.stamps["i_x"][0] + 1) if slots else 0
    return XbarRun(outputs, [int(a) for a in out["active"]], cycles, run)


def fast_backend(params: TileParams, weights, slots: list[TileSlot]) -> list[torch.Tensor]:
    """A :func:`moetile.sw.mapping.xbar.run_experts` backend on the fast harness."""
    return run_slots(params, weights, slots).outputs


def check_slots(params: TileParams, weights, slots: list[TileSlot], outputs) -> None:
    """Raise ``AssertionError`` unless ``outputs`` (per slot, ``(groups, cols)``) equal the
    golden tile: one batched golden call per crossbar, for long runs."""
    if len(outputs) != len(slots):
        raise AssertionError(f"{len(outputs)} results for {len(slots)} slots")
    reads = {}
    for n, slot in enumerate(slots):
        for g, v, k in slot.reads:
            reads.setdefault(g * params.crossbars_per_group + k, []).append((n, g, v))
        idle = set(range(params.groups)) - {g for g, _, _ in slot.reads}
        if any(outputs[n][g].any() for g in idle):
            raise AssertionError(f"slot {n}: a group that read nothing gave a result")
    for crossbar, mine in reads.items():
        x = torch.stack([slots[n].inputs[v] for n, _, v in mine])
        expected = crossbar_mvm(params.crossbar, weights[crossbar], x)
        got = torch.stack([outputs[n][g] for n, g, _ in mine])
        bad = (got != expected).any(dim=1).nonzero()
        if len(bad):
            n, g, _ = mine[int(bad[0])]
            raise AssertionError(
                f"crossbar {crossbar}: slot {n}, group {g} disagrees with the golden"
            )
