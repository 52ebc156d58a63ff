"""``moetile bench cosim``: a short end-to-end co-simulation of a small ternary MoE.

A 2-layer, 8-expert ternary tiny MoE (trained once, in seconds) runs one 128-token prefill batch
per layer on the accelerator on the fast harness, then 16 single-token decode batches, every
batch checked bit for bit against the golden; a few tokens of one layer run on the cocotb path
of the same design to measure the fast harness's speed over it. Utilization is the engine's
compute bound (every lane of every array adding for the batch's real work) over the measured
gate/up and down cycles.
"""

from dataclasses import replace

from moetile.app.bench import BenchReport, Claim, trained_model
from moetile.sw.models.tiny_moe import TinyMoESettings

__all__ = [
    "BENCH_MODEL",
    "QUICK_BATCH",
    "QUICK_HARDWARE",
    "QUICK_MODEL",
    "QUICK_MODEL_NAME",
    "bench_model",
    "run",
]

#: The bench's model: small enough to train in seconds and to build in seconds.
BENCH_MODEL = TinyMoESettings(
    hidden=64,
    layers=2,
    heads=4,
    experts=8,
    top_k=2,
    expert_hidden=128,
    context=128,
    batch=16,
    steps=150,
    eval_windows=4,
    expert_weights="ternary",
)
HARDWARE = {"lanes": 8, "arrays": 4}
PREFILL, DECODE, COCOTB_TOKENS = 128, 16, 4
#: A quick run: a 32-token prefill in batches of 16, 4 decode batches, 2 tokens on the cocotb
#: path, on the smaller model and design that the co-simulation tests build (so both use one
#: Verilator build of each path).
QUICK_TOKENS = (32, 4, 2)
QUICK_MODEL = replace(
    BENCH_MODEL,
    hidden=32,
    heads=2,
    experts=4,
    expert_hidden=48,
    context=32,
    batch=8,
    steps=30,
    eval_windows=2,
)
#: Its folder in the cache's models (the cosim tests use it too).
QUICK_MODEL_NAME = "bench-cosim-moe-quick"
QUICK_HARDWARE = {"lanes": 4, "arrays": 2}
QUICK_BATCH = 16


#: A quick run of the benches that trace :data:`BENCH_MODEL` (crossbar, GO cache, predictor)
#: traces the same model trained this many steps: its routing is less trained, every step of
#: the measurement is the same.
QUICK_BENCH_STEPS = 30


def bench_model(progress, quick: bool = False):
    """The bench's trained ternary tiny MoE, trained once into the cache (for a ``quick`` run,
    :data:`QUICK_BENCH_STEPS` steps)."""
    if quick:
        settings = replace(BENCH_MODEL, steps=QUICK_BENCH_STEPS)
        return trained_model(settings, f"bench-cosim-moe-{QUICK_BENCH_STEPS}-steps", progress)
    return trained_model(BENCH_MODEL, "bench-cosim-moe", progress)


def _measure(accelerated, backend, inputs, batch: int, phase: str) -> list[dict]:
    """One row per layer: ``inputs[n]`` through layer ``n`` in batches of ``batch``."""
    from moetile.sw.runtime.model import summarize

    accelerated.records = []
    for n, x in enumerate(inputs):
        for start in range(0, len(x), batch):
            accelerated.run_layer(n, x[start : start + batch], backend, lambda r: None)
    rows = []
    for row in summarize(accelerated.records, accelerated.params):
        mine = [r for r in accelerated.records if r.layer == row["layer"]]
        rows.append(
            {
                "phase": phase,
                "backend": backend.name,
                "layer": row["layer"],
                "tokens": row["tokens"],
                "batches": row["batches"],
                "exact_batches": sum(r.exact for r in mine),
                "cycles_per_token": round(row["cycles_per_token"], 1),
                "compute_bound": round(row["compute_bound"]),
                "expert_cycles": row["cycles"]["gate_up"] + row["cycles"]["down"],
                "utilization": round(row["utilization"], 4),
                "cycles_per_second": round(row["sim_cycles"] / row["sim_seconds"]),
            }
        )
    return rows


def run(progress, quick: bool = False) -> BenchReport:
    from moetile.app.cosim.backends import make_backend
    from moetile.hw.registry import Design, block
    from moetile.sim.implementation import design_clock
    from moetile.sw.console import quiet_transformers
    from moetile.sw.models.corpus import stdlib_corpus
    from moetile.sw.runtime.model import AcceleratedModel

    prefill, decode, cocotb_tokens = QUICK_TOKENS if quick else (PREFILL, DECODE, COCOTB_TOKENS)
    batch = QUICK_BATCH if quick else PREFILL
    quiet_transformers()
    if quick:
        model = trained_model(QUICK_MODEL, QUICK_MODEL_NAME, progress)
    else:
        model = bench_model(progress)
    context = model.config.max_position_embeddings
    train, validation = stdlib_corpus().split_bytes()
    accelerated = AcceleratedModel(model, QUICK_HARDWARE if quick else HARDWARE, batch)
    accelerated.calibrate([train[:context], train[context : 2 * context]])
    inputs = accelerated.layer_inputs([validation[:prefill]])

    progress("prefill and decode on the fast harness")
    fast = make_backend("fast", accelerated.params)
    try:
        rows = _measure(accelerated, fast, inputs, batch, "prefill")
        rows += _measure(accelerated, fast, [x[:decode] for x in inputs], 1, "decode")
        speed_fast = _measure(accelerated, fast, inputs[:1], batch, "speed")[0]
    finally:
        fast.close()
    progress(f"{cocotb_tokens} tokens of layer 0 on the cocotb path")
    cocotb = make_backend("cocotb", accelerated.params)
    slow = _measure(accelerated, cocotb, [inputs[0][:cocotb_tokens]], batch, "speed")[0]
    rows += [speed_fast, slow]

    # Times per token at the design's clock: its Fmax once placed and routed, else assumed.
    design = Design(block("moe_layer"), accelerated.params)
    clock = design_clock(design)
    for row in rows:
        row["us_per_token"] = round(clock.microseconds(row["cycles_per_token"]), 2)
    measured = [r for r in rows if r["phase"] in ("prefill", "decode")] + [slow]
    exact = sum(r["exact_batches"] for r in measured) / sum(r["batches"] for r in measured)
    prefill = [r for r in rows if r["phase"] == "prefill"]
    bound = sum(r["compute_bound"] for r in prefill)
    expert = sum(r["expert_cycles"] for r in prefill)
    claims = [
        Claim(
            "bit_exact",
            "share of layer batches (prefill, decode, cocotb) equal to the golden bit for bit",
            1.0,
            exact,
            "the integer golden of every stage",
            source=None,
        ),
        Claim(
            "prefill_utilization",
            "engine compute bound / measured expert cycles, 128-token prefill",
            0.80,
            bound / expert,
            "every lane of every FAT array adding, same work",
            source=None,
        ),
        Claim(
            "fast_over_cocotb",
            "fast-harness cycles/s over the cocotb path on the accelerator top",
            30.0,
            speed_fast["cycles_per_second"] / max(slow["cycles_per_second"], 1),
            "cocotb under Verilator, same design",
            decimals=1,
            source=None,
        ),
        Claim(
            "fast_cycles_per_second",
            "simulated cycles per second of this bench's accelerator on the fast harness",
            1e6,
            speed_fast["cycles_per_second"],
            "the project's target",
            decimals=0,
            source=None,
        ),
    ]
    clocked = {"design": design.top, "clock_mhz": clock.mhz, "clock": clock.source}
    return BenchReport("cosim", [*rows, clocked], claims)
