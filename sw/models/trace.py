"""Routing traces: per layer and token, what the predictor, grouping and runtime need.

File format (``.safetensors``; its JSON header's ``__metadata__`` holds the description):

- metadata: ``format`` = ``"moetile-trace"``, ``version`` = ``"2"``, ``model``, ``split``
  (the text split traced: ``train`` or ``validation``), and as decimal strings ``layers``,
  ``tokens``, ``passages``, ``hidden``, ``experts``, ``top_k``.
- ``tokens``: ``(tokens,)`` int64 input ids.
- ``passages``: ``(passages + 1,)`` int64 bounds: passage ``p`` is tokens
  ``passages[p] .. passages[p+1]-1``, each run through the model on its own (within its context).
- per layer ``l``: ``layer{l}.pre_attention`` ``(tokens, hidden)`` float32, the output of the
  layer's input norm (what the pre-attention predictor sees); ``layer{l}.gate_input``
  ``(tokens, hidden)`` float32, what the router sees; ``layer{l}.router_logits``
  ``(tokens, experts)`` float32; ``layer{l}.top_k`` ``(tokens, top_k)`` int64, the experts the
  router chose, best first; ``layer{l}.expert_load`` ``(experts,)`` int64, tokens per expert.

Version 2 added ``passages`` and ``split`` (traces longer than one context); version 1 files
still load, as one passage of held-out text.
"""

from dataclasses import dataclass
from pathlib import Path

import torch

from .files import has_format, read_safetensors

__all__ = [
    "LayerTrace",
    "Trace",
    "is_trace",
    "load_trace",
    "passages_of",
    "record_hf_trace",
    "save_trace",
]

FORMAT, VERSION = "moetile-trace", "2"
#: Versions this moetile reads.
READABLE = ("1", "2")
SPLITS = ("train", "validation")
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
    """A model's routing over ``tokens``, layer by layer; ``passages`` are the bounds of the
    separately run passages (``None``: one passage)."""

    model: str
    tokens: torch.Tensor
    layers: tuple[LayerTrace, ...]
    passages: torch.Tensor | None = None
    split: str = "validation"

    @property
    def passage_bounds(self) -> torch.Tensor:
        if self.passages is None:
            return torch.tensor([0, len(self.tokens)])
        return self.passages

    @property
    def experts(self) -> int:
        return self.layers[0].router_logits.shape[1]

    @property
    def top_k(self) -> int:
        return self.layers[0].top_k.shape[1]


def save_trace(trace: Trace, path: Path) -> None:
    from safetensors.torch import save_file

    tensors = {"tokens": trace.tokens.contiguous(), "passages": trace.passage_bounds.long()}
    for n, layer in enumerate(trace.layers):
        for name in FIELDS:
            tensors[f"layer{n}.{name}"] = getattr(layer, name).contiguous()
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "model": trace.model,
        "split": trace.split,
        "passages": str(len(trace.passage_bounds) - 1),
        "layers": str(len(trace.layers)),
        "tokens": str(len(trace.tokens)),
        "hidden": str(trace.layers[0].gate_input.shape[1]),
        "experts": str(trace.experts),
        "top_k": str(trace.top_k),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)


def is_trace(path: Path) -> bool:
    """Whether ``path`` is a moetile trace (of any version)."""
    return has_format(path, FORMAT)


def load_trace(path: Path) -> Trace:
    """Read a trace, checking its header and every tensor's shape against it."""
    meta, tensors = read_safetensors(path, FORMAT, "record one with `moetile model trace`")
    if meta.get("version") not in READABLE:
        raise ValueError(
            f"{path} is moetile trace version {meta.get('version')!r}; "
            f"this moetile reads versions {', '.join(READABLE)}"
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
    if meta["version"] == "1":
        return Trace(meta["model"], tensors["tokens"], tuple(layers))
    bounds = tensors.get("passages")
    count = int(meta["passages"])
    if (
        bounds is None
        or tuple(bounds.shape) != (count + 1,)
        or int(bounds[0]) != 0
        or int(bounds[-1]) != sizes["tokens"]
        or not bool((bounds[1:] > bounds[:-1]).all())
    ):
        raise ValueError(
            f"{path}: passages must be {count + 1} increasing bounds from 0 to {sizes['tokens']}"
        )
    return Trace(meta["model"], tensors["tokens"], tuple(layers), bounds, meta["split"])


def passages_of(
    data: torch.Tensor, context: int, tokens: int, what: str = "the text"
) -> list[torch.Tensor]:
    """The first ``tokens`` of ``data`` as consecutive passages of at most ``context``."""
    if tokens > len(data):
        raise ValueError(f"{what} holds {len(data)} tokens, fewer than {tokens}")
    return [data[start : min(start + context, tokens)] for start in range(0, tokens, context)]


@torch.no_grad()
def record_hf_trace(model, passages, name: str, split: str = "validation") -> Trace:
    """Run each passage (a ``(T,)`` token tensor, or a list of them, each within the model's
    context) through a ``transformers`` MoE decoder (Mixtral, OLMoE: layers with
    ``input_layernorm``, ``post_attention_layernorm`` and an ``mlp`` whose ``gate`` returns
    ``(logits, weights, indices)``) and record every layer."""
    if isinstance(passages, torch.Tensor):
        passages = [passages]
    runs = [_record_passage(model, tokens) for tokens in passages]
    layers = tuple(
        LayerTrace(*(torch.cat([getattr(run[n], f) for run in runs]) for f in FIELDS[:4]))
        for n in range(len(runs[0]))
    )
    lengths = torch.tensor([0] + [len(tokens) for tokens in passages])
    tokens = torch.cat(list(passages)).long()
    return Trace(name, tokens, layers, torch.cumsum(lengths, 0), split)


def _record_passage(model, tokens: torch.Tensor) -> list[LayerTrace]:
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
    return layers


def _capture(store, layer, key):
    def hook(module, inputs, output):
        store[layer, key] = output

    return hook
