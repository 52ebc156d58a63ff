"""Training and test data for predictors, taken from routing traces with their checks."""

import torch

from moetile.sw.models.trace import Trace

__all__ = ["check_trace", "check_same_model"]


def check_trace(trace: Trace, what: str) -> None:
    """Refuse an empty trace or one holding NaN or inf."""
    if len(trace.tokens) == 0 or not trace.layers:
        raise ValueError(f"{what} is empty: it holds no tokens")
    for n, layer in enumerate(trace.layers):
        for name in ("pre_attention", "gate_input", "router_logits"):
            if not torch.isfinite(getattr(layer, name)).all():
                raise ValueError(f"{what}: layer {n} {name} holds NaN or inf")


def check_same_model(trace: Trace, model: str, hidden: int, experts: int, k: int, what: str):
    """Refuse a trace of another model, or of other dimensions, than a predictor's."""
    if trace.model != model:
        raise ValueError(f"{what} is a trace of {trace.model!r}; the predictor is for {model!r}")
    got = (trace.layers[0].pre_attention.shape[1], trace.experts, trace.top_k)
    if got != (hidden, experts, k):
        raise ValueError(
            f"{what} has hidden {got[0]}, {got[1]} experts, top-{got[2]}; the predictor "
            f"expects hidden {hidden}, {experts} experts, top-{k}"
        )
