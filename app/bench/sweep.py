"""``moetile bench sweep``: the same sweep on one local worker and on two, each from an empty
cache (every point generates its design, builds it with Verilator and the compiler cache empty,
and co-simulates), timed; and whether both give the same table.

The sweep: ``moetile sweep --init``'s example without its synthesis (its metrics: cycles per
token, utilization, bit-exactness, error), 8 points of engine x lanes x arrays over a small
random Qwen3-MoE (quick: the 2 points of 2 lanes and 2 arrays). The target: at least 1.7x faster
on two workers. Each Verilator build already runs ``make -j`` on every core, so one worker is not
one core's worth of work: the speed-up measures what the pool adds to that.
"""

import os
import tempfile
import time
from contextlib import contextmanager

from moetile.app.bench import BenchReport, Claim

__all__ = ["run"]

METRICS = ("cycles_per_token", "utilization", "bit_exact", "error")
#: The target speed-up of two workers over one (moetile's own).
TARGET = 1.7


@contextmanager
def _empty_cache():
    """A new, empty cache for the body (its worker processes inherit it), removed after."""
    from moetile.sw.paths import CACHE_DIR_ENV

    saved = os.environ.get(CACHE_DIR_ENV)
    with tempfile.TemporaryDirectory(prefix="moetile-bench-sweep-") as folder:
        os.environ[CACHE_DIR_ENV] = folder
        try:
            yield
        finally:
            if saved is None:
                del os.environ[CACHE_DIR_ENV]
            else:
                os.environ[CACHE_DIR_ENV] = saved


def run(progress, quick: bool = False) -> BenchReport:
    import tomllib
    from dataclasses import replace

    from moetile.app.cli.sweep import EXAMPLE_SPEC
    from moetile.app.sweep import SweepSpec, sweep

    spec = SweepSpec(**{**tomllib.loads(EXAMPLE_SPEC), "metrics": METRICS})
    if quick:
        spec = replace(spec, axes={**spec.axes, "lanes": [2], "arrays": [2]})
    points = len(spec.points())
    rows, tables = [], {}
    for workers in (1, 2):
        progress(f"{points} points on {workers} worker(s), from an empty cache")
        with _empty_cache():
            started = time.perf_counter()
            result = sweep(spec, workers=workers, rerun=True)
            seconds = time.perf_counter() - started
        tables[workers] = result.metric_rows()
        rows.append(
            {
                "workers": workers,
                "points": points,
                "failed": len(result.failed),
                "seconds": round(seconds, 1),
                "points_per_minute": round(60 * points / seconds, 2),
            }
        )
    speedup = rows[0]["seconds"] / rows[1]["seconds"]
    same = tables[1] == tables[2] and not any(r["failed"] for r in rows)
    claims = [
        Claim(
            "two_workers_speedup",
            f"{points} cold points: seconds on one local worker over seconds on two",
            TARGET,
            speedup,
            "the same sweep on one worker",
            source=None,
        ),
        Claim(
            "same_table",
            "1 when both runs give every point the same metrics (bit-identical), else 0",
            1.0,
            1.0 if same else 0.0,
            "the one-worker run's table",
            source=None,
        ),
    ]
    return BenchReport("sweep", [*rows, *tables[2]], claims)
