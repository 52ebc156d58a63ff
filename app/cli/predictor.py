"""``moetile predictor train|eval``: pre-attention expert predictors from routing traces."""

import json
from importlib import metadata
from pathlib import Path

from moetile.sw.console import UserError, print_table, progress
from moetile.sw.outputs import OutputFile, OutputFolder, is_own_png

__all__ = ["add_predictor_commands"]

DEFAULT_DIR = Path("build/predictors")


def add_predictor_commands(commands) -> None:
    predictor = commands.add_parser("predictor", help="pre-attention expert predictors")
    actions = predictor.add_subparsers(dest="action", required=True)

    train = actions.add_parser("train", help="train per-layer predictors on a routing trace")
    train.add_argument("trace", type=Path, help="a trace of training text (moetile model trace)")
    train.add_argument("--rank", type=int, default=64, help="rank r of W1 (r x hidden)")
    train.add_argument("--loss", default="pairwise", help="pairwise, listmle or ce")
    train.add_argument("--steps", type=int, default=2000, help="Adam steps per layer")
    train.add_argument("--seed", type=int, default=0, help="seed of initialization and batches")
    train.add_argument("--macs", type=int, default=8, help="the hardware unit's MACs per GEMV")
    train.add_argument("--out", type=Path, default=None, help="default build/predictors/MODEL")
    train.set_defaults(run=_train)

    evaluate = actions.add_parser("eval", help="accuracy on held-out text against baselines")
    evaluate.add_argument("predictor", type=Path, help="a folder from `moetile predictor train`")
    evaluate.add_argument("trace", type=Path, help="a trace of held-out text, same model")
    evaluate.add_argument("--extra", type=int, default=2, help="experts prefetched beyond k")
    evaluate.add_argument("--plot", type=Path, default=None, help="PNG of accuracy per layer")
    evaluate.add_argument("--json", action="store_true", help="JSON rows instead of a table")
    evaluate.set_defaults(run=_eval)


def _load_trace(path: Path, split: str):
    from moetile.sw.models.trace import load_trace

    trace = load_trace(path)
    if trace.split != split:
        progress(f"note: {path} traces {trace.split} text, not {split}")
    return trace


def _train(args) -> int:
    from moetile.sw.predictor.model import LOSSES
    from moetile.sw.predictor.suite import save_suite, train_suite

    if args.loss not in LOSSES:
        raise UserError(f"--loss must be one of {', '.join(LOSSES)}, not {args.loss!r}")
    for name in ("rank", "steps", "macs"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} must be an integer >= 1, not {getattr(args, name)}")
    trace = _load_trace(args.trace, "train")
    out = args.out or DEFAULT_DIR / trace.model
    folder = OutputFolder(out)
    progress(f"training {len(trace.layers)} layers' predictors on {len(trace.tokens)} tokens")
    suite = train_suite(
        trace,
        rank=args.rank,
        loss=args.loss,
        steps=args.steps,
        seed=args.seed,
        macs=args.macs,
        progress=progress,
    )
    with folder.writing() as stage:
        save_suite(suite, stage)
    p = suite.params
    print(
        f"{out}: predictors for {trace.model}, {len(suite.layers)} layers, rank {p.rank}, "
        f"{args.loss} loss, int8 with {p.multiplier_width}-bit requantization"
    )
    return 0


def _eval(args) -> int:
    from moetile.sw.predictor.plot import plot_accuracy
    from moetile.sw.predictor.suite import evaluate, load_suite

    plot = args.plot and OutputFile(args.plot, "--plot", is_own_png)
    suite = load_suite(args.predictor)
    trace = _load_trace(args.trace, "validation")
    rows = evaluate(suite, trace, args.extra)
    for row in rows:
        for key in ("exact_match", "recall", "coverage"):
            row[key] = round(row[key], 4)
    if plot:
        with plot.writing() as partial:
            title = (
                f"{suite.model}: top-{suite.params.k} exact match on {len(trace.tokens)} "
                f"held-out tokens ({args.trace.name}), moetile {metadata.version('moetile')}"
            )
            plot_accuracy(rows, partial, title)
        progress(f"plot written to {args.plot}")
    if args.json:
        print(json.dumps(rows))
    else:
        print_table(rows)
    return 0
