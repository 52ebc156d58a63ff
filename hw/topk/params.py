"""Parameters of the top-k selector, and the comparator network both RTL and cycle model use."""

from dataclasses import dataclass
from functools import cached_property

from ..checks import MAX_UNITS, check_choice, check_int, signed_range

__all__ = ["TOPK_ARCHS", "TopKParams", "comparator_layers"]

#: ``network``: a pipelined bitonic top-k network, a comparator layer per stage, a result a cycle.
#: ``sequential``: one comparator, one candidate per cycle, ``k`` passes over the ``n`` scores.
TOPK_ARCHS = ("network", "sequential")

#: Widest score the golden model's packed sort key can hold exactly
#: (see ``moetile.sw.golden.topk``).
MAX_SCORE_WIDTH = 48


@dataclass(frozen=True)
class TopKParams:
    """Top-k selector parameters.

    Parameters
    ----------
    n : int
        Number of candidate scores, ``1 ..= 1024``.
    k : int
        Number of winners reported, ``1 <= k <= n``.
    score_width : int
        Width of a signed (two's complement) score, ``1 ..= 48``.
    arch : str
        Microarchitecture, one of :data:`TOPK_ARCHS`. Both give bit-identical results.
    """

    n: int = 16
    k: int = 4
    score_width: int = 8
    arch: str = "network"

    def __post_init__(self):
        check_int("n", self.n, minimum=1, maximum=MAX_UNITS)
        check_int("k", self.k, minimum=1, maximum=self.n)
        check_int("score_width", self.score_width, minimum=1, maximum=MAX_SCORE_WIDTH)
        check_choice("arch", self.arch, TOPK_ARCHS)

    @property
    def index_width(self) -> int:
        return max(1, (self.n - 1).bit_length())

    @property
    def score_range(self) -> tuple[int, int]:
        return signed_range(self.score_width)

    @cached_property
    def network(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Comparator layers of the pruned sorting network (see :func:`comparator_layers`)."""
        return comparator_layers(self.n, self.k)

    @property
    def latency(self) -> int:
        """Cycles from the input transfer to the first cycle the result is valid."""
        if self.arch == "network":
            return max(1, len(self.network))
        return self.n * self.k + 1

    @property
    def initiation_interval(self) -> int:
        """Cycles between accepted inputs when the output is never stalled."""
        if self.arch == "network":
            return 1
        return self.latency + 1


def comparator_layers(n: int, k: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """A bitonic top-k network over ``n`` positions: the best ``k`` end in positions ``0..k-1``.

    With ``K = 2**ceil(log2 k)``: sort each group of ``K`` positions (bitonic sorter), then merge
    groups pairwise until one is left. Merging sorted groups ``A`` and ``B`` compares ``A[i]``
    with ``B[K-1-i]``, which leaves the top ``K`` of both in ``A`` as a bitonic sequence, and
    ``log2 K`` half-cleaner layers sort it. That is ``log2 K (log2 K + 1) / 2`` layers plus
    ``log2 K + 1`` per merge level: 4 layers for ``n = 16, k = 1`` where a full sorter needs 10.

    Each comparator ``(lo, hi)`` has ``lo < hi`` and leaves the better item at ``lo``. ``n`` is
    padded with items that lose to everything, placed after the real ones; since every
    comparator points the same way, padding stays a suffix, so comparators that touch it never
    swap and are dropped, as are comparators that cannot reach outputs ``0..k-1`` and layers
    left empty.
    """
    block = 1 << (k - 1).bit_length()
    groups = 1 << max(0, (-(-n // block) - 1).bit_length())
    layers = [list(layer) for layer in _bitonic_sort_layers(block)]
    layers = [
        [(g * block + lo, g * block + hi) for g in range(groups) for lo, hi in layer]
        for layer in layers
    ]
    stride = block
    while stride < groups * block:
        starts = range(0, groups * block, 2 * stride)
        layers.append([(a + i, a + stride + block - 1 - i) for a in starts for i in range(block)])
        step = block >> 1
        while step:
            layers.append(
                [(a + i, a + (i ^ step)) for a in starts for i in range(block) if not i & step]
            )
            step >>= 1
        stride <<= 1
    return _prune(layers, n, k)


def _bitonic_sort_layers(width: int) -> list[list[tuple[int, int]]]:
    """Bitonic sorter of ``width`` (a power of two) positions, all comparators one way."""
    layers = []
    size = 2
    while size <= width:
        half = size >> 1
        layers.append([(i, i ^ (size - 1)) for i in range(width) if not i & half])
        step = size >> 2
        while step:
            layers.append([(i, i ^ step) for i in range(width) if not i & step])
            step >>= 1
        size <<= 1
    return layers


def _prune(layers, n: int, k: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Drop comparators touching padding (``>= n``) or unable to reach outputs ``0..k-1``."""
    live = set(range(k))
    pruned = []
    for layer in reversed(layers):
        kept = tuple((lo, hi) for lo, hi in layer if hi < n and (lo in live or hi in live))
        for lo, hi in kept:
            live.update((lo, hi))
        if kept:
            pruned.append(kept)
    return tuple(reversed(pruned))
