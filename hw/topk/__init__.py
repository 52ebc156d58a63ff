"""Top-k selector: ``k`` (index, score) pairs of ``n`` signed scores, best first, ties to the lower
index. Shared by the expert predictor, the token-choice router and the expert-choice router.

Importing this package pulls in only :class:`TopKParams`; the components live in
:mod:`moetile.hw.topk.network` and :mod:`moetile.hw.topk.sequential`, built by
:func:`moetile.hw.topk.rtl.topk_component`.
"""

from .params import TOPK_ARCHS, TopKParams

__all__ = ["TOPK_ARCHS", "TopKParams"]
