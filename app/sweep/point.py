"""One point of a sweep: a ``moetile cosim`` run of its settings, reduced to the metrics asked
for. Inputs and outputs are plain data (names to numbers, strings and booleans), so a point
travels to a process pool's or a Dask cluster's worker and back; the worker builds what the
point needs in its own build cache."""

import time

from .spec import FPGA_METRICS, GENERATION_METRICS

__all__ = ["run_point"]


def run_point(settings: dict, metrics: tuple) -> dict:
    """``{"metrics": {...}, "seconds": s}``, or ``{"error": "..."}`` when the point fails (a
    failing point does not stop the others)."""
    started = time.perf_counter()
    try:
        values = _measure(settings, metrics)
    except Exception as error:  # reported with the point, the sweep goes on
        return {"error": f"{type(error).__name__}: {error}", "seconds": _since(started)}
    return {"metrics": values, "seconds": _since(started)}


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _measure(settings: dict, metrics: tuple) -> dict:
    from moetile.app.cosim.run import design_area
    from moetile.app.cosim.settings import CosimSettings
    from moetile.hw.moe import MoELayerParams
    from moetile.sw.console import quiet_transformers

    quiet_transformers()
    run = CosimSettings(**settings)
    report, values = _generation(run) if run.generate else _prefill(run)
    simulated = values["cycles_per_token"] is not None
    params = _params(MoELayerParams, report["params"])
    if "cells" in metrics or "memory_bits" in metrics:
        area = design_area(params, True, lambda message: None)
        values.update(cells=area["cells"], memory_bits=area["memory_bits"])
    if any(name in FPGA_METRICS for name in metrics):
        values.update(_implemented(params))
        if simulated and settings.get("clock") is None:  # at the Fmax the design reached
            values["us_per_token"] = values["cycles_per_token"] / values["fmax_mhz"]
    return {name: values[name] for name in metrics}


def _prefill(settings) -> tuple[dict, dict]:
    """A ``moetile cosim`` run: per token through every layer, its quality."""
    from moetile.app.cosim.run import cosim

    report = cosim(settings, lambda message: None)
    layers = report["layers"]
    simulated = all("cycles_per_token" in row for row in layers)
    backend, quality = report["backend"], report["quality"]
    return report, {
        "cycles_per_token": sum(r["cycles_per_token"] for r in layers) if simulated else None,
        "us_per_token": sum(r["us_per_token"] for r in layers) if simulated else None,
        "utilization": sum(r["utilization"] for r in layers) / len(layers) if simulated else None,
        "bit_exact": report["bit_exact"],
        "error": sum(r["error"] for r in layers) / len(layers),
        "quality": next(v for k, v in quality.items() if k.startswith(f"{backend}_")),
        "onchip_uj_per_token": sum(r["energy_pj_per_token"] for r in layers) / 1e6,
        **dict.fromkeys(GENERATION_METRICS),
    }


def _generation(settings) -> tuple[dict, dict]:
    """A ``moetile cosim --generate`` run: per generated token of its decode steps (of the
    prefill where it generates one token), the weights fetched from off chip and the cache."""
    from moetile.app.cosim.generate import generate

    report = generate(settings, lambda message: None)
    phase = report.get("decode") or report.get("prefill")
    cache = (phase or {}).get("cache") or report.get("cache")
    exact = report["bit_exact"] and report["generation"]["equal_to_golden"]
    return report, {
        "cycles_per_token": phase and phase["cycles_per_token"],
        "us_per_token": phase and phase["us_per_token"],
        "utilization": phase and phase["utilization"],
        "bit_exact": exact,
        "error": None,
        "quality": report["generation"]["float_agreement"],
        "onchip_uj_per_token": phase and phase["onchip_uj_per_token"],
        "tokens_per_second": phase and phase["tokens_per_second"],
        "fetched_kb_per_token": phase and phase["fetched_bytes_per_token"] / 1e3,
        "offchip_uj_per_token": phase and phase["offchip_uj_per_token"],
        "hit_rate": cache["hit_rate"] if cache else None,
    }


def _implemented(params) -> dict:
    """The layer placed and routed as ``moetile implement`` does (cached): its resources and
    Fmax. A design too large for the device fails its point, naming the shortfall."""
    from moetile.hw.registry import Design, block
    from moetile.sim.implementation import implement_design
    from moetile.sw.cost.fpga import DEFAULT_CLOCK_MHZ, DEFAULT_DEVICE

    design = Design(block("moe_layer"), params)
    return implement_design(design, DEFAULT_DEVICE, DEFAULT_CLOCK_MHZ).counts()


def _params(kind, values: dict):
    """The report's Params (plain data) as Params again."""
    from moetile.hw.moe.engines import engine_params

    return kind(**{**values, "engine": engine_params(values["engine"])})
