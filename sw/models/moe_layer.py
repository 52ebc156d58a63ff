"""``MoELayer``: the one description of an MoE feed-forward block that every workload is
converted to and that mapping, tracing and the runtime read."""

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

__all__ = ["ACTIVATIONS", "Expert", "MoELayer"]

ACTIVATIONS = {
    "silu": F.silu,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}


@dataclass(frozen=True)
class Expert:
    """One feed-forward expert: ``down(act(gate(x)) * up(x))`` when gated (SwiGLU style),
    ``down(act(up(x)))`` otherwise. Weights are ``(out_features, in_features)``."""

    up: torch.Tensor
    down: torch.Tensor
    gate: torch.Tensor | None = None
    up_bias: torch.Tensor | None = None
    down_bias: torch.Tensor | None = None
    activation: str = "silu"

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, not {self.activation!r}"
            )
        if self.up.ndim != 2 or self.down.shape != (self.up.shape[1], self.up.shape[0]):
            raise ValueError(
                f"expert down must have shape {(self.up.shape[1], self.up.shape[0])}"
                f" to match up {tuple(self.up.shape)}, not {tuple(self.down.shape)}"
            )
        if self.gate is not None and self.gate.shape != self.up.shape:
            raise ValueError(
                f"expert gate must have shape {tuple(self.up.shape)}, not {tuple(self.gate.shape)}"
            )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        act = ACTIVATIONS[self.activation]
        up = F.linear(x, self.up, self.up_bias)
        hidden = act(F.linear(x, self.gate)) * up if self.gate is not None else act(up)
        return F.linear(hidden, self.down, self.down_bias)


@dataclass(frozen=True)
class MoELayer:
    """A token-choice MoE block.

    ``logits = x @ gate.T``; ``probs = softmax(logits)``; the ``top_k`` experts by probability
    (ties to the lower index) get weights ``probs[top]``, divided by their sum when
    ``normalize_top_k``; ``y = sum_top weight * expert(x) + sum_shared expert(x)``.

    Members
    -------
    gate : torch.Tensor
        ``(experts, hidden)`` router weights.
    top_k : int
    normalize_top_k : bool
    experts : tuple[Expert, ...]
    shared : tuple[Expert, ...]
        Experts every token goes through with weight 1.
    name : str
        Where the layer came from (e.g. ``"mixtral"``).
    """

    gate: torch.Tensor
    top_k: int
    normalize_top_k: bool
    experts: tuple[Expert, ...]
    shared: tuple[Expert, ...] = field(default_factory=tuple)
    name: str = ""

    def __post_init__(self):
        if self.gate.ndim != 2 or self.gate.shape[0] != len(self.experts):
            raise ValueError(
                f"gate must have shape ({len(self.experts)}, hidden), not {tuple(self.gate.shape)}"
            )
        if not 1 <= self.top_k <= len(self.experts):
            raise ValueError(
                f"top_k must be an integer in [1, {len(self.experts)}], not {self.top_k}"
            )

    @property
    def hidden(self) -> int:
        return self.gate.shape[1]

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logits, top-k weights, top-k indices)`` for ``x`` of shape ``(tokens, hidden)``."""
        logits = F.linear(x, self.gate)
        probs = torch.softmax(logits.float(), dim=-1)
        # Stable descending sort: equal probabilities keep the lower index first.
        indices = torch.sort(probs, dim=-1, descending=True, stable=True).indices[:, : self.top_k]
        weights = torch.gather(probs, -1, indices)
        if self.normalize_top_k:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        return logits, weights.to(x.dtype), indices

    def forward(self, x: torch.Tensor, active: torch.Tensor | None = None) -> torch.Tensor:
        """The block's output for ``x`` ``(tokens, hidden)``; ``active`` overrides the router's
        choice with given ``(tokens, k)`` expert indices (weighted by the router's probs)."""
        logits, weights, indices = self.route(x)
        if active is not None:
            probs = torch.softmax(logits.float(), dim=-1)
            indices, weights = active, torch.gather(probs, -1, active).to(x.dtype)
        y = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            token, slot = torch.where(indices == e)
            if token.numel():
                y.index_add_(0, token, expert(x[token]) * weights[token, slot, None])
        for expert in self.shared:
            y = y + expert(x)
        return y
