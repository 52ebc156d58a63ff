"""FAT and its baseline under Verilator: bit-exact, and cycle-exact against the cycle model."""

import pytest

from moetile.hw.fat import FatParams
from moetile.hw.registry import Design, block
from moetile.sim.runner import run_testbench

pytestmark = pytest.mark.cosim

SHAPE = dict(lanes=4, in_width=8, n_inputs=20, n_outputs=6, zero_skip=4)


@pytest.mark.parametrize(
    "fields",
    [dict(arch="fat"), dict(arch="parapim"), dict(arch="fat", variable_width=True)],
    ids=["fat", "parapim", "fat-varwidth"],
)
def test_cocotb_bench(fields, seed):
    design = Design(block("fat"), FatParams(**SHAPE, **fields))
    result = run_testbench(design, seed=seed)
    assert result.total == 16
