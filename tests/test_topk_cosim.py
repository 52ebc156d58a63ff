"""Top-k under Verilator: the cocotb testbench on every shape and both microarchitectures."""

import pytest

from moetile.hw.registry import Design, block
from moetile.hw.topk import TOPK_ARCHS, TopKParams
from moetile.sim.runner import run_testbench

pytestmark = pytest.mark.cosim


@pytest.mark.parametrize("arch", TOPK_ARCHS)
@pytest.mark.parametrize(("n", "k", "width"), [(16, 4, 8), (5, 5, 6), (7, 1, 4), (1, 1, 3)])
def test_cocotb_bench(arch, n, k, width, seed):
    design = Design(block("topk"), TopKParams(n=n, k=k, score_width=width, arch=arch))
    result = run_testbench(design, seed=seed)
    assert result.total == 6
