"""Where moetile writes what a user asked for (``--out``, ``--plot``): never over anything it did
not write.

An output folder is a new (or empty) folder, or one moetile wrote before: :data:`OWN_FILES`, a
small list moetile leaves there, names the files that are its own (in moetile's cache, every
file is). A later run replaces only
those; a folder that holds anything else is refused, naming the first foreign file, when the
command starts and again before it writes. A run's files appear together when it succeeds; a
failed run changes nothing. An output file is written only where there is no file yet or where
moetile wrote the one there (it says so inside: a header or metadata of its own).
"""

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .console import UserError
from .paths import cache_root

__all__ = ["OWN_FILES", "PNG_DPI", "PNG_METADATA", "OutputFile", "OutputFolder", "is_own_png"]

#: The list of moetile's own files in an output folder (JSON).
OWN_FILES = ".moetile-files.json"
#: The text chunk of every PNG moetile writes, by which it knows the file as its own.
PNG_METADATA = {"Software": "moetile"}
#: The resolution of every plot moetile writes.
PNG_DPI = 110
#: Prefix of the folder a run writes into before its files replace the old ones.
STAGING = ".moetile-staging-"


class OutputFolder:
    """The folder ``path``, checked for foreign files now (before any work): a
    :class:`~moetile.sw.console.UserError` names the first one. ``option`` names the command-line
    option the folder came from, for that message."""

    def __init__(self, path: Path, option: str = "--out"):
        self.path = Path(path)
        self.option = option
        self.own = self._own_files()

    def _own_files(self) -> set[str]:
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"{self.option} {self.path} is a file; give a folder")
        if not self.path.is_dir():
            return set()
        entries = sorted(self.path.iterdir())
        if self.path.resolve().is_relative_to(cache_root()):
            return {entry.name for entry in entries}  # the cache is moetile's throughout
        own = _read_own(self.path / OWN_FILES)
        for entry in entries:
            if entry.name in own or entry.name == OWN_FILES or entry.name.startswith(STAGING):
                continue
            raise UserError(
                f"{self.option} {self.path} holds {entry.name}, which moetile did not write; "
                "give a new or empty folder, or one that moetile wrote (moetile never deletes "
                "a file it did not write)"
            )
        return own

    @contextlib.contextmanager
    def writing(self, *, keep_earlier: bool = False) -> Iterator[Path]:
        """A staging folder for every file of the run. When the body succeeds its files
        replace moetile's own of the same names, and moetile's files from earlier runs are
        removed unless ``keep_earlier``; when it fails, the folder is as it was."""
        self.own = self._own_files()
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=STAGING, dir=self.path))
        try:
            yield stage
            names = {entry.name for entry in stage.iterdir()}
            final = names | self.own if keep_earlier else names
            # Listed first, so a run stopped among the moves leaves nothing unlisted.
            _write_own(self.path / OWN_FILES, final | self.own)
            for name in sorted(names):
                _remove(self.path / name)
                os.replace(stage / name, self.path / name)
            for name in sorted(self.own - final):
                _remove(self.path / name)
            _write_own(self.path / OWN_FILES, final)
            self.own = final
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            if created and not any(self.path.iterdir()):
                self.path.rmdir()


class OutputFile:
    """The file ``path``: new, or one that ``is_own`` recognizes as moetile's; checked now."""

    def __init__(self, path: Path, option: str, is_own: Callable[[Path], bool]):
        self.path = Path(path)
        self.option = option
        self.is_own = is_own
        self._check()

    def _check(self) -> None:
        if self.path.is_dir():
            raise UserError(f"{self.option} {self.path} is a folder; give a file name")
        if self.path.exists() and not self.is_own(self.path):
            raise UserError(
                f"{self.option} {self.path} exists and moetile did not write it; give a new "
                "file name (moetile never replaces a file it did not write)"
            )

    @contextlib.contextmanager
    def writing(self) -> Iterator[Path]:
        """A temporary path beside the file to write; it replaces the file when the body
        succeeds and is removed when it fails."""
        self._check()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial{self.path.suffix}")
        try:
            yield partial
            os.replace(partial, self.path)
        finally:
            partial.unlink(missing_ok=True)
        listed = self.path.parent / OWN_FILES  # a file added to a folder moetile wrote is its own
        if listed.is_file():
            _write_own(listed, _read_own(listed) | {self.path.name})


def is_own_png(path: Path) -> bool:
    """Whether ``path`` is a PNG that moetile wrote (:data:`PNG_METADATA`)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.format == "PNG" and image.text.get("Software") == "moetile"
    except OSError:
        return False


def _read_own(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    try:
        names = json.loads(path.read_text())["files"]
    except (ValueError, KeyError, TypeError):
        return set()
    return {name for name in names if isinstance(name, str) and "/" not in name}


def _write_own(path: Path, names: set[str]) -> None:
    partial = path.with_name(f"{STAGING}list-{os.getpid()}")
    partial.write_text(json.dumps({"files": sorted(names)}, indent=2) + "\n")
    os.replace(partial, path)


def _remove(path: Path) -> None:
    """Remove one of moetile's own entries (a file, or a folder it wrote whole)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def main(argv: list[str] | None = None) -> int:
    """The same rules for a shell script's outputs (scripts/benchmarks.sh):
    ``python -m moetile.sw.outputs check DIR`` refuses a folder with foreign files;
    ``python -m moetile.sw.outputs install FROM DIR`` moves the files of folder FROM into DIR
    as one run's outputs."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    try:
        if len(args) == 2 and args[0] == "check":
            OutputFolder(Path(args[1]), "DIR")
        elif len(args) == 3 and args[0] == "install":
            with OutputFolder(Path(args[2]), "DIR").writing() as stage:
                for entry in Path(args[1]).iterdir():
                    os.replace(entry, stage / entry.name)
        else:
            print(
                "usage: python -m moetile.sw.outputs check DIR | install FROM DIR", file=sys.stderr
            )
            return 2
    except UserError as error:
        print(f"moetile: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
