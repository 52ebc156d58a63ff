"""``FloatMoELayer``: the one description of an MoE feed-forward block that every workload is
converted to and that mapping, tracing and the runtime read."""

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

__all__ = ["ACTIVATIONS", "GROUP_SCORES", "ROUTINGS", "SCORINGS", "Expert", "FloatMoELayer"]

ACTIVATIONS = {
    "silu": F.silu,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}


@dataclass(frozen=True)
class Expert:
    """One feed-forward expert: ``down(act(gate(x)) * up(x))`` when gated (SwiGLU style),
    ``down(act(up(x)))`` otherwise. Weights are ``(out_features, in_features)``. With
    ``swiglu_limit`` the gate pre-activation is clamped to at most it and the up projection to
    ``[-limit, limit]`` (GLM-5 style)."""

    up: torch.Tensor
    down: torch.Tensor
    gate: torch.Tensor | None = None
    up_bias: torch.Tensor | None = None
    down_bias: torch.Tensor | None = None
    activation: str = "silu"
    swiglu_limit: float | None = None

    def __post_init__(self):
        if self.swiglu_limit is not None and self.gate is None:
            raise ValueError("swiglu_limit needs a gated expert")
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
        if self.gate is None:
            return F.linear(act(up), self.down, self.down_bias)
        gate = F.linear(x, self.gate)
        if self.swiglu_limit is not None:
            gate = gate.clamp(max=self.swiglu_limit)
            up = up.clamp(min=-self.swiglu_limit, max=self.swiglu_limit)
        return F.linear(act(gate) * up, self.down, self.down_bias)


#: How router logits become expert scores.
SCORINGS = ("softmax", "sigmoid", "unweighted")
#: ``top_k``: the best ``top_k`` scores (optionally within the best groups); ``sparsemixer``:
#: PhiMoE's inference-time SparseMixer (top-2, each weight a softmax over the logits within a
#: relative ``jitter_eps`` window of that choice's logit); ``expert_choice``: each expert takes
#: the ``capacity`` best tokens of the sequence so far by its softmax score (Zhou et al.,
#: NeurIPS 2022, decided token by token as in generation with the GO cache).
ROUTINGS = ("top_k", "sparsemixer", "expert_choice")
#: How a group of experts is scored for group-limited routing: its best score (DeepSeek-V2) or
#: the sum of its best two (DeepSeek-V3).
GROUP_SCORES = ("max", "top2_sum")


@dataclass(frozen=True)
class FloatMoELayer:
    """An MoE block in floating point, independent of any framework (the quantized form is
    :class:`~moetile.sw.golden.moe_layer.IntegerMoELayer`).

    Routing (``routing = "top_k"``): ``logits = x @ gate.T + gate_bias`` (soft-capped to
    ``c * tanh(logits / c)`` when ``logit_softcap = c > 0``); ``scores =
    softmax(logits)`` or ``sigmoid(logits)`` (``scoring``); experts are chosen by ``scores +
    choice_bias`` (``logits + choice_bias`` when ``choose_on_logits``; ties to the lower index),
    among the ``topk_groups`` best of ``groups`` equal
    groups when ``groups > 1`` (a group scored by ``group_score``); the chosen get weights
    ``scores[top]``, divided by ``max(norm, normalize_floor) + normalize_epsilon`` (``norm``
    their ``normalize_p``-norm) when ``normalize_top_k``, then multiplied by ``routed_scale``.

    Expert choice (``routing = "expert_choice"``): the rows of ``x`` are one sequence, and
    token ``t`` goes to expert ``e``, weighted by its softmax score ``s[t, e]``, when fewer
    than ``capacity`` of the tokens ``0 ..= t`` rank above it by ``s[., e]`` (ties to the
    earlier token): each expert's selection of the sequence so far, as the token arrives.

    Output: ``y = sum_top weight * expert(x) + g(x) * sum_shared expert(x)``, ``g(x) =
    sigmoid(x @ shared_gate.T)`` when there is a shared gate, else 1.

    Members
    -------
    gate : torch.Tensor
        ``(experts, hidden)`` router weights.
    top_k : int
    normalize_top_k : bool
    experts : tuple[Expert, ...]
    shared : tuple[Expert, ...]
        Experts every token goes through.
    name : str
        Where the layer came from (e.g. ``"mixtral"``).
    scoring, routing, group_score : str
        One of :data:`SCORINGS`, :data:`ROUTINGS`, :data:`GROUP_SCORES`.
    gate_bias, choice_bias : torch.Tensor or None
        ``(experts,)``: added to the logits; added to the scores for choosing only.
    groups, topk_groups : int
    normalize_p, normalize_epsilon, normalize_floor, routed_scale, jitter_eps, logit_softcap
        : float
    choose_on_logits : bool
    shared_gate : torch.Tensor or None
        ``(1, hidden)``.
    capacity : int
        With ``expert_choice``: tokens each expert keeps, ``>= 1``.
    """

    gate: torch.Tensor
    top_k: int
    normalize_top_k: bool
    experts: tuple[Expert, ...]
    shared: tuple[Expert, ...] = field(default_factory=tuple)
    name: str = ""
    scoring: str = "softmax"
    routing: str = "top_k"
    gate_bias: torch.Tensor | None = None
    choice_bias: torch.Tensor | None = None
    groups: int = 1
    topk_groups: int = 1
    group_score: str = "max"
    normalize_p: float = 1.0
    normalize_epsilon: float = 0.0
    routed_scale: float = 1.0
    jitter_eps: float = 0.0
    shared_gate: torch.Tensor | None = None
    logit_softcap: float = 0.0
    normalize_floor: float = 0.0
    choose_on_logits: bool = False
    capacity: int = 0

    def __post_init__(self):
        experts = len(self.experts)
        if self.gate.ndim != 2 or self.gate.shape[0] != experts:
            raise ValueError(
                f"gate must have shape ({experts}, hidden), not {tuple(self.gate.shape)}"
            )
        if not 1 <= self.top_k <= experts:
            raise ValueError(f"top_k must be an integer in [1, {experts}], not {self.top_k}")
        for name, allowed in (
            ("scoring", SCORINGS),
            ("routing", ROUTINGS),
            ("group_score", GROUP_SCORES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}"
                )
        for name in ("gate_bias", "choice_bias"):
            bias = getattr(self, name)
            if bias is not None and tuple(bias.shape) != (experts,):
                raise ValueError(f"{name} must have shape ({experts},), not {tuple(bias.shape)}")
        if self.groups < 1 or experts % self.groups or not 1 <= self.topk_groups <= self.groups:
            raise ValueError(
                f"groups must divide the {experts} experts and topk_groups lie in "
                f"[1, groups]; not groups={self.groups}, topk_groups={self.topk_groups}"
            )
        if self.scoring == "unweighted" and not self.choose_on_logits:
            raise ValueError("unweighted scoring chooses experts by their logits: choose_on_logits")
        if self.routing == "expert_choice" and (self.capacity < 1 or self.scoring != "softmax"):
            raise ValueError(
                f"expert_choice routing needs a capacity >= 1 and softmax scores, not "
                f"capacity={self.capacity}, scoring={self.scoring!r}"
            )
        if self.routing == "sparsemixer" and self.top_k != 2:
            raise ValueError(f"sparsemixer routing chooses 2 experts; top_k is {self.top_k}")
        if self.shared_gate is not None and tuple(self.shared_gate.shape) != (1, self.hidden):
            raise ValueError(
                f"shared_gate must have shape (1, {self.hidden}), "
                f"not {tuple(self.shared_gate.shape)}"
            )

    @property
    def hidden(self) -> int:
        return self.gate.shape[1]

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logits, top-k weights, top-k indices)`` for ``x`` of shape ``(tokens, hidden)``."""
        logits = F.linear(x, self.gate, self.gate_bias)
        if self.logit_softcap > 0:
            logits = torch.tanh(logits.float() / self.logit_softcap) * self.logit_softcap
        if self.routing == "sparsemixer":
            weights, indices = _sparsemixer(logits.float(), self.jitter_eps)
            return logits, weights.to(x.dtype), indices
        scores = self.scores(logits)
        choice = logits.float() if self.choose_on_logits else scores
        if self.choice_bias is not None:
            choice = choice + self.choice_bias.float()
        if self.groups > 1:
            choice = self._within_best_groups(choice)
        # Stable descending sort: equal scores keep the lower index first.
        indices = torch.sort(choice, dim=-1, descending=True, stable=True).indices[:, : self.top_k]
        weights = torch.gather(scores, -1, indices)
        if self.normalize_top_k:
            if self.normalize_p == 1.0:
                norm = weights.sum(dim=-1, keepdim=True)
            else:
                norm = torch.norm(weights, p=self.normalize_p, dim=-1, keepdim=True)
            if self.normalize_floor:
                norm = norm.clamp(min=self.normalize_floor)
            weights = weights / (norm + self.normalize_epsilon)
        return logits, (weights * self.routed_scale).to(x.dtype), indices

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Every expert's score (``softmax`` or ``sigmoid`` of the logits, in float32; 1 for
        ``unweighted``: each chosen expert weighs 1, CMoE)."""
        if self.scoring == "unweighted":
            return torch.ones_like(logits, dtype=torch.float32)
        if self.scoring == "sigmoid":
            return torch.sigmoid(logits.float())
        return torch.softmax(logits.float(), dim=-1)

    def _within_best_groups(self, choice: torch.Tensor) -> torch.Tensor:
        """``choice`` with the experts outside the ``topk_groups`` best groups at ``-inf``."""
        grouped = choice.view(len(choice), self.groups, -1)
        if self.group_score == "max":
            group_scores = grouped.max(dim=-1).values
        else:
            group_scores = grouped.topk(2, dim=-1).values.sum(dim=-1)
        best = torch.sort(group_scores, dim=-1, descending=True, stable=True).indices
        keep = torch.zeros_like(group_scores, dtype=torch.bool)
        keep.scatter_(1, best[:, : self.topk_groups], True)
        return grouped.masked_fill(~keep[..., None], float("-inf")).view_as(choice)

    def forward(self, x: torch.Tensor, active: torch.Tensor | None = None) -> torch.Tensor:
        """The block's output for ``x`` ``(tokens, hidden)``; ``active`` overrides the router's
        choice with given ``(tokens, k)`` expert indices (weighted by the router's scores)."""
        if self.routing == "expert_choice" and active is None:
            scores, taken = self.expert_choice(x)
            weights = scores.to(x.dtype)
        else:
            logits, chosen, indices = self.route(x)
            if active is not None:
                indices = active
                chosen = torch.gather(self.scores(logits), -1, active).to(x.dtype)
            taken = torch.zeros(len(x), len(self.experts), dtype=torch.bool)
            taken.scatter_(1, indices, True)
            weights = torch.zeros(len(x), len(self.experts), dtype=x.dtype)
            weights.scatter_(1, indices, chosen)
        y = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            (token,) = torch.where(taken[:, e])
            if token.numel():
                y.index_add_(0, token, expert(x[token]) * weights[token, e, None])
        return y + self._shared(x)

    def _shared(self, x: torch.Tensor) -> torch.Tensor:
        """The shared experts' output (gated), or zeros."""
        if not self.shared:
            return torch.zeros_like(x)
        shared = self.shared[0](x)
        for expert in self.shared[1:]:
            shared = shared + expert(x)
        if self.shared_gate is not None:
            shared = torch.sigmoid(F.linear(x, self.shared_gate)) * shared
        return shared

    def expert_choice(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores, taken)`` ``(tokens, experts)`` of the sequence ``x``: every expert's
        softmax score, and whether it took the token when the token arrived."""
        scores = self.scores(F.linear(x, self.gate, self.gate_bias))
        n = len(scores)
        order = torch.arange(n)
        earlier = (order[:, None] < order[None, :])[:, :, None]  # [j, t]: j came before t
        above = earlier & (scores[:, None, :] >= scores[None, :, :])
        # [j, t, e]: token j, no later than t, ranks above it for expert e (ties to j)
        return scores, above.sum(dim=0) < self.capacity


def _sparsemixer(logits: torch.Tensor, jitter_eps: float):
    """PhiMoE's SparseMixer at inference: the best expert, weighted by the softmax over the
    logits within ``2 * jitter_eps`` (relative) of its logit; then the best of the rest, weighted
    the same way over the logits within that window of its own logit (the first excluded)."""
    weights, indices, remaining = [], [], logits
    for _ in range(2):
        best, index = remaining.max(dim=-1, keepdim=True)
        factor = logits.abs().clamp(min=best)
        outside = (best - logits) / factor > 2 * jitter_eps
        gates = torch.softmax(remaining.masked_fill(outside, float("-inf")), dim=-1)
        weights.append(gates.gather(-1, index))
        indices.append(index)
        remaining = torch.scatter(remaining, -1, index, float("-inf"))
    return torch.cat(weights, dim=-1), torch.cat(indices, dim=-1)
