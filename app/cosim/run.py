"""``moetile cosim``: a model's MoE layers co-simulated on the generated accelerator, every
batch checked bit for bit against the golden, with the model's quality, the cycles of every
step and the engine's utilization."""

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from moetile.hw.moe import MoELayerParams
from moetile.hw.registry import Design, block
from moetile.sim.implementation import design_clock
from moetile.sw.models import CMOE_MODEL, TINY_MODELS, saved_model_dir
from moetile.sw.outputs import OutputFolder
from moetile.sw.paths import locked_file
from moetile.sw.runtime.backends import GoldenBackend
from moetile.sw.runtime.model import AcceleratedModel, perplexity, summarize

from .backends import make_backend
from .plots import write_plots
from .settings import COSIM_TRAIN_STEPS, CosimSettings
from .settings_file import SETTINGS_FILE, settings_toml

__all__ = [
    "COSIM_TRAIN_STEPS",
    "CosimSettings",
    "Workload",
    "cosim",
    "decoder_workload",
    "model_context",
    "passages",
    "report_head",
    "resolve_model",
    "write_report",
]

MODELS = ("tiny-moe", CMOE_MODEL)

#: The tiny MoE each engine runs (``--model tiny-moe``): FAT runs exactly ternary experts.
ENGINE_MODELS = {"fat": "tiny-moe-ternary", "mixpe": "tiny-moe", "xbar": "tiny-moe"}


def resolve_model(settings: CosimSettings, progress, on_step=None):
    """The ``transformers`` model to run, making the default one when it is missing."""
    from moetile.sw.models.tiny_moe import TinyMoESettings, load_tiny_moe, train_tiny_moe

    if settings.hf is not None:
        from moetile.sw.models.hf_random import HfShrink, hf_model

        shrink = HfShrink(
            settings.hf_layers,
            settings.hf_hidden,
            settings.hf_expert_hidden,
            settings.hf_experts,
            settings.hf_top_k,
        )
        model, summary = hf_model(settings.hf, shrink)
        progress(
            f"a random-initialized {summary['model_type']} of {summary['layers']} layers, width "
            f"{summary['hidden']}, {summary['experts']} experts, top-{summary['top_k']}"
        )
        return model, f"hf:{summary['model_type']}"
    if settings.model == "tiny-moe":
        # The model `moetile model train-tiny --experts KIND` makes, when there is one; a
        # shorter run of it otherwise (its own folder when the steps are not the default).
        folder = ENGINE_MODELS[settings.engine]
        kind, path = TINY_MODELS[folder], saved_model_dir(folder)
        if settings.train_steps != COSIM_TRAIN_STEPS and not (path / "model.safetensors").is_file():
            path = path.with_name(f"{folder}-{settings.train_steps}-steps")
        with locked_file(path.with_name(f".{path.name}.lock")):
            if not (path / "model.safetensors").is_file():
                steps = settings.train_steps
                progress(f"training the {kind}-expert tiny MoE once ({steps} steps) into {path}")

                def each_step(step, total, loss):
                    if step == 1 or step % 25 == 0 or step == total:
                        progress(f"  step {step}/{total}: training loss {loss:.3f}")

                on_step = on_step or each_step
                train_tiny_moe(TinyMoESettings(expert_weights=kind, steps=steps), path, on_step)
        return load_tiny_moe(path, kind), "tiny-moe"
    path = Path(settings.model)
    if not path.is_dir():
        raise ValueError(
            f"--model must be one of {', '.join(MODELS)} or a model directory, not {path}"
        )
    _check_moe_config(path)
    return load_tiny_moe(path), str(path)


def model_context(model) -> int:
    """The longest passage of ``model``: its positions, or for a relative-position model (the
    T5 family of ``--hf``) the context the shrunk models keep."""
    from moetile.sw.models.hf_random import HF_CONTEXT

    return getattr(model.config, "max_position_embeddings", None) or HF_CONTEXT


def _check_moe_config(path: Path) -> None:
    """Refuse a saved model that is not a Mixtral-style MoE before loading it as one."""
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return  # load_tiny_moe names what is missing or corrupt
    kind = config.get("model_type") if isinstance(config, dict) else None
    if kind != "mixtral" or not config.get("num_local_experts"):
        raise ValueError(
            f"{path}: a {kind or 'unknown'} model without MoE layers the accelerator can run "
            "(it runs Mixtral-style tiny MoEs made by `moetile model train-tiny`)"
        )


def design_area(params: MoELayerParams, compute: bool, progress) -> dict | None:
    """The accelerator's area as ``moetile synth`` counts it (logic cells and memory bits):
    from the synthesis cache, or synthesized now when ``compute``; ``None`` when neither."""
    from moetile.sim.build import generate_verilog
    from moetile.sw.cost.synth import synthesize, synthesized

    design = Design(block("moe_layer"), params)
    verilog = generate_verilog(design)
    result = synthesized(verilog, design.top)
    if result is None and compute:
        progress(f"synthesizing {design.top} for its area (Yosys synth; stat)")
        result = synthesize(verilog, design.top)
    if result is None:
        return None
    return {"design": design.top, "cells": result.cells, "memory_bits": result.memory_bits}


def passages(data: torch.Tensor, tokens: int, context: int) -> list[torch.Tensor]:
    """The first ``tokens`` of ``data`` in passages of one ``context`` each."""
    return [data[s : min(s + context, tokens)] for s in range(0, tokens, context)]


def report_head(name: str, settings, params, design, clock, records) -> dict:
    """What every co-simulation report starts with: what ran, on which design and clock, and
    whether every batch equalled the golden."""
    return {
        "model": name,
        "backend": settings.backend,
        "engine": settings.engine,
        "settings": asdict(settings),
        "params": asdict(params),
        "design": design.top,
        "clock": clock.to_json(),
        "bit_exact": all(r.exact for r in records),
    }


def _check_sizes(settings: CosimSettings, train, validation) -> None:
    """Every size of the run against the text there is, before anything is trained or built."""
    sizes = [
        ("tokens", settings.tokens, validation, "held-out"),
        ("quality_tokens", settings.quality_tokens, validation, "held-out"),
        ("calibration", settings.calibration, train, "training"),
    ]
    for name, tokens, data, what in sizes:
        if tokens > len(data):
            raise ValueError(
                f"{name} must be at most {len(data):,}: the {what} text holds {len(data):,} "
                f"tokens, not {tokens:,}"
            )


@dataclass
class Workload:
    """What a co-simulation runs: a model with its MoE layers on the accelerator, its
    calibration, co-simulated and held-out passages, and how its outputs are scored
    (``score(outputs, passages)``, the figure named ``metric``)."""

    name: str
    accelerated: AcceleratedModel
    calibration: list[torch.Tensor]
    passages: list[torch.Tensor]
    held_out: list[torch.Tensor]
    metric: str
    score: Callable[[list[torch.Tensor], list[torch.Tensor]], float]


def decoder_workload(settings: CosimSettings, progress, on_train_step=None) -> Workload:
    """A decoder language model (``--model tiny-moe``, a model folder, ``--hf``) scored by its
    perplexity per byte."""
    from moetile.sw.models.corpus import stdlib_corpus

    train, validation = stdlib_corpus().split_bytes()
    _check_sizes(settings, train, validation)
    model, name = resolve_model(settings, progress, on_train_step)
    context = model_context(model)
    hardware = settings.hardware()
    return Workload(
        name,
        AcceleratedModel(model, hardware, settings.max_tokens),
        passages(train, settings.calibration, context),
        passages(validation, settings.tokens, context),
        passages(validation, settings.quality_tokens, context),
        "perplexity",
        perplexity,
    )


def cosim(
    settings: CosimSettings,
    progress,
    on_batch=lambda done, total, record: None,
    on_train_step=None,
) -> dict:
    """Run the co-simulation; return the report (also what ``report.json`` holds).
    ``progress(message)`` says what happens; ``on_batch(done, total, record)`` follows the
    layer batches and ``on_train_step(step, total, loss)`` the training, when the model must be
    trained first (default: a message every 25 steps)."""
    from .encoder import encoder_workload

    started = time.perf_counter()
    settings = settings.resolved()
    if settings.model == CMOE_MODEL:
        workload = encoder_workload(settings, progress)
    else:
        workload = decoder_workload(settings, progress, on_train_step)
    accelerated = workload.accelerated
    progress(f"calibrating activation scales on {settings.calibration} training tokens")
    accelerated.calibrate(workload.calibration)
    params = accelerated.params
    texts = workload.passages

    progress(
        f"building the accelerator ({params.experts} experts, {settings.engine} engine: "
        f"{params.lanes} lanes x {params.arrays} arrays) for the {settings.backend} backend"
    )
    backend = make_backend(settings.backend, params)
    layers = len(accelerated.layers)
    total = layers * sum(math.ceil(len(p) / params.max_tokens) for p in texts)
    done = 0

    def count(record):
        nonlocal done
        done += 1
        on_batch(done, total, record)

    try:
        outputs = [accelerated.forward(p, backend, count) for p in texts]
    finally:
        backend.close()
    records, accelerated.records = accelerated.records, []
    golden = GoldenBackend()

    def scores(texts, backends) -> dict:
        return {
            f"{name}_{workload.metric}": workload.score(
                [accelerated.forward(p, backend) for p in texts], texts
            )
            for name, backend in backends
        }

    quality = {
        "tokens": settings.tokens,
        **scores(texts, [("float", None), ("golden", golden)]),
        f"{settings.backend}_{workload.metric}": workload.score(outputs, texts),
    }
    if settings.quality_tokens:
        progress(f"float and quantized golden on {settings.quality_tokens} held-out tokens")
        quality["held_out"] = {
            "tokens": settings.quality_tokens,
            **scores(workload.held_out, [("float", None), ("golden", golden)]),
        }
    accelerated.records = []
    simulated_rtl = settings.backend != "golden"
    area = design_area(params, settings.area, progress) if simulated_rtl or settings.area else None
    design = Design(block("moe_layer"), params)
    clock = design_clock(design, settings.clock)
    rows = summarize(records, params)
    for row in rows:
        if "cycles_per_token" in row:
            row["us_per_token"] = clock.microseconds(row["cycles_per_token"])
    simulated = [r for r in records if r.stats is not None]
    cycles = sum(r.cycles for r in simulated)
    seconds = sum(r.seconds for r in simulated)
    return {
        **report_head(workload.name, settings, params, design, clock, records),
        "area": area,
        "layers": rows,
        "quality": quality,
        "simulation": {
            "cycles": cycles,
            "seconds": seconds,
            "cycles_per_second": cycles / seconds if seconds else 0.0,
        },
        "wall_seconds": time.perf_counter() - started,
    }


def write_report(report: dict, out: Path) -> list[str]:
    """``report.json``, the settings (:data:`SETTINGS_FILE`) and the plots in the folder
    ``out`` (an :class:`OutputFolder`: new, or one moetile wrote), which appear together or not
    at all; return their names."""
    with OutputFolder(out).writing() as stage:
        (stage / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (stage / SETTINGS_FILE).write_text(settings_toml(report["settings"]))
        files = ["report.json", SETTINGS_FILE, *write_plots(report, stage)]
    return files
