"""The fewest input transfers of any schedule of compact's length, solved exactly with CP-SAT
(OR-Tools), to measure how far the ``aligned`` schedule is from the optimum.

The model: every (token, expert) pair of group ``g`` goes to one of the ``L`` slots (``L``
the longest group's pairs, compact's length), a group serves at most one pair a slot, and
``sent[t, s]`` is 1 when any group serves token ``t`` in slot ``s``; minimize the sum of
``sent``. Slots are interchangeable, so the longest group's ``i``-th pair is fixed to slot
``i`` (it serves in every slot; any schedule can be reordered so), and a group's pairs of
the same token keep their order. The ``aligned`` schedule is given as a hint, so the best
schedule found never sends more than it. The search is bounded in CP-SAT's deterministic time,
so a rerun gives the same answer; ``proven`` says whether the bound met the best found.
"""

from dataclasses import dataclass

import torch

from .xbar_schedule import make_schedule

__all__ = ["Optimum", "fewest_transfers"]

#: Deterministic time (CP-SAT's unit, about a second) allowed per case.
SEARCH_LIMIT = 5.0


@dataclass(frozen=True)
class Optimum:
    transfers: int  # the fewest any schedule found sends
    bound: int  # no schedule of this length sends fewer (proven)

    @property
    def proven(self) -> bool:
        return self.transfers == self.bound


def fewest_transfers(choices, groups, limit: float = SEARCH_LIMIT) -> Optimum:
    """The fewest input transfers of a schedule of ``choices`` ``(tokens, experts)`` on
    ``groups`` as long as the compact schedule."""
    from ortools.sat.python import cp_model

    aligned = make_schedule("aligned", choices, groups)
    chosen = torch.as_tensor(choices, dtype=torch.bool)
    queues = [
        [(t, e) for t in range(len(chosen)) for e in sorted(g) if chosen[t, e]] for g in groups
    ]
    length = aligned.length
    if length == 0:
        return Optimum(0, 0)
    model = cp_model.CpModel()
    tokens = sorted({t for queue in queues for t, _ in queue})
    sent = {(t, s): model.new_bool_var(f"sent_{t}_{s}") for t in tokens for s in range(length)}
    slot_of = {}
    for g, queue in enumerate(queues):
        for i in range(len(queue)):
            here = [model.new_bool_var(f"pair_{g}_{i}_{s}") for s in range(length)]
            model.add_exactly_one(here)
            slot_of[g, i] = here
        for s in range(length):
            model.add_at_most_one(slot_of[g, i][s] for i in range(len(queue)))
            for t in {t for t, _ in queue}:
                mine = [slot_of[g, i][s] for i, (u, _) in enumerate(queue) if u == t]
                model.add(sent[t, s] >= sum(mine))
        for i in range(1, len(queue)):
            if queue[i - 1][0] == queue[i][0]:
                model.add(_index(slot_of[g, i - 1]) < _index(slot_of[g, i]))
    longest = max(range(len(queues)), key=lambda g: len(queues[g]))
    for i in range(length):
        model.add(slot_of[longest, i][i] == 1)
    for t in tokens:
        model.add(sum(sent[t, s] for s in range(length)) >= _token_floor(queues, t))
    model.minimize(sum(sent.values()))
    _hint(model, aligned, queues, slot_of, sent, longest)
    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = limit
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise RuntimeError(f"CP-SAT found no schedule ({solver.status_name(status)})")
    return Optimum(round(solver.objective_value), round(solver.best_objective_bound))


def _index(flags):
    return sum(s * flag for s, flag in enumerate(flags))


def _token_floor(queues, token: int) -> int:
    """Slots token ``token`` needs at least: its most pairs in one group."""
    return max(sum(1 for t, _ in queue if t == token) for queue in queues)


def _hint(model, aligned, queues, slot_of, sent, longest) -> None:
    """Start the search from ``aligned``, its slots renumbered so that the longest group's
    ``i``-th pair is in slot ``i`` (as the model fixes it) and a group's pairs of one token
    in order."""
    served = [{} for _ in queues]  # per group: token -> the slots serving it
    for s, slot in enumerate(aligned.slots):
        for g, (t, _) in slot.items():
            served[g].setdefault(t, []).append(s)
    order = [served[longest][t].pop(0) for t, _ in queues[longest]]
    renumber = {old: new for new, old in enumerate(order)}
    for g, queue in enumerate(queues):
        if g == longest:
            continue
        slots = {t: sorted(renumber[s] for s in ss) for t, ss in served[g].items()}
        for i, (t, _) in enumerate(queue):
            at = slots[t].pop(0)
            for s, flag in enumerate(slot_of[g, i]):
                model.add_hint(flag, s == at)
    for i in range(len(queues[longest])):
        for s, flag in enumerate(slot_of[longest, i]):
            model.add_hint(flag, s == i)
    used = {(t, renumber[s]) for s, slot in enumerate(aligned.slots) for t, _ in slot.values()}
    for key, flag in sent.items():
        model.add_hint(flag, key in used)
