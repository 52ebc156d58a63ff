"""Routing traces: per layer and token, what the predictor, grouping and runtime need.

File format (``.safetensors``; its JSON header's ``__metadata__`` holds the description):

- metadata: ``format`` = ``"moetile-trace"``, ``version`` = ``"1"``, ``model``, and as decimal
  strings ``layers``, ``tokens``, ``hidden``, ``experts``, ``top_k``.
- ``tokens``: ``(tokens,)`` int64 input ids.
- per layer ``l``: ``layer{l}.pre_attention`` ``(tokens, hidden)`` float32, the output of the
  layer's input norm (what the pre-attention predictor sees); ``layer{l}.gate_input``
  ``(tokens, hidden)`` float32, what the router sees; ``layer{l}.router_logits``
  ``(tokens, experts)`` float32; ``layer{l}.top_k`` ``(tokens, top_k)`` int64, the experts the
  router chose, best first; ``layer{l}.expert_load`` ``(experts,)`` int64, tokens per expert.
"""

from dataclasses import dataclass
from pathlib import Path

import torch

from .files import read_safetensors

__all__ = ["LayerTrace", "Trace", "load_trace", "record_hf_trace", "save_trace"]

FORMAT, VERSION = "moetile-trace", "1"
FIELDS = ("pre_attention", "gate_input", "router_logits", "top_k", "expert_load")


@dataclass(frozen=True)
class LayerTrace:
    pre_attention: torch.Tensor
    gate_input: torch.Tensor
    router_logits: torch.Tensor
    top_k: torch.Tensor

    @property
    def expert_load(self) -> torch.Tensor:
        experts = self.router_logits.shape[1]
        return torch.bincount(self.top_k.flatten(), minlength=experts)


@dataclass(frozen=True)
class Trace:
    model: str
    tokens: torch.Tensor
    layers: tuple[LayerTrace, ...]

    @property
    def experts(self) -> int:
        return self.layers[0].router_logits.shape[1]

    @property
    def top_k(self) -> int:
        return self.layers[0].top_k.shape[1]


def save_trace(trace: Trace, path: Path) -> None:
    from safetensors.torch import save_file

    tensors = {"tokens": trace.tokens.contiguous()}
    for n, layer in enumerate(trace.layers):
        for name in FIELDS:
            tensors[f"layer{n}.{name}"] = getattr(layer, name).contiguous()
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "model": trace.model,
        "layers": str(len(trace.layers)),
        "tokens": str(len(trace.tokens)),
        "hidden": str(trace.layers[0].gate_input.shape[1]),
        "experts": str(trace.experts),
        "top_k": str(trace.top_k),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)


def load_trace(path: Path) -> Trace:
    """Read a trace, checking its header and every tensor's shape against it."""
    meta, tensors = read_safetensors(path, FORMAT, "record one with `moetile model trace`")
    if meta.get("version") != VERSION:
        raise ValueError(
            f"{path} is moetile trace version {meta.get('version')!r}; "
            f"this moetile reads version {VERSION}"
        )
    sizes = {k: int(meta[k]) for k in ("layers", "tokens", "hidden", "experts", "top_k")}
    expected = {
        "pre_attention": (sizes["tokens"], sizes["hidden"]),
        "gate_input": (sizes["tokens"], sizes["hidden"]),
        "router_logits": (sizes["tokens"], sizes["experts"]),
        "top_k": (sizes["tokens"], sizes["top_k"]),
        "expert_load": (sizes["experts"],),
    }
    layers = []
    for n in range(sizes["layers"]):
        values = {}
        for name, shape in expected.items():
            key = f"layer{n}.{name}"
            if key not in tensors or tuple(tensors[key].shape) != shape:
                got = tuple(tensors[key].shape) if key in tensors else "missing"
                raise ValueError(f"{path}: {key} must have shape {shape}, not {got}")
            values[name] = tensors[key]
        layer = LayerTrace(**{k: v for k, v in values.items() if k != "expert_load"})
        if not torch.equal(layer.expert_load, values["expert_load"]):
            raise ValueError(f"{path}: layer{n}.expert_load disagrees with layer{n}.top_k")
        layers.append(layer)
    return Trace(meta["model"], tensors["tokens"], tuple(layers))


@torch.no_grad()
def record_hf_trace(model, tokens: torch.Tensor, name: str) -> Trace:
    """Run ``tokens`` ``(T,)`` through a ``transformers`` MoE decoder (Mixtral, OLMoE: layers
    with ``input_layernorm``, ``post_attention_layernorm`` and an ``mlp`` whose ``gate``
    returns ``(logits, weights, indices)``) and record every layer."""
    captured: dict[tuple[int, str], torch.Tensor] = {}
    hooks = []
    for n, layer in enumerate(model.model.layers):
        for module, key in (
            (layer.input_layernorm, "pre_attention"),
            (layer.post_attention_layernorm, "gate_input"),
            (layer.mlp.gate, "router"),
        ):
            hooks.append(module.register_forward_hook(_capture(captured, n, key)))
    try:
        model.eval()
        model(input_ids=tokens[None])
    finally:
        for hook in hooks:
            hook.remove()
    layers = []
    for n in range(len(model.model.layers)):
        logits, _, indices = captured[n, "router"]
        layers.append(
            LayerTrace(
                pre_attention=captured[n, "pre_attention"].reshape(len(tokens), -1).float(),
                gate_input=captured[n, "gate_input"].reshape(len(tokens), -1).float(),
                router_logits=logits.reshape(len(tokens), -1).float(),
                top_k=indices.reshape(len(tokens), -1).long(),
            )
        )
    return Trace(name, tokens.long(), tuple(layers))


def _capture(store, layer, key):
    def hook(module, inputs, output):
        store[layer, key] = output

    return hook
