"""One import package, ``moetile``, over the hw/, sw/, sim/ and app/ folders, and the import
rules of the architecture: the floors hw < sw < sim < app, each importing only the floors below
it; Params need no Amaranth; workloads need no simulator."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The floors, lowest first: a module imports its own floor and those below, never one above.
FOLDERS = ("hw", "sw", "sim", "app")


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
    run = python("import moetile.hw.fat, moetile.app.cli; print(moetile.hw.fat.__file__)", tmp_path)
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


def imported_floors(source: str, package: tuple[str, ...]) -> set[str]:
    """The floors a module's source imports, lazy imports inside functions included;
    ``package``: the module's package, e.g. ``("moetile", "sw", "runtime")``."""
    floors = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = [*base, *(node.module.split(".") if node.module else [])]
            names = [module] if len(module) > 1 else [module + [a.name] for a in node.names]
        else:
            continue
        floors |= {name[1] for name in names if name[0] == "moetile" and len(name) > 1}
    return floors


def floors_of(path: Path) -> set[str]:
    return imported_floors(path.read_text(), ("moetile", *path.relative_to(ROOT).parts[:-1]))


@pytest.mark.parametrize("floor", FOLDERS)
def test_no_import_reaches_a_floor_above(floor):
    above = set(FOLDERS[FOLDERS.index(floor) + 1 :])
    wrong = {
        str(path.relative_to(ROOT)): sorted(floors_of(path) & above)
        for path in (ROOT / floor).rglob("*.py")
        if floors_of(path) & above
    }
    assert wrong == {}


@pytest.mark.parametrize(
    ("source", "floors"),
    [
        ("def f():\n    from moetile.app.cli import main\n", {"app"}),
        ("import moetile.sim.fast as fast\n", {"sim"}),
        ("from ...app import bench\n", {"app"}),
        ("from ...sim.fast import FastSim\n", {"sim"}),
        ("from ..golden import moe_layer\n", {"sw"}),
        ("from .quantize import x\nimport torch\n", {"sw"}),
    ],
)
def test_the_floor_rule_sees_every_form_of_import(source, floors):
    assert imported_floors(source, ("moetile", "sw", "runtime")) == floors
