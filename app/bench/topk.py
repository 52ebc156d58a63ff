"""``moetile bench topk``: latency, throughput and area of both top-k microarchitectures."""

import random

import numpy as np
import torch

from moetile.app.bench import BenchReport, design_cells
from moetile.hw.registry import Design, block
from moetile.hw.topk import TOPK_ARCHS, TopKParams
from moetile.sim.fast import FastSim
from moetile.sim.testbenches.topk_cases import random_vectors
from moetile.sw.golden.topk import top_k

__all__ = ["run"]

VECTORS = 32
BASE = TopKParams(n=16, k=4, score_width=8)


def measure(params: TopKParams, seed: int = 0) -> dict:
    """Latency and throughput measured on the fast harness on random vectors with steady
    traffic (checked against the golden model on the way), and the Yosys cell count."""
    design = Design(block("topk"), params)
    vectors = random_vectors(params, random.Random(seed), VECTORS)
    run = FastSim(design).run(
        {"i": {"scores": np.array(vectors)}},
        expect={"o": VECTORS},
        budget=VECTORS * (params.initiation_interval + params.latency) + 100,
    )
    index, score = (t.numpy() for t in top_k(params, torch.tensor(vectors)))
    top = run.payloads("o")["top"]
    if not (np.array_equal(top["index"], index) and np.array_equal(top["score"], score)):
        raise AssertionError(f"topk {params.arch} disagrees with the golden model")
    cells = design_cells(design)
    accepted = run.stamps["i"]
    interval = float(accepted[-1] - accepted[0]) / (len(accepted) - 1)
    return {
        "arch": params.arch,
        "n": params.n,
        "k": params.k,
        "score_width": params.score_width,
        "latency_cycles": int(run.stamps["o"][0] - accepted[0]),
        "initiation_interval_cycles": interval,
        "results_per_kcycle": 1000 / interval,
        "cells": cells,
    }


def run(progress, quick: bool = False) -> BenchReport:
    """``quick`` changes nothing: the bench is small already."""
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
