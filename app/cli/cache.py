"""``moetile cache``: where the cache is, what it holds by kind, and clearing it."""

import os
import shutil
from pathlib import Path

from moetile.sw.console import UserError, print_table
from moetile.sw.paths import CACHE_DIR_ENV, cache_root

__all__ = ["KINDS", "add_cache_command"]

#: Each folder of the cache, by what it holds. Clearing removes these folders and nothing else.
KINDS = {
    "designs": "generated Verilog and Verilator builds, per block and Params",
    "ccache": "the C++ compiler's cache of Verilator builds",
    "models": "tiny MoEs trained for cosim and the benchmarks",
    "corpus": "the training and held-out text",
    "synth": "Yosys synthesis results",
    "formal": "formal proofs, their counterexamples and the solvers' links",
    "fpga": "place-and-route reports of moetile implement and the tools' working files",
    "bench-records": "recorded benchmark runs, gathered by moetile report",
    "bench": "benchmark plots",
    "sweeps": "each moetile sweep point's result, by its settings and moetile's sources",
}


def add_cache_command(commands) -> None:
    cache = commands.add_parser(
        "cache",
        help="where the cache is and its size by kind; clear it",
        description=f"The per-user cache of designs, builds, models and results "
        f"(${CACHE_DIR_ENV} moves it). Kinds: "
        + "; ".join(f"{kind}: {what}" for kind, what in KINDS.items()),
    )
    cache.add_argument(
        "action", nargs="?", choices=("show", "clear"), default="show", help="default: show"
    )
    cache.add_argument(
        "kinds", nargs="*", metavar="KIND", help="with clear: only these kinds (default: all)"
    )
    cache.set_defaults(run=_cache)


def _cache(args) -> int:
    unknown = [kind for kind in args.kinds if kind not in KINDS]
    if unknown:
        raise UserError(f"unknown cache kind {unknown[0]!r}; kinds: {', '.join(KINDS)}")
    if args.kinds and args.action != "clear":
        raise UserError("KIND names go with `moetile cache clear`")
    root = cache_root()
    if args.action == "clear":
        return _clear(root, args.kinds or list(KINDS))
    print(f"cache: {root}")
    rows = []
    for kind, what in KINDS.items():
        files, size = _usage(root / kind)
        rows.append({"kind": kind, "MB": _megabytes(size), "files": files, "holds": what})
    print_table(rows)
    total = sum(_usage(root / kind)[1] for kind in KINDS)
    print(f"total {_megabytes(total)} MB; `moetile cache clear [KIND ...]` removes it")
    return 0


def _clear(root: Path, kinds: list[str]) -> int:
    freed = 0
    for kind in kinds:
        folder = root / kind
        if folder.is_dir():
            freed += _usage(folder)[1]
            shutil.rmtree(folder)
    print(f"cleared {', '.join(kinds)} from {root}: {_megabytes(freed)} MB freed")
    return 0


def _usage(folder: Path) -> tuple[int, int]:
    """``(files, bytes)`` under ``folder``."""
    files = size = 0
    for parent, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(parent) / name
            if not path.is_symlink():
                files += 1
                size += path.stat().st_size
    return files, size


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f}"
