"""Parameters of the top-k selector, and the comparator network both RTL and cycle model use."""

from dataclasses import dataclass
from functools import cached_property

from ..checks import check_choice, check_int, signed_range

__all__ = ["TOPK_ARCHS", "TopKParams", "comparator_layers"]

#: ``network``: a pipelined sorting network, one comparator layer per stage, one result per cycle.
#: ``sequential``: one comparator, one candidate per cycle, ``k`` passes over the ``n`` scores.
TOPK_ARCHS = ("network", "sequential")

#: Widest score the golden model's packed sort key can hold exactly (see ``sw.golden.topk``).
MAX_SCORE_WIDTH = 48


@dataclass(frozen=True)
class TopKParams:
    """Top-k selector parameters.

    Parameters
    ----------
    n : int
        Number of candidate scores, ``>= 1``.
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
        check_int("n", self.n, minimum=1)
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
    """A bitonic sorting network over ``n`` positions, pruned to what the first ``k`` outputs need.

    Each comparator ``(lo, hi)`` has ``lo < hi`` and leaves the better of its two items at ``lo``.
    ``n`` is padded to a power of two with items that lose to everything, placed after the real
    ones; because every comparator points the same way, padding stays a suffix throughout, so a
    comparator that touches it never swaps and is dropped. Comparators that cannot influence
    outputs ``0 .. k-1`` are dropped too, and so are layers left empty.
    """
    width = 1 << (n - 1).bit_length()
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

    live = set(range(k))
    pruned = []
    for layer in reversed(layers):
        kept = tuple((lo, hi) for lo, hi in layer if hi < n and (lo in live or hi in live))
        for lo, hi in kept:
            live.update((lo, hi))
        if kept:
            pruned.append(kept)
    return tuple(reversed(pruned))
