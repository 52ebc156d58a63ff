"""Proofs of the `predictor` block: the stream contract, with one prediction owed for every
state (``chunks`` transfers)."""

from amaranth import Module, Signal
from amaranth.hdl import Assume

from moetile.hw.predictor import PredictorParams

from ..counting import Passes, every
from ..properties import OutputContract, transfer
from ..spec import CONTROL_DEPTH, FormalSpec

SMALL = (PredictorParams(hidden=8, rank=4, experts=4, k=2, macs=4),)


def _latency(params: PredictorParams) -> int:
    """The cycle model's latency counted from a state's last chunk (``latency`` counts from
    its first, inclusive); predictions queued behind it come closer, an ``interval`` apart."""
    return params.latency - params.project.chunks


def _weight_transfers(params: PredictorParams) -> int:
    return params.project.weight_transfers + params.score.weight_transfers


def _weights_first(params: PredictorParams):
    """Both matrices load whole before the first state, and stay: the second GEMV would
    otherwise wait for ``W2`` (or the rest of a second ``W2``) as long as the host takes to
    send it."""

    def assume(m: Module, dut):
        loaded = []
        for matrix, gemv in enumerate((params.project, params.score)):
            taken = transfer(dut.i_w) & (dut.i_w.payload.matrix == matrix)
            rows = Passes(m, taken, gemv.weight_transfers, 1, f"w{matrix + 1}_chunks")
            done = Signal(name=f"w{matrix + 1}_loaded")
            with m.If(rows.wrap):
                m.d.sync += done.eq(1)
            loaded.append(done & (rows.position == 0))
        all_loaded = loaded[0] & loaded[1]
        m.d.comb += [Assume(~dut.i_x.valid | all_loaded), Assume(~dut.i_w.valid | ~all_loaded)]

    return assume


SPEC = FormalSpec(
    block="predictor",
    params=SMALL,
    # Four states owed at most: one in each GEMV, one in the requantizer's pipeline (a state
    # reaches it a GEMV's vector time after the one before, more than the pipeline's four
    # cycles) and one in the selector.
    contracts=lambda params: [
        OutputContract(
            "o",
            every("i_x", params.project.chunks),
            capacity=4,
            latency=_latency(params),
            latency_depth=_weight_transfers(params) + 2 * params.latency + 4,
            latency_assumes=_weights_first(params),
            # The latency run, 70-odd steps through two GEMVs' pipelines, is three times
            # faster on Boolector than on Yices.
            engine="smtbmc boolector",
        )
    ],
    # Long enough for both matrices and a first prediction, which a duplicated or invented
    # prediction needs to show.
    depth=lambda params: max(CONTROL_DEPTH, _weight_transfers(params) + params.latency + 8),
)
