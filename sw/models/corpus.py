"""Offline English text: the docstrings of the Python standard library.

Docstrings are read from the source files with :mod:`ast`, so no module is imported (several
standard modules act on import). Files are split between training and validation by a hash of
their path, so the split is the same on every machine with the same Python.
"""

import ast
import hashlib
import json
import sys
import sysconfig
from pathlib import Path

from ..paths import cache_root, write_atomically

__all__ = ["Corpus", "stdlib_corpus"]

SKIP_PARTS = {"test", "tests", "idlelib", "site-packages", "lib2to3", "__pycache__"}
VALIDATION_PERCENT = 10


class Corpus:
    """Training and validation text."""

    def __init__(self, train: str, validation: str):
        self.train, self.validation = train, validation

    def split_bytes(self):
        import torch

        return (
            torch.frombuffer(bytearray(self.train.encode()), dtype=torch.uint8).long(),
            torch.frombuffer(bytearray(self.validation.encode()), dtype=torch.uint8).long(),
        )


def stdlib_corpus() -> Corpus:
    """The standard library's docstrings, cached under ``<cache>/corpus``."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    cache = cache_root() / "corpus" / f"stdlib-docstrings-{version}.json"
    if cache.exists():
        data = json.loads(cache.read_text())
    else:
        data = {"train": [], "validation": []}
        root = Path(sysconfig.get_paths()["stdlib"])
        for path in sorted(root.rglob("*.py")):
            relative = path.relative_to(root)
            if SKIP_PARTS.intersection(relative.parts):
                continue
            split = _split_of(str(relative))
            data[split].extend(_docstrings(path))
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(cache, json.dumps(data))
    return Corpus("\n\n".join(data["train"]), "\n\n".join(data["validation"]))


def _split_of(relative: str) -> str:
    digest = int(hashlib.sha256(relative.encode()).hexdigest(), 16)
    return "validation" if digest % 100 < VALIDATION_PERCENT else "train"


def _docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    texts = (ast.get_docstring(node) for node in ast.walk(tree) if isinstance(node, kinds))
    return [t for t in texts if t and t.isascii()]
