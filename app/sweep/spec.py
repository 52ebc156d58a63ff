"""A sweep's spec: its axes (any ``moetile cosim`` setting, or a knob of the accelerator's Params
that a run may set: :mod:`moetile.app.cosim.hardware`; each a list of values), the settings
every point shares, a grid or a seeded random sample of the grid, and the metrics each point
keeps. Read from TOML and checked whole, every point's settings included, before anything runs
(standard library only: no torch)."""

import itertools
import random
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from moetile.app.cosim.hardware import knob_names, knob_text, parse_knobs
from moetile.app.cosim.settings import CosimSettings

__all__ = [
    "DEFAULT_METRICS",
    "FPGA_METRICS",
    "GENERATION_METRICS",
    "METRICS",
    "MODES",
    "SweepSpec",
    "cosim_settings",
    "read_spec",
]

#: What a point can keep: its cycles per token summed over the layers (a token's way through
#: the model) and its time at the design's clock, the engine's mean utilization, whether every
#: batch was bit-exact, the mean relative error against the float layers, the quality (the
#: backend's perplexity per byte, or embedding cosine), the on-chip dynamic energy a token (the
#: layers' actions, :mod:`moetile.sw.cost.layer_activity`); for a point that generates, the same
#: per generated token of its decode steps (the quality: the share of tokens the float model
#: generates too; no error), and :data:`GENERATION_METRICS`: tokens per second, the weights
#: fetched from off chip a token and their energy, the expert cache's hit rate; the design's
#: area from Yosys (logic cells, memory bits: a synthesis per design, shared with ``moetile
#: synth``), and from the FPGA flow (:data:`FPGA_METRICS`: the design placed and routed as
#: ``moetile implement`` does, on its default device against its default clock, shared with
#: it) the resources it uses and the clock it reaches, which ``us_per_token`` then uses.
#: The metrics of a point that generates (``generate`` > 0); ``None`` on a prefill point.
GENERATION_METRICS = (
    "tokens_per_second",
    "fetched_kb_per_token",
    "offchip_uj_per_token",
    "hit_rate",
)
#: The metrics of the FPGA flow.
FPGA_METRICS = ("luts", "ffs", "lutram", "ebr", "dsp", "fmax_mhz")
METRICS = (
    "cycles_per_token",
    "us_per_token",
    "utilization",
    "bit_exact",
    "error",
    "quality",
    "onchip_uj_per_token",
    *GENERATION_METRICS,
    "cells",
    "memory_bits",
    *FPGA_METRICS,
)
DEFAULT_METRICS = ("cycles_per_token", "utilization", "bit_exact", "error")
MODES = ("grid", "random")
#: The settings a point may set: every ``moetile cosim`` setting (a point with ``generate`` >
#: 0 is a ``moetile cosim --generate`` run).
AXES = tuple(f.name for f in fields(CosimSettings))
#: The accelerator's knobs a point may set by name (every engine's): each goes into the
#: point's ``params`` setting.
KNOBS = knob_names()


def cosim_settings(point: dict) -> dict:
    """A point's ``moetile cosim`` settings: its knobs (``group = 64``) written into its
    ``params`` setting beside any given there; and no held-out quality step (``quality_tokens``
    0: no metric keeps its figures) unless the point asks for one."""
    knobs = {name: value for name, value in point.items() if name in KNOBS}
    settings = {"quality_tokens": 0}
    settings.update((name, value) for name, value in point.items() if name not in KNOBS)
    if not knobs:
        return settings
    engine = settings.get("engine", CosimSettings.engine)
    given = parse_knobs(settings.get("params"), engine)
    for name in knobs:
        if name in given:
            raise ValueError(f"knob {name} is both in params and a setting of its own")
    return {**settings, "params": knob_text({**given, **knobs})}


@dataclass(frozen=True)
class SweepSpec:
    """``axes``: setting → its values (in order); ``fixed``: settings every point shares;
    ``mode``: ``grid`` (every combination, the first axis slowest) or ``random`` (``samples``
    distinct combinations drawn with ``seed``, in grid order); ``metrics``: of
    :data:`METRICS`."""

    axes: dict = field(default_factory=dict)
    fixed: dict = field(default_factory=dict)
    mode: str = "grid"
    samples: int = 0
    seed: int = 0
    metrics: tuple = DEFAULT_METRICS

    def __post_init__(self):
        for name in (*self.axes, *self.fixed):
            if name not in AXES and name not in KNOBS:
                raise ValueError(
                    f"unknown setting {name!r}; allowed: {', '.join(AXES)}, or a knob: "
                    f"{', '.join(KNOBS)}"
                )
        if not self.axes:
            raise ValueError("the spec has no axes: a sweep varies at least one setting")
        for name, values in self.axes.items():
            if not isinstance(values, list | tuple):
                raise ValueError(f"axis {name} must be a list of values, not {values!r}")
            if not values:
                raise ValueError(f"the spec has no points: axis {name} lists no values")
            if name in self.fixed:
                raise ValueError(f"{name} is both an axis and a fixed setting")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.mode == "random" and not (isinstance(self.samples, int) and self.samples >= 1):
            raise ValueError(f"a random sweep needs samples >= 1, not {self.samples!r}")
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise ValueError(
                f"metrics must be some of {', '.join(METRICS)}, not {list(self.metrics)}"
            )
        for n, point in enumerate(self.points()):
            try:
                CosimSettings(**cosim_settings(point))
            except (ValueError, TypeError) as error:
                where = ", ".join(f"{k}={point[k]!r}" for k in self.axes)
                raise ValueError(f"point {n} ({where}): {error}") from None

    def points(self) -> list[dict]:
        """Every point's settings (the fixed ones and its axis values)."""
        names = list(self.axes)
        grid = list(itertools.product(*(self.axes[n] for n in names)))
        if self.mode == "random":
            picked = random.Random(self.seed).sample(range(len(grid)), min(self.samples, len(grid)))
            grid = [grid[i] for i in sorted(picked)]
        return [{**self.fixed, **dict(zip(names, values, strict=True))} for values in grid]


def read_spec(path) -> SweepSpec:
    """The spec in the TOML file ``path``: top-level ``mode``, ``samples``, ``seed`` and
    ``metrics``, and the tables ``[axes]`` and ``[fixed]``."""
    path = Path(path)
    try:
        values = tomllib.loads(path.read_text())
    except OSError as error:
        raise ValueError(f"cannot read the sweep spec {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"the sweep spec {path} is not valid TOML: {error}") from None
    allowed = ("axes", "fixed", "mode", "samples", "seed", "metrics")
    for name in values:
        if name not in allowed:
            raise ValueError(f"{path}: unknown entry {name!r}; allowed: {', '.join(allowed)}")
    if "metrics" in values:
        values["metrics"] = tuple(values["metrics"])
    try:
        return SweepSpec(**values)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
