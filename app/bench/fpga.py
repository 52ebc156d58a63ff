"""``moetile bench fpga``: every registered design and the MoE layer accelerator of each engine
placed and routed on an ECP5 (``moetile implement``), with its resources, the clock it reaches
and its critical path next to its generic-cell area (``moetile synth``); for each layer, the
cycles a token takes on a full batch (fast harness, checked against the golden), its time per
token at its Fmax and its throughput per LUT, per DSP and per block RAM.

A quick run places the smallest block and a small layer on the smallest device: the same steps
on designs that take a minute, not half an hour."""

from moetile.app.bench import BenchReport, Claim, design_cells
from moetile.hw.moe import MoELayerParams
from moetile.hw.registry import Design, block, blocks
from moetile.sw.cost.fpga import DEFAULT_DEVICE

__all__ = ["BLOCK_FMAX_MHZ", "DEVICE", "LAYER_FMAX_MHZ", "plots", "run"]

DEVICE, QUICK_DEVICE = DEFAULT_DEVICE, "ecp5-25k"
#: The targets: every block at its defaults, and the layer accelerator, on ECP5 speed grade 6.
BLOCK_FMAX_MHZ, LAYER_FMAX_MHZ = 100.0, 75.0
#: A quick run's layer: the smallest that still has a router, an engine, activation and combine.
QUICK_LAYER = MoELayerParams(
    hidden=8,
    expert_hidden=8,
    experts=2,
    top_k=1,
    max_tokens=2,
    lanes=1,
    arrays=1,
    router_macs=1,
    exp_entries=16,
)


def _designs(quick: bool) -> tuple[list[Design], list[Design]]:
    """``(blocks, layers)``: each registered design at its defaults (the layer's is FAT's) and
    the layer of every engine."""
    layer = block("moe_layer")
    if quick:
        topk = block("topk")
        return [Design(topk, topk.make_params({"arch": "sequential"}))], [
            Design(layer, QUICK_LAYER)
        ]
    designs = [Design(entry, params) for entry in blocks() for params in entry.defaults]
    layers = [Design(layer, MoELayerParams(engine=name)) for name in ("fat", "mixpe", "xbar")]
    return [d for d in designs if d.block is not layer], layers


def _layer_cycles_per_token(design: Design, progress) -> float:
    """Cycles per token of a full batch of random tokens through a random layer, on the fast
    harness, the results checked against the golden."""
    import numpy as np

    from moetile.sim.fast import FastSim
    from moetile.sim.testbenches.moe_cases import random_layer, random_tokens
    from moetile.sw.golden.moe_layer import moe_layer
    from moetile.sw.mapping.moe_layer import load_words, results_of, token_payloads
    from moetile.sw.runtime.backends import cycle_bound

    p = design.params
    progress(f"{design.top}: a batch of {p.max_tokens} tokens on the fast harness")
    layer = random_layer(p, seed=1, sparsity=0.3)
    x, codes = random_tokens(p, p.max_tokens, seed=2)
    with FastSim(design).open() as session:
        words = load_words(layer)
        session.run({"i_load": words}, budget=10 * len(words) + 1000)
        run = session.run(
            {"i_token": token_payloads(p, x, codes)},
            expect={"o": len(x) * p.io_chunks, "o_stats": 1},
            budget=cycle_bound(p, len(x)),
        )
    result = results_of(p, run.payloads("o")["y"])
    if not np.array_equal(result, moe_layer(layer, x, codes).result.numpy()):
        raise AssertionError(f"{design.top}: the batch differs from the golden")
    return run.cycles / len(x)


def _resources(design: Design, report, cells: int) -> dict:
    return {"design": design.top, **report.counts(), "synth_cells": cells}


def _critical_path(design: Design, report) -> dict:
    path = report.critical_path
    return {
        "design": design.top,
        "critical_path": f"{path['from']} to {path['to']}: {path['cells']} cells, "
        f"{path['logic_ns']:.1f} ns logic + {path['routing_ns']:.1f} ns routing",
    }


def _per_token(resources: dict, cycles: float) -> dict:
    """A layer's time per token at its Fmax and its throughput per unit of each resource."""
    tokens_per_second = resources["fmax_mhz"] * 1e6 / cycles

    def per(count: int, unit: float = 1.0):
        return round(tokens_per_second / (count / unit)) if count else None

    return {
        "layer": resources["design"],
        "cycles_per_token": round(cycles, 1),
        "us_per_token": round(cycles / resources["fmax_mhz"], 3),
        "tokens_per_s": round(tokens_per_second),
        "tokens_per_s_per_klut": per(resources["luts"], 1000),
        "tokens_per_s_per_dsp": per(resources["dsp"]),
        "tokens_per_s_per_ebr": per(resources["ebr"]),
        "tokens_per_s_per_kcell": per(resources["synth_cells"], 1000),
    }


def run(progress, quick: bool = False) -> BenchReport:
    """Rows: each design's resources, Fmax and generic cells; each design's critical path;
    each layer's cycles and time per token and its throughput per resource."""
    from moetile.sim.implementation import implement_design
    from moetile.sw.cost.fpga import DEFAULT_CLOCK_MHZ

    device = QUICK_DEVICE if quick else DEVICE
    designs, layers = _designs(quick)
    resources, paths, times = [], [], []
    for n, design in enumerate(designs + layers, 1):
        progress(f"[{n}/{len(designs) + len(layers)}] {design.top}: placing on {device}")
        report = implement_design(design, device, DEFAULT_CLOCK_MHZ)
        resources.append(_resources(design, report, design_cells(design)))
        paths.append(_critical_path(design, report))
        if design in layers:
            cycles = _layer_cycles_per_token(design, progress)
            times.append(_per_token(resources[-1], cycles))
    slowest = min(resources[: len(designs)], key=lambda r: r["fmax_mhz"])
    layer = resources[len(designs)]
    claims = [
        Claim(
            "block_fmax",
            f"the lowest Fmax (MHz) among the block designs at their defaults ({len(designs)} "
            f"designs) on {device}, speed grade 6 (the slowest is in the table)",
            BLOCK_FMAX_MHZ,
            slowest["fmax_mhz"],
            "the 100 MHz goal of every block",
            decimals=1,
            source=None,
        ),
        Claim(
            "layer_fmax",
            f"Fmax (MHz) of the MoE layer accelerator at its defaults (FAT engine) on {device}",
            LAYER_FMAX_MHZ,
            layer["fmax_mhz"],
            "the 75 MHz goal of the layer",
            decimals=1,
            source=None,
        ),
    ]
    return BenchReport("fpga", resources + paths + times, claims)


def plots(report: BenchReport) -> dict:
    """``{"fpga.png": figure}``: each design's Fmax against the goals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.rows if "fmax_mhz" in r]
    timed = {r["layer"] for r in report.rows if "layer" in r}
    figure, axis = plt.subplots(figsize=(9, 1.5 + 0.3 * len(rows)))
    layers = [r["design"] in timed for r in rows]
    axis.barh(
        [r["design"] for r in rows],
        [r["fmax_mhz"] for r in rows],
        color=["tab:orange" if layer else "tab:blue" for layer in layers],
    )
    axis.axvline(BLOCK_FMAX_MHZ, color="tab:blue", linestyle="--", label="block goal")
    axis.axvline(LAYER_FMAX_MHZ, color="tab:orange", linestyle="--", label="layer goal")
    axis.invert_yaxis()
    axis.set(xlabel="Fmax (MHz), ECP5 speed grade 6", title="moetile bench fpga")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3, axis="x")
    figure.tight_layout()
    return {"fpga.png": figure}
