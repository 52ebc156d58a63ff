"""The figures a benchmark reproduces, scored on both sides (docs/architecture.md §4.1): a
paper's figure is short of it, within 10 % of it or beyond it, and beyond it says why; one of
moetile's own targets is met or missed. Nothing is rounded before it is compared."""

from dataclasses import dataclass, field

__all__ = ["PAPERS", "PAPER_SCORES", "TOLERANCE", "Claim", "claim_text"]

#: The paper each benchmark's paper figures come from.
PAPERS = {
    "fat": "FAT, arXiv 2201.07634",
    "mixpe": "MixPE, arXiv 2411.16158",
    "xbar": "MoE-PIM, arXiv 2602.10254",
    "gocache": "MoE-PIM, arXiv 2602.10254",
    "predictor": "pre-attention expert prediction, arXiv 2511.10676",
    "generate": "Fate, arXiv 2502.12224",
    "cmoe": "CMoE, arXiv 2502.04416",
}

#: How far from a paper's figure a measurement still reproduces it (a fraction of the figure).
TOLERANCE = 0.10

#: The scores of a paper figure (one of moetile's own targets is ``met`` or ``missed``).
PAPER_SCORES = ("short", "within 10 %", "beyond")


@dataclass(frozen=True)
class Claim:
    """A figure this benchmark reproduces, with what this run measured: a paper's figure
    (``source`` names the paper, one of :data:`PAPERS`) or, with ``source=None``, one of
    moetile's own targets (``at_least``: the target is a floor, else a ceiling). ``beyond``:
    why this measurement can go beyond the paper's figure, said when it does."""

    name: str
    what: str
    paper: float
    measured: float
    baseline: str
    at_least: bool = True
    decimals: int = 2
    source: str | None = field(kw_only=True)
    beyond: str = field(default="", kw_only=True)

    def __post_init__(self):
        if self.source is not None and self.paper == 0:
            raise ValueError(f"claim {self.name}: a paper's figure of 0 has no deviation")

    @property
    def deviation(self) -> float | None:
        """``measured / paper - 1`` of a paper's figure (signed, unrounded); ``None`` for a
        target."""
        return None if self.source is None else self.measured / self.paper - 1

    @property
    def score(self) -> str:
        if self.source is None:
            met = self.measured >= self.paper if self.at_least else self.measured <= self.paper
            return "met" if met else "missed"
        better = self.deviation if self.at_least else -self.deviation
        if better < -TOLERANCE:
            return "short"
        return "beyond" if better > TOLERANCE else "within 10 %"

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "what": self.what,
            "paper": self.paper,
            "measured": self.measured,
            "baseline": self.baseline,
            "source": self.source,
            "score": self.score,
            "deviation": self.deviation,
            "beyond": self.beyond if self.score == "beyond" else "",
            "decimals": self.decimals,
        }


def claim_text(claim: dict, prefix: str = "") -> str:
    """A claim's JSON (:meth:`Claim.to_json`) as its user reads it, within the table width:
    the figure and its score on the first line; then where it comes from, what it is and,
    beyond the paper, why (its lines indented further)."""
    from moetile.sw.console import wrapped

    measured, figure = f"{claim['measured']:.4f}", f"{claim['paper']:.{claim['decimals']}f}"
    if claim["source"]:
        first = f"claim {prefix}{claim['name']}: measured {measured} vs paper {figure}"
        first += f" ({_percent(claim['deviation'])}): {claim['score']}"
    else:
        first = f"target {prefix}{claim['name']}: measured {measured} vs target {figure}"
        first += f": {claim['score']}"
    origin = claim["source"] or "moetile's own target"
    lines = [first, wrapped(f"{origin}: {claim['what']}; against {claim['baseline']}", "    ")]
    if claim["beyond"]:
        lines.append(wrapped(f"beyond the paper: {claim['beyond']}", "    ", " " * 6))
    return "\n".join(lines)


def _percent(deviation: float) -> str:
    """``+38.5%``; a deviation under 0.1 % with two decimals (``-0.02%``), not ``-0.0%``."""
    return f"{deviation:+.1%}" if abs(deviation) >= 0.001 else f"{deviation:+.2%}"
