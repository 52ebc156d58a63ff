"""``moetile cosim``: co-simulate a model's MoE layers on the generated accelerator."""

import sys
from pathlib import Path

from .console import print_table, progress, quiet_transformers
from .outputs import OutputFolder

__all__ = ["add_cosim_command"]

DEFAULT_OUT = Path("build/cosim")


def add_cosim_command(commands) -> None:
    from moetile.sw.runtime.backends import BACKENDS
    from moetile.sw.runtime.cosim import COSIM_TRAIN_STEPS, CosimSettings

    defaults = CosimSettings()
    cosim = commands.add_parser(
        "cosim", help="co-simulate a model's MoE layers on the accelerator, bit-exact"
    )
    cosim.add_argument(
        "--model",
        default=defaults.model,
        help="tiny-moe (trained on first use: ternary experts for fat, float for mixpe and "
        "xbar), "
        "cmoe-minilm, or a model DIR",
    )
    cosim.add_argument("--tokens", type=int, default=defaults.tokens, help="held-out tokens")
    cosim.add_argument("--backend", default=defaults.backend, help=f"one of {', '.join(BACKENDS)}")
    cosim.add_argument(
        "--engine",
        default=defaults.engine,
        help="expert engine: fat (ternary experts), mixpe (W4A8 experts) or xbar (int8 "
        "experts on crossbars)",
    )
    cosim.add_argument(
        "--lanes", type=int, default=defaults.lanes, help="tokens per job (FAT lanes, MixPE rows)"
    )
    cosim.add_argument(
        "--arrays",
        type=int,
        default=defaults.arrays,
        help="FAT arrays, MixPE columns or crossbar peripheries",
    )
    cosim.add_argument(
        "--max-tokens", type=int, default=defaults.max_tokens, help="tokens per batch"
    )
    cosim.add_argument(
        "--train-steps",
        type=int,
        default=COSIM_TRAIN_STEPS,
        help="steps when the tiny MoE must be trained first",
    )
    cosim.add_argument(
        "--quality-tokens",
        type=int,
        default=defaults.quality_tokens,
        help="held-out tokens for float vs quantized golden (0: none)",
    )
    cosim.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder for report.json and the plots: new, or one moetile wrote",
    )
    cosim.set_defaults(run=_cosim)


def _cosim(args) -> int:
    from moetile.sw.runtime.cosim import CosimSettings, cosim, write_report

    settings = CosimSettings(
        model=args.model,
        tokens=args.tokens,
        backend=args.backend,
        engine=args.engine,
        lanes=args.lanes,
        arrays=args.arrays,
        max_tokens=args.max_tokens,
        quality_tokens=args.quality_tokens,
        train_steps=args.train_steps,
    )
    OutputFolder(args.out)  # refused now, not after the simulation
    quiet_transformers()
    report = cosim(settings, progress, _bar)
    files = write_report(report, args.out)
    print(_headline(report))
    print_table([_row(row) for row in report["layers"]])
    q = report["quality"]
    backend = report["backend"]
    print(
        f"perplexity per byte on these {q['tokens']} tokens: float {q['float_perplexity']:.3f}, "
        f"quantized golden {q['golden_perplexity']:.3f}, {backend} "
        f"{q[f'{backend}_perplexity']:.3f}"
    )
    if "held_out" in q:
        h = q["held_out"]
        print(
            f"perplexity per byte on {h['tokens']} held-out tokens: float "
            f"{h['float_perplexity']:.3f}, quantized golden {h['golden_perplexity']:.3f}"
        )
    print(f"wrote {', '.join(files)} to {args.out}")
    return 0 if report["bit_exact"] else 1


def _headline(report: dict) -> str:
    sim = report["simulation"]
    verdict = "bit-exact" if report["bit_exact"] else "MISMATCH against the golden"
    head = f"{report['model']} on the {report['backend']} backend: every layer {verdict}"
    if report["backend"] == "golden" or not report["bit_exact"]:
        return head if report["bit_exact"] else f"{report['model']}: {verdict}"
    return (
        f"{head}; {sim['cycles']:,} cycles simulated in {sim['seconds']:.1f} s "
        f"({sim['cycles_per_second'] / 1e6:.2f} M cycles/s)"
    )


def _row(row: dict) -> dict:
    out = {"layer": row["layer"], "tokens": row["tokens"]}
    if "cycles" in row:
        cycles = row["cycles"]
        out.update(
            {
                step: cycles[step]
                for step in ("load", "route", "gather", "gate_up", "down", "output")
            }
        )
        out["cycles/token"] = round(row["cycles_per_token"])
        out["utilization"] = f"{100 * row['utilization']:.0f}%"
    out["bit-exact"] = "yes" if row["bit_exact"] else "NO"
    out["error"] = f"{100 * row['error']:.1f}%"
    return out


def _bar(done: int, total: int, record) -> None:
    width = 30
    filled = width * done // total
    line = (
        f"\r... cosim [{'#' * filled}{'.' * (width - filled)}] {done}/{total} layer batches "
        f"(layer {record.layer}, {record.tokens} tokens)"
    )
    if sys.stderr.isatty():
        print(line, end="\n" if done == total else "", file=sys.stderr, flush=True)
    elif done == total or done % max(1, total // 8) == 0:
        print(line.lstrip("\r"), file=sys.stderr, flush=True)
