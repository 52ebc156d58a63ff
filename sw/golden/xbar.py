"""Golden crossbar and multiplexed tile: the exact bit-serial matrix-vector product with ADC
saturation, a tile's slots, and the tile's cycle model."""

from dataclasses import dataclass

import torch

from moetile.hw.xbar import CrossbarParams, TileParams

from .fixed import check_integer_tensor

__all__ = ["TileSlot", "crossbar_mvm", "tile_cycles", "tile_slots"]


def crossbar_mvm(params: CrossbarParams, weights, x) -> torch.Tensor:
    """``y[n, c]`` of input vectors ``x`` ``(N, rows)`` against ``weights`` ``(rows, cols)``
    as the crossbar computes it, exactly.

    With ``u = w + 2**(w_bits-1)`` and slice ``s`` of ``u`` holding bits
    ``[s*cell_bits, (s+1)*cell_bits)``, input ``x = -2**(in_bits-1) * b + m`` (sign bit
    ``b``, magnitude bits ``m``) applied in chunks ``m_p`` of ``dac_bits`` then ``b``::

        code[p, c, s] = min(2**adc_bits - 1, sum_r level_p[r] * u_s[r, c])
        S[c] = sum_s 2**(s*cell_bits) * (sum_p 2**(p*dac_bits) * code[p, c, s]
                                        - 2**(in_bits-1) * code[sign, c, s])
        y[c] = S[c] - 2**(w_bits-1) * sum_r x[r]

    Lossless ADCs give ``y = x @ weights``. ``weights`` in ``params.weight_range``, ``x`` in
    ``params.input_range``; a 1-D ``x`` is one vector.
    """
    lo, hi = params.weight_range
    w = check_integer_tensor("weights", weights, lo=lo, hi=hi)
    if tuple(w.shape) != (params.rows, params.cols):
        raise ValueError(
            f"weights must have shape {(params.rows, params.cols)}, not {tuple(w.shape)}"
        )
    lo, hi = params.input_range
    xs = check_integer_tensor("x", x, lo=lo, hi=hi)
    single = xs.dim() == 1
    xs = xs.reshape(-1, params.rows) if single else xs
    if xs.dim() != 2 or xs.shape[1] != params.rows:
        raise ValueError(f"x must have shape (N, {params.rows}), not {tuple(xs.shape)}")

    u = w + params.weight_offset
    sign = (xs < 0).to(torch.int64)
    magnitude = xs + (sign << (params.in_bits - 1))
    # Wordline levels of every read: magnitude chunks, then the sign bits; and their weights.
    levels, read_weights = [], []
    for p in range(params.magnitude_planes):
        low = p * params.dac_bits
        levels.append((magnitude >> low) % (1 << params.chunk_bits(p)))
        read_weights.append(1 << low)
    levels.append(sign)
    read_weights.append(-(1 << (params.in_bits - 1)))

    total = torch.zeros(len(xs), params.cols, dtype=torch.int64)
    for s in range(params.slices):
        cells = (u >> (s * params.cell_bits)) % (1 << params.slice_bits(s))
        for level, weight in zip(levels, read_weights, strict=True):
            codes = (level @ cells).clamp(max=params.adc_max)
            total += weight * (codes << (s * params.cell_bits))
    y = total - params.weight_offset * xs.sum(dim=1, keepdim=True)
    return y[0] if single else y


@dataclass(frozen=True)
class TileSlot:
    """One slot of a tile: its distinct input vectors ``inputs`` ``(T, rows)`` and its reads,
    ``(group, vector, crossbar)`` each (``crossbar`` within the group; at most one read per
    group)."""

    inputs: torch.Tensor
    reads: tuple[tuple[int, int, int], ...]

    def check(self, params: TileParams) -> None:
        groups = [g for g, _, _ in self.reads]
        if len(set(groups)) != len(groups):
            raise ValueError(f"a slot reads each group at most once, not groups {groups}")
        if not len(self.inputs):
            raise ValueError("a slot needs at least one input vector")
        for g, v, k in self.reads:
            if not (0 <= g < params.groups and 0 <= v < len(self.inputs)):
                raise ValueError(f"slot read {(g, v, k)} names a missing group or vector")
            if not 0 <= k < params.crossbars_per_group:
                raise ValueError(
                    f"crossbar must be in [0, {params.crossbars_per_group - 1}], not {k}"
                )


def tile_slots(params: TileParams, weights, slots: list[TileSlot]) -> list[torch.Tensor]:
    """Each slot's results ``(groups, cols)``: for each read, group ``g``'s crossbar ``k``
    (crossbar ``g * crossbars_per_group + k`` of ``weights`` ``(crossbars, rows, cols)``)
    against its vector; zero for a group that reads nothing."""
    if len(weights) != params.crossbars:
        raise ValueError(f"weights must hold {params.crossbars} crossbars, not {len(weights)}")
    outputs = []
    for slot in slots:
        slot.check(params)
        y = torch.zeros(params.groups, params.cols, dtype=torch.int64)
        for g, v, k in slot.reads:
            matrix = weights[g * params.crossbars_per_group + k]
            y[g] = crossbar_mvm(params.crossbar, matrix, slot.inputs[v])
        outputs.append(y)
    return outputs


def tile_cycles(params: TileParams, transfers) -> int:
    """Cycles from a run's first vector transfer to its last result transfer, inclusive, with
    every vector offered at once and results read at once: ``T`` input cycles and
    ``read_cycles`` of reads per slot, plus the last result's transfer. Double-buffered, a
    slot's ``T`` transfers overlap the previous slot's reads: after the first slot's transfers,
    each slot costs ``max(T, read_cycles)``, then the last slot's reads and its result.
    ``transfers``: ``T`` of every slot."""
    reads = params.read_cycles
    if not params.double_buffered or not transfers:
        return sum(t + reads for t in transfers) + 1
    first, *rest = transfers
    return first + sum(max(t, reads) for t in rest) + reads + 1
