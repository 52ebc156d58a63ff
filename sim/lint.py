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
    """``ok`` when Verilator ran clean; ``error`` when it could not read the design (a syntax
    error, a missing file or module) rather than warn about it."""

    ok: bool
    messages: tuple[str, ...]
    error: bool = False


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
    found = list(_WARNING.finditer(run.stderr + run.stdout))
    messages = tuple(m.group(0) for m in found)
    error = any(
        m.group(1) == "Error" and not m.group(2) and not m.group(3).startswith("Exiting due to")
        for m in found
    )
    if run.returncode and not messages:
        messages, error = (run.stderr.strip().splitlines() or ["verilator failed"])[-1:], True
    return LintResult(run.returncode == 0 and not messages, tuple(messages), error)


def unused_inputs(verilog: Path, top: str, inputs) -> list[str]:
    """Input ports (or bits of them) that Verilator reports as unused: lint with every waiver
    except ``UNUSEDSIGNAL`` and pick the reports, inside the top module, that name one of
    ``inputs`` (a submodule may have an internal wire of the same name)."""
    waive = [w for w in LINT_WAIVERS if w != "UNUSEDSIGNAL"]
    result = lint(verilog, top, waive=waive)
    first, last = _module_lines(verilog, top)
    named = re.compile(r"UNUSEDSIGNAL: [^:]*:(\d+):.*?'(\w+)'")
    return [
        m
        for m in result.messages
        if (hit := named.search(m))
        and hit.group(2) in inputs
        and first <= int(hit.group(1)) <= last
    ]


def _module_lines(verilog: Path, name: str) -> tuple[int, int]:
    """First and last line (1-based) of module ``name`` in ``verilog``."""
    lines = verilog.read_text().splitlines()
    first = next(n for n, line in enumerate(lines, 1) if line.startswith(f"module {name}("))
    last = next(n for n, line in enumerate(lines[first:], first + 1) if line == "endmodule")
    return first, last
