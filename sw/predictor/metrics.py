"""Prediction accuracy: exact match of the top-k set, recall@k, and coverage with extra
experts prefetched."""

import torch

__all__ = ["accuracy", "ranking"]


def ranking(logits: torch.Tensor) -> torch.Tensor:
    """Experts by logit, best first, ties to the lower index (as the hardware's top-k)."""
    return torch.sort(-torch.as_tensor(logits), dim=1, stable=True).indices


def accuracy(order: torch.Tensor, top_k: torch.Tensor, extra: int) -> dict:
    """``order`` ``(n, >= k + extra)`` predicted experts best first; ``top_k`` ``(n, k)`` the
    router's. ``exact_match``: share of tokens whose predicted top-k set is the router's;
    ``recall``: share of the router's choices among the predicted top-k; ``coverage``: share
    among the predicted top ``k + extra`` (prefetching ``extra`` more)."""
    k = top_k.shape[1]
    hits = (order[:, :, None] == top_k[:, None, :]).any(dim=2)
    in_k = hits[:, :k].sum(dim=1)
    return {
        "exact_match": float((in_k == k).float().mean()),
        "recall": float(in_k.float().mean() / k),
        "coverage": float(hits[:, : k + extra].sum(dim=1).float().mean() / k),
    }
