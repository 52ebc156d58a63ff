"""Where and how moetile writes what it makes: one root for generated designs, builds, corpora
and reports, shared by the workloads, the simulators and the CLI, and files that appear whole
or not at all (standard library only)."""

import contextlib
import fcntl
import os
from pathlib import Path

__all__ = ["BUILD_DIR_ENV", "build_root", "locked_file", "write_atomically"]

#: Environment variable that moves the build root away from ``./build``.
BUILD_DIR_ENV = "MOETILE_BUILD_DIR"


def build_root() -> Path:
    """Root of generated designs and builds: ``$MOETILE_BUILD_DIR`` or ``./build``."""
    return Path(os.environ.get(BUILD_DIR_ENV, "build")).resolve()


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
    one finds it made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
