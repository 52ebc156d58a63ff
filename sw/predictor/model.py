"""The low-rank predictor and its training losses."""

import torch

__all__ = ["LOSSES", "LowRankPredictor", "train_predictor"]


class LowRankPredictor(torch.nn.Module):
    """``logits = W2 · W1 · h`` with ``W1: rank × hidden`` and ``W2: experts × rank``."""

    def __init__(self, hidden: int, rank: int, experts: int, generator: torch.Generator):
        super().__init__()
        self.w1 = torch.nn.Parameter(torch.randn(rank, hidden, generator=generator) / hidden**0.5)
        self.w2 = torch.nn.Parameter(torch.randn(experts, rank, generator=generator) / rank**0.5)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.w1.T @ self.w2.T


def _chosen_mask(top_k: torch.Tensor, experts: int) -> torch.Tensor:
    return torch.zeros(len(top_k), experts, dtype=torch.bool).scatter_(1, top_k, True)


def pairwise_loss(logits: torch.Tensor, top_k: torch.Tensor) -> torch.Tensor:
    """Mean hinge ``max(0, 1 - (l_i - l_j))`` over chosen ``i`` and unchosen ``j``: every
    chosen expert should beat every other by a margin."""
    chosen = _chosen_mask(top_k, logits.shape[1])
    pairs = chosen[:, :, None] & ~chosen[:, None, :]
    hinge = torch.relu(1.0 - (logits[:, :, None] - logits[:, None, :]))
    return (hinge * pairs).sum() / pairs.sum()


def listmle_loss(logits: torch.Tensor, top_k: torch.Tensor) -> torch.Tensor:
    """Top-k ListMLE: the negative log-likelihood of the router's order of its ``k`` choices
    under a Plackett-Luce model, each choice against every expert not yet chosen."""
    remaining = torch.ones_like(logits, dtype=torch.bool)
    loss = logits.new_zeros(())
    for position in range(top_k.shape[1]):
        best = top_k[:, position]
        pool = torch.logsumexp(logits.masked_fill(~remaining, float("-inf")), dim=1)
        loss = loss + (pool - logits.gather(1, best[:, None]).squeeze(1)).mean()
        remaining = remaining.scatter(1, best[:, None], False)
    return loss


def cross_entropy_loss(logits: torch.Tensor, top_k: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy against the router's ``k`` choices, each weighted ``1/k``."""
    return -torch.log_softmax(logits, dim=1).gather(1, top_k).mean()


#: Training losses by name.
LOSSES = {"pairwise": pairwise_loss, "listmle": listmle_loss, "ce": cross_entropy_loss}


def train_predictor(
    states: torch.Tensor,
    top_k: torch.Tensor,
    experts: int,
    *,
    rank: int,
    loss: str,
    steps: int,
    seed: int = 0,
    batch: int = 1024,
    learning_rate: float = 3e-3,
    on_step=lambda step, value: None,
) -> LowRankPredictor:
    """Fit a predictor of ``top_k`` ``(n, k)`` from ``states`` ``(n, hidden)`` with Adam on
    random batches of ``batch`` tokens."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, not {loss!r}")
    generator = torch.Generator().manual_seed(seed)
    model = LowRankPredictor(states.shape[1], rank, experts, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    for step in range(steps):
        rows = torch.randint(0, len(states), (min(batch, len(states)),), generator=generator)
        value = LOSSES[loss](model(states[rows]), top_k[rows])
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        on_step(step + 1, float(value.detach()))
    return model.eval()
