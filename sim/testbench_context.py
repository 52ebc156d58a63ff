"""What a cocotb testbench, running inside the simulator, learns from
:func:`moetile.sim.runner.run_testbench`."""

import json
import os

from moetile.hw.registry import Design, design_from_config

from .runner import DESIGN_ENV, SEED_ENV

__all__ = ["testbench_design", "testbench_seed"]


def testbench_design() -> Design:
    return design_from_config(json.loads(os.environ[DESIGN_ENV]), DESIGN_ENV)


def testbench_seed() -> int:
    return int(os.environ[SEED_ENV])
