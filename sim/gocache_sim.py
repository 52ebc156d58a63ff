"""Runs token sequences through the expert-choice router on the fast harness: the updates and
the measured cycles."""

from dataclasses import dataclass

from moetile.hw.gocache import GOCacheParams
from moetile.hw.registry import Design, block

from .fast import FastSim, Traffic
from .testbenches.gocache_cases import token_chunks, weight_chunks

__all__ = ["RouterRun", "random_traffic", "run_tokens"]


@dataclass(frozen=True)
class RouterRun:
    updates: dict  # the unpacked ``o`` payloads, one per token
    cycles: int  # first chunk transfer to last update transfer, inclusive
    run: object  # the harness's RunResult of the tokens


def run_tokens(
    params: GOCacheParams,
    weights,
    vectors,
    starts,
    traffic: dict[str, Traffic] | None = None,
    session=None,
) -> RouterRun:
    """Load the gate rows ``weights``, then run the tokens ``vectors`` (``starts``: where a
    sequence begins); ``traffic`` per stream name (steady by default). ``session``: an open
    :class:`~moetile.sim.fast.Session` of the design to run in (the cache's state carries
    over), else a fresh one."""
    if session is None:
        with FastSim(Design(block("gocache"), params)).open() as fresh:
            return run_tokens(params, weights, vectors, starts, traffic, fresh)
    traffic = traffic or {}
    slack = 8 if traffic else 1
    session.run(
        {"i_w": weight_chunks(params, weights)},
        traffic={k: v for k, v in traffic.items() if k == "i_w"},
        budget=slack * params.gate.weight_transfers + 64,
    )
    period = max(params.gate.vector_cycles, params.capacity + 1)
    run = session.run(
        {"i_x": token_chunks(params, vectors, starts)},
        expect={"o": len(vectors)},
        traffic={k: v for k, v in traffic.items() if k != "i_w"},
        budget=slack * (len(vectors) + 1) * period + 64,
    )
    cycles = int(run.stamps["o"][-1] - run.stamps["i_x"][0] + 1) if len(vectors) else 0
    return RouterRun(run.payloads("o"), cycles, run)


def random_traffic(probability: float, seed: int) -> dict[str, Traffic]:
    """Random idle on both inputs and back-pressure on ``o``, each with ``probability``."""
    names = ("i_w", "i_x", "o")
    return {name: Traffic.random(probability, seed + n) for n, name in enumerate(names)}
