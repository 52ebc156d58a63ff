"""The scripts in scripts/ run as a user runs them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from moetile.sw.outputs import OWN_FILES

ROOT = Path(__file__).resolve().parents[1]


#: Two quick benchmarks: the script's loop is the same for all of them, and ``moetile report``
#: (run by the README tests) runs every benchmark.
PICKED = ["topk", "gocache"]


@pytest.mark.cost(40)
def test_benchmarks_script_writes_each_benchmark(tmp_path):
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = tmp_path / "results"
    run = subprocess.run(
        ["bash", str(ROOT / "scripts" / "benchmarks.sh"), "--quick", str(out), *PICKED],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == f"{out}: {len(PICKED)} benchmarks"
    files = sorted(p.name for p in out.iterdir())
    assert files == [OWN_FILES, *(f"{name}.json" for name in sorted(PICKED))]
    for name in PICKED:
        report = json.loads((out / f"{name}.json").read_text())
        assert report["bench"] == name and report["rows"]
        assert all({"name", "paper", "measured", "score"} <= set(c) for c in report["claims"])
    assert [p.name for p in tmp_path.iterdir()] == ["results"]  # nothing left behind


def test_benchmarks_script_refuses_a_folder_of_other_files_before_running(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    run = subprocess.run(
        ["bash", str(ROOT / "scripts" / "benchmarks.sh"), "--quick", str(tmp_path), "topk"],
        env=os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert "holds notes.txt, which moetile did not write" in run.stderr
    assert "benchmark topk" not in run.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
