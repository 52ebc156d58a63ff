"""The pre-attention expert predictor: ``logits = W2 · requant(W1 · h)`` on int8 GEMVs, then the
top-k selector, so a layer's experts are known while its attention runs.

Importing this package pulls in only :class:`PredictorParams`; the component is in
:mod:`moetile.hw.predictor.unit`.
"""

from .params import PredictorParams

__all__ = ["PredictorParams"]
