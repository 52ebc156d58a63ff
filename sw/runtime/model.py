"""Runs a model with its MoE layers on the accelerator: the host (torch) runs embeddings,
attention and norms; each MoE layer's tokens are quantized, run on a backend in batches of at
most ``max_tokens``, checked bit for bit against the golden, and handed back in float."""

import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from moetile.hw.moe import MoELayerParams
from moetile.sw.cost.layer_activity import LayerActivity
from moetile.sw.engines import engine_software
from moetile.sw.golden.moe_layer import moe_layer
from moetile.sw.models.hf_adapters import from_hf, supported
from moetile.sw.models.moe_layer import FloatMoELayer

from .backends import Backend, GoldenBackend
from .quantize import QuantizedLayer, check_supported, layer_params, quantize_layer

__all__ = ["AcceleratedModel", "BatchRecord", "expert_work", "perplexity", "summarize"]


@dataclass
class BatchRecord:
    """What one batch of one layer did; ``step``: the generation step it belongs to (0: the
    prompts' prefill, ``s``: the ``s``-th decode step), ``None`` outside generation."""

    layer: int
    tokens: int
    exact: bool
    stats: dict | None
    seconds: float
    cycles: int
    expert_tokens: list[int]
    work: int
    error_sq: float
    reference_sq: float
    step: int | None = None
    #: Weight bytes loaded from off-chip memory for the batch.
    fetched_bytes: int = 0
    #: Behind an expert cache, the (layer, expert, slot) fetch requests of the batch, in order.
    fetches: tuple = ()
    #: On-chip dynamic energy of the batch's actions (:mod:`moetile.sw.cost.layer_activity`).
    energy_pj: float = 0.0


def expert_work(layer: QuantizedLayer, expert_tokens: list[int]) -> int:
    """Lane cycles the batch needs: for each expert, its tokens times its rows' cycles on one
    lane: FAT's bit-serial adds (``nnz * acc_width`` a row, an empty row 1), MixPE's MACs
    (one per weight of the projection, padding excluded); for crossbars, the reads of a
    projection's crossbar blocks (``crossbar_cols`` rows × ``crossbar_rows`` inputs, each
    ``planes`` cycles) times ``lanes``, since a periphery takes its tokens one at a time."""
    p = layer.params
    shapes = {"gate": p.hidden, "up": p.hidden, "down": p.expert_hidden}
    if not p.gated:
        del shapes["gate"]
    engine = engine_software(p)
    total = 0
    for e, expert in enumerate(layer.integer.experts):
        if not expert_tokens[e]:
            continue
        cycles = 0
        for name, length in shapes.items():
            cycles += engine.projection_cycles(p, getattr(expert, name), length)
        total += expert_tokens[e] * cycles
    return total


@dataclass
class AcceleratedModel:
    """A model whose MoE blocks run on a backend. By default a ``transformers`` MoE decoder
    (``model.model.layers[i]``, each with an MoE block under one of :data:`MOE_BLOCK_NAMES`)
    or T5-family encoder-decoder (each layer's feed-forward ``mlp``), its blocks read by the
    adapters; any other model names its blocks' ``sites``, their float ``layers`` and how it
    runs a passage (``run_passage(tokens) -> output``). Call :meth:`calibrate` once, then
    :meth:`forward`."""

    model: torch.nn.Module
    hardware: dict
    max_tokens: int
    layers: list[FloatMoELayer] = field(default_factory=list)
    #: Where each MoE block is: ``(parent module, attribute)``.
    sites: list[tuple[torch.nn.Module, str]] = field(default_factory=list)
    run_passage: Callable[[torch.Tensor], torch.Tensor] | None = None
    quantized: list[QuantizedLayer] = field(default_factory=list)
    records: list[BatchRecord] = field(default_factory=list)
    #: The generation step the batches being run belong to (see :class:`BatchRecord`).
    step: int | None = None
    #: Each layer's :class:`~moetile.sw.cost.layer_activity.LayerActivity`, made on first use.
    activities: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.sites:
            if len(self.layers) != len(self.sites):
                raise ValueError(
                    f"{len(self.sites)} MoE block sites need as many layers, not {len(self.layers)}"
                )
            return
        if getattr(self.model.config, "is_encoder_decoder", False):
            self.sites, self.run_passage = _seq2seq_sites(self.model), self._seq2seq_logits
        else:
            self.sites = [(layer, _block_name(layer)) for layer in self.model.model.layers]
            self.run_passage = self._decoder_logits
        self.layers = []
        for n, block in enumerate(self._blocks()):
            if type(block).__name__ not in supported() and not hasattr(block, "experts"):
                raise ValueError(
                    f"layer {n}'s feed-forward block {type(block).__name__} is not an MoE "
                    "block: the accelerator runs models whose every layer is one"
                )
            self.layers.append(from_hf(block))
        if not self.layers:
            raise ValueError("the model has no MoE layer")

    def _decoder_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=tokens[None], output_router_logits=False).logits[0]

    def _seq2seq_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """The passage is the encoder's input and, teacher-forced, the decoder's."""
        return self.model(input_ids=tokens[None], decoder_input_ids=tokens[None]).logits[0]

    @property
    def params(self) -> MoELayerParams:
        return self.quantized[0].params

    def _blocks(self) -> list[torch.nn.Module]:
        """Each MoE block."""
        return [getattr(parent, name) for parent, name in self.sites]

    @torch.no_grad()
    def layer_inputs(self, passages: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each MoE layer's float input ``(tokens, d)`` over ``passages`` in the float model."""
        inputs = [[] for _ in self.layers]
        hooks = [
            block.register_forward_hook(_capture_input(inputs[n]))
            for n, block in enumerate(self._blocks())
        ]
        try:
            for tokens in passages:
                self.run_passage(tokens)
        finally:
            for hook in hooks:
                hook.remove()
        return [
            torch.cat([h.reshape(-1, layer.hidden) for h in x]).float()
            for x, layer in zip(inputs, self.layers, strict=True)
        ]

    @torch.no_grad()
    def calibrate(self, passages: list[torch.Tensor]) -> None:
        """Quantize every MoE layer with scales from its float inputs on ``passages``."""
        self.quantized = []
        for n, (layer, x) in enumerate(zip(self.layers, self.layer_inputs(passages), strict=True)):
            check_supported(layer, f"layer {n}", self.hardware.get("engine", "fat"))
            params = layer_params(layer, self.max_tokens, **self.hardware)
            self.quantized.append(quantize_layer(layer, params, x, f"layer {n}"))

    @torch.no_grad()
    def forward(self, tokens: torch.Tensor, backend: Backend | None, on_batch=lambda r: None):
        """The model's output for ``tokens`` ``(T,)`` (a decoder's logits): float when
        ``backend`` is None, else with every MoE layer on ``backend``."""
        with self.on_backend(backend, on_batch):
            return self.run_passage(tokens)

    @torch.no_grad()
    def generate(
        self,
        prompts: torch.Tensor,
        new_tokens: int,
        backend: Backend | None,
        on_batch=None,
        logits: list | None = None,
    ) -> torch.Tensor:
        """Greedy generation: ``new_tokens`` tokens ``(B, new_tokens)`` after each of the
        ``prompts`` ``(B, P)``, the B sequences decoded together. The prompts run as one
        prefill (step 0, whose last logits give the first token), then one decode step per
        further token, each a batch of B tokens per layer, attention reading its KV cache;
        float when ``backend`` is None. ``logits``: a list that receives each step's
        ``(B, vocabulary)`` logits."""
        if prompts.ndim != 2 or new_tokens < 1:
            raise ValueError("generate needs prompts (B, P) and new_tokens >= 1")
        generated = []
        with self.on_backend(backend, on_batch or (lambda r: None)):
            self.step, feed, cache = 0, prompts, None
            try:
                for step in range(new_tokens):
                    self.step = step
                    out = self.model(
                        input_ids=feed,
                        past_key_values=cache,
                        use_cache=True,
                        output_router_logits=False,
                    )
                    cache = out.past_key_values
                    if logits is not None:
                        logits.append(out.logits[:, -1])
                    feed = out.logits[:, -1].argmax(dim=-1, keepdim=True)
                    generated.append(feed)
            finally:
                self.step = None
        return torch.cat(generated, dim=1)

    @contextmanager
    def on_backend(self, backend: Backend | None, on_batch):
        """Every MoE layer of the model on ``backend`` while inside (float when None)."""
        if backend is None:
            yield
            return
        originals = self._blocks()
        try:
            for n, (parent, name) in enumerate(self.sites):
                setattr(parent, name, _OnBackend(self, n, backend, on_batch))
            yield
        finally:
            for (parent, name), block in zip(self.sites, originals, strict=True):
                setattr(parent, name, block)

    def _activity(self, n: int) -> LayerActivity:
        """Layer ``n``'s activity model, for its integer layer as quantized now."""
        layer = self.quantized[n].integer
        if n not in self.activities or self.activities[n].layer is not layer:
            self.activities[n] = LayerActivity(layer)
        return self.activities[n]

    def run_layer(self, n: int, x: torch.Tensor, backend: Backend, on_batch) -> torch.Tensor:
        """Layer ``n`` on ``x`` ``(tokens, d)``, batch by batch, each checked against the
        golden; float results."""
        q = self.quantized[n]
        out = []
        for start in range(0, len(x), self.max_tokens):
            batch = x[start : start + self.max_tokens].float()
            xq, codes = q.encode(batch, f"layer {n}")
            golden = moe_layer(q.integer, xq, codes)
            run = backend.run(n, q, xq, codes)
            y = q.decode(run.result)
            reference = self.layers[n].forward(batch).to(torch.float64)
            counts = torch.bincount(golden.choices.reshape(-1), minlength=q.params.experts)
            counts = counts.tolist() + [len(batch)] * q.params.shared_experts
            record = BatchRecord(
                layer=n,
                tokens=len(batch),
                exact=isinstance(backend, GoldenBackend) or torch.equal(run.result, golden.result),
                stats=run.stats,
                seconds=run.seconds,
                cycles=run.cycles,
                expert_tokens=counts,
                work=expert_work(q, counts),
                error_sq=float(((y - reference) ** 2).sum()),
                reference_sq=float((reference**2).sum()),
                step=self.step,
                fetched_bytes=run.extra.get("fetched_bytes", 0),
                fetches=tuple(run.extra.get("fetches", ())),
                energy_pj=self._activity(n).batch(len(batch), counts).energy_pj(),
            )
            self.records.append(record)
            on_batch(record)
            out.append(y)
        return torch.cat(out)


#: Where decoder layers keep their MoE block, by family (``mlp``: Mixtral, Qwen, OLMoE...).
MOE_BLOCK_NAMES = ("mlp", "block_sparse_moe", "feed_forward")


def _seq2seq_sites(model) -> list[tuple[torch.nn.Module, str]]:
    """A T5-family encoder-decoder's feed-forward blocks (each layer's last sub-layer's
    ``mlp``), the encoder's then the decoder's."""
    return [
        (block.layer[-1], "mlp")
        for stack in (model.encoder, model.decoder)
        for block in stack.block
        if hasattr(block.layer[-1], "mlp")
    ]


def _block_name(layer) -> str:
    for name in MOE_BLOCK_NAMES:
        if isinstance(getattr(layer, name, None), torch.nn.Module):
            return name
    raise ValueError(
        f"decoder layer {type(layer).__name__} keeps no feed-forward block in any of "
        f"{', '.join(MOE_BLOCK_NAMES)}"
    )


class _OnBackend(torch.nn.Module):
    def __init__(self, owner: AcceleratedModel, n: int, backend: Backend, on_batch):
        super().__init__()
        self.owner, self.n, self.backend, self.on_batch = owner, n, backend, on_batch

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = hidden.reshape(-1, hidden.shape[-1])
        y = self.owner.run_layer(self.n, x, self.backend, self.on_batch)
        return y.to(hidden.dtype).reshape(hidden.shape)


def _capture_input(store: list):
    def hook(module, inputs, output):
        store.append(inputs[0].detach())

    return hook


def perplexity(logits: list[torch.Tensor], passages: list[torch.Tensor]) -> float:
    """Per-byte perplexity of next-token predictions over every passage."""
    losses, count = 0.0, 0
    for lg, tokens in zip(logits, passages, strict=True):
        if len(tokens) < 2:
            continue
        losses += float(
            torch.nn.functional.cross_entropy(lg[:-1].float(), tokens[1:], reduction="sum")
        )
        count += len(tokens) - 1
    return math.exp(losses / max(count, 1))


def summarize(records: list[BatchRecord], params: MoELayerParams) -> list[dict]:
    """One row per layer: tokens, cycles per step, utilization, exactness, error."""
    rows = []
    for n in sorted({r.layer for r in records}):
        mine = [r for r in records if r.layer == n]
        tokens = sum(r.tokens for r in mine)
        row = {"layer": n, "tokens": tokens, "batches": len(mine)}
        if mine[0].stats is not None:
            steps = {k: sum(r.stats[k] for r in mine) for k in mine[0].stats}
            compute = steps["gate_up"] + steps["down"]
            bound = sum(r.work for r in mine) / (params.lanes * params.arrays)
            total = sum(v for k, v in steps.items() if k != "load")
            row.update(
                cycles=steps,
                cycles_per_token=total / tokens,
                compute_bound=bound,
                utilization=bound / compute if compute else 0.0,
                sim_cycles=sum(r.cycles for r in mine),
                sim_seconds=sum(r.seconds for r in mine),
            )
        loads = np.sum([r.expert_tokens for r in mine], axis=0).tolist()
        row.update(
            expert_tokens=loads,
            energy_pj_per_token=sum(r.energy_pj for r in mine) / tokens,
            bit_exact=all(r.exact for r in mine),
            error=math.sqrt(
                sum(r.error_sq for r in mine) / max(sum(r.reference_sq for r in mine), 1e-30)
            ),
        )
        rows.append(row)
    return rows
