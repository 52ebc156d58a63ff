"""``moetile bench prefetch``: decoding with the experts off chip, each prefetcher against
load-on-demand and the oracle, on the layer accelerator with its cache and prefetch port, every
step bit-exact and every decision the golden cache's.

The workload: ``moetile bench predictor``'s float tiny MoE (4 layers, 8 experts, top-2) on the
MixPE engine (its experts W4A8), generating :data:`TOKENS` tokens after each of :data:`PROMPTS`
held-out prompts decoded together; its predictors trained on its training text as that bench
trains them. The host's attention is in every scheme's cycles (:mod:`moetile.sw.cost.attention`),
the memory serves fetches in order (:mod:`moetile.sim.offchip`).

Schemes, on the same design, memory and cache size:

- ``load-on-demand``: every slot emptied before each batch, no prefetch (Fate's baseline);
- ``cache``: the LRU cache, no prefetch (load-on-demand with the cache);
- ``fate``: Fate's cross-layer rule with its shallow-favoring cache (per-layer quotas);
- ``fate, shared``: the rule on the shared LRU cache (isolates the rule from the allocation);
- ``prev``: a previous-layer predictor of the same size, trained the same way;
- ``preattn``: the pre-attention predictor unit (its RTL on the fast harness);
- ``oracle``: the experts each batch needs, asked for as early as any scheme asks.

Every prefetcher asks for each token's top ``k + 1``; the ``top-k`` rows ask for its top ``k``
alone (an ablation added after the first full run: with the layer's narrow load port a wrong
prefetch holds the port for a whole expert; the claims stay on ``k + 1``, as fixed). The claim
point, fixed before the run: a cache of half the model's experts, LPDDR5. Then swept: the cache
size (a quarter, half and three quarters of the experts) on LPDDR5, and the memory (PCIe 4.0,
LPDDR5, HBM3, and LPDDR5 at 1 GB/s) at half.
"""

from dataclasses import replace

from moetile.app.bench import PAPERS, BenchReport, Claim, trained_model_path

__all__ = ["plots", "run"]

PROMPTS, PROMPT_TOKENS, TOKENS = 4, 8, 12
QUICK_PROMPT_TOKENS, QUICK_TOKENS = 2, 3
#: The MixPE engine's rows and columns (quick: fewer).
HARDWARE, QUICK_HARDWARE = {"lanes": 4, "arrays": 8}, {"lanes": 2, "arrays": 4}
EXTRA = 1
SCHEMES = {
    "load-on-demand": {"cache": "none", "prefetch": "none"},
    "cache": {"prefetch": "none"},
    "fate": {"prefetch": "fate", "cache_allocation": "shallow"},
    "fate, shared": {"prefetch": "fate"},
    "prev": {"prefetch": "prev"},
    "preattn": {"prefetch": "preattn"},
    "oracle": {"prefetch": "oracle"},
    # The ablation of the extra expert (added after the claim run, which the claims keep).
    "fate, top-k": {"prefetch": "fate", "cache_allocation": "shallow", "prefetch_extra": 0},
    "prev, top-k": {"prefetch": "prev", "prefetch_extra": 0},
    "preattn, top-k": {"prefetch": "preattn", "prefetch_extra": 0},
}
#: The schemes swept over cache sizes and memories (all at the claim point).
SWEPT = ("load-on-demand", "cache", "fate", "preattn", "oracle")
QUICK_SWEPT = ("cache", "preattn")
SIZES = (0.25, 0.5, 0.75)
QUICK_SIZES = (0.25, 0.5)
#: Memories: the presets, and LPDDR5 at a bandwidth set below the layer's load port (one word a
#: cycle: about 1.8 GB/s at 100 MHz for the MixPE banks' 18-byte words), where the memory and
#: not the port sets a fetch's pace.
MEMORIES = (("pcie4", None), ("lpddr5", None), ("hbm3", None), ("lpddr5", 1.0))
QUICK_MEMORIES = (("lpddr5", None), ("lpddr5", 1.0))
CLAIM_SIZE, CLAIM_MEMORY = 0.5, "lpddr5"

#: Fate: decoding up to 4.1x faster than load-on-demand (tokens/s), its cache hitting 99 % of
#: lookups; moetile's own: pre-attention prefetch within 90 % of the oracle's speed-up.
FATE_SPEEDUP, FATE_HIT_RATE, OF_ORACLE = 4.1, 0.99, 0.90


def _model(quick: bool, progress):
    from moetile.app.bench.predictor import PREDICTOR_MODEL, QUICK_MODEL

    if quick:
        return trained_model_path(QUICK_MODEL, "bench-predictor-moe-quick-64", progress)
    return trained_model_path(PREDICTOR_MODEL, "bench-predictor-moe", progress)


def _suite(path, quick: bool, progress):
    """The model's predictors, trained as ``moetile bench predictor`` trains them, once into
    the cache; their folder."""
    from moetile.app.bench.predictor import (
        LOSS,
        MACS,
        QUICK_STEPS,
        QUICK_TOKENS,
        RANK,
        STEPS,
        TRAIN_TOKENS,
    )
    from moetile.app.cosim.prefetchers import trained_suite
    from moetile.sw.models.tiny_moe import load_tiny_moe
    from moetile.sw.paths import cache_root

    tokens = QUICK_TOKENS[0] if quick else TRAIN_TOKENS
    steps = QUICK_STEPS if quick else STEPS
    name = f"bench-prefetch-{path.name}-{RANK}-{LOSS}-{steps}-{tokens}"
    folder = cache_root() / "predictors" / name
    if not (folder / "predictor.json").is_file():
        model = load_tiny_moe(path)
        trained_suite(
            model,
            folder,
            tokens=tokens,
            steps=steps,
            progress=progress,
            rank=RANK,
            loss=LOSS,
            macs=MACS,
        )
    return folder


def _row(scheme: str, size: float, report: dict) -> dict:
    decode, f = report["decode"], report["prefetch"]
    split = decode["split_per_token"]
    return {
        "scheme": scheme,
        "experts_on_chip": size,
        "slots": report["cache_slots"],
        "memory": _memory_name(report["memory"]),
        "tokens_per_second": round(decode["tokens_per_second"], 1),
        "cycles_per_token": round(decode["cycles_per_token"], 1),
        "fetch_share": round(split["fetch"] / decode["cycles_per_token"], 4),
        "hit_rate": round(decode["cache"]["hit_rate"], 4),
        "accuracy": round(f["accuracy"], 4),
        "coverage": round(f["coverage"], 4),
        "late": f["late"],
        "wasted_kb_per_token": round(f["wasted_bytes"] / 1e3 / report["decoded_tokens"], 2),
        "kb_per_token": round(decode["fetched_bytes_per_token"] / 1e3, 2),
        "offchip_uj_per_token": round(decode["offchip_uj_per_token"], 3),
        "bit_exact": report["bit_exact"] and report["generation"]["equal_to_golden"],
        "as_reference": f["equal_to_reference"],
    }


def _memory_name(memory: dict) -> str:
    if memory["bandwidth_source"] == "set":
        return f"{memory['gb_per_s']:g} GB/s"
    return memory["memory"]


def run(progress, quick: bool = False) -> BenchReport:
    from moetile.app.cosim.generate import generate
    from moetile.app.cosim.settings import CosimSettings
    from moetile.sw.console import quiet_transformers

    quiet_transformers()
    path = _model(quick, progress)
    predictor = str(_suite(path, quick, progress))
    sizes = {
        "generate": QUICK_TOKENS if quick else TOKENS,
        "prompt_tokens": QUICK_PROMPT_TOKENS if quick else PROMPT_TOKENS,
    }
    base = CosimSettings(
        model=str(path),
        engine="mixpe",
        **(QUICK_HARDWARE if quick else HARDWARE),
        **sizes,
        prompts=PROMPTS,
        max_tokens=16,
        prefetch_extra=EXTRA,
        predictor=predictor,
    )
    experts = _experts(path)
    claim = (CLAIM_MEMORY, None)
    points = [(CLAIM_SIZE, claim, scheme) for scheme in SCHEMES]
    swept = QUICK_SWEPT if quick else SWEPT
    for size in QUICK_SIZES if quick else SIZES:
        points += [(size, claim, s) for s in swept if size != CLAIM_SIZE]
    for memory in QUICK_MEMORIES if quick else MEMORIES:
        points += [(CLAIM_SIZE, memory, s) for s in swept if memory != claim]
    rows = []
    for size, (memory, bandwidth), scheme in points:
        slots = round(size * experts)
        progress(f"prefetch: {scheme}, {slots} slots, {memory} {bandwidth or ''}")
        choice = dict(cache_slots=slots, memory=memory, bandwidth=bandwidth)
        settings = replace(base, **choice, **SCHEMES[scheme])
        report = generate(settings, progress)
        report["decoded_tokens"] = report["decode"]["tokens"]
        rows.append(_row(scheme, size, report))
    for row in rows:  # speed-ups over the two load-on-demand runs of the same point
        same = [r for r in rows if (r["slots"], r["memory"]) == (row["slots"], row["memory"])]
        for baseline in ("load-on-demand", "cache"):
            other = next((r for r in same if r["scheme"] == baseline), None)
            if other is not None:
                key = "speedup" if baseline == "load-on-demand" else "speedup_over_cache"
                row[key] = round(row["tokens_per_second"] / other["tokens_per_second"], 4)
    return BenchReport("prefetch", rows, _claims(rows, experts))


def _experts(path) -> int:
    import json

    config = json.loads((path / "config.json").read_text())
    return config["num_hidden_layers"] * config["num_local_experts"]


def _claims(rows: list[dict], experts: int) -> list[Claim]:
    at = {
        r["scheme"]: r
        for r in rows
        if r["experts_on_chip"] == CLAIM_SIZE and r["memory"] == CLAIM_MEMORY
    }
    pre, oracle = at["preattn"], at["oracle"]
    point = f"{pre['slots']} of {experts} experts on chip, LPDDR5"
    return [
        Claim(
            "decode_speedup",
            f"decode tokens/s with pre-attention prefetch over load-on-demand without a cache "
            f"({point})",
            FATE_SPEEDUP,
            pre["speedup"],
            "load-on-demand, every slot emptied before each batch, same design and memory",
            source=PAPERS["generate"],
        ),
        Claim(
            "hit_rate",
            f"decode lookups answered from the slots with pre-attention prefetch ({point})",
            FATE_HIT_RATE,
            pre["hit_rate"],
            "every decode lookup",
            source=PAPERS["generate"],
        ),
        Claim(
            "of_oracle",
            "pre-attention prefetch's speed-up over load-on-demand, a fraction of the oracle's",
            OF_ORACLE,
            pre["speedup"] / oracle["speedup"],
            "the oracle (the experts each batch needs, asked for as early as any scheme asks)",
            source=None,
        ),
        *(
            Claim(
                f"over_{name}",
                f"pre-attention prefetch's tokens/s over {what}'s",
                1.0,
                pre["tokens_per_second"] / at[scheme]["tokens_per_second"],
                baseline,
                source=None,
            )
            for name, scheme, what, baseline in (
                ("fate", "fate", "Fate", "Fate's rule and shallow-favoring cache"),
                (
                    "previous_layer",
                    "prev",
                    "the previous-layer predictor",
                    "the previous-layer predictor, same size, trained the same way",
                ),
            )
        ),
        Claim(
            "as_reference",
            "runs whose every fetch and refusal is the golden cache's, decision by decision, "
            "bit-exact at every step",
            1.0,
            sum(r["as_reference"] and r["bit_exact"] for r in rows) / len(rows),
            "the golden cache and the integer golden of every stage",
            source=None,
        ),
    ]


def plots(report: BenchReport) -> dict:
    """``{"prefetch.png": figure}``: speed-up over load-on-demand against the cache size and
    against the memory; the claim point's cycles per token, split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report.rows
    figure, axes = plt.subplots(1, 3, figsize=(14, 4))
    schemes = list(dict.fromkeys(r["scheme"] for r in rows))
    for scheme in schemes:
        mine = [r for r in rows if r["scheme"] == scheme and r["memory"] == CLAIM_MEMORY]
        if len(mine) > 1:
            mine.sort(key=lambda r: r["slots"])
            axes[0].plot(
                [r["slots"] for r in mine], [r["speedup"] for r in mine], "o-", label=scheme
            )
        mine = [r for r in rows if r["scheme"] == scheme and r["experts_on_chip"] == CLAIM_SIZE]
        if len({r["memory"] for r in mine}) > 1:
            names = [name if gbps is None else f"{gbps:g} GB/s" for name, gbps in MEMORIES]
            order = [m for m in names if any(r["memory"] == m for r in mine)]
            by = {r["memory"]: r["speedup"] for r in mine}
            axes[1].plot(order, [by[m] for m in order], "o-", label=scheme)
    axes[0].set(
        xlabel="expert slots on chip", ylabel="decode speed-up over load-on-demand", title="LPDDR5"
    )
    axes[1].set(
        xlabel="memory",
        ylabel="decode speed-up over load-on-demand",
        title="half the experts on chip",
    )
    at = [r for r in rows if r["experts_on_chip"] == CLAIM_SIZE and r["memory"] == CLAIM_MEMORY]
    fetch = [r["cycles_per_token"] * r["fetch_share"] for r in at]
    rest = [r["cycles_per_token"] - f for r, f in zip(at, fetch, strict=True)]
    names = [r["scheme"] for r in at]
    axes[2].bar(names, fetch, label="waiting for fetches")
    axes[2].bar(names, rest, bottom=fetch, label="attention, compute and the rest")
    axes[2].set(ylabel="cycles per generated token", title="the claim point")
    axes[2].tick_params(axis="x", labelsize=7, rotation=30)
    for axis in axes:
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    figure.suptitle("Prefetch during decode (moetile bench prefetch)", fontsize=9)
    figure.tight_layout()
    return {"prefetch.png": figure}
