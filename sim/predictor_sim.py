"""Runs pre-attention states through the expert predictor unit on the fast harness."""

from dataclasses import dataclass

import numpy as np

from moetile.hw.predictor import PredictorParams
from moetile.hw.registry import Design, block

from .fast import FastSim, Traffic
from .testbenches.predictor_cases import state_chunks, weight_chunks

__all__ = ["PredictorRun", "run_predictions"]


@dataclass(frozen=True)
class PredictorRun:
    experts: np.ndarray  # (n, k), best first
    scores: np.ndarray  # (n, k)
    stamps: dict  # the harness's transfer cycles per stream


def run_predictions(
    params: PredictorParams,
    w1,
    w2,
    multiplier: int,
    shift: int,
    states,
    traffic: dict[str, Traffic] | None = None,
    session=None,
) -> PredictorRun:
    """Load ``w1``, ``w2``, then predict for every state; ``traffic`` per stream name."""
    if session is None:
        with FastSim(Design(block("predictor"), params)).open() as fresh:
            return run_predictions(params, w1, w2, multiplier, shift, states, traffic, fresh)
    traffic = traffic or {}
    statics = {"cfg_multiplier": multiplier, "cfg_shift": shift}
    slack = 8 if traffic else 2
    loads = params.project.weight_transfers + params.score.weight_transfers
    session.run(
        {"i_w": weight_chunks(params, w1, w2)},
        traffic={k: v for k, v in traffic.items() if k == "i_w"},
        statics=statics,
        budget=slack * loads + 64,
    )
    per_state = params.latency + 1
    run = session.run(
        {"i_x": state_chunks(params, states)},
        expect={"o": len(states)},
        traffic={k: v for k, v in traffic.items() if k != "i_w"},
        statics=statics,
        budget=slack * (len(states) + 1) * per_state + 64,
    )
    top = run.payloads("o")["top"]
    return PredictorRun(top["index"].astype(np.int64), top["score"].astype(np.int64), run.stamps)
