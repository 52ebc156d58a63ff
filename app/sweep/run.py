"""Running a sweep: the points not already cached run as independent jobs on a local process
pool (one worker per core by default) or on a Dask cluster (``scheduler``: its address), each
result cached on completion under ``<cache>/sweeps/`` by a digest of its settings, its metrics
and moetile's sources, so a rerun or an interrupted sweep does only what is missing."""

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from moetile.sw.paths import cache_root, write_atomically

from .point import run_point
from .spec import SweepSpec, cosim_settings

__all__ = ["SCHEDULER_TIMEOUT", "SweepResult", "point_key", "sweep"]

#: How long a sweep waits to reach a Dask scheduler.
SCHEDULER_TIMEOUT = "5s"


@dataclass
class SweepResult:
    """One row per point, in the spec's order: its axis values, its metrics (``None`` where it
    failed), ``status`` (``ok`` or ``failed``), ``failure`` (what went wrong), ``cached``
    (taken from an earlier run) and ``seconds`` (of the run that measured it)."""

    spec: SweepSpec
    rows: list[dict]

    @property
    def failed(self) -> list[dict]:
        return [row for row in self.rows if row["status"] == "failed"]

    def metric_rows(self) -> list[dict]:
        """The rows without what varies from run to run (``cached``, ``seconds``): the same
        for the same spec on any executor."""
        return [{k: v for k, v in r.items() if k not in ("cached", "seconds")} for r in self.rows]


def point_key(settings: dict, metrics: tuple) -> str:
    """The digest a point's result is cached under."""
    from moetile.app.bench.record import sources_digest

    text = json.dumps({"settings": settings, "metrics": list(metrics)}, sort_keys=True)
    return hashlib.sha256(f"{text}{sources_digest()}".encode()).hexdigest()[:20]


def _cached_path(key: str):
    return cache_root() / "sweeps" / f"{key}.json"


def sweep(
    spec: SweepSpec,
    workers: int | None = None,
    scheduler: str | None = None,
    rerun: bool = False,
    on_point: Callable[[int, dict], None] = lambda n, row: None,
) -> SweepResult:
    """Run every point of ``spec`` not cached yet (all of them with ``rerun``) on ``workers``
    local processes (default: one per core) or the Dask scheduler at ``scheduler``; call
    ``on_point(n, row)`` as each point's row is ready."""
    points = spec.points()
    settings = [cosim_settings(point) for point in points]
    keys = [point_key(point, spec.metrics) for point in settings]
    rows: list[dict | None] = [None] * len(points)
    missing = []
    for n, key in enumerate(keys):
        path = _cached_path(key)
        if not rerun and path.is_file():
            rows[n] = _row(spec, points[n], json.loads(path.read_text()), cached=True)
            on_point(n, rows[n])
        else:
            missing.append(n)
    if missing:
        run = _on_dask(scheduler) if scheduler else _on_pool(workers or os.cpu_count() or 1)
        for n, outcome in run([settings[n] for n in missing], spec.metrics, missing):
            if "error" not in outcome:
                path = _cached_path(keys[n])
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(path, json.dumps(outcome) + "\n")
            rows[n] = _row(spec, points[n], outcome, cached=False)
            on_point(n, rows[n])
    return SweepResult(spec, rows)


def _row(spec: SweepSpec, point: dict, outcome: dict, cached: bool) -> dict:
    values = outcome.get("metrics") or {}
    return {
        **{name: point[name] for name in spec.axes},
        **{name: values.get(name) for name in spec.metrics},
        "status": "failed" if "error" in outcome else "ok",
        "failure": outcome.get("error", ""),
        "cached": cached,
        "seconds": outcome.get("seconds"),
    }


def _on_pool(workers: int):
    def run(points: list[dict], metrics: tuple, indices: list[int]) -> Iterator[tuple[int, dict]]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # Spawned workers: a clean interpreter each, not a fork of one holding torch's threads.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {
                pool.submit(run_point, point, metrics): n
                for point, n in zip(points, indices, strict=True)
            }
            for future in as_completed(futures):
                yield futures[future], _outcome(future)

    return run


def _outcome(future) -> dict:
    """A finished job's result; a worker that died with its point fails that point."""
    try:
        return future.result()
    except Exception as error:
        return {"error": f"the worker failed: {type(error).__name__}: {error}"}


def _on_dask(address: str):
    def run(points: list[dict], metrics: tuple, indices: list[int]) -> Iterator[tuple[int, dict]]:
        from distributed import Client, as_completed

        try:
            client = Client(address, timeout=SCHEDULER_TIMEOUT)
        except (OSError, TimeoutError) as error:
            raise ValueError(f"cannot reach the Dask scheduler at {address}: {error}") from None
        try:
            futures = {
                client.submit(run_point, point, metrics, pure=False): n
                for point, n in zip(points, indices, strict=True)
            }
            for future in as_completed(futures):
                yield futures[future], _outcome(future)
        finally:
            client.close()

    return run
