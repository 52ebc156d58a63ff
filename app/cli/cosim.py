"""``moetile cosim``: co-simulate a model's MoE layers on the generated accelerator."""

from pathlib import Path

from moetile.app.cosim.settings_file import SETTINGS_FILE, read_settings
from moetile.sw.console import (
    print_table,
    progress,
    progress_bar,
    quiet_transformers,
    training_bar,
    wrapped,
)
from moetile.sw.outputs import OutputFolder

__all__ = ["add_cosim_command"]

DEFAULT_OUT = Path("build/cosim")


#: The settings the command line sets: option → (CosimSettings field, type, help).
OPTIONS = {
    "--model": (
        "model",
        str,
        "tiny-moe (trained on first use: ternary experts for fat, float for mixpe and xbar), "
        "cmoe-minilm, or a model DIR",
    ),
    "--hf": (
        "hf",
        str,
        "in place of --model: a random-initialized transformers MoE of this architecture, "
        "from a config.json (or its folder) or a model_type such as qwen3_moe, olmoe, "
        "mixtral; its sizes capped by the --hf-* options (default: none)",
    ),
    "--hf-layers": ("hf_layers", int, "decoder layers of an --hf model, at most"),
    "--hf-hidden": ("hf_hidden", int, "width of an --hf model, at most"),
    "--hf-expert-hidden": ("hf_expert_hidden", int, "units per expert of an --hf model, at most"),
    "--hf-experts": ("hf_experts", int, "routed experts of an --hf model, at most"),
    "--hf-top-k": ("hf_top_k", int, "experts per token of an --hf model, at most"),
    "--tokens": ("tokens", int, "held-out tokens"),
    "--backend": ("backend", str, "one of fast, cocotb, golden"),
    "--engine": (
        "engine",
        str,
        "expert engine: fat (ternary experts), mixpe (W4A8 experts) or xbar (int8 experts on "
        "crossbars)",
    ),
    "--lanes": ("lanes", int, "tokens per job (FAT lanes, MixPE rows)"),
    "--arrays": ("arrays", int, "FAT arrays, MixPE columns or crossbar peripheries"),
    "--max-tokens": ("max_tokens", int, "tokens per batch"),
    "--train-steps": ("train_steps", int, "steps when the tiny MoE must be trained first"),
    "--clock": (
        "clock",
        float,
        "MHz of the times per token (default: the design's Fmax once `moetile implement` "
        "placed it, else 100, assumed)",
    ),
    "--quality-tokens": (
        "quality_tokens",
        int,
        "held-out tokens for float vs quantized golden (0: none; default: 8 per --tokens, at "
        "most 1024)",
    ),
    "--generate": (
        "generate",
        int,
        "generate N tokens greedily after each of --prompts held-out prompts, decoded "
        "together, every step on the accelerator (default: 0, a prefill run of --tokens)",
    ),
    "--prompts": ("prompts", int, "prompts decoded together with --generate, at most --max-tokens"),
    "--prompt-tokens": ("prompt_tokens", int, "tokens of each prompt with --generate"),
    "--memory": (
        "memory",
        str,
        "off-chip memory the weights are fetched from with --generate: lpddr5, hbm3 or pcie4",
    ),
    "--bandwidth": (
        "bandwidth",
        float,
        "GB/s of that memory, in place of its preset's peak (with --generate)",
    ),
    "--memory-latency": (
        "memory_latency",
        float,
        "ns before a fetch's first word, in place of its preset's (with --generate)",
    ),
    "--cache-slots": (
        "cache_slots",
        int,
        "expert slots on chip with --generate (default: half the model's experts; 0: none, "
        "every layer fetched whole at every step)",
    ),
    "--cache": (
        "cache",
        str,
        "the slots' replacement with --generate: lru, lfu, or none (emptied before every "
        "batch: load-on-demand without a cache)",
    ),
    "--cache-allocation": (
        "cache_allocation",
        str,
        "which layers' experts a slot takes: shared (any) or shallow (per-layer quotas, more "
        "for the shallow layers: Fate's allocation)",
    ),
    "--cache-pins": (
        "cache_pins",
        int,
        "the most popular experts (on the calibration text) pinned in slots and preloaded",
    ),
    "--prefetch": (
        "prefetch",
        str,
        "with --generate, who asks for experts ahead of each layer: preattn (the predictor "
        "unit), fate (the next layer's router), prev (a previous-layer predictor), oracle or "
        "none; the host's attention is then counted (default: no prefetch port)",
    ),
    "--prefetch-extra": (
        "prefetch_extra",
        int,
        "experts beyond top-k each token's prediction asks for",
    ),
    "--predictor": (
        "predictor",
        str,
        "a `moetile predictor train` folder for --prefetch preattn or prev (default: trained "
        "on the model once)",
    ),
}


def add_cosim_command(commands) -> None:
    from moetile.app.cosim.hardware import LAYER_KNOBS, knob_names
    from moetile.app.cosim.settings import CosimSettings
    from moetile.hw.moe import ENGINES

    engine_fields = "; ".join(
        f"{name}: {', '.join(k for k in knob_names(name) if k not in LAYER_KNOBS)}"
        for name in ENGINES
    )

    defaults = CosimSettings()
    cosim = commands.add_parser(
        "cosim", help="co-simulate a model's MoE layers on the accelerator, bit-exact"
    )
    for option, (field, kind, text) in OPTIONS.items():
        # No argparse default: an option typed on the command line overrides --config.
        default = getattr(defaults, field)
        shown = text if "default:" in text else f"{text} (default: {default})"
        cosim.add_argument(option, type=kind, default=None, help=shown)
    cosim.add_argument(
        "--param",
        action="append",
        default=None,
        metavar="NAME=VALUE",
        help=f"another knob of the accelerator: the layer's {', '.join(LAYER_KNOBS)}, or a "
        f"field of the engine ({engine_fields}); repeatable",
    )
    cosim.add_argument(
        "--area",
        action="store_true",
        default=None,
        help="synthesize the accelerator for its area if the cache does not hold it yet",
    )
    cosim.add_argument(
        "--config",
        type=Path,
        metavar="FILE.toml",
        help=f"settings of an earlier run ({SETTINGS_FILE} beside its report); options given "
        "as well override it",
    )
    cosim.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"folder for report.json, {SETTINGS_FILE} and the plots: new, or one moetile wrote",
    )
    cosim.set_defaults(run=_cosim)


def _cosim(args) -> int:
    from moetile.app.cosim.run import cosim, write_report

    settings = _settings(args)
    OutputFolder(args.out)  # refused now, not after the simulation
    quiet_transformers()
    if settings.generate:
        return _generate(settings, args.out)
    report = cosim(settings, progress, _batch_bar(), training_bar("training the tiny MoE"))
    files = write_report(report, args.out)
    print(_headline(report))
    print_table([_row(row) for row in report["layers"]])
    if report["backend"] != "golden":
        clock = report["clock"]
        print(wrapped(f"times at {clock['mhz']:g} MHz: {clock['source']}"))
    for line in _quality_lines(report["quality"], report["backend"]):
        print(wrapped(line))
    print(_area(report["area"], report["simulation"]["cycles"]))
    print(wrapped(f"wrote {', '.join(files)} to {args.out}"))
    return 0 if report["bit_exact"] else 1


#: How each quality figure of a report is printed: its words, and the float model's name.
QUALITY_FIGURES = {
    "perplexity": ("perplexity per byte", "float"),
    "embedding_cosine": ("sentence embeddings' cosine to the dense model's", "float CMoE"),
}


def _quality_lines(q: dict, backend: str) -> list[str]:
    metric = next(m for m in QUALITY_FIGURES if f"float_{m}" in q)
    words, float_name = QUALITY_FIGURES[metric]
    lines = [
        f"{words} on these {q['tokens']} tokens: {float_name} {q[f'float_{metric}']:.3f}, "
        f"quantized golden {q[f'golden_{metric}']:.3f}, {backend} {q[f'{backend}_{metric}']:.3f}"
    ]
    if "held_out" in q:
        h = q["held_out"]
        lines.append(
            f"{words} on {h['tokens']} held-out tokens: {float_name} "
            f"{h[f'float_{metric}']:.3f}, quantized golden {h[f'golden_{metric}']:.3f}"
        )
    return lines


def _generate(settings, out: Path) -> int:
    from moetile.app.cosim.generate import generate
    from moetile.app.cosim.run import write_report

    report = generate(settings, progress, _batch_bar(), training_bar("training the tiny MoE"))
    files = write_report(report, out)
    g = report["generation"]
    exact = "bit-exact" if report["bit_exact"] else "MISMATCH against the golden"
    same = "equals" if g["equal_to_golden"] else "DIFFERS FROM"
    print(
        wrapped(
            f"{report['model']} on the {report['backend']} backend: {g['new_tokens']} tokens "
            f"generated after each of {g['prompts']} prompts of {g['prompt_tokens']} tokens, "
            f"every layer of every step {exact}; the text {same} the golden model's (the float "
            f"model's: {100 * g['float_agreement']:.1f} % of tokens the same)"
        )
    )
    for n, text in enumerate(g["texts"]):
        print(f"prompt {n}: {text['prompt']!r} -> {text['generated']!r}")
    if "layers" in report:
        print(f"decode, per generated token (a step: {g['prompts']} tokens, one per prompt):")
        print_table([_generation_row(row) for row in report["layers"]])
    for phase in ("decode", "prefill"):
        if phase in report:
            print(wrapped(_phase_line(phase, report[phase], report["clock"])))
    if "cache" in report:
        print(wrapped(_cache_line(report)))
    if "prefetch" in report:
        print(wrapped(_prefetch_line(report["prefetch"])))
    if report["backend"] != "golden":
        m, clock = report["memory"], report["clock"]
        print(
            wrapped(
                f"weights from {m['what']} ({m['bandwidth_source']}): {m['bytes_per_cycle']:,.0f} "
                f"bytes a cycle at {m['clock_mhz']:g} MHz, after {m['latency_cycles']} cycles "
                f"({m['latency_ns']:g} ns, {m['latency']}); {m['pj_per_byte']:g} pJ a byte "
                f"({m['energy_source']})"
            )
        )
        print(wrapped(f"times at {clock['mhz']:g} MHz: {clock['source']}"))
        print(_area(report["area"], 0))
    print(wrapped(f"wrote {', '.join(files)} to {out}"))
    cache_ok = report.get("cache", {}).get("equal_to_reference", True)
    return 0 if report["bit_exact"] and g["equal_to_golden"] and cache_ok else 1


def _cache_line(report: dict) -> str:
    c = report["cache"]
    rate = report.get("decode", report)["cache"]["hit_rate"]
    policy = {"none": "emptied before every batch", "lru": "LRU", "lfu": "LFU"}[c["policy"]]
    if any(owner is not None for owner in c["owners"]):
        policy += ", per-layer quotas"
    if c["pinned"]:
        policy += f", {len(c['pinned'])} pinned"
    same = "the golden policy's" if c["equal_to_reference"] else "NOT the golden policy's"
    return (
        f"expert cache: {c['slots']} slots, {policy}; {100 * rate:.1f} % of decode lookups hit "
        f"({100 * c['hit_rate']:.1f} % of all {c['lookups']:,}); every fetch {same}"
    )


def _prefetch_line(f: dict) -> str:
    return (
        f"prefetch ({f['scheme']}, top-k + {f['extra']} a token): accuracy "
        f"{100 * f['accuracy']:.1f} %, coverage {100 * f['coverage']:.1f} %; {f['prefetch_fills']} "
        f"fetched ahead ({f['useful']} used, {f['late']} of them late; "
        f"{f['wasted_bytes'] / 1e3:,.1f} kB wasted), {f['already_on_chip']} already on chip, "
        f"{f['refused']} refused, {f['dropped']} dropped; the host's attention "
        f"{f['attention_cycles_per_layer']:,.0f} cycles a layer"
        + (
            f", the predictor unit {f['predictor_cycles_per_layer']:,.0f}"
            if f["predictor_cycles_per_layer"]
            else ""
        )
    )


def _generation_row(row: dict) -> dict:
    out = {"layer": row["layer"]}
    out.update({step: round(cycles) for step, cycles in row["cycles_per_token"].items()})
    out["cycles/token"] = round(row["total_per_token"])
    out["µs/token"] = f"{row['us_per_token']:.2f}"
    out["exact"] = "yes" if row["bit_exact"] else "NO"
    return out


def _phase_line(phase: str, s: dict, clock: dict) -> str:
    split = s["split_per_token"]
    shares = ", ".join(
        f"{name} {100 * split[name] / s['cycles_per_token']:.0f} %"
        for name in ("attention", "fetch", "compute", "other")
        if name in split
    )
    unit = "prompt token" if phase == "prefill" else "generated token"
    return (
        f"{phase}: {s['cycles_per_token']:,.0f} cycles a {unit} ({shares}), "
        f"{s['tokens_per_second']:,.1f} tokens/s at {clock['mhz']:g} MHz; "
        f"{s['fetched_bytes_per_token'] / 1e3:,.1f} kB fetched a token, "
        f"{s['offchip_uj_per_token']:,.1f} µJ off chip a token; engine utilization "
        f"{100 * s['utilization']:.0f} %"
    )


def _settings(args):
    """The settings of ``--config`` (if any), with each option typed on the command line
    instead of the file's value."""
    from dataclasses import fields

    from moetile.app.cosim.settings import CosimSettings

    names = tuple(f.name for f in fields(CosimSettings))
    values = read_settings(args.config, names) if args.config else {}
    for field in (*(field for field, _kind, _text in OPTIONS.values()), "area"):
        if getattr(args, field) is not None:
            values[field] = getattr(args, field)
    if args.param:
        values["params"] = _with_params(values, args.param)
    return CosimSettings(**values)


def _with_params(values: dict, typed: list[str]) -> str | None:
    """The ``params`` setting: ``--config``'s, each ``--param`` typed replacing its knob."""
    from moetile.app.cosim.hardware import knob_text, parse_knobs
    from moetile.app.cosim.settings import CosimSettings
    from moetile.hw.moe import ENGINES

    engine = values.get("engine", CosimSettings.engine)
    if engine not in ENGINES:  # refused, by name, with the settings
        return ",".join(typed)
    knobs = parse_knobs(values.get("params"), engine)
    for text in typed:
        if "=" not in text:
            raise ValueError(f"--param must look like NAME=VALUE, not {text!r}")
        knobs.update(parse_knobs(text, engine))
    return knob_text(knobs)


def _area(area: dict | None, cycles: int) -> str:
    if area is None:
        return "area: not synthesized yet (--area synthesizes it, or moetile synth)"
    line = (
        f"area of {area['design']}: {area['cells']:,} cells of logic, {area['memory_bits']:,} "
        "memory bits (Yosys synth)"
    )
    return f"{line}; {cycles:,} cycles simulated" if cycles else line


def _headline(report: dict) -> str:
    sim = report["simulation"]
    verdict = "bit-exact" if report["bit_exact"] else "MISMATCH against the golden"
    head = f"{report['model']} on the {report['backend']} backend: every layer {verdict}"
    if report["backend"] == "golden" or not report["bit_exact"]:
        return head if report["bit_exact"] else f"{report['model']}: {verdict}"
    return (
        f"{head}; {sim['cycles']:,} cycles in {sim['seconds']:.1f} s "
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
        out["µs/token"] = f"{row['us_per_token']:.2f}"
        out["util"] = f"{100 * row['utilization']:.0f}%"
    out["exact"] = "yes" if row["bit_exact"] else "NO"
    out["error"] = f"{100 * row['error']:.1f}%"
    return out


def _batch_bar():
    """An ``on_batch(done, total, record)`` callback drawing the layer batches' progress."""
    bar = None

    def on_batch(done: int, total: int, record) -> None:
        nonlocal bar
        if bar is None:
            bar = progress_bar("cosim", total, unit="layer batch")
        bar.set_postfix_str(f"layer {record.layer}, {record.tokens} tokens", refresh=False)
        bar.update(done - bar.n)
        if done == total:
            bar.close()

    return on_batch
