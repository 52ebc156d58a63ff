"""What a cocotb bench, running inside the simulator, learns from
:func:`moetile.sim.runner.run_bench`."""

import json
import os

from moetile.hw.registry import Design, design_from_config

from .runner import DESIGN_ENV, SEED_ENV

__all__ = ["bench_design", "bench_seed"]


def bench_design() -> Design:
    return design_from_config(json.loads(os.environ[DESIGN_ENV]), DESIGN_ENV)


def bench_seed() -> int:
    return int(os.environ[SEED_ENV])
