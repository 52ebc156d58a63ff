"""The host's attention, as cycles of the accelerator's clock: the time a prefetch has before the
layer that needs it, and what a decode step spends outside the MoE blocks.

A cost model, not a simulation: the host computes a token's attention in one layer on an array
of :data:`ATTENTION_MACS` int8 MACs a cycle (the Q, K, V and output projections, ``4 · d²``
MACs, and the scores and weighted values over its context, ``2 · context · d``), and reads its
sequence's keys and values of that layer (``2 · context · d`` values of :data:`KV_BYTES` bytes)
from the off-chip memory at its bandwidth. Softmax, norms, rotary embeddings and the host's
own latency are left out, so it is a lower bound of the time attention takes.
"""

import math

__all__ = ["ATTENTION_MACS", "KV_BYTES", "attention_cycles", "attention_macs", "kv_bytes"]

#: The host's MACs a cycle.
ATTENTION_MACS = 64
#: Bytes of a cached key or value (16-bit floating point).
KV_BYTES = 2


def attention_macs(hidden: int, context: int) -> int:
    """One token's attention MACs in one layer at context length ``context``."""
    return 4 * hidden * hidden + 2 * context * hidden


def kv_bytes(hidden: int, context: int) -> int:
    """The key and value bytes one token's attention reads in one layer."""
    return 2 * context * hidden * KV_BYTES


def attention_cycles(hidden: int, contexts, bytes_per_cycle: float | None = None) -> int:
    """Cycles of one layer's attention for tokens at context lengths ``contexts`` (each
    counting the token itself): the MACs on :data:`ATTENTION_MACS`, then, with
    ``bytes_per_cycle``, the key and value reads at that bandwidth."""
    contexts = [contexts] if isinstance(contexts, int) else list(contexts)
    macs = sum(attention_macs(hidden, c) for c in contexts)
    cycles = -(-macs // ATTENTION_MACS)
    if bytes_per_cycle:
        cycles += math.ceil(sum(kv_bytes(hidden, c) for c in contexts) / bytes_per_cycle)
    return cycles
