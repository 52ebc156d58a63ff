"""``moetile bench mixpe``: the MixPE array against two baselines of the same PE count: the
conventional array of multiplier PEs that dequantize every weight (the paper's comparison),
and MixPE's own group-sum array with a 4 × 8 multiplier in each PE instead of the
shift-and-add (which isolates the shift-and-add).

The GEMM is shaped like an expert FFN up-projection of the tiny MoE (a batch of tokens ×
hidden 192 × expert hidden 384), with float weights and activations quantized to W4A8 by
:mod:`moetile.sw.quant.w4a8`. Both arrays run it pass by pass on the fast harness, every
output checked against the golden model and the cycles against the cycle model; area is Yosys
cells of each array; energy is the activity of the run (:func:`mixpe_activity`, from the
harness's transfer counts) priced by the project's energy table.
"""

from dataclasses import replace

import torch

from moetile.app.bench import PAPERS, BenchReport, Claim, design_cells
from moetile.hw.mixpe import MixPEParams
from moetile.hw.registry import Design, block
from moetile.sim.mixpe_sim import run_passes
from moetile.sw.cost.activity import mixpe_activity
from moetile.sw.cost.energy import energy_table_rows
from moetile.sw.mapping.mixpe import golden_backend, plan_gemm
from moetile.sw.quant.w4a8 import quantize_activations, quantize_groups

__all__ = ["GEMM", "measure", "run"]

#: Tokens × hidden × expert hidden of the tiny MoE's up-projection.
GEMM = (32, 192, 384)
#: 12-bit scale codes keep an fp16 scale's 11-bit significand.
BENCH = MixPEParams(
    rows=16, cols=16, n_inputs=192, group=32, scale_width=12, scale_frac=0, out_shift=0
)
#: A quick run: a 4 × 4 array on a 8 × 64 × 64 GEMM.
QUICK = (replace(BENCH, rows=4, cols=4, n_inputs=64), (8, 64, 64))
SCALE_WIDTHS = (12,)
BASELINE = "the same rows × cols array of multiplier PEs that dequantize every weight"
GROUP_BASELINE = (
    "the same array with a 4 × 8 multiplier in each PE, the same group sums and dequantization"
)


def quantized_operands(params: MixPEParams, shape, seed: int = 0):
    """Quantized operands of a float GEMM of ``shape`` ``(M, K, N)``."""
    m, k, n = shape
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(n, k, generator=gen) * k**-0.5
    x = torch.randn(m, k, generator=gen)
    weights = quantize_groups(weight, params.group, params.scale_width)
    codes, _ = quantize_activations(x)
    return codes, weights.codes, weights.scales, weights.zeros


def measure(base: MixPEParams, shape, scale_widths, progress) -> list[dict]:
    rows = []
    for scale_width in scale_widths:
        for arch in ("multiplier", "group_multiplier", "mixpe"):
            params = replace(base, scale_width=scale_width, arch=arch)
            plan = plan_gemm(params, *quantized_operands(params, shape))
            progress(
                f"mixpe: {arch}, {scale_width}-bit scales: simulating {len(plan.passes)} passes"
            )
            run = run_passes(params, plan.passes)
            exact = all(
                torch.equal(a, b)
                for a, b in zip(run.outputs, golden_backend(params, plan.passes), strict=True)
            )
            if not exact:
                raise AssertionError(f"MixPE {params}: disagrees with the golden model")
            model = plan.cycles
            if run.cycles != model:
                raise AssertionError(f"MixPE {params}: measured {run.cycles} cycles, model {model}")
            progress(f"mixpe: {arch}, {scale_width}-bit scales: synthesizing")
            area = design_cells(Design(block("mixpe"), params))
            stamps = run.run.stamps
            activity = mixpe_activity(
                params, len(stamps["i_x"]), len(stamps["i_group"]), len(stamps["o"])
            )
            macs = sum(params.rows * params.cols * p.x.shape[1] for p in plan.passes)
            rows.append(
                {
                    "design": arch,
                    "scale_width": scale_width,
                    "gemm": "x".join(map(str, shape)),
                    "array": f"{params.rows}x{params.cols}",
                    "group": params.group,
                    "passes": len(plan.passes),
                    "cycles": run.cycles,
                    "bit_exact": exact,
                    "cells": area,
                    "macs_per_cycle": macs / run.cycles,
                    "macs_per_kcycle_per_kcell": macs / run.cycles / area * 1e6,
                    "energy_nj": activity.energy_pj() / 1000,
                    **{f"{kind}_nj": pj / 1000 for kind, pj in activity.by_kind().items()},
                }
            )
    for row in rows:
        for baseline in ("multiplier", "group_multiplier"):
            base_row = next(
                r
                for r in rows
                if r["design"] == baseline and r["scale_width"] == row["scale_width"]
            )
            if baseline == "multiplier":
                row["speedup_vs_multiplier"] = base_row["cycles"] / row["cycles"]
                row["cells_vs_multiplier"] = row["cells"] / base_row["cells"]
            row[f"throughput_per_cell_vs_{baseline}"] = (
                row["macs_per_kcycle_per_kcell"] / base_row["macs_per_kcycle_per_kcell"]
            )
            row[f"energy_reduction_vs_{baseline}"] = base_row["energy_nj"] / row["energy_nj"]
    return rows


def run(progress, quick: bool = False) -> BenchReport:
    params, gemm = QUICK if quick else (BENCH, GEMM)
    rows = measure(params, gemm, SCALE_WIDTHS, progress)
    main = next(r for r in rows if r["design"] == "mixpe")
    base = next(
        r for r in rows if r["design"] == "multiplier" and r["scale_width"] == main["scale_width"]
    )
    rows += energy_table_rows()
    claims = [
        Claim(
            "throughput_per_cell",
            f"MACs per cycle per cell, {'x'.join(map(str, gemm))} W4A8 GEMM, 12-bit scales",
            2.6,
            main["throughput_per_cell_vs_multiplier"],
            BASELINE,
            source=PAPERS["mixpe"],
        ),
        Claim(
            "energy_per_gemm",
            "energy of the GEMM (activity × cited per-action table), 12-bit scales",
            1.4,
            main["energy_reduction_vs_multiplier"],
            BASELINE,
            source=PAPERS["mixpe"],
            beyond=f"dynamic energy only, from a 45 nm per-action table in which the baseline's "
            f"multiplies are {base['multiply_nj'] / base['energy_nj']:.0%} of its energy; MixPE "
            "replaces them with shifts and adds",
        ),
        *(
            Claim(
                f"{name}_vs_group_multiplier",
                f"{what}: the shift-and-add alone, against multipliers in the same group-sum "
                "array; at least level",
                1.0,
                main[f"{column}_vs_group_multiplier"],
                GROUP_BASELINE,
                source=None,
            )
            for name, what, column in (
                ("throughput_per_cell", "MACs per cycle per cell", "throughput_per_cell"),
                ("energy_per_gemm", "energy of the GEMM", "energy_reduction"),
            )
        ),
    ]
    return BenchReport("mixpe", rows, claims)
