"""Maps experts onto multiplexed-crossbar tiles and schedules onto tile slots.

An expert's int8 projection ``W`` ``(outputs, inputs)`` is cut into crossbar blocks of
``rows`` inputs × ``cols`` outputs (zero-padded at the edges): block ``(i, j)`` holds
``W[j*cols:(j+1)*cols, i*rows:(i+1)*rows]ᵀ``. The layer gets one tile per block position,
all alike: in tile ``(i, j)``, crossbar ``c`` of group ``g`` holds block ``(i, j)`` of the
``c``-th expert of group ``g`` (the grouping), so every tile runs the same schedule on its
rows of the inputs, and the partial sums of the ``i`` tiles of a column block are added
digitally.
"""

from dataclasses import dataclass, replace

import numpy as np
import torch

from moetile.hw.xbar import TileParams
from moetile.sw.golden.fixed import check_integer_tensor
from moetile.sw.golden.xbar import TileSlot, tile_slots

from .xbar_schedule import Schedule, slot_tokens

__all__ = [
    "ExpertTiles",
    "map_experts",
    "run_experts",
    "schedule_slots",
    "slot_streams",
    "tile_params_for",
    "weight_streams",
]


def tile_params_for(base: TileParams, schedule: Schedule) -> TileParams:
    """``base``'s crossbar with one group per schedule group, as many crossbars per group as
    the largest has."""
    return replace(
        base,
        groups=len(schedule.groups),
        crossbars_per_group=max(len(g) for g in schedule.groups),
    )


def schedule_slots(schedule: Schedule, inputs: torch.Tensor) -> list[TileSlot]:
    """Tile slots of ``schedule`` with token ``t``'s input vector ``inputs[t]``."""
    slots = []
    for slot in schedule.slots:
        tokens = slot_tokens(slot)
        reads = tuple(
            (g, tokens.index(t), schedule.crossbar_of(e)[1]) for g, (t, e) in sorted(slot.items())
        )
        slots.append(TileSlot(inputs[tokens], reads))
    return slots


def weight_streams(params: TileParams, weights) -> dict:
    """``i_w`` transfers that program every row of every crossbar of ``weights``
    ``(crossbars, rows, cols)``, as fast-harness field arrays."""
    w = torch.as_tensor(weights)
    crossbars = np.repeat(np.arange(params.crossbars), params.rows)
    rows = np.tile(np.arange(params.rows), params.crossbars)
    return {"i_w": {"crossbar": crossbars, "row": rows, "w": w.reshape(-1, params.cols).numpy()}}


def slot_streams(params: TileParams, slots: list[TileSlot]) -> dict:
    """``i_x`` transfers of ``slots``: each slot's vectors, naming the groups each feeds and
    their crossbars, the slot's last vector flagged."""
    xs, masks, crossbars, lasts = [], [], [], []
    for slot in slots:
        slot.check(params)
        for v, x in enumerate(slot.inputs):
            reads = [(g, k) for g, vector, k in slot.reads if vector == v]
            select = np.zeros(params.groups, dtype=np.int64)
            for g, k in reads:
                select[g] = k
            xs.append(x.numpy())
            masks.append(sum(1 << g for g, _ in reads))
            crossbars.append(select)
            lasts.append(int(v == len(slot.inputs) - 1))
    return {
        "i_x": {
            "x": np.array(xs, dtype=np.int64).reshape(-1, params.rows),
            "groups": np.array(masks, dtype=np.int64),
            "crossbar": np.array(crossbars, dtype=np.int64).reshape(-1, params.groups),
            "last": np.array(lasts, dtype=np.int64),
        }
    }


@dataclass(frozen=True)
class ExpertTiles:
    """Experts mapped onto tiles: ``weights[i][j]`` programs tile ``(i, j)`` (input block
    ``i``, output block ``j``) as ``(crossbars, rows, cols)``."""

    params: TileParams
    weights: list[list[torch.Tensor]]
    inputs: int
    outputs: int


def map_experts(params: TileParams, schedule: Schedule, experts) -> ExpertTiles:
    """Map ``experts`` (one int8 ``(outputs, inputs)`` matrix each) onto tiles of ``params``
    grouped as ``schedule.groups``."""
    p = tile_params_for(params, schedule)
    lo, hi = p.crossbar.weight_range
    mats = [check_integer_tensor(f"experts[{e}]", w, lo=lo, hi=hi) for e, w in enumerate(experts)]
    outputs, inputs = mats[0].shape
    if any(tuple(w.shape) != (outputs, inputs) for w in mats):
        raise ValueError("experts must all have the same shape (outputs, inputs)")
    in_blocks, out_blocks = -(-inputs // p.rows), -(-outputs // p.cols)
    weights = []
    for i in range(in_blocks):
        row = []
        for j in range(out_blocks):
            tile = torch.zeros(p.crossbars, p.rows, p.cols, dtype=torch.int64)
            for g, members in enumerate(schedule.groups):
                for k, e in enumerate(members):
                    block = mats[e][j * p.cols : (j + 1) * p.cols, i * p.rows : (i + 1) * p.rows]
                    tile[g * p.crossbars_per_group + k, : block.shape[1], : block.shape[0]] = (
                        block.T
                    )
            row.append(tile)
        weights.append(row)
    return ExpertTiles(p, weights, inputs, outputs)


def run_experts(mapped: ExpertTiles, schedule: Schedule, x, backend=None) -> torch.Tensor:
    """``y[t, e]`` ``(tokens, experts, outputs)`` for every pair the schedule serves (zero
    elsewhere), from ``x`` ``(tokens, inputs)`` int8. ``backend(params, weights, slots)``
    returns each slot's ``(groups, cols)`` results; the golden tile by default."""
    p = mapped.params
    backend = backend or tile_slots
    lo, hi = p.crossbar.input_range
    xs = check_integer_tensor("x", x, lo=lo, hi=hi)
    experts = sum(len(g) for g in schedule.groups)
    padded = torch.zeros(len(xs), len(mapped.weights) * p.rows, dtype=torch.int64)
    padded[:, : mapped.inputs] = xs
    y = torch.zeros(len(xs), experts, len(mapped.weights[0]) * p.cols, dtype=torch.int64)
    for i, row in enumerate(mapped.weights):
        slots = schedule_slots(schedule, padded[:, i * p.rows : (i + 1) * p.rows])
        for j, weights in enumerate(row):
            for slot, result in zip(schedule.slots, backend(p, weights, slots), strict=True):
                for g, (t, e) in slot.items():
                    y[t, e, j * p.cols : (j + 1) * p.cols] += result[g]
    return y[:, :, : mapped.outputs]
