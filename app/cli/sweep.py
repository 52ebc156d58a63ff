"""``moetile sweep SPEC``: every point of a design-space sweep co-simulated, cached, tabled and
plotted."""

from dataclasses import replace
from pathlib import Path

from moetile.sw.console import print_table, progress_bar, wrapped
from moetile.sw.outputs import OutputFile, OutputFolder

__all__ = ["add_sweep_command"]

DEFAULT_OUT = Path("build/sweep")


def add_sweep_command(commands) -> None:
    sweep = commands.add_parser(
        "sweep", help="co-simulate every point of a design-space sweep, on a pool or Dask"
    )
    sweep.add_argument(
        "spec", type=Path, nargs="?", help="the sweep's TOML file: axes, fixed, metrics"
    )
    sweep.add_argument(
        "--init",
        type=Path,
        default=None,
        metavar="FILE",
        help="write an example spec to FILE (new, or one moetile wrote) to start from",
    )
    sweep.add_argument(
        "--samples",
        type=int,
        default=None,
        help="run a random sample of this many of the spec's points (seeded by its seed)",
    )
    sweep.add_argument(
        "--seed",
        type=int,
        default=None,
        help="the random sample's seed, in place of the spec's (with --samples or a random spec)",
    )
    sweep.add_argument(
        "--workers", type=int, default=None, help="local worker processes (default: one a core)"
    )
    sweep.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the points on the Dask cluster of this scheduler (tcp://host:port)",
    )
    sweep.add_argument(
        "--rerun", action="store_true", help="measure every point again, cached or not"
    )
    sweep.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder for results.csv, results.jsonl and pareto.png: new, or one moetile wrote",
    )
    sweep.set_defaults(run=_sweep)


def _sweep(args) -> int:
    from moetile.app.sweep import read_spec, sweep
    from moetile.app.sweep.results import write_results

    if args.init is not None:
        return _init(args.init)
    if args.spec is None:
        raise ValueError("give a sweep spec (a TOML file), or --init FILE to write an example")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, not {args.workers}")
    if args.workers is not None and args.scheduler is not None:
        raise ValueError("give --workers (a local pool) or --scheduler (a Dask cluster), not both")
    spec = read_spec(args.spec)
    if args.samples is not None:
        spec = replace(spec, mode="random", samples=args.samples)
    if args.seed is not None:
        if spec.mode != "random":
            raise ValueError("--seed draws a random sample: give --samples N too")
        spec = replace(spec, seed=args.seed)
    OutputFolder(args.out)  # refused now, not after the sweep
    points = len(spec.points())
    bar = progress_bar("sweep", points, unit="point")
    failed = 0

    def on_point(n: int, row: dict) -> None:
        nonlocal failed
        failed += row["status"] == "failed"
        bar.set_postfix_str(f"{failed} failed" if failed else "", refresh=False)
        bar.update()

    try:
        result = sweep(spec, args.workers, args.scheduler, args.rerun, on_point)
    finally:
        bar.close()
    files = write_results(result, args.out)
    print_table([_shown(row) for row in result.rows])
    cached = sum(row["cached"] for row in result.rows)
    print(
        f"{points} points: {points - cached} measured now, {cached} from the cache, "
        f"{len(result.failed)} failed"
    )
    for row in result.failed:
        where = ", ".join(f"{a}={row[a]}" for a in spec.axes)
        print(wrapped(f"failed ({where}): {row['failure']}"))
    print(wrapped(f"wrote {', '.join(files)} to {args.out}"))
    return 1 if result.failed else 0


def _shown(row: dict) -> dict:
    out = {}
    for name, value in row.items():
        if name in ("failure", "seconds", "cached"):
            continue
        if isinstance(value, float):
            # Whole figures (cycles) as integers; the table shows four digits of a float.
            value = round(value) if abs(value) >= 1000 else round(value, 4)
        out[name] = value
    return out


#: The first line of a spec moetile wrote (``--init``): such a file may be written over.
SPEC_HEAD = "# A moetile sweep spec"

#: The example ``--init`` writes: the layer accelerator over engine x lanes x arrays.
EXAMPLE_SPEC = f"""{SPEC_HEAD}: run it with `moetile sweep FILE`.
# Axes: any `moetile cosim` setting, or a knob of the accelerator that `moetile cosim --param`
# sets (group, crossbar_rows, router_macs, ...), each a list of values (every combination is a
# point);
# [fixed]: the settings every point shares; mode = "random" with samples = N draws N points.
metrics = ["cycles_per_token", "utilization", "bit_exact", "onchip_uj_per_token", "cells"]

[fixed]
# A small random-initialized Qwen3-MoE (2 layers, 64 wide, 8 experts, top-2): no training.
hf = "qwen3_moe"
tokens = 16
max_tokens = 16

[axes]
engine = ["mixpe", "xbar"]
lanes = [2, 4]
arrays = [2, 4]
"""


def _init(path: Path) -> int:
    from moetile.app.sweep import read_spec

    output = OutputFile(path, "--init", _is_spec)
    with output.writing() as partial:
        partial.write_text(EXAMPLE_SPEC)
    spec = read_spec(path)
    print(
        f"wrote {path}: {len(spec.points())} points ({' x '.join(spec.axes)}); edit it, then "
        f"run moetile sweep {path}"
    )
    return 0


def _is_spec(path: Path) -> bool:
    """Whether ``path`` is a spec ``--init`` wrote."""
    with open(path, "rb") as handle:
        return handle.read(len(SPEC_HEAD)) == SPEC_HEAD.encode()
