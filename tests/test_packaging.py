"""One import package, ``moetile``, over the hw/, sw/ and sim/ folders, and the import rules of
the architecture (hw imports neither sw nor sim; Params need no Amaranth; workloads need no
simulator)."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("hw", "sw", "sim")


def python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)


def test_every_sub_package_is_installed():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = sorted(
        "moetile." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS
        for init in (ROOT / folder).rglob("__init__.py")
    )
    assert sorted(setuptools["packages"]) == on_disk
    assert setuptools["package-dir"] == {f"moetile.{f}": f for f in FOLDERS}


def test_moetile_imports_from_anywhere_and_nothing_else_is_top_level(tmp_path):
    run = python("import moetile.hw.fat, moetile.sw.cli; print(moetile.hw.fat.__file__)", tmp_path)
    assert run.returncode == 0, run.stderr
    assert Path(run.stdout.strip()) == ROOT / "hw" / "fat" / "__init__.py"
    for name in FOLDERS:
        run = python(f"import {name}", tmp_path)
        assert f"No module named '{name}'" in run.stderr, f"a top-level {name!r} is installed"


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("moetile.hw.registry, moetile.hw.fat, moetile.hw.topk", ["amaranth", "torch"]),
        ("moetile.hw.fat.array, moetile.hw.topk.rtl", ["moetile.sw", "moetile.sim", "torch"]),
        ("moetile.sw.golden.fat, moetile.sw.mapping.fat", ["amaranth", "moetile.sim"]),
        ("moetile.sw.models.tiny_moe, moetile.sw.models.trace", ["moetile.sim", "amaranth"]),
    ],
)
def test_import_rules(tmp_path, module, absent):
    run = python(f"import sys, {module}; print(' '.join(sys.modules))", tmp_path)
    assert run.returncode == 0, run.stderr
    loaded = run.stdout.split()
    assert [name for name in absent if name in loaded] == []
