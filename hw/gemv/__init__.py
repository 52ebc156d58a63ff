"""Int8 GEMV: ``y = W x`` for one int8 vector at a time against resident int8 weights, with
exact integer sums. The router's gate (and the predictor and the gate-output cache) run on it.

Importing this package pulls in only :class:`GemvParams`; the component is in
:mod:`moetile.hw.gemv.gemv`.
"""

from .params import PIPELINE_STAGES, GemvParams

__all__ = ["PIPELINE_STAGES", "GemvParams"]
