"""Benchmarks: each measures a block against its baseline in one run and states its claims in
the format of docs/architecture.md (Benchmarks). A benchmark is a module with
``run(progress, quick=False) -> BenchReport``; ``quick`` runs every step of the measurement
(simulation, the golden and cycle-model checks, synthesis, claims) on a smaller workload and
design, to check the flow in a fraction of the time: its figures are not the paper comparison."""

import importlib
from dataclasses import dataclass, field

from moetile.hw.registry import blocks

from .claims import PAPERS, Claim, claim_text

__all__ = [
    "BENCHES",
    "BENCH_ALIASES",
    "BENCH_SUMMARIES",
    "PAPERS",
    "BenchReport",
    "Claim",
    "bench_name",
    "bench_plots",
    "claim_text",
    "design_cells",
    "design_synth",
    "OWN_BENCHES",
    "recorded_bench",
    "run_bench",
    "trained_model",
    "trained_model_path",
]

#: One line on each benchmark: what it measures against what, and the paper it reproduces.
BENCH_SUMMARIES = {
    "topk": "pipelined top-k network vs the sequential selector (throughput, area; no paper)",
    "fat": f"FAT ternary adder array vs a ParaPIM-style array ({PAPERS['fat']})",
    "mixpe": f"MixPE shift-and-add W4A8 array vs multiplier PEs ({PAPERS['mixpe']})",
    "xbar": f"multiplexed-crossbar tiles vs the unshared tile ({PAPERS['xbar']})",
    "gocache": f"generation with the GO cache vs recomputing every step ({PAPERS['gocache']})",
    "predictor": f"pre-attention expert predictor vs Fate and others ({PAPERS['predictor']})",
    "generate": f"decoding with the expert cache vs load-on-demand ({PAPERS['generate']})",
    "prefetch": f"prefetchers vs load-on-demand and the oracle in decode ({PAPERS['generate']})",
    "sim": "cycles per second of the three simulators (moetile's own targets)",
    "cosim": "the MoE layer accelerator end to end: bit-exact, utilization (own targets)",
    "cmoe": f"CMoE-MiniLM at 25 % active vs its dense FFN, same engine ({PAPERS['cmoe']})",
    "fpga": "every design placed and routed on an ECP5: resources, Fmax, time per token (own)",
    "sweep": "a cold sweep on two local workers vs one: speed-up, same table (own targets)",
}

#: Benchmarks of no single block (a block's own is registered with it: ``benchmark=``).
OWN_BENCHES = {
    "sim": "moetile.app.bench.sim",
    "fpga": "moetile.app.bench.fpga",
    "prefetch": "moetile.app.bench.prefetch",
    "cmoe": "moetile.app.bench.cmoe",
    "sweep": "moetile.app.bench.sweep",
}

#: Benchmark name → module providing ``run``: each registered block's benchmark, then
#: :data:`OWN_BENCHES` (the same names as :data:`BENCH_SUMMARIES`).
BENCHES = {
    entry.benchmark_name: entry.benchmark for entry in blocks() if entry.benchmark
} | OWN_BENCHES

#: Earlier names a benchmark still answers to.
BENCH_ALIASES = {"crossbar": "xbar"}


@dataclass(frozen=True)
class BenchReport:
    bench: str
    rows: list[dict]
    claims: list[Claim] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "bench": self.bench,
            "rows": self.rows,
            "claims": [c.to_json() for c in self.claims],
        }


def design_cells(design, abc: bool = True) -> int:
    """Yosys cells of ``design``'s logic, synthesized once (``abc=False``: before ABC's
    technology mapping)."""
    return design_synth(design, abc).cells


def design_synth(design, abc: bool = True, blackbox: tuple[str, ...] = ()):
    """``design``'s :class:`~moetile.sw.cost.synth.SynthResult` (synthesized once, shared with
    ``moetile synth``); ``blackbox``: submodule names (under the top) whose contents are not
    counted."""
    from moetile.sim.build import generate_verilog
    from moetile.sw.cost.synth import synthesize

    modules = tuple(f"{design.top}.{sub}" for sub in blackbox)
    return synthesize(generate_verilog(design), design.top, abc=abc, blackbox=modules)


def run_bench(name: str, progress=lambda message: None, quick: bool = False) -> BenchReport:
    """Measure benchmark ``name`` now, and record the report for ``moetile report``."""
    from moetile.app.bench.record import measured

    module = _module(name)
    return measured(_key(name, quick), lambda: module.run(progress, quick))


def bench_plots(name: str, report: BenchReport) -> dict:
    """``{file name: matplotlib figure}`` of benchmark ``name``'s report (none for most)."""
    make = getattr(_module(name), "plots", None)
    return make(report) if make else {}


def recorded_bench(
    name: str, progress=lambda message: None, quick: bool = False
) -> tuple[dict, bool]:
    """``(report JSON, reused)``: the report of benchmark ``name`` recorded by an earlier run
    of these very sources, or a new run's."""
    from moetile.app.bench.record import recorded

    module = _module(name)
    return recorded(_key(name, quick), lambda: module.run(progress, quick))


def bench_name(name: str) -> str:
    """The benchmark's name, an earlier name (:data:`BENCH_ALIASES`) turned into today's."""
    name = BENCH_ALIASES.get(name, name)
    if name not in BENCHES:
        raise ValueError(f"unknown benchmark {name!r}; allowed: {', '.join(BENCHES)}")
    return name


def _key(name: str, quick: bool) -> str:
    name = bench_name(name)
    return f"{name}-quick" if quick else name


def _module(name: str):
    return importlib.import_module(BENCHES[bench_name(name)])


def trained_model(settings, name: str, progress):
    """A bench's tiny MoE of ``settings``, trained once into the cache
    (:func:`trained_model_path`)."""
    from moetile.sw.models.tiny_moe import load_tiny_moe

    return load_tiny_moe(trained_model_path(settings, name, progress), settings.expert_weights)


def trained_model_path(settings, name: str, progress):
    """Where a bench's tiny MoE of ``settings`` is, trained once into
    ``<cache>/models/NAME-DIGEST``: the digest of the settings, so a model trained with other
    settings is never reused."""
    import hashlib
    import json
    from dataclasses import asdict

    from moetile.sw.models.tiny_moe import train_tiny_moe
    from moetile.sw.paths import cache_root, locked_file

    text = json.dumps(asdict(settings), sort_keys=True)
    folder = f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    path = cache_root() / "models" / folder
    with locked_file(path.with_name(f".{folder}.lock")):
        if not (path / "model.safetensors").is_file():
            progress(f"training the bench's tiny MoE once into {path}")
            train_tiny_moe(settings, path)
    return path
