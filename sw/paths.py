"""Where moetile keeps what it makes for itself: one per-user cache of generated designs, builds,
trained models, corpora, proofs and benchmark records, shared by every run from any folder, and
files that appear whole or not at all (standard library and ``platformdirs`` only)."""

import contextlib
import fcntl
import os
from pathlib import Path

from .console import progress

__all__ = ["CACHE_DIR_ENV", "cache_root", "locked_file", "write_atomically"]

#: Environment variable that moves the cache away from the platform's cache folder.
CACHE_DIR_ENV = "MOETILE_CACHE_DIR"

_announced: set[Path] = set()


def cache_root() -> Path:
    """The cache: ``$MOETILE_CACHE_DIR``, or moetile's folder in the platform's per-user cache
    folder (``~/.cache/moetile`` on Linux)."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).resolve()
    from platformdirs import user_cache_path

    return user_cache_path("moetile", appauthor=False)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: a reader never sees a
    partial file, and a failed write leaves the old one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


@contextlib.contextmanager
def locked_file(path: Path):
    """Hold an exclusive lock on the lock file ``path`` (created, with its folder, if needed)
    for the ``with`` body: processes that make the same cached thing take turns, and the later
    one finds it made. The first use of the cache in a process says where it is."""
    _announce(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _announce(path: Path) -> None:
    root = cache_root()
    if root not in _announced and path.resolve().is_relative_to(root):
        _announced.add(root)
        progress(f"cache: {root} (`moetile cache` shows and clears it; ${CACHE_DIR_ENV} moves it)")
