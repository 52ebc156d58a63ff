"""Memory images of the MoE layer accelerator: an integer layer as weight-load writes.

Every write is ``(target, addr, data)`` on the ``i_load`` stream (targets and depths in
:attr:`MoELayerParams.load_targets`). Expert rows go to the engine's banks (FAT arrays, or
MixPE columns): bank ``a`` holds, per expert, the gate and up rows of hidden units
``j ≡ a (mod arrays)`` interleaved (gate first), padded with zero rows to
``gate_up_rows``, then the down rows of outputs ``j ≡ a (mod arrays)``. Row ``j`` of a
projection shorter than the engine's rows is padded with zero weights, which FAT skips. A FAT
row is one word (its two bit planes); a MixPE row is one word per group (the group's 4-bit
codes, then its scale code and zero point).
"""

import numpy as np
import torch

from moetile.hw.moe import ACTIVATION_WIDTH, CONFIG_WORDS, MoELayerParams
from moetile.sw.golden.moe_layer import IntegerMoELayer, W4A8Rows

__all__ = ["load_words", "pack_bits", "results_of", "ternary_row_bits", "token_payloads"]

WORD_BITS = 32


def _bits(values, width: int) -> np.ndarray:
    """``(n, width)`` little-endian two's complement bits of integers ``values``."""
    v = np.asarray(values, dtype=np.int64).reshape(-1, 1)
    return ((v >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8)


def ternary_row_bits(rows: np.ndarray, length: int) -> np.ndarray:
    """``(n, 2 * length)`` bits of ternary rows as a FAT weight-row payload (the non-zero
    plane, then the negative plane), zero-padded to ``length`` weights."""
    planes = np.zeros((rows.shape[0], 2, length), dtype=np.uint8)
    planes[:, 0, : rows.shape[1]] = rows != 0
    planes[:, 1, : rows.shape[1]] = rows < 0
    return planes.reshape(rows.shape[0], 2 * length)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """``(n, bits)`` → ``(n, words)`` ``uint32``, bit 0 first."""
    n, width = bits.shape
    words = -(-width // WORD_BITS)
    padded = np.zeros((n, words * WORD_BITS), dtype=np.uint8)
    padded[:, :width] = bits
    packed = np.packbits(padded, axis=1, bitorder="little")
    return packed.view("<u4").astype(np.uint32).reshape(n, words)


def _scale_bits(params: MoELayerParams, pairs) -> np.ndarray:
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return np.concatenate(
        [_bits(pairs[:, 0], params.multiplier_width), _bits(pairs[:, 1], params.shift_width)],
        axis=1,
    )


def _writes(layer: IntegerMoELayer):
    """``(target name, addresses, data bits)`` of every memory image."""
    p = layer.params
    g = p.gemv
    router = np.zeros((p.experts, g.chunks * g.macs), dtype=np.int64)
    router[:, : p.hidden] = np.asarray(layer.router)
    yield (
        "router",
        np.arange(g.weight_transfers),
        _bits(router.reshape(-1), g.width).reshape(g.weight_transfers, g.macs * g.width),
    )
    yield "exp_table", np.arange(p.exp_entries), _bits(layer.exp_table, p.gate_width)
    yield "act_table", np.arange(1 << ACTIVATION_WIDTH), _bits(layer.act_table, ACTIVATION_WIDTH)
    config = [layer.router_scale, layer.product_scale]
    yield "config", np.arange(len(CONFIG_WORDS)), _scale_bits(p, config)
    scales = np.zeros((p.total_experts, p.scale_rows, 2), dtype=np.int64)
    for e, expert in enumerate(layer.experts):
        f = p.expert_hidden
        scales[e, 0 : 2 * f : 2] = np.asarray(expert.gate_scale)
        scales[e, 1 : 2 * f : 2] = np.asarray(expert.up_scale)
        scales[e, 2 * p.padded_units : 2 * p.padded_units + p.hidden, 0] = np.asarray(
            expert.combine
        )
    yield "scales", np.arange(p.total_experts * p.scale_rows), _scale_bits(p, scales)
    for a in range(p.arrays):
        if p.engine == "xbar":
            parts = [_bank_rows(p, expert, a, _ternary_planes) for expert in layer.experts]
            images = [_crossbar_images(p, planes[0]) for planes in parts]
            yield f"bank{a}", np.arange(p.bank_words), np.concatenate(images)
        elif p.engine == "mixpe":
            parts = [_bank_rows(p, expert, a, _w4a8_planes) for expert in layer.experts]
            codes, scales, zeros = (np.concatenate(planes) for planes in zip(*parts, strict=True))
            yield f"bank{a}", np.arange(p.bank_words), _group_words(p, codes, scales, zeros)
        else:
            parts = [_bank_rows(p, expert, a, _ternary_planes) for expert in layer.experts]
            rows = np.concatenate([planes[0] for planes in parts])
            yield f"bank{a}", np.arange(p.bank_words), ternary_row_bits(rows, p.inputs)


def _crossbar_images(p: MoELayerParams, rows: np.ndarray) -> np.ndarray:
    """One expert's bank rows (gate/up, then down; ``(gate_up_rows + down_rows, inputs)``) as
    crossbar words: each phase's rows in blocks of ``crossbar_cols``, each block's inputs in
    blocks of ``crossbar_rows``; weight ``(input r, output c)`` of a crossbar at bits
    ``8 * (r * crossbar_cols + c)``, two's complement."""
    words = []
    phases = ((rows[: p.gate_up_rows], p.gate_up_blocks), (rows[p.gate_up_rows :], p.down_blocks))
    for part, (row_blocks, in_blocks) in phases:
        padded = np.zeros(
            (row_blocks * p.crossbar_cols, in_blocks * p.crossbar_rows), dtype=np.int64
        )
        used = min(part.shape[1], padded.shape[1])
        padded[: len(part), :used] = part[:, :used]
        for rb in range(row_blocks):
            for ib in range(in_blocks):
                block = padded[
                    rb * p.crossbar_cols : (rb + 1) * p.crossbar_cols,
                    ib * p.crossbar_rows : (ib + 1) * p.crossbar_rows,
                ]
                words.append(block.T.reshape(-1))
    return _bits(np.array(words).reshape(-1), 8).reshape(len(words), p.bank_word_bits)


def _ternary_planes(p: MoELayerParams, rows) -> list[np.ndarray]:
    """Integer rows (ternary, or int8 for the crossbar engine), zero-padded to ``inputs``."""
    t = np.asarray(rows, dtype=np.int64)
    padded = np.zeros((len(t), p.inputs), dtype=np.int64)
    padded[:, : t.shape[1]] = t
    return [padded]


def _w4a8_planes(p: MoELayerParams, rows: W4A8Rows) -> list[np.ndarray]:
    """Codes ``(n, inputs)``, scales and zero points ``(n, inputs / group)``, zero-padded."""
    groups = p.inputs // p.group
    planes = []
    for part, width in (("codes", p.inputs), ("scales", groups), ("zeros", groups)):
        t = np.asarray(getattr(rows, part), dtype=np.int64)
        padded = np.zeros((len(t), width), dtype=np.int64)
        padded[:, : t.shape[1]] = t
        planes.append(padded)
    return planes


def _bank_rows(p: MoELayerParams, expert, a: int, planes) -> list[np.ndarray]:
    """Bank ``a``'s rows of one expert, gate/up then down (``gate_up_rows + down_rows``
    rows), as the planes ``planes(p, rows)`` gives, empty rows all zero."""
    units = np.arange(a, p.expert_hidden, p.arrays)
    outputs = np.arange(a, p.hidden, p.arrays)
    gate, up, down = (planes(p, part) for part in (expert.gate, expert.up, expert.down))
    slots = [
        (slice(0, 2 * len(units), 2), gate, units),
        (slice(1, 2 * len(units), 2), up, units),
        (slice(p.gate_up_rows, p.gate_up_rows + len(outputs)), down, outputs),
    ]
    bank = [np.zeros((p.gate_up_rows + p.down_rows, plane.shape[1]), np.int64) for plane in gate]
    for where, source, rows in slots:
        for target, plane in zip(bank, source, strict=True):
            target[where] = plane[rows]
    return bank


def _group_words(p: MoELayerParams, codes, scales, zeros) -> np.ndarray:
    """``(rows * groups, bank_word_bits)``: each group's codes (code ``i`` at bits
    ``4i .. 4i+3``), its scale code, its zero point."""
    n, groups = scales.shape
    code_bits = _bits(codes, 4).reshape(n * groups, 4 * p.group)
    return np.concatenate(
        [
            code_bits,
            _bits(scales.reshape(-1), p.weight_scale_width),
            _bits(zeros.reshape(-1), 4),
        ],
        axis=1,
    )


def load_words(layer: IntegerMoELayer) -> np.ndarray:
    """The whole layer as ``i_load`` payloads, ``(writes, words)`` ``uint32``."""
    p = layer.params
    layer.check()
    codes = {name: code for name, (code, *_rest) in p.load_targets.items()}
    parts = []
    for name, addresses, data in _writes(layer):
        padded = np.zeros((len(addresses), p.load_data_width), dtype=np.uint8)
        padded[:, : data.shape[1]] = data
        target = _bits(np.full(len(addresses), codes[name]), p.load_target_width)
        parts.append(np.concatenate([target, _bits(addresses, p.load_addr_width), padded], axis=1))
    return pack_bits(np.concatenate(parts))


def token_payloads(params: MoELayerParams, x, scale_codes) -> dict:
    """One batch of tokens as ``i_token`` payloads: each token in ``io_chunks`` chunks (the
    last zero-padded), every chunk with the token's scale code, the batch's last token
    closing it."""
    p = params
    x = torch.as_tensor(x).numpy().astype(np.int64)
    n = len(x)
    padded = np.zeros((n, p.io_chunks * p.io_chunk), dtype=np.int64)
    padded[:, : p.hidden] = x
    last = np.zeros((n, p.io_chunks), dtype=np.int64)
    last[-1:, :] = 1
    codes = torch.as_tensor(scale_codes).numpy().astype(np.int64)
    return {
        "x": padded.reshape(n * p.io_chunks, p.io_chunk),
        "scale": np.repeat(codes, p.io_chunks),
        "last": last.reshape(-1),
    }


def results_of(params: MoELayerParams, y: np.ndarray) -> np.ndarray:
    """``(tokens, hidden)`` results from the ``o`` stream's ``(tokens * io_chunks, io_chunk)``
    chunk values."""
    p = params
    return y.reshape(-1, p.io_chunks * p.io_chunk)[:, : p.hidden]
