"""``moetile model ...``: make, convert and trace the offline MoE workloads."""

import json
from pathlib import Path

from moetile.sw.console import UserError, print_table, progress, quiet_transformers, training_bar
from moetile.sw.models import CMOE_CALIBRATION_PASSAGES, CMOE_FILE, CMOE_MODEL, TINY_MODELS
from moetile.sw.outputs import OutputFile, OutputFolder

__all__ = ["add_model_commands"]


def add_model_commands(commands) -> None:
    model = commands.add_parser("model", help="offline MoE workloads")
    actions = model.add_subparsers(dest="action", required=True)

    train = actions.add_parser("train-tiny", help="train the small MoE language model on CPU")
    train.add_argument("--steps", type=int, default=None, help="training steps (default 800)")
    train.add_argument("--seed", type=int, default=0, help="seed of initialization and batches")
    train.add_argument(
        "--experts",
        default="float",
        help="expert weights: float, or ternary (trained ternary-aware)",
    )
    train.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder: new, or one moetile wrote (default: build/models/tiny-moe[-ternary], "
        "where model trace finds it)",
    )
    train.set_defaults(run=_model_train_tiny)

    cmoe = actions.add_parser("convert-cmoe", help="convert all-MiniLM-L6-v2's FFNs to MoE")
    cmoe.add_argument(
        "--calibration", type=int, default=CMOE_CALIBRATION_PASSAGES, help="calibration passages"
    )
    cmoe.add_argument("--held-out", type=int, default=60, help="evaluation passages")
    cmoe.add_argument("--experts", type=int, default=8, help="experts per FFN, shared included")
    cmoe.add_argument("--shared", type=int, default=1, help="shared (always active) experts")
    cmoe.add_argument(
        "--seed", type=int, default=0, help="seed of the clustering and the gates' training"
    )
    cmoe.add_argument(
        "--out",
        type=Path,
        default=MODELS_DIR / CMOE_MODEL,
        help="folder for the partition and report: new, or one moetile wrote (model trace "
        "looks there)",
    )
    cmoe.set_defaults(run=_model_convert_cmoe)

    trace = actions.add_parser("trace", help="record per-layer routing of a model")
    trace.add_argument("model", help=f"one of: {', '.join(TRACEABLE)}")
    trace.add_argument(
        "--tokens",
        type=int,
        default=512,
        help="tokens to trace; beyond the model's context, consecutive passages are traced",
    )
    trace.add_argument("--split", choices=SPLITS, default="validation", help="text to trace")
    trace.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="the model's folder (default: where model train-tiny or convert-cmoe put it)",
    )
    trace.add_argument(
        "--out", type=Path, required=True, help="trace file: new, or a trace moetile wrote"
    )
    trace.set_defaults(run=_model_trace)


#: Where the models made by these commands go unless ``--out`` says otherwise.
MODELS_DIR = Path("build/models")
TRACEABLE = (*TINY_MODELS, CMOE_MODEL)
SPLITS = ("train", "validation")


def _model_train_tiny(args) -> int:
    from moetile.sw.models.tiny_moe import EXPERT_WEIGHTS, TinyMoESettings, train_tiny_moe

    if args.experts not in EXPERT_WEIGHTS:
        raise UserError(
            f"--experts must be one of {', '.join(EXPERT_WEIGHTS)}, not {args.experts!r}"
        )
    name = next(name for name, kind in TINY_MODELS.items() if kind == args.experts)
    out = args.out or MODELS_DIR / name
    folder = OutputFolder(out)
    steps = {} if args.steps is None else {"steps": args.steps}
    settings = TinyMoESettings(seed=args.seed, expert_weights=args.experts, **steps)
    quiet_transformers()

    with folder.writing() as stage:
        metrics = train_tiny_moe(settings, stage, training_bar("training (loss in nats/byte)"))
    print(
        f"tiny MoE with {args.experts} experts ({metrics['parameters']:,} parameters, "
        f"{settings.layers} layers, {settings.experts} experts, top-{settings.top_k}) "
        f"saved to {out}"
    )
    print(
        f"held-out perplexity per byte: {metrics['validation_perplexity']:.3f} "
        f"(trained {metrics['train_seconds']:.0f} s on {metrics['train_bytes']:,} bytes)"
    )
    if "ternarized_after_training_perplexity" in metrics:
        after = metrics["ternarized_after_training_perplexity"]
        print(
            f"experts ternarized after training: {after['twn']:.3f} (TWN), "
            f"{after['absmean']:.3f} (absmean)"
        )
    return 0


def _model_convert_cmoe(args) -> int:
    from moetile.sw.models.cmoe import CMoESettings
    from moetile.sw.models.cmoe_minilm import (
        convert_minilm,
        quality_report,
        save_converted,
        text_samples,
    )

    settings = CMoESettings(experts=args.experts, shared=args.shared, seed=args.seed)
    folder = OutputFolder(args.out)
    calibration = text_samples(args.calibration, "train")
    held_out = text_samples(args.held_out, "validation")
    converted = convert_minilm(settings, calibration, progress)
    rows = quality_report(converted, held_out, progress)
    with folder.writing() as stage:
        save_converted(converted, stage / CMOE_FILE)
        (stage / "report.json").write_text(
            json.dumps({"settings": settings.__dict__, "rows": rows}, indent=2) + "\n"
        )
    print(
        f"all-MiniLM-L6-v2 converted: {settings.experts} experts per FFN "
        f"({settings.shared} shared), saved to {folder.path / CMOE_FILE}"
    )
    print(
        f"quality on {args.held_out} held-out passages (router: how routed experts are chosen;"
        " active: fraction of FFN neurons used):"
    )
    print_table(rows)
    return 0


def _model_trace(args) -> int:
    from moetile.sw.models.corpus import stdlib_corpus
    from moetile.sw.models.trace import is_trace, passages_of, save_trace

    if args.model not in TRACEABLE:
        raise UserError(f"unknown model {args.model!r}; allowed: {', '.join(TRACEABLE)}")
    if args.tokens < 1:
        raise UserError(f"--tokens must be >= 1, not {args.tokens}")
    output = OutputFile(args.out, "--out", is_trace)
    quiet_transformers()
    progress(f"tracing {args.tokens} tokens of {args.split} text through {args.model}")
    if args.model == CMOE_MODEL:
        trace = _cmoe_trace(args)
    else:
        from moetile.sw.models.tiny_moe import load_tiny_moe
        from moetile.sw.models.trace import record_hf_trace

        kind = TINY_MODELS[args.model]
        model = load_tiny_moe(args.model_dir or MODELS_DIR / args.model, kind)
        train, validation = stdlib_corpus().split_bytes()
        text = train if args.split == "train" else validation
        context = model.config.max_position_embeddings
        passages = passages_of(text, context, args.tokens, f"the {args.split} text")
        trace = record_hf_trace(model, passages, args.model, args.split)
    with output.writing() as partial:
        save_trace(trace, partial)
    print(
        f"{args.out}: {len(trace.layers)} layers x {len(trace.tokens)} tokens "
        f"in {len(trace.passage_bounds) - 1} passages of {args.split} text, "
        f"{trace.experts} experts, top-{trace.top_k}"
    )
    for n, layer in enumerate(trace.layers):
        load = layer.expert_load
        print(
            f"  layer {n}: expert load {load.tolist()} "
            f"(max/mean {float(load.max() / load.float().mean()):.2f})"
        )
    return 0


def _cmoe_trace(args):
    """The first passages of the split that hold ``--tokens`` tokens."""
    from moetile.sw.models.cmoe_minilm import (
        load_converted,
        record_cmoe_trace,
        routed_k,
        texts_for_tokens,
    )

    converted = load_converted((args.model_dir or MODELS_DIR / CMOE_MODEL) / CMOE_FILE)
    texts = texts_for_tokens(args.tokens, args.split)
    k = routed_k(converted.settings, 0.25)
    return record_cmoe_trace(converted, texts, k, args.tokens, args.split)
