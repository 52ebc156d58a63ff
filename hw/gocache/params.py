"""Parameters of the expert-choice router with the gate-output cache; every width is derived
here."""

from dataclasses import dataclass

from ..checks import MAX_UNITS, check_int
from ..gemv import GemvParams

__all__ = ["GOCacheParams"]


@dataclass(frozen=True)
class GOCacheParams:
    """Expert-choice router with the GO cache.

    Each token's int8 hidden vector goes through the int8 gate GEMV (``experts`` scores of
    ``score_width`` bits, exact); each expert keeps the ``capacity`` best tokens of the
    sequence so far, by score descending with ties to the earlier token.

    Parameters
    ----------
    tokens : int
        Longest sequence, ``>= 1``; a token that would be the ``tokens + 1``-th starts a new
        sequence.
    experts : int
        Experts ``E`` (gate rows), ``>= 1``.
    capacity : int
        Tokens each expert selects, ``1 ..= tokens``.
    hidden : int
        Hidden size ``d`` (gate inputs), ``>= 1``.
    macs : int
        Gate GEMV multipliers, ``1 ..= min(hidden, 1024)``.
    width : int
        Signed width of a gate weight or hidden value, ``2 ..= 16`` (8 for int8).
    score_bits : int
        Signed width of the scores the cache ranks: 0 for the gate GEMV's exact sums, else
        ``2 ..= 64`` (the MoE layer ranks its fixed-point gating weights).
    """

    tokens: int = 16
    experts: int = 4
    capacity: int = 4
    hidden: int = 16
    macs: int = 8
    width: int = 8
    score_bits: int = 0

    def __post_init__(self):
        check_int("tokens", self.tokens, minimum=1)
        check_int("experts", self.experts, minimum=1)
        check_int("capacity", self.capacity, minimum=1, maximum=self.tokens)
        check_int("hidden", self.hidden, minimum=1)
        check_int("macs", self.macs, minimum=1, maximum=min(self.hidden, MAX_UNITS))
        check_int("width", self.width, minimum=2, maximum=16)
        check_int("score_bits", self.score_bits, minimum=0, maximum=64)
        if self.score_bits == 1:
            raise ValueError("score_bits must be 0 (the GEMV's sums) or in [2, 64], not 1")

    @property
    def gate(self) -> GemvParams:
        """The gate GEMV: ``experts`` rows of ``hidden`` weights."""
        return GemvParams(
            inputs=self.hidden, outputs=self.experts, macs=self.macs, width=self.width
        )

    @property
    def score_width(self) -> int:
        """Signed width of a score: ``score_bits``, or the GEMV's exact sum."""
        return self.score_bits or self.gate.acc_width

    @property
    def token_width(self) -> int:
        """Unsigned width of a token's position ``0 .. tokens-1`` (at least one bit)."""
        return (max(2, self.tokens) - 1).bit_length()

    @property
    def entry_width(self) -> int:
        """Bits of one selection entry: a score and a position."""
        return self.score_width + self.token_width

    @property
    def slots(self) -> int:
        """Words of each expert's selection memory (a one-word memory has a zero-width address,
        which Verilog cannot declare)."""
        return max(2, self.capacity)

    def token_period(self, scanned: bool) -> int:
        """Cycles between two tokens' updates with steady traffic: the gate GEMV's vector
        time, or after an update that changed a full selection, the scan for the new worst
        entry (``capacity`` cycles) when that takes longer."""
        vector = self.gate.vector_cycles
        return max(vector, self.capacity + 1) if scanned else vector

    def sequence_cycles(self, scanned: list[bool]) -> int:
        """Cycles from the first chunk of a run's first token to its last update, inclusive,
        with steady traffic; ``scanned[t]``: whether token ``t``'s update scanned."""
        if not scanned:
            return 0
        return self.gate.vector_cycles + 1 + sum(self.token_period(s) for s in scanned[:-1])
