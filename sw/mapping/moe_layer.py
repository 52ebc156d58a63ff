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

from moetile.hw.moe import ACTIVATION_WIDTH, MoELayerParams
from moetile.sw.engines import engine_software
from moetile.sw.engines.rows import bits
from moetile.sw.golden.moe_layer import IntegerMoELayer

__all__ = [
    "WORD_BITS",
    "expert_bank_rows",
    "load_words",
    "pack_bits",
    "results_of",
    "token_payloads",
    "word_bytes",
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
    """``(target name, addresses, data bits)`` of every memory image: the layer's own
    memories, then every expert's scales and bank rows in its region."""
    p = layer.params
    yield from _layer_writes(layer)
    scales = np.concatenate([_expert_scales(p, expert) for expert in layer.experts])
    yield "scales", np.arange(p.total_experts * p.scale_rows), _scale_bits(p, scales)
    engine = engine_software(p)
    for a in range(p.arrays):
        banks = [expert_bank_rows(p, expert, a, engine.planes) for expert in layer.experts]
        yield f"bank{a}", np.arange(p.total_experts * p.region_words), engine.bank_words(p, banks)


def _expert_scales(p: MoELayerParams, expert) -> np.ndarray:
    """One expert's ``(scale_rows, 2)`` scale words, each a (multiplier, shift) pair: gate and
    up of each unit, interleaved (ungated: up, then the unit's bias ``b1``), then each output's
    combine multiplier, then with ``expert_bias`` each output's bias ``b2``. A bias fills its
    word's bits as a two's complement number, the multiplier's bits first."""
    scales = np.zeros((p.scale_rows, 2), dtype=np.int64)
    f, outputs = p.expert_hidden, 2 * p.padded_units
    if p.gated:
        scales[0 : 2 * f : 2] = np.asarray(expert.gate_scale)
        scales[1 : 2 * f : 2] = np.asarray(expert.up_scale)
    else:
        scales[0 : 2 * f : 2] = np.asarray(expert.up_scale)
    if p.expert_bias:
        scales[1 : 2 * f : 2] = _bias_pairs(p, expert.up_bias)
        biases = outputs + p.padded_outputs
        scales[biases : biases + p.hidden] = _bias_pairs(p, expert.down_bias)
    scales[outputs : outputs + p.hidden, 0] = np.asarray(expert.combine)
    return scales


def _bias_pairs(p: MoELayerParams, bias) -> np.ndarray:
    """Signed biases as the (multiplier, shift) fields of scale words."""
    word = p.multiplier_width + p.shift_width
    bits_of = np.asarray(bias, dtype=np.int64) % (1 << word)
    low = (1 << p.multiplier_width) - 1
    return np.stack([bits_of & low, bits_of >> p.multiplier_width], axis=1)


def _expert_writes(layer: IntegerMoELayer, e: int, region: int = 0):
    """Expert ``e``'s scales and bank rows in region ``region`` (0: within its region, where
    a fetch into a cache slot lands, the layer adding the slot's place)."""
    p = layer.params
    expert = layer.experts[e]
    scales = region * p.scale_rows + np.arange(p.scale_rows)
    yield "scales", scales, _scale_bits(p, _expert_scales(p, expert))
    engine = engine_software(p)
    for a in range(p.arrays):
        rows = expert_bank_rows(p, expert, a, engine.planes)
        words = region * p.region_words + np.arange(p.region_words)
        yield f"bank{a}", words, engine.bank_words(p, [rows])


def _layer_writes(layer: IntegerMoELayer):
    """The router's gate, the exp and activation tables and the config words."""
    p = layer.params
    g = p.gemv
    router = np.zeros((g.outputs, g.chunks * g.macs), dtype=np.int64)
    router[: p.experts, : p.hidden] = np.asarray(layer.router)
    if p.shared_gate:
        router[p.experts, : p.hidden] = np.asarray(layer.shared_gate)
    yield (
        "router",
        np.arange(g.weight_transfers),
        bits(router.reshape(-1), g.width).reshape(g.weight_transfers, g.macs * g.width),
    )
    yield "exp_table", np.arange(p.exp_entries), bits(layer.exp_table, p.gate_width)
    if p.choice_bias:
        yield "choice_bias", np.arange(p.experts), bits(layer.choice_bias, p.bias_width)
    yield "act_table", np.arange(1 << ACTIVATION_WIDTH), bits(layer.act_table, ACTIVATION_WIDTH)
    config = [layer.router_scale, layer.product_scale]
    if p.shared_gate:
        config.append(layer.shared_gate_scale)
    yield "config", np.arange(len(p.config_words)), _scale_bits(p, config)


def expert_bank_rows(p: MoELayerParams, expert, a: int, planes) -> list[np.ndarray]:
    """Bank ``a``'s rows of one expert, gate/up then down (``gate_up_rows + down_rows``
    rows), as the planes ``planes(p, rows)`` gives, empty rows all zero."""
    units = np.arange(a, p.expert_hidden, p.arrays)
    outputs = np.arange(a, p.hidden, p.arrays)
    up, down = planes(p, expert.up), planes(p, expert.down)
    if p.gated:
        slots = [
            (slice(0, 2 * len(units), 2), planes(p, expert.gate), units),
            (slice(1, 2 * len(units), 2), up, units),
        ]
    else:
        slots = [(slice(0, len(units)), up, units)]
    slots.append((slice(p.gate_up_rows, p.gate_up_rows + len(outputs)), down, outputs))
    bank = [np.zeros((p.gate_up_rows + p.down_rows, plane.shape[1]), np.int64) for plane in up]
    for where, source, rows in slots:
        for target, plane in zip(bank, source, strict=True):
            target[where] = plane[rows]
    return bank


def load_words(layer: IntegerMoELayer) -> np.ndarray:
    """The whole layer as ``i_load`` payloads, ``(writes, words)`` ``uint32``: where every
    expert is resident, its memories and every expert; behind an expert cache, its own
    memories and the word naming it ``index`` (:func:`layer_words`)."""
    layer.check()
    if layer.params.cache is not None:
        raise ValueError("behind an expert cache a layer loads its own words (layer_words)")
    return _packed(layer.params, _writes(layer))


def layer_words(layer: IntegerMoELayer, index: int) -> np.ndarray:
    """Behind an expert cache, the words a layer's batch needs first: its router, tables and
    config, and the cache's word naming the layer running, ``index``."""
    p = layer.params
    layer.check()
    if p.cache is None or not 0 <= index < p.cache_layers:
        raise ValueError(
            f"layer index must be in [0, {p.cache_layers}) behind a cache, not {index}"
        )
    name = ("cache", np.array([p.cache_slots]), bits(np.array([index]), p.cache.layer_width))
    return _packed(p, [*_layer_writes(layer), name])


def expert_words(layer: IntegerMoELayer, e: int, slot: int | None = None) -> np.ndarray:
    """Expert ``e``'s image, what a fetch of it brings: its scales and bank rows, addressed
    within its region (the layer adds the slot's place); with ``slot``, addressed to that slot
    outright, to preload it between batches."""
    return _packed(layer.params, _expert_writes(layer, e, slot or 0))


def fetch_words(layer: IntegerMoELayer, e: int, slot: int) -> np.ndarray:
    """With prefetch, what a fetch of expert ``e`` into ``slot`` brings: the word naming the
    slot, then the expert's image (:func:`expert_words`)."""
    p = layer.params
    if p.cache is None or not p.cache_prefetch or not 0 <= slot < p.cache_slots:
        raise ValueError(f"slot must be in [0, {p.cache_slots}) of a prefetch cache, not {slot}")
    name = ("cache", np.array([p.cache_slots + 1]), bits(np.array([slot]), p.cache.slot_width))
    return np.concatenate([_packed(p, [name]), expert_words(layer, e)])


def cache_words(params: MoELayerParams, entries: list[dict]) -> np.ndarray:
    """Configuration writes of the expert cache's slots, one a slot in ``entries`` (the
    fields of :func:`moetile.hw.expert_cache.interface.entry_layout`, ``slot`` naming it)."""
    c = params.cache
    data = np.zeros((len(entries), c.entry_width), dtype=np.uint8)
    for n, entry in enumerate(entries):
        at = 0
        for field, width in c.entry_fields.items():
            data[n, at : at + width] = bits(np.array([int(entry[field])]), width)[0]
            at += width
    slots = np.array([entry["slot"] for entry in entries])
    return _packed(params, [("cache", slots, data)])


def _packed(p: MoELayerParams, writes) -> np.ndarray:
    codes = {name: code for name, (code, *_rest) in p.load_targets.items()}
    parts = []
    for name, addresses, data in writes:
        padded = np.zeros((len(addresses), p.load_data_width), dtype=np.uint8)
        padded[:, : data.shape[1]] = data
        target = bits(np.full(len(addresses), codes[name]), p.load_target_width)
        parts.append(np.concatenate([target, bits(addresses, p.load_addr_width), padded], axis=1))
    return pack_bits(np.concatenate(parts))


def word_bytes(params: MoELayerParams, words: np.ndarray) -> np.ndarray:
    """The bytes of data each of the load ``words`` carries (its target's data width, rounded
    up to whole bytes): what fetching them moves from off-chip memory."""
    sizes = np.zeros(1 << params.load_target_width, dtype=np.int64)
    for code, _depth, width in params.load_targets.values():
        sizes[code] = -(-width // 8)
    return sizes[words[:, 0] & ((1 << params.load_target_width) - 1)]


def token_payloads(params: MoELayerParams, x, scale_codes, starts=None) -> dict:
    """One batch of tokens as ``i_token`` payloads: each token in ``io_chunks`` chunks (the
    last zero-padded), every chunk with the token's scale code, the batch's last token
    closing it; with expert choice, every chunk with whether its token begins a sequence
    (``starts``, ``(n,)``)."""
    p = params
    x = torch.as_tensor(x).numpy().astype(np.int64)
    n = len(x)
    padded = np.zeros((n, p.io_chunks * p.io_chunk), dtype=np.int64)
    padded[:, : p.hidden] = x
    last = np.zeros((n, p.io_chunks), dtype=np.int64)
    last[-1:, :] = 1
    codes = torch.as_tensor(scale_codes).numpy().astype(np.int64)
    payloads = {
        "x": padded.reshape(n * p.io_chunks, p.io_chunk),
        "scale": np.repeat(codes, p.io_chunks),
        "last": last.reshape(-1),
    }
    if (starts is not None) != p.expert_choice:
        raise ValueError("starts are given for expert_choice routing, and only for it")
    if p.expert_choice:
        flags = torch.as_tensor(starts, dtype=torch.int64).numpy()
        if flags.shape != (n,):
            raise ValueError(f"starts must have shape ({n},), not {flags.shape}")
        payloads["start"] = np.repeat(flags, p.io_chunks)
    return payloads


def results_of(params: MoELayerParams, y: np.ndarray) -> np.ndarray:
    """``(tokens, hidden)`` results from the ``o`` stream's ``(tokens * io_chunks, io_chunk)``
    chunk values."""
    p = params
    return y.reshape(-1, p.io_chunks * p.io_chunk)[:, : p.hidden]
