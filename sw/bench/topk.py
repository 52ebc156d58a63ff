"""``moetile bench topk``: latency, throughput and area of both top-k microarchitectures."""

import random

from moetile.hw.registry import Design, block
from moetile.hw.topk import TOPK_ARCHS, TopKParams
from moetile.hw.topk.interface import input_layout
from moetile.sim.amaranth_sim import measure_stream
from moetile.sim.benches.topk_cases import decode_top, random_vectors, topk_items
from moetile.sim.build import design_dir, generate_verilog
from moetile.sw.cost.synth import synthesize

from . import BenchReport

__all__ = ["run"]

VECTORS = 32
BASE = TopKParams(n=16, k=4, score_width=8)


def measure(params: TopKParams, seed: int = 0) -> dict:
    """Latency and throughput measured in the Amaranth simulator on random vectors (checked
    against the golden model on the way), and the Yosys cell count."""
    design = Design(block("topk"), params)
    items = topk_items(params, random_vectors(params, random.Random(seed), VECTORS))
    layout = input_layout(params)
    timing = measure_stream(
        design.component(),
        [layout.const(p) for p, _ in items],
        deadline_cycles=VECTORS * (params.initiation_interval + params.latency) + 100,
    )
    got = [decode_top(out) for out in timing.payloads]
    if got != [expected for _, expected in items]:
        raise AssertionError(f"topk {params.arch} disagrees with the golden model")
    verilog = generate_verilog(design)
    cells = synthesize(verilog, design.top, cache=design_dir(design) / "synth.json").cells
    interval = (timing.inputs[-1] - timing.inputs[0]) / (len(timing.inputs) - 1)
    return {
        "arch": params.arch,
        "n": params.n,
        "k": params.k,
        "score_width": params.score_width,
        "latency_cycles": timing.latency,
        "initiation_interval_cycles": interval,
        "results_per_kcycle": 1000 / interval,
        "cells": cells,
    }


def run(progress) -> BenchReport:
    rows = []
    for arch in TOPK_ARCHS:
        progress(f"topk: simulating and synthesizing {arch}")
        rows.append(measure(TopKParams(BASE.n, BASE.k, BASE.score_width, arch)))
    sequential = next(r for r in rows if r["arch"] == "sequential")
    for row in rows:
        row["throughput_vs_sequential"] = round(
            row["results_per_kcycle"] / sequential["results_per_kcycle"], 3
        )
        row["cells_vs_sequential"] = round(row["cells"] / sequential["cells"], 3)
    return BenchReport("topk", rows)
