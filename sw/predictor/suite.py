"""Per-layer predictors of one model: ours (float and int8) and the baselines, trained on one
trace, evaluated on another, saved to and loaded from a folder."""

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from moetile.hw.predictor import PredictorParams
from moetile.sw.models.trace import Trace

from .data import check_same_model, check_trace
from .metrics import accuracy, ranking
from .model import LowRankPredictor, train_predictor
from .quantize import QuantizedPredictor, quantize_predictor

__all__ = ["METHODS", "PredictorSuite", "evaluate", "load_suite", "save_suite", "train_suite"]

#: Predictors compared, in table order.
METHODS = (
    "pre-attention int8",
    "pre-attention float",
    "previous layer",
    "fate",
    "popular",
    "router, no attention",
)
FILE, META = "predictor.safetensors", "predictor.json"
#: Largest relative residual of a router recovered from a trace (a linear map fits exactly).
LINEAR_FIT = 1e-3


@dataclass
class LayerPredictors:
    ours: LowRankPredictor
    quantized: QuantizedPredictor
    previous: LowRankPredictor | None  # from the previous layer's router input (layer >= 1)
    gate: torch.Tensor  # (experts, hidden + 1): this layer's router, recovered, with its bias
    popular: torch.Tensor  # (experts,): training tokens per expert


@dataclass
class PredictorSuite:
    model: str
    settings: dict  # rank, loss, steps, seed, macs
    layers: list[LayerPredictors]

    @property
    def params(self) -> PredictorParams:
        return self.layers[0].quantized.params


def _with_bias(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, torch.ones(len(x), 1)], dim=1)


def recover_router(gate_input: torch.Tensor, logits: torch.Tensor, where: str) -> torch.Tensor:
    """The router's weights and bias from what it saw and said (least squares, float64);
    refused unless they reproduce its logits."""
    x, y = _with_bias(gate_input).double(), logits.double()
    weights = torch.linalg.lstsq(x, y).solution.T
    residual = float((x @ weights.T - y).abs().max() / y.abs().max().clamp(min=1e-12))
    if residual > LINEAR_FIT:
        raise ValueError(
            f"{where}: the router's logits are not a linear map of its input "
            f"(relative residual {residual:.2g}); Fate's rule needs a linear router"
        )
    return weights.float()


def train_suite(
    trace: Trace, *, rank: int, loss: str, steps: int, seed: int, macs: int, progress
) -> PredictorSuite:
    """Train every layer's predictor and previous-layer baseline on ``trace``."""
    check_trace(trace, "the training trace")
    layers = []
    for n, layer in enumerate(trace.layers):
        hidden, experts, k = layer.pre_attention.shape[1], trace.experts, trace.top_k

        def report(step, value, n=n, what="pre-attention"):
            if step == steps or step % max(1, steps // 4) == 0:
                progress(f"layer {n} {what}: step {step}/{steps}, {loss} loss {value:.4f}")

        common = dict(rank=rank, loss=loss, steps=steps, seed=seed + n)
        ours = train_predictor(layer.pre_attention, layer.top_k, experts, **common, on_step=report)
        params = PredictorParams(
            hidden=hidden, rank=rank, experts=experts, k=k, macs=min(macs, hidden)
        )
        quantized = quantize_predictor(ours, layer.pre_attention, params, f"layer {n}")
        previous = None
        if n:
            previous = train_predictor(
                trace.layers[n - 1].gate_input,
                layer.top_k,
                experts,
                **common,
                on_step=lambda s, v, n=n: report(s, v, n, "previous-layer"),
            )
        gate = recover_router(layer.gate_input, layer.router_logits, f"layer {n}")
        layers.append(LayerPredictors(ours, quantized, previous, gate, layer.expert_load))
    settings = {"rank": rank, "loss": loss, "steps": steps, "seed": seed, "macs": macs}
    return PredictorSuite(trace.model, settings, layers)


def _orders(suite: PredictorSuite, trace: Trace, n: int) -> dict:
    """Each method's expert ranking of every token of layer ``n`` (``None``: no prediction)."""
    mine, layer = suite.layers[n], trace.layers[n]
    with torch.no_grad():
        orders = {
            "pre-attention int8": ranking(mine.quantized.predict(layer.pre_attention).logits),
            "pre-attention float": ranking(mine.ours(layer.pre_attention)),
            "previous layer": None,
            "fate": None,
            "popular": ranking(mine.popular.float().expand(len(layer.top_k), -1)),
            # The layer's own router on the state before attention: what routing would be if
            # attention changed nothing (a diagnostic, not a predictor one could build).
            "router, no attention": ranking(_with_bias(layer.pre_attention) @ mine.gate.T),
        }
        if n:
            before = trace.layers[n - 1].gate_input
            orders["previous layer"] = ranking(mine.previous(before))
            orders["fate"] = ranking(_with_bias(before) @ mine.gate.T)
    return orders


def evaluate(suite: PredictorSuite, trace: Trace, extra: int) -> list[dict]:
    """One row per layer and method, then each method's mean over the layers it predicts."""
    check_trace(trace, "the test trace")
    p = suite.params
    check_same_model(trace, suite.model, p.hidden, p.experts, p.k, "the test trace")
    if len(trace.layers) != len(suite.layers):
        raise ValueError(
            f"the test trace has {len(trace.layers)} layers; the predictor has {len(suite.layers)}"
        )
    if not 0 <= extra <= p.experts - p.k:
        raise ValueError(f"extra must be an integer in [0, {p.experts - p.k}], not {extra}")
    rows = []
    for n in range(len(suite.layers)):
        for method, order in _orders(suite, trace, n).items():
            if order is not None:
                scores = accuracy(order, trace.layers[n].top_k, extra)
                rows.append({"layer": n, "predictor": method, **scores})
    for method in METHODS:
        mine = [r for r in rows if r["predictor"] == method]
        mean = {
            key: sum(r[key] for r in mine) / len(mine)
            for key in mine[0]
            if key not in ("layer", "predictor")
        }
        rows.append({"layer": "mean", "predictor": method, **mean})
    return rows


def save_suite(suite: PredictorSuite, out: Path) -> None:
    from safetensors.torch import save_file

    tensors, layers = {}, []
    for n, mine in enumerate(suite.layers):
        q = mine.quantized
        tensors |= {
            f"layer{n}.w1": mine.ours.w1.detach().contiguous(),
            f"layer{n}.w2": mine.ours.w2.detach().contiguous(),
            f"layer{n}.w1_int8": q.w1.contiguous(),
            f"layer{n}.w2_int8": q.w2.contiguous(),
            f"layer{n}.gate": mine.gate.contiguous(),
            f"layer{n}.popular": mine.popular.contiguous(),
        }
        if mine.previous is not None:
            tensors[f"layer{n}.previous.w1"] = mine.previous.w1.detach().contiguous()
            tensors[f"layer{n}.previous.w2"] = mine.previous.w2.detach().contiguous()
        layers.append({"state_scale": q.state_scale, "multiplier": q.multiplier, "shift": q.shift})
    meta = {
        "format": "moetile-predictor",
        "model": suite.model,
        "settings": suite.settings,
        "params": {f: getattr(suite.params, f) for f in suite.params.__dataclass_fields__},
        "layers": layers,
    }
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{FILE}.tmp"
    save_file(tensors, str(tmp))
    tmp.replace(out / FILE)
    (out / META).write_text(json.dumps(meta, indent=2) + "\n")


def load_suite(folder: Path) -> PredictorSuite:
    from safetensors.torch import load_file

    if not (folder / META).is_file() or not (folder / FILE).is_file():
        raise ValueError(f"{folder} holds no predictor; train one with `moetile predictor train`")
    meta = json.loads((folder / META).read_text())
    if meta.get("format") != "moetile-predictor":
        raise ValueError(f"{folder / META} is not a moetile predictor")
    tensors = load_file(str(folder / FILE))
    params = PredictorParams(**meta["params"])
    layers = []
    for n, scales in enumerate(meta["layers"]):

        def module(prefix):
            w1, w2 = tensors[f"{prefix}.w1"], tensors[f"{prefix}.w2"]
            model = LowRankPredictor(w1.shape[1], w1.shape[0], w2.shape[0], torch.Generator())
            model.w1.data, model.w2.data = w1, w2
            return model.eval()

        quantized = QuantizedPredictor(
            params, tensors[f"layer{n}.w1_int8"], tensors[f"layer{n}.w2_int8"], **scales
        )
        previous = module(f"layer{n}.previous") if f"layer{n}.previous.w1" in tensors else None
        layers.append(
            LayerPredictors(
                module(f"layer{n}"),
                quantized,
                previous,
                tensors[f"layer{n}.gate"],
                tensors[f"layer{n}.popular"],
            )
        )
    return PredictorSuite(meta["model"], meta["settings"], layers)
