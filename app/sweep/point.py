"""One point of a sweep: a ``moetile cosim`` run of its settings, reduced to the metrics asked
for. Inputs and outputs are plain data (names to numbers, strings and booleans), so a point
travels to a process pool's or a Dask cluster's worker and back; the worker builds what the
point needs in its own build cache."""

import time

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
    from moetile.app.cosim.run import cosim, design_area
    from moetile.app.cosim.settings import CosimSettings
    from moetile.hw.moe import MoELayerParams
    from moetile.sw.console import quiet_transformers

    quiet_transformers()
    report = cosim(CosimSettings(**settings), lambda message: None)
    layers = report["layers"]
    simulated = all("cycles_per_token" in row for row in layers)
    backend, quality = report["backend"], report["quality"]
    values = {
        "cycles_per_token": sum(r["cycles_per_token"] for r in layers) if simulated else None,
        "us_per_token": sum(r["us_per_token"] for r in layers) if simulated else None,
        "utilization": sum(r["utilization"] for r in layers) / len(layers) if simulated else None,
        "bit_exact": report["bit_exact"],
        "error": sum(r["error"] for r in layers) / len(layers),
        "quality": next(v for k, v in quality.items() if k.startswith(f"{backend}_")),
    }
    if "cells" in metrics or "memory_bits" in metrics:
        params = _params(MoELayerParams, report["params"])
        area = design_area(params, True, lambda message: None)
        values.update(cells=area["cells"], memory_bits=area["memory_bits"])
    return {name: values[name] for name in metrics}


def _params(kind, values: dict):
    """The report's Params (plain data) as Params again."""
    from moetile.hw.moe.engines import engine_params

    return kind(**{**values, "engine": engine_params(values["engine"])})
