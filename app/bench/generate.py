"""``moetile bench generate``: decoding with the experts off chip, the expert cache against
load-on-demand without one (Fate's baseline), at one point fixed before the run: half the model's
experts on chip, LPDDR5.

The bench's ternary tiny MoE (2 layers, 8 experts, top-2) generates 16 tokens after each of 4
held-out prompts, decoded together, behind the expert cache, every step bit-exact and every fetch
the golden policy's; on the FAT engine (its ternary experts, bit-serial) and on the MixPE engine
(the same experts as W4A8, a MAC array), whose compute is far shorter against the same fetches.
Each scheme runs the same generation:

- ``resident``: no cache; each layer's experts all fetched before its batch (the accelerator of
  ``moetile cosim`` without ``--generate``);
- ``load-on-demand``: the slots emptied before every batch, so each expert a batch needs is
  fetched, and only those (Fate's baseline);
- ``LRU``, ``LFU``: the cache, half the experts on chip.

Tokens per second come from the design's cycles at its clock (the host's attention not counted).
The hit rate against cache size is the golden policy (equal to the RTL's at the measured points)
replayed on the lookups the LRU run made.

Decode keeps few lanes busy: a step's tokens spread over the experts, each expert's few tokens a
job of ``lanes``. The bench then decodes 16 prompts at once (LRU, FAT) on the prefill design and
on one built for decode, fewer lanes and more arrays for the same lane-arrays, and reports the
engine's utilization of each, decode and prefill.
"""

from pathlib import Path

from moetile.app.bench import PAPERS, BenchReport, Claim, trained_model_path

__all__ = ["plots", "run"]

#: Prompts decoded together, their tokens, and tokens generated after each (a quick run: its
#: own, on the smaller model and design).
PROMPTS, PROMPT_TOKENS, TOKENS = 4, 16, 16
QUICK_PROMPT_TOKENS, QUICK_TOKENS = 4, 3
ENGINES = ("fat", "mixpe")
SCHEMES = {
    "resident": {"cache_slots": 0},
    "load-on-demand": {"cache": "none"},
    "LRU": {"cache": "lru"},
    "LFU": {"cache": "lfu"},
}
#: Prompts decoded together for the utilization rows; the lanes of the design built for
#: decode (as many lane-arrays as the prefill design, ``moetile bench cosim``'s, in fewer
#: lanes: 2 x 16 against 8 x 4; quick, 1 x 8 against 4 x 2); moetile's own target for its
#: utilization.
BATCH_PROMPTS = 16
DECODE_LANES, QUICK_DECODE_LANES = 2, 1
DECODE_UTILIZATION = 0.60

#: Fate: decoding up to 4.1x faster than load-on-demand, its cache hitting 99 % of lookups;
#: both with its cross-layer prefetch, which the next stage adds here.
FATE_SPEEDUP, FATE_HIT_RATE = 4.1, 0.99


def _settings(quick: bool, progress) -> dict:
    """The model (``moetile bench cosim``'s, trained once) and the design's size."""
    from moetile.app.bench.cosim import (
        BENCH_MODEL,
        HARDWARE,
        QUICK_HARDWARE,
        QUICK_MODEL,
        QUICK_MODEL_NAME,
    )

    if quick:
        path = trained_model_path(QUICK_MODEL, QUICK_MODEL_NAME, progress)
        sizes = {"generate": QUICK_TOKENS, "prompt_tokens": QUICK_PROMPT_TOKENS}
        return {"model": str(path), **QUICK_HARDWARE, **sizes}
    path = trained_model_path(BENCH_MODEL, "bench-cosim-moe", progress)
    return {"model": str(path), **HARDWARE, "generate": TOKENS, "prompt_tokens": PROMPT_TOKENS}


def _row(scheme: str, report: dict) -> dict:
    decode = report["decode"]
    cache = decode.get("cache", {})
    split = decode["split_per_token"]
    return {
        "engine": report["engine"],
        "scheme": scheme,
        "slots": report["cache_slots"],
        "hit_rate": round(cache.get("hit_rate", 0.0), 4),
        "cycles_per_token": round(decode["cycles_per_token"], 1),
        "fetch_share": round(split["fetch"] / decode["cycles_per_token"], 4),
        "tokens_per_second": round(decode["tokens_per_second"], 1),
        "kb_per_token": round(decode["fetched_bytes_per_token"] / 1e3, 2),
        "offchip_uj_per_token": round(decode["offchip_uj_per_token"], 3),
        "bit_exact": report["bit_exact"] and report["generation"]["equal_to_golden"],
        "fetches_as_golden": cache.get("equal_to_reference", True)
        and report.get("cache", {}).get("equal_to_reference", True),
    }


def _hit_rates(trace, params, policy: str) -> list[dict]:
    """The golden policy's decode hit rate at every cache size, on the lookups of ``trace``."""
    from moetile.hw.expert_cache import ExpertCacheParams
    from moetile.sw.golden.expert_cache import ExpertCacheModel

    experts = params["experts"] + params["shared_experts"]
    least = params["top_k"] + params["shared_experts"]
    rows = []
    for slots in range(least, experts * params["cache_layers"] + 1):
        cache = ExpertCacheParams(
            slots=slots, layers=params["cache_layers"], experts=experts, policy=policy
        )
        model = ExpertCacheModel(cache)
        hits = lookups = 0
        for layer, looked, step in trace:
            for e in looked:
                answer = model.lookup(layer, e)
                hits += bool(step) and answer.hit
                lookups += bool(step)
        rows.append({"policy": policy, "slots": slots, "hit_rate": round(hits / lookups, 4)})
    return rows


def _utilization(base: dict, quick: bool, progress) -> list[dict]:
    """Decode and prefill utilization of :data:`BATCH_PROMPTS` prompts decoded together on
    each of the designs, LRU on the FAT engine."""
    from moetile.app.cosim.generate import generate
    from moetile.app.cosim.settings import CosimSettings

    prefill = {"lanes": base["lanes"], "arrays": base["arrays"]}
    lanes = QUICK_DECODE_LANES if quick else DECODE_LANES
    decode = {"lanes": lanes, "arrays": prefill["lanes"] * prefill["arrays"] // lanes}
    rows = []
    for build, size in {"prefill": prefill, "decode": decode}.items():
        what = f"{size['lanes']} lanes x {size['arrays']} arrays"
        progress(f"{build} design ({what}): {BATCH_PROMPTS} prompts decoded together")
        settings = {**base, **size, "prompts": BATCH_PROMPTS, "engine": "fat", "cache": "lru"}
        report = generate(CosimSettings(**settings), progress)
        rows.append(
            {
                "design": build,
                "lanes": size["lanes"],
                "arrays": size["arrays"],
                "prompts": BATCH_PROMPTS,
                "decode_utilization": round(report["decode"]["utilization"], 4),
                "prefill_utilization": round(report["prefill"]["utilization"], 4),
                "cycles_per_token": round(report["decode"]["cycles_per_token"], 1),
                "tokens_per_second": round(report["decode"]["tokens_per_second"], 1),
                "bit_exact": report["bit_exact"] and report["generation"]["equal_to_golden"],
            }
        )
    return rows


def run(progress, quick: bool = False) -> BenchReport:
    from moetile.app.cosim.generate import generate
    from moetile.app.cosim.settings import CosimSettings
    from moetile.sw.console import quiet_transformers

    quiet_transformers()
    base = _settings(quick, progress)
    base.update(prompts=PROMPTS, max_tokens=16, memory="lpddr5")
    reports = {}
    for engine in ENGINES:
        for scheme, choice in SCHEMES.items():
            progress(f"{engine}, {scheme}: {base['generate']} tokens after {PROMPTS} prompts")
            settings = CosimSettings(**base, engine=engine, **choice)
            reports[engine, scheme] = generate(settings, progress)
    rows = [_row(scheme, report) for (_engine, scheme), report in reports.items()]
    designs = _utilization(base, quick, progress)
    lru = reports["fat", "LRU"]
    sweep = []
    for policy in ("lru", "lfu"):
        sweep += _hit_rates(lru["cache"]["trace"], lru["params"], policy)
    by = {(row["engine"], row["scheme"]): row for row in rows}
    clock = lru["clock"]
    claims = []
    for engine in ENGINES:
        demand, cached = by[engine, "load-on-demand"], by[engine, "LRU"]
        claims.append(
            Claim(
                f"decode_speedup_{engine}",
                f"decode tokens/s on the {engine} engine, an LRU cache of {cached['slots']} "
                "slots (half the experts) over load-on-demand without a cache, LPDDR5 (the "
                "cache alone: Fate's figure has its prefetch too)",
                FATE_SPEEDUP,
                cached["tokens_per_second"] / demand["tokens_per_second"],
                "load-on-demand, same design and memory",
                source=PAPERS["generate"],
            )
        )
    claims += [
        Claim(
            "hit_rate",
            "decode lookups the LRU cache answers from its slots (the cache alone; the same "
            "lookups on both engines)",
            FATE_HIT_RATE,
            by["fat", "LRU"]["hit_rate"],
            "every lookup",
            source=PAPERS["generate"],
        ),
        Claim(
            "decode_utilization",
            f"engine utilization in decode, {BATCH_PROMPTS} prompts decoded together, on the "
            f"design built for decode ({designs[1]['lanes']} lanes x {designs[1]['arrays']} "
            f"arrays; the prefill design's {designs[0]['lanes']} x {designs[0]['arrays']}: "
            f"{100 * designs[0]['decode_utilization']:.0f} %)",
            DECODE_UTILIZATION,
            designs[1]["decode_utilization"],
            "the compute bound: work over lanes x arrays, per gate/up and down cycle",
            source=None,
        ),
        Claim(
            "fetches_as_golden",
            "runs whose every fetch request is the golden policy's, lookup by lookup",
            1.0,
            sum(r["fetches_as_golden"] for r in rows) / len(rows),
            "the golden expert cache",
            source=None,
        ),
        Claim(
            "bit_exact",
            "runs bit-exact at every step, generating the golden model's text",
            1.0,
            sum(r["bit_exact"] for r in [*rows, *designs]) / len(rows + designs),
            "the integer golden of every stage",
            source=None,
        ),
    ]
    point = {
        "model": Path(lru["model"]).name,
        "memory": lru["memory"]["what"],
        "clock_mhz": clock["mhz"],
        "clock": clock["source"],
    }
    return BenchReport("generate", [*rows, *designs, *sweep, point], claims)


def plots(report: BenchReport) -> dict:
    """``{"generate.png": figure}``: decode cycles per token by scheme, split; hit rate
    against cache size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.rows if "scheme" in r]
    sweep = [r for r in report.rows if "policy" in r]
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    names = [f"{r['engine']}\n{r['scheme']}" for r in rows]
    fetch = [r["cycles_per_token"] * r["fetch_share"] for r in rows]
    rest = [r["cycles_per_token"] - f for r, f in zip(rows, fetch, strict=True)]
    axes[0].bar(names, fetch, label="waiting for fetches")
    axes[0].bar(names, rest, bottom=fetch, label="compute and the rest")
    axes[0].set(
        ylabel="cycles per generated token", yscale="log", title="decode, half the experts on chip"
    )
    axes[0].tick_params(axis="x", labelsize=6)
    axes[0].legend(fontsize=8)
    for policy in dict.fromkeys(r["policy"] for r in sweep):
        mine = [r for r in sweep if r["policy"] == policy]
        axes[1].plot(
            [r["slots"] for r in mine],
            [100 * r["hit_rate"] for r in mine],
            "o-",
            label=policy.upper(),
        )
    measured = [r for r in rows if r["scheme"] in ("LRU", "LFU") and r["engine"] == "fat"]
    axes[1].plot(
        [r["slots"] for r in measured],
        [100 * r["hit_rate"] for r in measured],
        "k*",
        markersize=10,
        label="RTL",
    )
    axes[1].set(xlabel="expert slots", ylabel="% of decode lookups hit", title="hit rate")
    axes[1].legend(fontsize=8)
    axes[1].grid(alpha=0.3)
    figure.suptitle(
        "Generation with offloaded experts (moetile bench generate), LPDDR5", fontsize=9
    )
    figure.tight_layout()
    return {"generate.png": figure}
