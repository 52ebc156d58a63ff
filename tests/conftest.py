import os
import re
from collections import defaultdict
from pathlib import Path

import pytest

# One thread each for torch's OpenMP pool, in the test workers and in the commands they run:
# the workers already keep every core busy, and a pool's threads spinning idle beside the
# other worker more than double the CPU time of a torch-heavy test.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from moetile.sw.paths import CACHE_DIR_ENV  # noqa: E402

# One build cache for the whole suite (and shared with the CLI run from the repository root).
os.environ.setdefault(CACHE_DIR_ENV, str(Path(__file__).resolve().parents[1] / "build"))

DEFAULT_SEED = 20261123


def pytest_addoption(parser):
    parser.addoption(
        "--seed", type=int, default=None, help=f"seed for randomized tests (default {DEFAULT_SEED})"
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "cost(seconds): about how long the test takes on a cold build cache; parallel workers "
        "start the costliest work first",
    )


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per core the process may run on."""
    return len(os.sched_getaffinity(0))


#: A test whose id starts ``CHAIN | `` belongs to chain ``CHAIN``: its tests run on one worker,
#: in order (tests/test_docs.py names its chains so).
CHAIN = re.compile(r"\[(.+?) \| ")


def chain_of(nodeid: str) -> str:
    """The piece of work a test belongs to: its chain, or the test alone."""
    match = CHAIN.search(nodeid)
    return match.group(1) if match else nodeid


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """Load scheduling by piece of work: a chain's tests go to one worker together; every other
    test is a piece of its own."""
    from xdist.scheduler import LoadScopeScheduling

    class ChainScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return chain_of(nodeid)

    return ChainScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """Costliest work first: the tests of a chain count as one piece of work, whose cost is the
    sum of theirs. With ``--no-loadscope-reorder`` the workers take the pieces in this order, so
    a long piece never starts last while the other worker idles."""
    totals = defaultdict(float)
    for item in items:
        totals[chain_of(item.nodeid)] += _cost(item)
    items.sort(key=lambda item: -totals[chain_of(item.nodeid)])


def _cost(item) -> float:
    mark = item.get_closest_marker("cost")
    return mark.args[0] if mark else 0.0


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
