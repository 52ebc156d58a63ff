import os
from pathlib import Path

import pytest

from moetile.sw.paths import BUILD_DIR_ENV

# One build cache for the whole suite (and shared with the CLI run from the repository root).
os.environ.setdefault(BUILD_DIR_ENV, str(Path(__file__).resolve().parents[1] / "build"))

DEFAULT_SEED = 20261123


def pytest_addoption(parser):
    parser.addoption(
        "--seed", type=int, default=None, help=f"seed for randomized tests (default {DEFAULT_SEED})"
    )


@pytest.fixture
def seed(request) -> int:
    value = request.config.getoption("--seed")
    return DEFAULT_SEED if value is None else value


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "seed" in getattr(item, "funcargs", {}):
        report.sections.append(("seed", f"rerun with --seed {item.funcargs['seed']}"))
