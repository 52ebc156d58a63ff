"""Runs a cocotb testbench against a cached Verilator build and turns its results into pass/fail."""

import json
import os
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from moetile.hw.registry import Design

from .build import design_dir, verilator_build
from .env import prepare_environment

__all__ = ["TestbenchFailure", "TestbenchResult", "run_testbench"]

#: Environment variables through which a bench learns its design and seed.
DESIGN_ENV = "MOETILE_DESIGN"
SEED_ENV = "MOETILE_SEED"


@dataclass(frozen=True)
class TestbenchResult:
    passed: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def total(self) -> int:
        return len(self.passed) + len(self.failed)


class TestbenchFailure(AssertionError):
    pass


def run_testbench(
    design: Design, *, seed: int, module: str | None = None, testcase=None, extra_env=None
) -> TestbenchResult:
    """Run the block's registered cocotb testbench (or the testbench ``module``) on ``design``;
    raise :class:`TestbenchFailure` with the pass/fail counts and failing names unless at
    least one test ran and none failed. ``extra_env`` adds environment variables for the
    testbench."""
    from cocotb_tools.runner import get_runner

    module = module or design.block.testbench
    sim_dir = verilator_build(design)
    prepare_environment()
    runs = design_dir(design) / "runs"
    runs.mkdir(exist_ok=True)
    test_dir = Path(tempfile.mkdtemp(prefix=f"{module.rsplit('.', 1)[-1]}-{seed}-", dir=runs))
    results = test_dir / "results.xml"
    env = {
        DESIGN_ENV: json.dumps({"block": design.block.name, "params": design.params_dict}),
        SEED_ENV: str(seed),
        **(extra_env or {}),
    }
    runner = get_runner("verilator")
    # The runner consults PYTEST_CURRENT_TEST to decide whether to sys.exit() on failure; the
    # verdict is made here instead, from the results file, with names and counts.
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        runner.test(
            test_module=module,
            hdl_toplevel=design.top,
            hdl_toplevel_lang="verilog",
            build_dir=sim_dir,
            test_dir=test_dir,
            results_xml=str(results),
            extra_env=env,
            seed=seed,
            testcase=testcase,
            log_file=test_dir / "sim.log",
        )
    except SystemExit:
        pass
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved
    result = _read_results(results, test_dir)
    if result.failed or not result.total:
        raise TestbenchFailure(
            f"{module} on {design.top} ({design.params_hash}), seed {seed}: "
            f"{len(result.passed)} passed, {len(result.failed)} failed "
            f"{list(result.failed)}; log: {test_dir / 'sim.log'}"
        )
    return result


def _read_results(results: Path, test_dir: Path) -> TestbenchResult:
    if not results.is_file():
        raise TestbenchFailure(
            f"simulation ended without a results file; log: {test_dir / 'sim.log'}"
        )
    passed, failed = [], []
    for case in ElementTree.parse(results).getroot().iter("testcase"):
        bad = case.find("failure") is not None or case.find("error") is not None
        (failed if bad else passed).append(case.get("name"))
    return TestbenchResult(tuple(passed), tuple(failed))
