"""Every command says what it takes: the version, the blocks and their Params, the benchmarks
and their papers, and every option's default."""

import argparse
import dataclasses
import subprocess
import sys
from importlib import metadata

import pytest

from moetile.app.bench import BENCH_SUMMARIES, BENCHES
from moetile.app.cli.main import command_parsers, main
from moetile.hw.registry import blocks


def _help(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"] if argv != ["--version"] else argv)
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_version(capsys):
    assert _help(["--version"], capsys) == f"moetile {metadata.version('moetile')}\n"


def test_generate_help_lists_every_block(capsys):
    text = _help(["generate"], capsys)
    for entry in blocks():
        assert f"  {entry.name}" in text and entry.summary in text.replace("\n", " ")


@pytest.mark.parametrize("name", [entry.name for entry in blocks()])
def test_list_params_gives_each_field_a_type_default_and_meaning(name, capsys):
    assert main(["generate", name, "--list-params"]) == 0
    lines = capsys.readouterr().out.splitlines()
    entry = next(e for e in blocks() if e.name == name)
    fields = [(f.name, f) for f in dataclasses.fields(entry.params)]
    fields += [(key, f) for key, (_, f) in entry.nested_fields().items()]
    for key, field in fields:
        kind = getattr(field.type, "__name__", str(field.type))
        default = getattr(field.default, "name", field.default)  # a nested choice: its name
        header = f"  {key} : {kind} = {default!r}"
        assert header in lines, header
        meaning = lines[lines.index(header) + 1]
        assert meaning.startswith("      ") and meaning.strip(), (name, key)
        assert "`" not in meaning


def test_bench_help_lists_every_benchmark_with_its_paper(capsys):
    assert set(BENCH_SUMMARIES) == set(BENCHES)
    text = _help(["bench"], capsys)
    for name, summary in BENCH_SUMMARIES.items():
        assert f"  {name}" in text and summary in text


def test_every_help_shows_the_options_defaults(capsys):
    for words, parser in command_parsers():
        shown = [
            a
            for a in parser._actions
            if a.option_strings and a.default not in (None, False, [], argparse.SUPPRESS)
        ]
        text = _help(list(words), capsys)
        assert text.count("(default:") >= len(shown), words


@pytest.mark.parametrize(
    "name, field",
    [
        ("topk", "n"),
        ("fat", "lanes"),
        ("mixpe", "rows"),
        ("xbar", "rows"),
        ("xbar", "cols"),
        ("xbar", "crossbars_per_group"),
        ("gemv", "macs"),
        ("gocache", "macs"),
        ("predictor", "macs"),
        ("moe_layer", "lanes"),
        ("moe_layer", "arrays"),
        ("moe_layer", "router_macs"),
    ],
)
def test_parallel_units_have_a_documented_bound(name, field, tmp_path, capsys):
    """A design too large to build in practice is refused at once, naming the field; the bound
    is in the block's --list-params."""
    from moetile.hw.checks import MAX_UNITS

    argv = ["generate", name, "--param", f"{field}={MAX_UNITS + 1}", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert f"moetile: error: {field} must be an integer in [1, " in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    assert main(["generate", name, "--list-params"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {field} :")) + 1
    meaning = []
    for line in lines[start:]:
        if not line.startswith("      "):
            break
        meaning.append(line.strip())
    assert "1024" in " ".join(meaning), meaning


def test_help_answers_without_loading_torch():
    """``--help`` and ``--version`` answer at once: building the command line imports neither
    torch nor transformers (each command imports what it runs)."""
    code = (
        "import sys\n"
        "from moetile.app.cli.main import main\n"
        "for argv in (['--version'], ['--help'], ['cosim', '--help'], ['bench', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "[]"
