"""Golden top-k: the ordering rule every top-k in moetile follows (docs/architecture.md),
stated explicitly."""

import torch

from moetile.hw.topk import TopKParams

from .fixed import check_integer_tensor

__all__ = ["top_k"]


def top_k(params: TopKParams, scores) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best of ``n`` signed scores, best first, ties to the lower index.

    ``scores`` has shape ``(..., n)`` with integers in ``params.score_range``. Each candidate gets
    the sort key ``score * n + (n - 1 - index)``: distinct for distinct candidates, larger for a
    higher score and, among equal scores, for the lower index; sorting keys descending is exactly
    the rule. The key's magnitude is below ``2**(score_width - 1) * n``, within ``int64``.

    Returns ``(indices, top_scores)``, both ``int64`` of shape ``(..., k)``.
    """
    s = check_integer_tensor("scores", scores, lo=params.score_range[0], hi=params.score_range[1])
    if s.ndim == 0 or s.shape[-1] != params.n:
        raise ValueError(f"scores must have shape (..., {params.n}), not {tuple(s.shape)}")
    position = torch.arange(params.n, dtype=torch.int64)
    key = s * params.n + (params.n - 1 - position)
    order = torch.argsort(key, dim=-1, descending=True)[..., : params.k]
    return order, torch.gather(s, -1, order)
