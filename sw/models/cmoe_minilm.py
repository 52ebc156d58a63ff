"""all-MiniLM-L6-v2 converted to MoE with CMoE, and how well its routing works.

Calibration text is the training split of the standard-library docstrings; evaluation uses the
held-out files. Quality is measured two ways: per layer, the relative error of the routed FFN's
output against the dense FFN; for the model, the cosine similarity of its sentence embeddings
to the dense model's.
"""

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .cmoe import ROUTERS, CMoEFeedForward, CMoESettings, convert_ffn
from .corpus import stdlib_corpus
from .files import read_safetensors
from .minilm import embed, load_minilm, tokenize

__all__ = [
    "ConvertedMiniLM",
    "cached_conversion",
    "convert_minilm",
    "embedding_similarity",
    "layer_errors",
    "load_converted",
    "moe_sites",
    "passage_embedding",
    "record_cmoe_trace",
    "routed",
    "save_converted",
    "text_samples",
    "texts_for_tokens",
    "token_passages",
    "with_moe_layers",
]


def text_samples(count: int, split: str) -> list[str]:
    """The first ``count`` docstrings of a corpus split (``train`` or ``validation``); all of
    them for ``count = 0``."""
    corpus = stdlib_corpus()
    texts = [t for t in getattr(corpus, split).split("\n\n") if len(t) > 40]
    if len(texts) < count:
        raise ValueError(f"the {split} text has {len(texts)} passages, fewer than {count}")
    return texts[: count or None]


def texts_for_tokens(tokens: int, split: str) -> list[str]:
    """The first passages of a corpus split that hold at least ``tokens`` tokens, as
    :func:`tokenize` cuts them."""
    texts = text_samples(0, split)
    tokenizer, _ = load_minilm()
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=128)["input_ids"]]
    total = 0
    for count, length in enumerate(lengths, 1):
        total += length
        if total >= tokens:
            return texts[:count]
    raise ValueError(f"the {split} text holds {total} tokens, fewer than {tokens}")


@torch.no_grad()
def ffn_inputs(model, batch) -> list[torch.Tensor]:
    """Per layer, the FFN inputs ``(real tokens, hidden)`` for ``batch``."""
    captured, hooks = {}, []
    for n, layer in enumerate(model.encoder.layer):
        hooks.append(
            layer.intermediate.register_forward_pre_hook(
                lambda module, args, n=n: captured.__setitem__(n, args[0])
            )
        )
    try:
        model(**batch)
    finally:
        for hook in hooks:
            hook.remove()
    mask = batch["attention_mask"].bool()
    return [captured[n][mask] for n in range(len(model.encoder.layer))]


def dense_ffn(layer) -> tuple[torch.Tensor, ...]:
    """``(W1, b1, W2, b2)`` of a BERT layer's feed-forward network."""
    up, down = layer.intermediate.dense, layer.output.dense
    return up.weight.detach(), up.bias.detach(), down.weight.detach(), down.bias.detach()


@dataclass
class ConvertedMiniLM:
    settings: CMoESettings
    ffns: list[CMoEFeedForward]


def convert_minilm(settings: CMoESettings, calibration_texts: list[str], progress=print):
    _, model = load_minilm()
    inputs = ffn_inputs(model, tokenize(calibration_texts))
    ffns = []
    for n, layer in enumerate(model.encoder.layer):
        progress(
            f"CMoE: layer {n}: clustering {layer.intermediate.dense.out_features} neurons "
            f"on {len(inputs[n])} calibration tokens"
        )
        ffns.append(convert_ffn(*dense_ffn(layer), inputs[n], settings))
    return ConvertedMiniLM(settings, ffns)


class _RoutedFFN(torch.nn.Module):
    def __init__(self, ffn, router, k):
        super().__init__()
        self.ffn, self.router, self.k = ffn, router, k

    def forward(self, h):
        return self.ffn(h, self.router, self.k)


class _FloatLayerFFN(torch.nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, h):
        return self.layer.forward(h.reshape(-1, h.shape[-1])).reshape(h.shape)


def _install(model, ffns: list[torch.nn.Module]) -> None:
    """Each BERT layer's FFN ``ffns[n]``: in ``intermediate``, its ``output.dense`` an
    identity (the FFN adds ``b2`` itself; the residual and norm stay)."""
    for layer, ffn in zip(model.encoder.layer, ffns, strict=True):
        layer.intermediate = ffn
        layer.output.dense = torch.nn.Identity()


@contextlib.contextmanager
def routed(model, converted: ConvertedMiniLM, router: str, k: int):
    """Temporarily run ``model`` with every FFN replaced by its converted, routed form."""
    if router not in ROUTERS:
        raise ValueError(f"router must be one of {', '.join(ROUTERS)}, not {router!r}")
    saved = [(layer.intermediate, layer.output.dense) for layer in model.encoder.layer]
    try:
        _install(model, [_RoutedFFN(ffn, router, k) for ffn in converted.ffns])
        yield model
    finally:
        for layer, (intermediate, dense) in zip(model.encoder.layer, saved, strict=True):
            layer.intermediate, layer.output.dense = intermediate, dense


def with_moe_layers(model, layers) -> torch.nn.Module:
    """A copy of ``model`` whose every FFN is a
    :class:`~moetile.sw.models.moe_layer.FloatMoELayer` of ``layers``, each block at its BERT
    layer's ``intermediate`` (:func:`moe_sites`)."""
    import copy

    moe = copy.deepcopy(model)
    _install(moe, [_FloatLayerFFN(layer) for layer in layers])
    return moe


def moe_sites(model) -> list[tuple[torch.nn.Module, str]]:
    """Where :func:`with_moe_layers` puts each MoE block: ``(BERT layer, "intermediate")``."""
    return [(layer, "intermediate") for layer in model.encoder.layer]


@torch.no_grad()
def passage_embedding(model, ids: torch.Tensor) -> torch.Tensor:
    """The sentence embedding ``(384,)`` of one passage's token ids ``(T,)``."""
    batch = {"input_ids": ids[None], "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
    return embed(model, batch)[0]


def token_passages(tokens: int, split: str) -> list[torch.Tensor]:
    """The token ids of the first passages of a corpus split, one tensor a passage, cut to
    ``tokens`` tokens in all (the last passage shortened to fit)."""
    if not tokens:
        return []
    tokenizer, _ = load_minilm()
    texts = texts_for_tokens(tokens, split)
    ids = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    passages, left = [], tokens
    for passage in ids:
        passages.append(torch.tensor(passage[:left]))
        left -= len(passages[-1])
        if not left:
            break
    return passages


@torch.no_grad()
def layer_errors(converted: ConvertedMiniLM, texts: list[str], ks) -> list[dict]:
    """Relative FFN output error ``|y_routed - y_dense| / |y_dense|`` per layer, router, k."""
    _, model = load_minilm()
    inputs = ffn_inputs(model, tokenize(texts))
    rows = []
    for n, (ffn, h) in enumerate(zip(converted.ffns, inputs, strict=True)):
        dense = ffn(h, "oracle", ffn.routed_index.shape[0])
        for router in ROUTERS:
            for k in ks:
                error = (ffn(h, router, k) - dense).norm(dim=-1) / dense.norm(dim=-1)
                rows.append(
                    {
                        "layer": n,
                        "router": router,
                        "k": k,
                        "ffn_relative_error": float(error.mean()),
                    }
                )
    return rows


@torch.no_grad()
def embedding_similarity(converted: ConvertedMiniLM, texts: list[str], router: str, k: int):
    """Mean cosine similarity of the converted model's sentence embeddings to the dense one's."""
    _, model = load_minilm()
    batch = tokenize(texts)
    dense = embed(model, batch)
    with routed(model, converted, router, k):
        moe = embed(model, batch)
    return float((dense * moe).sum(-1).mean())


CMOE_FORMAT = "moetile-cmoe"
PARTITION_FIELDS = ("shared_index", "routed_index", "representatives", "gate_weight", "gate_bias")


def save_converted(converted: ConvertedMiniLM, path) -> None:
    """The partition and router of every layer (the expert weights stay MiniLM's own)."""
    from safetensors.torch import save_file

    tensors = {}
    for n, ffn in enumerate(converted.ffns):
        values = (ffn.shared_index, ffn.routed_index, ffn.representatives, *ffn.gate)
        for name, value in zip(PARTITION_FIELDS, values, strict=True):
            tensors[f"layer{n}.{name}"] = value.contiguous()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": "moetile-cmoe",
        "version": "1",
        "model": "all-MiniLM-L6-v2",
        "settings": json.dumps(converted.settings.__dict__),
    }
    save_file(tensors, str(path), metadata=meta)


def cached_conversion(progress) -> ConvertedMiniLM:
    """CMoE-MiniLM with the default :class:`CMoESettings`, converted once on
    :data:`~moetile.sw.models.CMOE_CALIBRATION_PASSAGES` training passages into the cache's
    models (about a minute)."""
    from moetile.sw.paths import locked_file

    from . import CMOE_CALIBRATION_PASSAGES, CMOE_FILE, CMOE_MODEL, saved_model_dir

    path = saved_model_dir(CMOE_MODEL) / CMOE_FILE
    with locked_file(path.parent.with_name(f".{CMOE_MODEL}.lock")):
        if not path.is_file():
            progress(f"converting all-MiniLM-L6-v2's FFNs with CMoE once into {path.parent}")
            converted = convert_minilm(
                CMoESettings(), text_samples(CMOE_CALIBRATION_PASSAGES, "train"), progress
            )
            partial = path.with_name(f".{path.name}.partial")
            save_converted(converted, partial)
            partial.replace(path)
    return load_converted(path)


def load_converted(path) -> ConvertedMiniLM:
    """Rebuild a converted MiniLM from :func:`save_converted`'s file and MiniLM's weights."""
    import json

    meta, tensors = read_safetensors(
        path, CMOE_FORMAT, "make one with `moetile model convert-cmoe`"
    )
    settings = CMoESettings(**json.loads(meta["settings"]))
    _, model = load_minilm()
    ffns = []
    for n, layer in enumerate(model.encoder.layer):
        keys = [f"layer{n}.{name}" for name in PARTITION_FIELDS]
        if any(key not in tensors for key in keys):
            raise ValueError(f"{path}: layer {n} is incomplete")
        shared, routed_index, reps, weight, bias = (tensors[key] for key in keys)
        neurons = torch.cat([shared, routed_index.flatten()]).sort().values
        if not torch.equal(neurons, torch.arange(layer.intermediate.dense.out_features)):
            raise ValueError(f"{path}: layer {n}'s experts do not partition the FFN's neurons")
        ffns.append(
            CMoEFeedForward(
                *dense_ffn(layer),
                shared,
                routed_index,
                reps,
                (weight, bias),
            )
        )
    return ConvertedMiniLM(settings, ffns)


@torch.no_grad()
def record_cmoe_trace(
    converted: ConvertedMiniLM, texts: list[str], k: int, tokens: int, split: str = "validation"
):
    """A :class:`~moetile.sw.models.trace.Trace` of the calibrated router over ``texts``' first
    ``tokens`` real tokens, each text a passage. BERT normalizes after each sub-layer, so a
    layer's input is already its normalized pre-attention state."""
    from .trace import LayerTrace, Trace

    _, model = load_minilm()
    batch = tokenize(texts)
    mask = batch["attention_mask"].bool()
    if int(mask.sum()) < tokens:
        raise ValueError(f"the text has {int(mask.sum())} tokens, fewer than {tokens}")
    layer_inputs, hooks = {}, []
    for n, layer in enumerate(model.encoder.layer):
        hooks.append(
            layer.register_forward_pre_hook(
                lambda module, args, n=n: layer_inputs.__setitem__(n, args[0])
            )
        )
    try:
        gate_inputs = ffn_inputs(model, batch)
    finally:
        for hook in hooks:
            hook.remove()
    layers = []
    for n, ffn in enumerate(converted.ffns):
        h = gate_inputs[n][:tokens]
        logits = ffn.scores(h, "calibrated")
        layers.append(
            LayerTrace(
                pre_attention=layer_inputs[n][mask][:tokens].float(),
                gate_input=h.float(),
                router_logits=logits.float(),
                top_k=ffn.choose(h, "calibrated", k),
            )
        )
    ends = torch.cumsum(mask.sum(dim=1), 0).clamp(max=tokens)
    bounds = torch.unique_consecutive(torch.cat([torch.zeros(1, dtype=ends.dtype), ends]))
    tokens_kept = batch["input_ids"][mask][:tokens].long()
    return Trace("cmoe-minilm", tokens_kept, tuple(layers), bounds.long(), split)


ACTIVE_FRACTIONS = (0.25, 0.5, 0.75)


def routed_k(settings: CMoESettings, fraction: float) -> int:
    """Routed experts per token that make ``fraction`` of the FFN's neurons active."""
    k = round(fraction * settings.experts) - settings.shared
    if not 1 <= k <= settings.routed:
        raise ValueError(
            f"{fraction:.0%} of neurons active is not reachable with "
            f"{settings.experts} experts of which {settings.shared} shared"
        )
    return k


def quality_report(converted: ConvertedMiniLM, texts: list[str], progress=print) -> list[dict]:
    """For each router and active fraction: the mean relative FFN error over layers and the
    embedding cosine similarity to the dense model, on ``texts``."""
    ks = {fraction: routed_k(converted.settings, fraction) for fraction in ACTIVE_FRACTIONS}
    progress("CMoE: measuring per-layer FFN error of every router")
    errors = layer_errors(converted, texts, sorted(set(ks.values())))
    rows = []
    for router in ROUTERS:
        for fraction, k in ks.items():
            progress(f"CMoE: sentence embeddings, router {router}, {fraction:.0%} active")
            layer_rows = [r for r in errors if r["router"] == router and r["k"] == k]
            rows.append(
                {
                    "router": router,
                    "active": fraction,
                    "routed_k": k,
                    "ffn_relative_error": sum(r["ffn_relative_error"] for r in layer_rows)
                    / len(layer_rows),
                    "embedding_cosine": embedding_similarity(converted, texts, router, k),
                }
            )
    return rows
