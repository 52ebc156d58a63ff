"""A small MoE language model trained here on CPU: ``transformers``' Mixtral (pre-norm, learned
linear routers, top-2, load-balancing loss) at a few million parameters, over bytes; with float
experts, or with ternary experts trained ternary-aware (BitNet b1.58: absmean scale per expert
matrix, straight-through estimator; router, attention and norms stay float)."""

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from moetile.hw.checks import check_choice, check_int

from ..quant.ternary import (
    TernaryWeights,
    absmean_dequantized,
    absmean_ste,
    absmean_ternarize,
    ternarize,
)
from .corpus import stdlib_corpus

__all__ = [
    "EXPERT_WEIGHTS",
    "TinyMoESettings",
    "expert_matrices",
    "load_tiny_moe",
    "ternary_experts",
    "train_tiny_moe",
]

WEIGHTS = "model.safetensors"
METRICS = "metrics.json"
KIND = "moetile.json"

#: ``float``: ordinary float experts; ``ternary``: ternary-aware trained experts whose weights
#: are exactly ``scale * code`` with one scale per expert matrix (gate, up, down).
EXPERT_WEIGHTS = ("float", "ternary")


@dataclass(frozen=True)
class TinyMoESettings:
    """Model size and training schedule. Defaults train in about ten minutes on two cores."""

    hidden: int = 192
    layers: int = 4
    heads: int = 4
    experts: int = 8
    top_k: int = 2
    expert_hidden: int = 384
    context: int = 128
    batch: int = 16
    steps: int = 800
    learning_rate: float = 3e-3
    balance_weight: float = 0.02
    eval_windows: int = 64
    seed: int = 0
    expert_weights: str = "float"

    def __post_init__(self):
        for name in (
            "hidden",
            "layers",
            "heads",
            "experts",
            "expert_hidden",
            "context",
            "batch",
            "steps",
            "eval_windows",
        ):
            check_int(name, getattr(self, name), minimum=1)
        check_int("top_k", self.top_k, minimum=1, maximum=self.experts)
        check_int("seed", self.seed, minimum=0)
        check_choice("expert_weights", self.expert_weights, EXPERT_WEIGHTS)
        if self.hidden % self.heads:
            raise ValueError(
                f"hidden must be a multiple of heads ({self.heads}), not {self.hidden}"
            )

    def config(self):
        from transformers import MixtralConfig

        return MixtralConfig(
            vocab_size=256,
            hidden_size=self.hidden,
            intermediate_size=self.expert_hidden,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            num_key_value_heads=self.heads,
            num_local_experts=self.experts,
            num_experts_per_tok=self.top_k,
            max_position_embeddings=self.context,
            router_aux_loss_coef=self.balance_weight,
            output_router_logits=True,
            tie_word_embeddings=True,
        )


def train_tiny_moe(settings: TinyMoESettings, out_dir: Path, progress=lambda s, n, loss: None):
    """Train on the standard library's docstrings, evaluate on the held-out files, and save
    ``model.safetensors``, ``config.json`` and ``metrics.json`` in ``out_dir``."""
    from transformers import MixtralForCausalLM

    train, validation = stdlib_corpus().split_bytes()
    if len(train) <= settings.context or len(validation) <= settings.context:
        raise ValueError(f"corpus too short for context {settings.context}")
    started = time.time()
    with torch.random.fork_rng():
        torch.manual_seed(settings.seed)
        model = MixtralForCausalLM(settings.config())
    ternary = settings.expert_weights == "ternary"
    if ternary:
        _train_experts_ternary(model)
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.01)
    warmup = max(1, settings.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(
            (step + 1) / warmup, 0.5 * (1 + math.cos(math.pi * step / settings.steps))
        ),
    )
    model.train()
    for step in range(settings.steps):
        batch = _windows(train, settings.context, settings.batch, generator)
        out = model(input_ids=batch, labels=batch)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        progress(step + 1, settings.steps, out.loss.item())
    if ternary:
        _freeze_ternary(model)
    metrics = {
        "settings": asdict(settings),
        "expert_weights": settings.expert_weights,
        "train_bytes": len(train),
        "validation_bytes": len(validation),
        "validation_perplexity": evaluate(model, validation, settings),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(time.time() - started, 1),
    }
    if not ternary:
        metrics["ternarized_after_training_perplexity"] = {
            method: evaluate(_ternarized_copy(model, method), validation, settings)
            for method in ("twn", "absmean")
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    (out_dir / KIND).write_text(json.dumps({"expert_weights": settings.expert_weights}) + "\n")
    (out_dir / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


class _AbsmeanExperts(torch.nn.Module):
    """Parametrization of fused expert weights ``(experts, parts * rows, cols)``: each part of
    each expert (gate and up of ``gate_up_proj``; ``down_proj`` whole) ternarized with its own
    absmean scale, gradients straight through."""

    def __init__(self, parts: int):
        super().__init__()
        self.parts = parts

    def forward(self, weight):
        return torch.cat([absmean_ste(part) for part in weight.chunk(self.parts, dim=1)], dim=1)


_FUSED = {"gate_up_proj": 2, "down_proj": 1}


def _train_experts_ternary(model) -> None:
    from torch.nn.utils import parametrize

    for layer in model.model.layers:
        for name, parts in _FUSED.items():
            parametrize.register_parametrization(layer.mlp.experts, name, _AbsmeanExperts(parts))


@torch.no_grad()
def _freeze_ternary(model) -> None:
    """Replace the latent weights by their ternary values, exactly ``scale * code``."""
    from torch.nn.utils import parametrize

    for layer in model.model.layers:
        experts = layer.mlp.experts
        for name, parts in _FUSED.items():
            parametrize.remove_parametrizations(experts, name, leave_parametrized=False)
            weight = getattr(experts, name)
            exact = [absmean_dequantized(part) for part in weight.chunk(parts, dim=1)]
            weight.copy_(torch.cat(exact, dim=1))


def expert_matrices(model):
    """Every expert matrix of every layer: ``(layer, expert, "gate"|"up"|"down", weight)``
    with ``weight`` ``(out_features, in_features)``, a view into the model."""
    for n, layer in enumerate(model.model.layers):
        experts = layer.mlp.experts
        for e in range(experts.num_experts):
            gate, up = experts.gate_up_proj[e].chunk(2, dim=0)
            yield n, e, "gate", gate
            yield n, e, "up", up
            yield n, e, "down", experts.down_proj[e]


def ternary_experts(model) -> dict:
    """``{(layer, expert, projection): TernaryWeights}`` of a ternary tiny MoE, recovered
    exactly: every weight is ``scale * code``; raises ``ValueError`` for any that is not."""
    out = {}
    for n, e, name, weight in expert_matrices(model):
        w = weight.detach()
        scale = w.abs().max()
        codes = (w / scale).round().clamp(-1, 1)
        if not torch.equal(codes * scale, w):
            raise ValueError(
                f"layer {n} expert {e} {name}: weights are not one scale times ternary codes"
            )
        rows = torch.full((w.shape[0],), float(scale))
        out[n, e, name] = TernaryWeights(codes.to(torch.int64), rows, rows / 2)
    return out


@torch.no_grad()
def _ternarized_copy(model, method: str):
    """A copy of a float model with every expert matrix ternarized after training."""
    import copy

    quantize = {"twn": ternarize, "absmean": absmean_ternarize}[method]
    clone = copy.deepcopy(model)
    for *_, weight in expert_matrices(clone):
        weight.copy_(quantize(weight).dequantize())
    return clone


@torch.no_grad()
def evaluate(model, data: torch.Tensor, settings: TinyMoESettings) -> float:
    """Per-byte perplexity over ``eval_windows`` fixed windows of held-out text."""
    model.eval()
    generator = torch.Generator().manual_seed(12345)
    windows = _windows(data, settings.context, settings.eval_windows, generator)
    losses = [float(model(input_ids=w[None], labels=w[None]).loss) for w in windows]
    return math.exp(sum(losses) / len(losses))


def load_tiny_moe(path: Path, expert_weights: str | None = None):
    """Load a trained tiny MoE, refusing missing, corrupt or non-finite weights, a model of the
    other ``expert_weights`` kind when one is asked for, and ternary experts that are not
    exactly ternary."""
    from transformers import MixtralForCausalLM

    path = Path(path)
    for name in ("config.json", WEIGHTS):
        if not (path / name).is_file():
            raise ValueError(
                f"{path} is not a tiny MoE: {name} is missing "
                "(make one with `moetile model train-tiny`)"
            )
    kind = _kind(path)
    if expert_weights is not None and kind != expert_weights:
        raise ValueError(
            f"{path} holds a tiny MoE with {kind} experts, not {expert_weights} ones "
            f"(make one with `moetile model train-tiny --experts {expert_weights}`)"
        )
    try:
        model = MixtralForCausalLM.from_pretrained(path)
    except Exception as error:  # transformers raises many kinds for a bad file
        raise ValueError(f"cannot load the tiny MoE in {path}: {error}") from None
    for name, tensor in model.state_dict().items():
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{path}: weight {name} holds NaN or inf")
    if kind == "ternary":
        try:
            ternary_experts(model)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    return model.eval()


def _kind(path: Path) -> str:
    """The expert weights a saved tiny MoE has (models saved before the kind file: float)."""
    if not (path / KIND).is_file():
        return "float"
    try:
        kind = json.loads((path / KIND).read_text())["expert_weights"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{path / KIND} is not a moetile model description") from None
    if kind not in EXPERT_WEIGHTS:
        raise ValueError(f"{path / KIND}: expert_weights must be one of {EXPERT_WEIGHTS}")
    return kind


def _windows(data: torch.Tensor, context: int, count: int, generator) -> torch.Tensor:
    starts = torch.randint(0, len(data) - context, (count,), generator=generator)
    return torch.stack([data[s : s + context] for s in starts.tolist()])
