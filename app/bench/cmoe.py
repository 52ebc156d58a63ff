"""``moetile bench cmoe``: all-MiniLM-L6-v2 converted by CMoE at 25 % of each FFN active,
against its dense FFN, on the same engine of the same size (CMoE, arXiv 2502.04416: 1.5x lower
end-to-end latency at 25 % activation).

Both run as MoE layers of the layer accelerator: the dense FFN as one always-on expert of all
1,536 neurons (:meth:`~moetile.sw.models.cmoe.CMoEFeedForward.dense_layer`), the converted FFN
as its shared expert and one of its seven routed experts of 192 neurons, chosen by the
calibrated router (``moetile cosim --model cmoe-minilm``'s layers). Each layer runs its float
model's FFN inputs over held-out passages in full batches on the fast harness, every batch
checked bit for bit against the golden.

- FFN cycles per token: each layer's measured cycles (routing, gathering tokens, the experts,
  the output; not the weight load: the weights stay on chip, the same bytes for both), summed
  over the layers.
- Model cycles per token: the FFN's plus the host's attention in each layer
  (:mod:`moetile.sw.cost.attention`: every token attends over its passage), a lower bound of
  what attention costs; embeddings, norms and pooling are left out of both.
- ``embedding_cosine``: the quantized golden model's sentence embeddings (every layer on the
  accelerator's arithmetic) against the dense float MiniLM's, on the same passages.

Engines: the int8 crossbars and W4A8 MixPE (quick: the crossbars of 8 lanes x 2 arrays, one
layer, one batch: the same measurement on a design that builds in a third of the time, whose
figures are not the full run's).
"""

from moetile.app.bench import PAPERS, BenchReport, Claim

__all__ = ["run"]

#: Held-out tokens per layer (batches of :data:`BATCH`), the layers measured, the engines.
TOKENS, LAYERS, ENGINES = 256, 6, ("xbar", "mixpe")
QUICK_TOKENS, QUICK_LAYERS, QUICK_ENGINES = 128, 1, ("xbar",)
BATCH = 128
#: The engines' size: ``moetile cosim``'s defaults (so its CMoE-MiniLM design is this one).
HARDWARE = {"lanes": 16, "arrays": 8}
QUICK_HARDWARE = {"lanes": 8, "arrays": 2}
CALIBRATION = 512
#: The paper's end-to-end latency reduction at 25 % of the FFN active.
PAPER_SPEEDUP = 1.5


def _variant(layers, hardware: dict, calibration, texts, count: int) -> dict:
    """One model's FFNs on ``hardware`` (its engine and size): the first ``count`` layers'
    measured cycles."""
    from moetile.app.cosim.backends import make_backend
    from moetile.app.cosim.encoder import DenseCosine, accelerated_encoder
    from moetile.sw.cost.attention import attention_cycles
    from moetile.sw.runtime.backends import GoldenBackend
    from moetile.sw.runtime.model import summarize

    accelerated = accelerated_encoder(layers, hardware, BATCH)
    accelerated.calibrate(calibration)
    inputs = accelerated.layer_inputs(texts)[:count]
    backend = make_backend("fast", accelerated.params)
    try:
        for n, x in enumerate(inputs):
            for start in range(0, len(x), BATCH):
                accelerated.run_layer(n, x[start : start + BATCH], backend, lambda r: None)
    finally:
        backend.close()
    records, params = accelerated.records, accelerated.params
    accelerated.records = []
    golden = [accelerated.forward(t, GoldenBackend()) for t in texts]
    rows = summarize(records, params)
    tokens = rows[0]["tokens"]
    hidden = params.hidden
    attention = sum(attention_cycles(hidden, [len(t)] * len(t)) for t in texts) / tokens
    ffn = sum(row["cycles_per_token"] for row in rows)
    return {
        "engine": hardware["engine"],
        "layers": len(rows),
        "tokens": tokens,
        "batches": len(records),
        "exact_batches": sum(r.exact for r in records),
        "ffn_cycles_per_token": ffn,
        "attention_cycles_per_token": attention * len(rows),
        "model_cycles_per_token": ffn + attention * len(rows),
        "utilization": round(sum(r["utilization"] for r in rows) / len(rows), 4),
        "load_cycles_per_layer": rows[0]["cycles"]["load"],
        "error": round(sum(r["error"] for r in rows) / len(rows), 4),
        "embedding_cosine": round(DenseCosine()(golden, texts), 4),
    }


def run(progress, quick: bool = False) -> BenchReport:
    from moetile.app.cosim.encoder import CMOE_ACTIVE, CMOE_ROUTER
    from moetile.sw.console import quiet_transformers
    from moetile.sw.models.cmoe_minilm import cached_conversion, routed_k, token_passages

    quiet_transformers()
    tokens, count, engines, size = (
        (QUICK_TOKENS, QUICK_LAYERS, QUICK_ENGINES, QUICK_HARDWARE)
        if quick
        else (TOKENS, LAYERS, ENGINES, HARDWARE)
    )
    converted = cached_conversion(progress)
    k = routed_k(converted.settings, CMOE_ACTIVE)
    variants = {
        "dense": [ffn.dense_layer() for ffn in converted.ffns],
        "cmoe": [ffn.float_layer(k, CMOE_ROUTER) for ffn in converted.ffns],
    }
    calibration = token_passages(CALIBRATION, "train")
    texts = token_passages(tokens, "validation")
    rows, claims = [], []
    for engine in engines:
        measured = {}
        for name, layers in variants.items():
            progress(
                f"{name} FFNs on the {engine} engine of {size['lanes']} lanes x "
                f"{size['arrays']} arrays, {count} layers x {tokens} tokens"
            )
            row = _variant(layers, {**size, "engine": engine}, calibration, texts, count)
            measured[name] = row
            shown = {key: round(v) if "cycles" in key else v for key, v in row.items()}
            rows.append({"ffn": name, "active": CMOE_ACTIVE if name == "cmoe" else 1.0, **shown})
        dense, cmoe = measured["dense"], measured["cmoe"]
        speedups = {
            "engine": engine,
            "ffn_speedup": round(dense["ffn_cycles_per_token"] / cmoe["ffn_cycles_per_token"], 3),
            "model_speedup": round(
                dense["model_cycles_per_token"] / cmoe["model_cycles_per_token"], 3
            ),
            "dense_ffn_share": round(
                dense["ffn_cycles_per_token"] / dense["model_cycles_per_token"], 3
            ),
        }
        rows.append(speedups)
        claims.append(
            Claim(
                f"end_to_end_speedup_{engine}",
                f"model cycles per token (FFNs on the {engine} engine, host attention), dense "
                "over CMoE at 25 % active",
                PAPER_SPEEDUP,
                dense["model_cycles_per_token"] / cmoe["model_cycles_per_token"],
                "the dense FFN as one always-on expert on the same engine",
                source=PAPERS["cmoe"],
                beyond="MiniLM's attention is small beside its FFN (4d² against 8d² MACs a "
                "token), so the FFN's share of the time, which CMoE cuts, is larger than in "
                "the paper's models",
            )
        )
    exact = sum(r.get("exact_batches", 0) for r in rows) / sum(r.get("batches", 0) for r in rows)
    claims.append(
        Claim(
            "bit_exact",
            "share of layer batches, dense and CMoE, equal to the golden bit for bit",
            1.0,
            exact,
            "the integer golden of every stage",
            source=None,
        )
    )
    return BenchReport("cmoe", rows, claims)
