"""CMoE-MiniLM on the accelerator (``moetile cosim --model cmoe-minilm``): the encoder's MoE
sites are its FFNs, so with every expert on it is the dense MiniLM; at 25 % active its layers
run on the golden backend and are scored against the dense model's embeddings."""

import pytest
import torch

from moetile.app.cosim.encoder import DenseCosine, accelerated_encoder
from moetile.app.cosim.run import CosimSettings, cosim
from moetile.sw.models.cmoe_minilm import cached_conversion, token_passages


@pytest.fixture(scope="module")
def converted():
    return cached_conversion(lambda message: None)


def test_token_passages_hold_exactly_the_tokens_asked_for():
    passages = token_passages(100, "validation")
    assert sum(len(p) for p in passages) == 100 and len(passages) > 1
    assert token_passages(0, "train") == []
    with pytest.raises(ValueError, match="the train text holds"):
        token_passages(10**8, "train")


def test_every_expert_on_is_the_dense_model(converted):
    """The FFN sites, the identity in place of ``output.dense`` and ``b2`` in the shared
    expert: all seven routed experts on gives MiniLM's own embeddings."""
    routed = converted.settings.routed
    layers = [ffn.float_layer(routed) for ffn in converted.ffns]
    accelerated = accelerated_encoder(layers, {"engine": "xbar"}, 128)
    texts = token_passages(60, "validation")
    embeddings = [accelerated.forward(t, None) for t in texts]
    assert DenseCosine()(embeddings, texts) > 0.9999
    few = [ffn.float_layer(1) for ffn in converted.ffns]
    sparse = accelerated_encoder(few, {"engine": "xbar"}, 128)
    assert DenseCosine()([sparse.forward(t, None) for t in texts], texts) < 0.95


def test_dense_layer_is_the_ffn(converted):
    ffn = converted.ffns[0]
    h = torch.randn(5, 384, generator=torch.Generator().manual_seed(0))
    dense = ffn.dense_layer().forward(h)
    assert torch.allclose(dense, ffn(h, "oracle", converted.settings.routed), atol=1e-4)


def test_cosim_on_the_golden_backend_scores_embeddings():
    settings = CosimSettings(
        model="cmoe-minilm", engine="mixpe", backend="golden", tokens=24, quality_tokens=32
    )
    report = cosim(settings, lambda message: None)
    q = report["quality"]
    assert report["model"] == "cmoe-minilm" and report["bit_exact"]
    assert [row["layer"] for row in report["layers"]] == list(range(6))
    assert report["params"]["gated"] is False and report["params"]["scoring"] == "unweighted"
    assert 0.3 < q["golden_embedding_cosine"] < 1 and 0.3 < q["float_embedding_cosine"] < 1
    assert q["golden_embedding_cosine"] == q["golden_embedding_cosine"]
    assert abs(q["golden_embedding_cosine"] - q["float_embedding_cosine"]) < 0.1
    assert q["held_out"]["tokens"] == 32
