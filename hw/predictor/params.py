"""Parameters of the expert predictor unit; every width is derived here."""

from dataclasses import dataclass

from ..checks import MAX_UNITS, check_choice, check_int
from ..gemv import GemvParams
from ..topk import TOPK_ARCHS, TopKParams

__all__ = ["ACT_WIDTH", "REQUANTIZER_STAGES", "PredictorParams"]

#: Weights, the hidden state and the requantized middle vector are int8.
ACT_WIDTH = 8

#: Cycles a chunk spends in the requantizer between the GEMVs: its sums, their products with
#: the multiplier's halves, their sum rounded and the shift, each registered.
REQUANTIZER_STAGES = 4


@dataclass(frozen=True)
class PredictorParams:
    """Expert predictor: ``logits = W2 · requant(W1 · h)``, then the top ``k`` of ``experts``.

    ``h`` (``hidden`` int8 values), ``W1`` (``rank × hidden``) and ``W2`` (``experts × rank``)
    are int8; both products are exact sums; ``requant(a) = clamp((a · M + 2**(S-1)) >> S,
    -128, 127)`` (rounding half up, saturating to int8) with ``M`` an unsigned
    ``multiplier_width``-bit multiplier and ``0 <= S <= max_shift``, both loaded as
    configuration. The top-k orders the logits descending, ties to the lower expert index.

    Parameters
    ----------
    hidden : int
        ``d``, ``>= 1``.
    rank : int
        ``r``, ``>= 1``.
    experts : int
        ``E``, ``>= 2``.
    k : int
        Experts predicted, ``1 ..= experts``.
    macs : int
        Multipliers of each GEMV, ``1 ..= min(hidden, 1024)`` (the second uses ``min(macs, rank)``).
    multiplier_width : int
        Bits of the requantization multiplier, ``1 ..= 32``.
    max_shift : int
        Largest requantization shift, ``0 ..= 63``.
    selector : str
        The top-k microarchitecture, one of :data:`~moetile.hw.topk.TOPK_ARCHS`.
    """

    hidden: int = 32
    rank: int = 8
    experts: int = 8
    k: int = 2
    macs: int = 8
    multiplier_width: int = 8
    max_shift: int = 31
    selector: str = "sequential"

    def __post_init__(self):
        check_int("hidden", self.hidden, minimum=1)
        check_int("rank", self.rank, minimum=1)
        check_int("experts", self.experts, minimum=2)
        check_int("k", self.k, minimum=1, maximum=self.experts)
        check_int("macs", self.macs, minimum=1, maximum=min(self.hidden, MAX_UNITS))
        check_int("multiplier_width", self.multiplier_width, minimum=1, maximum=32)
        check_int("max_shift", self.max_shift, minimum=0, maximum=63)
        check_choice("selector", self.selector, TOPK_ARCHS)
        TopKParams(n=self.experts, k=self.k, score_width=self.score.acc_width)  # its limits

    @property
    def project(self) -> GemvParams:
        """The first GEMV: ``W1 · h``."""
        return GemvParams(inputs=self.hidden, outputs=self.rank, macs=self.macs, width=ACT_WIDTH)

    @property
    def score(self) -> GemvParams:
        """The second GEMV: ``W2 · requant(W1 · h)``."""
        return GemvParams(
            inputs=self.rank, outputs=self.experts, macs=min(self.macs, self.rank), width=ACT_WIDTH
        )

    @property
    def topk(self) -> TopKParams:
        return TopKParams(
            n=self.experts, k=self.k, score_width=self.score.acc_width, arch=self.selector
        )

    @property
    def shift_width(self) -> int:
        return max(1, self.max_shift.bit_length())

    @property
    def multiplier_range(self) -> tuple[int, int]:
        return 0, (1 << self.multiplier_width) - 1

    @property
    def latency(self) -> int:
        """Cycles from a state's first chunk transfer to its prediction's transfer, inclusive,
        with steady traffic and nothing queued ahead of it: the two GEMVs' vector times and the
        selector's latency, one cycle shared at each hand-over but the last, and the
        requantizer's pipeline between the GEMVs."""
        gemvs = self.project.vector_cycles + self.score.vector_cycles
        return gemvs + REQUANTIZER_STAGES + self.topk.latency - 1

    @property
    def interval(self) -> int:
        """Cycles between predictions with steady traffic: the slowest stage. The first GEMV
        takes a state only after the requantizer has sent the last chunk of the previous one;
        the second takes a vector, computes and offers its logits; the selector has its own
        initiation interval."""
        first = self.project.vector_cycles + self.score.chunks - 1
        return max(first, self.score.vector_cycles, self.topk.initiation_interval)

    def cycles(self, states: int) -> int:
        """Cycles from the first state's first chunk to the last prediction, inclusive."""
        return self.latency + (states - 1) * self.interval if states else 0
