"""``moetile cosim --model cmoe-minilm``: all-MiniLM-L6-v2 converted to an MoE by CMoE, a
sentence-embedding encoder, each converted FFN on the accelerator; scored by the cosine
similarity of its sentence embeddings to the dense model's.

Each passage is one docstring of the held-out text (tokens as MiniLM's tokenizer cuts them, the
last passage shortened so that there are ``tokens`` in all), run on its own. The router is the
calibrated gate at 25 % of the FFN's neurons active: the shared expert and one of the seven
routed experts (CMoE's operating point)."""

import torch

from moetile.sw.runtime.model import AcceleratedModel

from .run import Workload
from .settings import CosimSettings

__all__ = ["CMOE_ACTIVE", "CMOE_ROUTER", "DenseCosine", "accelerated_encoder", "encoder_workload"]

#: The fraction of each FFN's neurons a token uses, and the router choosing them.
CMOE_ACTIVE, CMOE_ROUTER = 0.25, "calibrated"


def accelerated_encoder(layers, hardware: dict, max_tokens: int) -> AcceleratedModel:
    """MiniLM with its FFNs the MoE ``layers`` (one a BERT layer), each run on the
    accelerator; a passage's output is its sentence embedding."""
    from moetile.sw.models.cmoe_minilm import moe_sites, passage_embedding, with_moe_layers
    from moetile.sw.models.minilm import load_minilm

    model = with_moe_layers(load_minilm()[1], layers)
    return AcceleratedModel(
        model,
        hardware,
        max_tokens,
        layers=layers,
        sites=moe_sites(model),
        run_passage=lambda ids: passage_embedding(model, ids),
    )


class DenseCosine:
    """``score(embeddings, passages)``: their mean cosine similarity to the dense MiniLM's
    embeddings of the same passages (each computed once)."""

    def __init__(self):
        self.references = {}

    def __call__(self, outputs: list[torch.Tensor], passages: list[torch.Tensor]) -> float:
        from moetile.sw.models.cmoe_minilm import passage_embedding
        from moetile.sw.models.minilm import load_minilm

        total = 0.0
        for embedding, ids in zip(outputs, passages, strict=True):
            key = tuple(ids.tolist())
            if key not in self.references:
                self.references[key] = passage_embedding(load_minilm()[1], ids)
            total += float(embedding.double() @ self.references[key].double())
        return total / len(passages)


def encoder_workload(settings: CosimSettings, progress) -> Workload:
    from moetile.sw.models import CMOE_MODEL
    from moetile.sw.models.cmoe_minilm import cached_conversion, routed_k, token_passages

    def cut(name: str, split: str) -> list[torch.Tensor]:
        try:
            return token_passages(getattr(settings, name), split)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None

    calibration = cut("calibration", "train")
    passages, held_out = cut("tokens", "validation"), cut("quality_tokens", "validation")
    converted = cached_conversion(progress)
    k = routed_k(converted.settings, CMOE_ACTIVE)
    layers = [ffn.float_layer(k, CMOE_ROUTER) for ffn in converted.ffns]
    progress(
        f"CMoE-MiniLM: {len(layers)} layers, each FFN the shared and {k} of "
        f"{converted.settings.routed} routed experts ({CMOE_ACTIVE:.0%} of its neurons)"
    )
    hardware = settings.hardware()
    accelerated = accelerated_encoder(layers, hardware, settings.max_tokens)
    return Workload(
        CMOE_MODEL,
        accelerated,
        calibration,
        passages,
        held_out,
        "embedding_cosine",
        DenseCosine(),
    )
