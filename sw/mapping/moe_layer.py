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
from moetile.sw.engines import engine_software
from moetile.sw.engines.rows import bits
from moetile.sw.golden.moe_layer import IntegerMoELayer

__all__ = [
    "WORD_BITS",
    "load_word_bytes",
    "load_words",
    "pack_bits",
    "results_of",
    "token_payloads",
]

WORD_BITS = 32


def pack_bits(rows: np.ndarray) -> np.ndarray:
    """``(n, bits)`` → ``(n, words)`` ``uint32``, bit 0 first."""
    n, width = rows.shape
    words = -(-width // WORD_BITS)
    padded = np.zeros((n, words * WORD_BITS), dtype=np.uint8)
    padded[:, :width] = rows
    packed = np.packbits(padded, axis=1, bitorder="little")
    return packed.view("<u4").astype(np.uint32).reshape(n, words)


def _scale_bits(params: MoELayerParams, pairs) -> np.ndarray:
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return np.concatenate(
        [bits(pairs[:, 0], params.multiplier_width), bits(pairs[:, 1], params.shift_width)],
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
        bits(router.reshape(-1), g.width).reshape(g.weight_transfers, g.macs * g.width),
    )
    yield "exp_table", np.arange(p.exp_entries), bits(layer.exp_table, p.gate_width)
    yield "act_table", np.arange(1 << ACTIVATION_WIDTH), bits(layer.act_table, ACTIVATION_WIDTH)
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
    engine = engine_software(p)
    for a in range(p.arrays):
        banks = [_bank_rows(p, expert, a, engine.planes) for expert in layer.experts]
        yield f"bank{a}", np.arange(p.bank_words), engine.bank_words(p, banks)


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


def load_words(layer: IntegerMoELayer) -> np.ndarray:
    """The whole layer as ``i_load`` payloads, ``(writes, words)`` ``uint32``."""
    p = layer.params
    layer.check()
    codes = {name: code for name, (code, *_rest) in p.load_targets.items()}
    parts = []
    for name, addresses, data in _writes(layer):
        padded = np.zeros((len(addresses), p.load_data_width), dtype=np.uint8)
        padded[:, : data.shape[1]] = data
        target = bits(np.full(len(addresses), codes[name]), p.load_target_width)
        parts.append(np.concatenate([target, bits(addresses, p.load_addr_width), padded], axis=1))
    return pack_bits(np.concatenate(parts))


def load_word_bytes(params: MoELayerParams) -> np.ndarray:
    """The bytes of data each word of :func:`load_words` carries (its target's data width,
    rounded up to whole bytes): what a fetch of the layer moves from off-chip memory."""
    return np.concatenate(
        [np.full(depth, -(-width // 8)) for _code, depth, width in params.load_targets.values()]
    )


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
