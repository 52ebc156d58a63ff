"""Every command and Python example of the README and of every page in docs/, run the way a user
types it.

The pages' code blocks are the source. Each ``$ moetile ...`` line of a ``console`` block is run
through the installed ``moetile`` entry point and must exit as shown (2 when the page shows an
error, else 0) and print every line the page shows under it (see :func:`assert_promised`; the
commands of :data:`EXACT` word for word, numbers included). The commands of one ``##`` section of a
page form a chain: they run in order in one fresh working directory, as a new user would type them
(only the build cache of generated designs is shared with the rest of the suite), so a command may
read what an earlier one of its section wrote. Sections are independent of each other and run in
parallel, each chain on one test worker. Each ``python`` block runs as a script and must print the
``text`` block after it. The README's ``sh`` block must be exactly what CI runs. Commands that take
minutes run with small settings (:data:`SMALL_SETTINGS`; benchmarks with ``--quick``, whose
verdicts are then not compared); nothing else is changed.
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from moetile.app.cli.main import command_parsers
from moetile.sw.paths import CACHE_DIR_ENV

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MOETILE = Path(sys.executable).parent / "moetile"

#: Extra arguments for documented commands whose real run is long: the same command, smaller.
SMALL_SETTINGS = {
    "moetile bench": ["--quick"],
    "moetile report": ["--quick"],
    # A random transformers model: its co-simulated tokens, on a design no other test
    # synthesizes (`moetile sweep`'s example synthesizes the 16-token batch's), so the page's
    # "not synthesized yet" holds whatever ran before.
    "moetile cosim --hf": [
        *("--tokens", "16", "--lanes", "4", "--arrays", "2", "--max-tokens", "8"),
    ],
    # The converted MiniLM on the design `moetile bench cmoe --quick` builds too.
    "moetile cosim --model cmoe-minilm": [
        *("--tokens", "16", "--quality-tokens", "16", "--lanes", "8", "--arrays", "2"),
    ],
    # The design sizes that build and simulate soonest: the FAT engine's bit-serial passes
    # take the most cycles, so its design gets more lanes.
    "moetile cosim --engine": [
        *("--train-steps", "2", "--tokens", "16"),
        *("--lanes", "8", "--arrays", "2", "--max-tokens", "16"),
    ],
    # Two tokens after a one-token prompt: a prefill and a decode step through every layer.
    "moetile cosim --generate": [
        *("--train-steps", "2", "--lanes", "16", "--arrays", "2", "--max-tokens", "16"),
        *("--generate", "2", "--prompts", "1", "--prompt-tokens", "1"),
    ],
    "moetile cosim": [
        *("--train-steps", "2", "--tokens", "16"),
        *("--lanes", "16", "--arrays", "2", "--max-tokens", "16"),
    ],
    # One of the example's eight points, the smallest (MixPE, 2 lanes, 2 arrays): its build and
    # synthesis dominate.
    "moetile sweep sweep.toml": ["--samples", "1", "--seed", "2"],
    "moetile model train-tiny": ["--steps", "2"],
    # Every property of every block, each job's whole path, to 8 steps at most (a minute and
    # a half against six at the properties' own depths).
    "moetile prove": ["--max-depth", "8"],
    "moetile model convert-cmoe": ["--calibration", "8", "--held-out", "4"],
    "moetile predictor train": ["--steps", "20"],
}

#: About how long each long documented command takes on a cold build cache (seconds), so the
#: longest chains start first (see conftest.py); the rest are quick. ``moetile report`` is
#: quick when it comes after the benchmarks, whose recorded runs it gathers: it goes last.
COSTS = {
    "moetile report": 0,
    "moetile prove": 100,
    # Every default design, as tests/test_cli.py's first test synthesizes them: after it.
    "moetile synth": 5,
    "moetile bench xbar": 110,
    "moetile cosim --engine mixpe": 100,
    "moetile cosim": 90,
    "moetile cosim --generate": 40,
    "moetile cosim --hf qwen3_moe --engine xbar": 30,
    "moetile bench predictor": 90,
    "moetile model convert-cmoe": 60,
    "moetile cosim --engine xbar": 60,
    "moetile bench fat": 55,
    "moetile bench cosim": 30,
    "moetile bench mixpe": 40,
    "moetile bench sim": 35,
    # tests/test_implement.py runs the same quick benchmark first; this one reads its reports.
    "moetile bench fpga": 10,
    "moetile bench generate": 60,
    "moetile bench prefetch": 60,
    "moetile bench cmoe": 150,
    "moetile sweep sweep.toml": 100,
    "moetile bench sweep": 200,
    # After `moetile bench cmoe` has made the conversion both use (not beside it, waiting).
    "moetile cosim --model cmoe-minilm --engine xbar": 40,
}

#: A token with a digit is a measured figure: it may change from run to run, but must stay a
#: figure. Every other token (names, columns, files, verdicts) must be exactly as shown.
FIGURE = re.compile(r"\d")

#: Commands whose output is the same on every run (file names with their Params hashes, cell
#: counts, messages): their lines are checked word for word, numbers included, so the page
#: quotes what the command prints today.
EXACT = ("moetile generate", "moetile lint", "moetile synth")

#: Commands whose output wraps a paragraph or a table cell where its figures' widths make it
#: (claims, long cells, the files written): those lines are compared joined.
WRAPS = ("moetile bench", "moetile report", "moetile cosim", "moetile implement")


@dataclass(frozen=True)
class CodeBlock:
    language: str
    body: str
    #: ``page#section``: the page and the ``##`` heading the block stands under.
    chain: str


@dataclass(frozen=True)
class Example:
    """One command of a ``console`` block and the lines the page shows under it."""

    chain: str
    command: str
    promised: tuple[str, ...]

    @property
    def exit_status(self) -> int:
        return 2 if any(line.startswith("moetile: error:") for line in self.promised) else 0

    @property
    def id(self) -> str:
        """``CHAIN | COMMAND``: conftest.py runs the tests of one chain on one worker."""
        return f"{self.chain} | {self.command}"


def code_blocks(page: Path) -> list[CodeBlock]:
    """Every fenced block of ``page`` with the ``##`` section it stands in."""
    name = page.relative_to(ROOT).as_posix()
    blocks, section, fence = [], "", None
    for line in page.read_text().splitlines():
        if fence is None and line.startswith("```"):
            fence = (line[3:].strip(), [])
        elif fence is not None and line.startswith("```"):
            blocks.append(CodeBlock(fence[0], "\n".join(fence[1]) + "\n", f"{name}#{section}"))
            fence = None
        elif fence is not None:
            fence[1].append(line)
        elif line.startswith("## "):
            section = line[3:].replace("`", "").strip()
    assert fence is None, f"{name}: a code block is not closed"
    return blocks


BLOCKS = [block for page in PAGES for block in code_blocks(page)]


def console_examples(blocks: list[CodeBlock]) -> list[Example]:
    examples = []
    for block in blocks:
        if block.language != "console":
            continue
        command, lines = None, []
        for line in block.body.splitlines():
            if line.startswith("$ "):
                if command:
                    examples.append(Example(block.chain, command, tuple(lines)))
                command, lines = line[2:].strip(), []
            else:
                lines.append(line)
        if command:
            examples.append(Example(block.chain, command, tuple(lines)))
    return examples


def python_examples(blocks: list[CodeBlock]) -> list[tuple[str, str]]:
    """``(code, promised output)`` of every ``python`` block and the ``text`` block after it."""
    return [
        (block.body, after.body if after and after.language == "text" else "")
        for block, after in zip(blocks, [*blocks[1:], None], strict=True)
        if block.language == "python"
    ]


def table_commands(text: str) -> list[str]:
    """Commands of a command table: ``[`moetile bench topk` / `fat`](...)`` names two."""
    commands = []
    for row in re.findall(r"^\| \[?(`moetile [^|]*)\|", text, flags=re.M):
        names = re.findall(r"`([^`]+)`", row.split("](")[0])
        first = names[0].split()
        commands.append(" ".join(first))
        commands += [" ".join([*first[:-1], name]) for name in names[1:]]
    return commands


def assert_promised(
    promised, output: str, where: str, exact: bool = False, unwrap: bool = False
) -> None:
    """Every promised line appears in ``output``, in order. Lines the page elides (``...``,
    progress on stderr) are skipped; a promised line matches an output line with the same
    tokens, where a token holding a digit matches any token holding a digit (unless
    ``exact``). With ``unwrap``, wrapped paragraphs are compared whole (:func:`_unwrapped`)."""
    join = _unwrapped if unwrap else list
    actual = [line.split() for line in join(output.splitlines())]
    position = 0
    for line in join(promised):
        tokens = line.split()
        if not tokens or tokens[0] == "...":
            continue
        while position < len(actual) and not _same_shape(tokens, actual[position], exact):
            position += 1
        assert position < len(actual), f"{where}: no output line like {line!r}:\n{output}"
        position += 1


def _unwrapped(lines) -> list[str]:
    """``lines`` with each indented line joined to the one above it: a claim's paragraphs and
    a wrapped table cell wrap where their figures' widths make them, so they are compared
    whole."""
    joined: list[str] = []
    for line in lines:
        if joined and line[:1].isspace() and line.strip():
            joined[-1] += " " + line.strip()
        else:
            joined.append(line)
    return joined


def _same_shape(promised: list[str], actual: list[str], exact: bool = False) -> bool:
    if len(promised) != len(actual):
        return False
    pairs = zip(promised, actual, strict=True)
    figures = not exact
    return all(p == a or (figures and FIGURE.search(p) and FIGURE.search(a)) for p, a in pairs)


EXAMPLES = console_examples(BLOCKS)


class Workspaces:
    """A new user's working directory per chain: its examples run there in page order, each
    once. A chain's examples all run on one test worker (conftest.py keeps them together)."""

    def __init__(self, factory):
        self.factory = factory
        self.paths: dict[str, Path] = {}
        self.done: dict[Example, subprocess.CompletedProcess] = {}
        # The suite's build cache is shared (conftest sets it): only Verilator builds,
        # synthesis results and proofs come from it; every file a command writes lands in the
        # chain's directory.
        self.env = dict(os.environ)
        assert CACHE_DIR_ENV in self.env

    def path(self, chain: str) -> Path:
        if chain not in self.paths:
            self.paths[chain] = self.factory.mktemp("user")
        return self.paths[chain]

    def run_through(self, example: Example) -> subprocess.CompletedProcess:
        for earlier in (e for e in EXAMPLES if e.chain == example.chain):
            if earlier not in self.done:
                self.done[earlier] = self._run(earlier)
            if earlier == example:
                return self.done[example]
        raise AssertionError(f"{example.command} is not a documented example")

    def _run(self, example: Example) -> subprocess.CompletedProcess:
        words = example.command.split()
        assert words[0] == "moetile", f"example {example.command!r} is not a moetile command"
        return subprocess.run(
            [str(MOETILE), *words[1:], *_small_settings(example.command)],
            cwd=self.path(example.chain),
            env=self.env,
            capture_output=True,
            text=True,
        )


@pytest.fixture(scope="session")
def workspaces(tmp_path_factory) -> Workspaces:
    return Workspaces(tmp_path_factory)


def _in_chain(example: Example):
    cost = pytest.mark.cost(COSTS.get(example.command, 1))
    return pytest.param(example, marks=cost, id=example.id)


@pytest.mark.parametrize("example", [_in_chain(e) for e in EXAMPLES])
def test_documented_command_as_typed(workspaces, example):
    run = workspaces.run_through(example)
    assert run.returncode == example.exit_status, run.stdout[-2000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "Loading weights" not in run.stderr, "a third-party progress bar leaked"
    promised, output = example.promised, run.stdout + run.stderr
    if "--quick" in _small_settings(example.command):
        promised, output = _without_verdicts("\n".join(promised)), _without_verdicts(output)
        promised = promised.splitlines()
    command = example.command
    assert_promised(promised, output, command, command.startswith(EXACT), command.startswith(WRAPS))


#: A verdict: a claim's score, or a row's last column.
VERDICT = re.compile(r"(: (short|within 10 %|beyond|met|missed)(?= |$)| True$| False$)", flags=re.M)

#: Why a claim is beyond its paper: said only when it is.
BEYOND = re.compile(r" beyond the paper: .*$", flags=re.M)


def _without_verdicts(text: str) -> str:
    """``text`` with its verdicts left out: a quick run measures a smaller workload, so its
    figures, and the verdicts drawn from them, are not the page's."""
    lines = "\n".join(line.rstrip() for line in _unwrapped(text.splitlines()))
    return VERDICT.sub(" (verdict)", BEYOND.sub("", lines))


def _small_settings(command: str) -> list[str]:
    return next((v for k, v in SMALL_SETTINGS.items() if command.startswith(k)), [])


def _example(command: str) -> Example:
    (example,) = [e for e in EXAMPLES if e.command.startswith(command)]
    return example


GENERATE = _example("moetile generate --out build/rtl")
TRACE = _example("moetile model trace tiny-moe --tokens 1024")


@pytest.mark.parametrize("example", [GENERATE], ids=[f"{GENERATE.chain} | files"])
def test_generate_writes_the_files_it_names(workspaces, example):
    workspaces.run_through(GENERATE)
    for line in GENERATE.promised:
        assert (workspaces.path(GENERATE.chain) / line).is_file(), line


@pytest.mark.parametrize("example", [TRACE], ids=[f"{TRACE.chain} | files"])
def test_workloads_write_the_files_they_name(workspaces, example):
    workspaces.run_through(TRACE)
    where = workspaces.path(TRACE.chain)
    assert (where / TRACE.command.split("--out ")[1].split()[0]).is_file()
    for name in ("config.json", "model.safetensors", "metrics.json"):
        assert (where / "build/models/tiny-moe" / name).is_file()


@pytest.mark.parametrize(
    ("code", "promised"), python_examples(BLOCKS), ids=lambda v: v.split("\n")[0][:40]
)
def test_documented_python_example(tmp_path, code, promised):
    script = tmp_path / "example.py"
    script.write_text(code)
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert_promised(promised.splitlines(), run.stdout, "python example")


def test_every_table_command_has_an_example():
    shown = [e.command for e in EXAMPLES]
    for command in table_commands(README.read_text()):
        assert any(s.startswith(command) for s in shown), f"no example of {command}"


def test_every_command_and_option_is_documented():
    """docs/commands.md names every command, and the sections naming a command name each of
    its options."""
    text = (ROOT / "docs" / "commands.md").read_text()
    sections = re.split(r"^#+ ", text, flags=re.M)
    for words, parser in command_parsers():
        name = "moetile " + " ".join(words)
        mine = [s for s in sections if f"`{name}" in s]
        assert mine, f"docs/commands.md does not name {name}"
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert any(option in s for s in mine), f"{name} {option} is not documented"


def test_local_links_lead_somewhere():
    """Every link to a file of the repository finds it, and every ``#anchor`` a heading there."""
    for page in PAGES:
        for target, anchor in re.findall(r"\]\(([^)#:]*)(?:#([^)]*))?\)", page.read_text()):
            path = (page.parent / target) if target else page
            assert path.exists(), f"{page.name} links to missing {target}"
            if anchor:
                assert anchor in _anchors(path), f"{page.name} links to missing {target}#{anchor}"


def _anchors(page: Path) -> set[str]:
    """The anchors a Markdown renderer gives the headings of ``page``, GitHub's way."""
    headings = [
        line.lstrip("#").strip() for line in _prose(page.read_text()) if re.match(r"^#{1,6} ", line)
    ]
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def _prose(text: str) -> list[str]:
    """The lines of ``text`` outside its code blocks."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside:
            lines.append(line)
    return lines


def test_front_page_is_short():
    assert len(README.read_text().splitlines()) <= 200


def test_setup_commands_are_what_ci_runs():
    """The README's ``sh`` block is the whole setup; CI runs exactly its commands, in order."""
    (setup,) = [b.body for b in code_blocks(README) if b.language == "sh"]
    commands = [line.split("#")[0].strip() for line in setup.splitlines() if line.strip()]
    ci = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "set ", "cd ", ". "))
    ]
    assert ci[-len(commands) :] == commands, ci


def test_quick_runs_are_compared_without_verdicts():
    page = (
        "claim x: measured 3.1 vs paper 2.00 (+55.0%): beyond\n    P: what, 32x192;\n"
        "    against b\n    beyond the paper: a reason\n      on two lines\n"
        "fat  speedup  2  1.9  True"
    )
    quick = (
        "claim x: measured 1.2 vs paper 2.00 (-40.0%): short\n    P: what, 8x64; against\n"
        "    b\nfat  speedup  2  1.2  False"
    )
    promised = _without_verdicts(page).splitlines()
    assert_promised(promised, _without_verdicts(quick), "quick", unwrap=True)
    with pytest.raises(AssertionError):
        assert_promised(page.splitlines(), quick, "full", unwrap=True)


def test_exact_commands_are_checked_number_for_number():
    page = ["design  cells", "fat     120"]
    assert_promised(page, "design  cells\nfat  120\n", "exact", exact=True)
    with pytest.raises(AssertionError):
        assert_promised(page, "design  cells\nfat  121\n", "exact", exact=True)
    assert "moetile synth".startswith(EXACT) and not "moetile cosim".startswith(EXACT)


def test_matcher_rejects_what_the_page_does_not_show():
    promised = ["design  cells", "fat     120", "claim x: within 10 %"]
    assert_promised(promised, "design  cells\nfat  99\nclaim x: within 10 %\n", "ok")
    wrong_name = "design cells\nparapim 99\nclaim x: within 10 %"
    wrong_verdict = "design cells\nfat 99\nclaim x: short"
    for wrong in (wrong_name, wrong_verdict):
        with pytest.raises(AssertionError):
            assert_promised(promised, wrong, "wrong")


def test_front_page_figures_are_the_benchmark_pages():
    """Every figure of the front page's block table (``9.98×``, ``87.9 %``) is, to the digits it
    shows, a figure the benchmark pages' console blocks print: the front page quotes runs."""
    printed = [
        float(token)
        for block in code_blocks(ROOT / "docs" / "benchmarks.md")
        if block.language == "console"
        for token in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", block.body)
    ]
    table = README.read_text().split("| block | what it is | measured | paper |")[1]
    measured = [row.split("|")[3] for row in table.split("\n\n")[0].splitlines()[2:]]
    quoted = [f for cell in measured for f in re.findall(r"(\d+(?:\.\d+)?) ?(×|%)", cell)]
    assert len(quoted) >= 10
    for figure, unit in quoted:
        digits = len(figure.partition(".")[2])
        scale = 100 if unit == "%" else 1
        assert any(round(v * scale, digits) == float(figure) for v in printed), (figure, unit)
