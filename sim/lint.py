"""Verilator lint of generated Verilog, with the waivers of :data:`moetile.sim.env.LINT_WAIVERS`."""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .env import LINT_WAIVERS, prepare_environment

__all__ = ["LintResult", "lint", "unused_inputs"]

_WARNING = re.compile(r"^%(Warning|Error)(-[A-Z0-9_]+)?: (.*)$", re.M)


@dataclass(frozen=True)
class LintResult:
    ok: bool
    messages: tuple[str, ...]


def lint(verilog: Path, top: str, *, waive=tuple(LINT_WAIVERS)) -> LintResult:
    """``verilator --lint-only -Wall`` with the classes in ``waive`` off; any message fails."""
    prepare_environment()
    command = [
        "verilator",
        "--lint-only",
        "-Wall",
        *(f"-Wno-{w}" for w in waive),
        "--top-module",
        top,
        str(verilog),
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    messages = tuple(m.group(0) for m in _WARNING.finditer(run.stderr + run.stdout))
    return LintResult(run.returncode == 0 and not messages, messages)


def unused_inputs(verilog: Path, top: str, inputs) -> list[str]:
    """Input ports (or bits of them) that Verilator reports as unused: lint with every waiver
    except ``UNUSEDSIGNAL`` and pick the reports that name one of ``inputs``."""
    waive = [w for w in LINT_WAIVERS if w != "UNUSEDSIGNAL"]
    result = lint(verilog, top, waive=waive)
    named = re.compile(r"UNUSEDSIGNAL.*?'(\w+)'")
    return [m for m in result.messages if (hit := named.search(m)) and hit.group(1) in inputs]
