"""A small MoE language model trained here on CPU: ``transformers``' Mixtral (pre-norm, learned
linear routers, top-2, load-balancing loss) at a few million parameters, over bytes."""

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from moetile.hw.checks import check_int

from .corpus import stdlib_corpus

__all__ = ["TinyMoESettings", "load_tiny_moe", "train_tiny_moe"]

WEIGHTS = "model.safetensors"
METRICS = "metrics.json"


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
    metrics = {
        "settings": asdict(settings),
        "train_bytes": len(train),
        "validation_bytes": len(validation),
        "validation_perplexity": evaluate(model, validation, settings),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(time.time() - started, 1),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    (out_dir / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


@torch.no_grad()
def evaluate(model, data: torch.Tensor, settings: TinyMoESettings) -> float:
    """Per-byte perplexity over ``eval_windows`` fixed windows of held-out text."""
    model.eval()
    generator = torch.Generator().manual_seed(12345)
    windows = _windows(data, settings.context, settings.eval_windows, generator)
    losses = [float(model(input_ids=w[None], labels=w[None]).loss) for w in windows]
    return math.exp(sum(losses) / len(losses))


def load_tiny_moe(path: Path):
    """Load a trained tiny MoE, refusing missing, corrupt or non-finite weights."""
    from transformers import MixtralForCausalLM

    path = Path(path)
    for name in ("config.json", WEIGHTS):
        if not (path / name).is_file():
            raise ValueError(
                f"{path} is not a tiny MoE: {name} is missing "
                "(make one with `moetile model train-tiny`)"
            )
    try:
        model = MixtralForCausalLM.from_pretrained(path)
    except Exception as error:  # transformers raises many kinds for a bad file
        raise ValueError(f"cannot load the tiny MoE in {path}: {error}") from None
    for name, tensor in model.state_dict().items():
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{path}: weight {name} holds NaN or inf")
    return model.eval()


def _windows(data: torch.Tensor, context: int, count: int, generator) -> torch.Tensor:
    starts = torch.randint(0, len(data) - context, (count,), generator=generator)
    return torch.stack([data[s : s + context] for s in starts.tolist()])
