"""The exact fewest-transfers solver against brute force, and the aligned schedule against it."""

import itertools
import math

import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from moetile.sw.mapping.xbar_optimum import fewest_transfers
from moetile.sw.mapping.xbar_schedule import make_schedule

GROUPS = ((0, 1), (2, 3))
#: The most placements the brute force may try (a second or so).
PLACEMENTS = 20_000


def _queues(choices: torch.Tensor):
    return [[(t, e) for t in range(len(choices)) for e in g if choices[t, e]] for g in GROUPS]


def _placements(choices: torch.Tensor) -> int:
    queues = _queues(choices)
    length = max(len(q) for q in queues)
    return math.prod(math.perm(length, len(q)) for q in queues)


def _brute_force(choices: torch.Tensor) -> int:
    """Every way each group can place its pairs in compact's slots, one pair a slot."""
    queues = _queues(choices)
    length = max(len(q) for q in queues)
    placements = [list(itertools.permutations(range(length), len(q))) for q in queues]
    best = None
    for places in itertools.product(*placements):
        sent = {
            (t, s)
            for q, at in zip(queues, places, strict=True)
            for (t, _), s in zip(q, at, strict=True)
        }
        best = len(sent) if best is None else min(best, len(sent))
    return best


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=1, max_size=4).filter(
        lambda rows: any(any(r) for r in rows)
    )
)
def test_fewest_transfers_is_the_brute_force_minimum(rows):
    choices = torch.tensor(rows, dtype=torch.bool)
    assume(_placements(choices) <= PLACEMENTS)
    best = fewest_transfers(choices, GROUPS)
    assert best.proven
    assert best.transfers == _brute_force(choices)
    assert make_schedule("aligned", choices, GROUPS).transfers >= best.transfers
