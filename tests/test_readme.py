"""Every command the README shows, run the way a user types it.

The README's code blocks are the source: each ``$ moetile ...`` line of a ``console`` block is run
through the installed ``moetile`` entry point, in README order, in one fresh working directory
(as a new user would; only the build cache of generated designs is shared with the rest of the
suite), and must exit as shown (2 when the README shows an error,
else 0) and print every line the README shows under it (see :func:`assert_promised`). Each
``python`` block runs as a script and must print the ``text`` block after it. The ``sh`` block's
commands must be exactly what CI runs. Commands that take minutes run with small settings
(:data:`SMALL_SETTINGS`); nothing else is changed.
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from moetile.sw.paths import BUILD_DIR_ENV

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
MOETILE = Path(sys.executable).parent / "moetile"

#: Extra arguments for README commands whose real run is long: the same command, smaller.
SMALL_SETTINGS = {
    "moetile cosim": ["--train-steps", "2", "--tokens", "16", "--quality-tokens", "128"],
    "moetile model train-tiny": ["--steps", "2"],
    "moetile model convert-cmoe": ["--calibration", "8", "--held-out", "4"],
    "moetile predictor train": ["--steps", "20"],
}

#: A token with a digit is a measured figure: it may change from run to run, but must stay a
#: figure. Every other token (names, columns, files, verdicts) must be exactly as shown.
FIGURE = re.compile(r"\d")


@dataclass(frozen=True)
class Example:
    """One command of a ``console`` block and the lines the README shows under it."""

    command: str
    promised: tuple[str, ...]

    @property
    def exit_status(self) -> int:
        return 2 if any(line.startswith("moetile: error:") for line in self.promised) else 0


def code_blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)


def console_examples(text: str) -> list[Example]:
    examples = []
    for language, body in code_blocks(text):
        if language != "console":
            continue
        command, lines = None, []
        for line in body.splitlines():
            if line.startswith("$ "):
                if command:
                    examples.append(Example(command, tuple(lines)))
                command, lines = line[2:].strip(), []
            else:
                lines.append(line)
        if command:
            examples.append(Example(command, tuple(lines)))
    return examples


def python_examples(text: str) -> list[tuple[str, str]]:
    """``(code, promised output)`` of every ``python`` block and the ``text`` block after it."""
    blocks = code_blocks(text)
    return [
        (body, blocks[n + 1][1] if n + 1 < len(blocks) and blocks[n + 1][0] == "text" else "")
        for n, (language, body) in enumerate(blocks)
        if language == "python"
    ]


def table_commands(text: str) -> list[str]:
    """Commands of the README's command table: ``moetile bench topk` / `fat`` names two."""
    commands = []
    for row in re.findall(r"^\| (`moetile [^|]*)\|", text, flags=re.M):
        names = re.findall(r"`([^`]+)`", row)
        first = names[0].split()
        commands.append(" ".join(first))
        commands += [" ".join([*first[:-1], name]) for name in names[1:]]
    return commands


def assert_promised(promised, output: str, where: str) -> None:
    """Every promised line appears in ``output``, in order. Lines the README elides (``...``,
    progress on stderr) are skipped; a promised line matches an output line with the same
    tokens, where a token holding a digit matches any token holding a digit."""
    actual = [line.split() for line in output.splitlines()]
    position = 0
    for line in promised:
        tokens = line.split()
        if not tokens or tokens[0] == "...":
            continue
        while position < len(actual) and not _same_shape(tokens, actual[position]):
            position += 1
        assert position < len(actual), f"{where}: no output line like {line!r}:\n{output}"
        position += 1


def _same_shape(promised: list[str], actual: list[str]) -> bool:
    if len(promised) != len(actual):
        return False
    pairs = zip(promised, actual, strict=True)
    return all(p == a or (FIGURE.search(p) and FIGURE.search(a)) for p, a in pairs)


class Workspace:
    """A new user's working directory: the examples run there in README order, each once."""

    def __init__(self, path: Path):
        self.path = path
        self.done: dict[str, subprocess.CompletedProcess] = {}
        # The suite's build cache is shared (conftest sets it): only Verilator builds and
        # synthesis results come from it; every file a command writes lands in this directory.
        self.env = dict(os.environ)
        assert BUILD_DIR_ENV in self.env

    def run_through(self, example: Example) -> subprocess.CompletedProcess:
        for earlier in EXAMPLES:
            if earlier.command not in self.done:
                self.done[earlier.command] = self._run(earlier.command)
            if earlier == example:
                return self.done[example.command]
        raise AssertionError(f"{example.command} is not a README example")

    def _run(self, command: str) -> subprocess.CompletedProcess:
        words = command.split()
        assert words[0] == "moetile", f"README example {command!r} is not a moetile command"
        small = next((v for k, v in SMALL_SETTINGS.items() if command.startswith(k)), [])
        return subprocess.run(
            [str(MOETILE), *words[1:], *small],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
        )


EXAMPLES = console_examples(README)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("user"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.command)
def test_readme_command_as_typed(workspace, example):
    run = workspace.run_through(example)
    assert run.returncode == example.exit_status, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert_promised(example.promised, run.stdout + run.stderr, example.command)


def test_readme_shows_files_that_exist(workspace):
    """Files an example says it wrote are there, with the names it printed."""
    generate = next(e for e in EXAMPLES if e.command == "moetile generate --out build/rtl")
    workspace.run_through(generate)
    for line in generate.promised:
        assert (workspace.path / line).is_file(), line
    trace = next(e for e in EXAMPLES if e.command.startswith("moetile model trace"))
    workspace.run_through(trace)
    assert (workspace.path / trace.command.split("--out ")[1].split()[0]).is_file()
    for name in ("config.json", "model.safetensors", "metrics.json"):
        assert (workspace.path / "build/models/tiny-moe" / name).is_file()


@pytest.mark.parametrize(
    ("code", "promised"), python_examples(README), ids=lambda v: v.split("\n")[0][:40]
)
def test_readme_python_example(tmp_path, code, promised):
    script = tmp_path / "example.py"
    script.write_text(code)
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert_promised(promised.splitlines(), run.stdout, "README python example")


def test_every_table_command_has_an_example():
    shown = [e.command for e in EXAMPLES]
    for command in table_commands(README):
        assert any(s.startswith(command) for s in shown), f"README shows no example of {command}"


def test_setup_commands_are_what_ci_runs():
    """The ``sh`` block is the whole setup; CI runs exactly its commands, in order."""
    (setup,) = [body for language, body in code_blocks(README) if language == "sh"]
    commands = [line.split("#")[0].strip() for line in setup.splitlines() if line.strip()]
    ci = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "set ", "cd ", ". "))
    ]
    assert ci[-len(commands) :] == commands, ci


def test_matcher_rejects_what_the_readme_does_not_show():
    promised = ["design  cells", "fat     120", "claim x: holds"]
    assert_promised(promised, "design  cells\nfat  99\nclaim x: holds\n", "ok")
    wrong_name = "design cells\nparapim 99\nclaim x: holds"
    wrong_verdict = "design cells\nfat 99\nclaim x: DOES NOT HOLD"
    for wrong in (wrong_name, wrong_verdict):
        with pytest.raises(AssertionError):
            assert_promised(promised, wrong, "wrong")
