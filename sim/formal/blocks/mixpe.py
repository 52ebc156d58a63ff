"""Proofs of the `mixpe` block (MixPE and its two baselines): the stream contract, with
``cols`` results owed for every pass."""

from amaranth import Module, Mux, Signal

from moetile.hw.mixpe import MixPEParams

from ..counting import Passes, closes
from ..properties import OutputContract, transfer
from ..spec import CONTROL_DEPTH, FormalSpec

SMALL = tuple(
    MixPEParams(
        rows=2, cols=2, n_inputs=32, group=32, scale_width=4, scale_frac=2, out_shift=2, arch=arch
    )
    for arch in ("mixpe", "multiplier", "group_multiplier")
)


def _owed(params: MixPEParams):
    """``cols`` results when a pass ends: at the end of a group whose ``last`` flag is set, or
    of the pass's ``groups``-th group. The arrays that dequantize per group take a group's
    flag with its last step, ``multiplier`` with its first."""

    def owed(m: Module, dut):
        steps = Passes(m, transfer(dut.i_x), params.group, 1, "steps")
        flag = dut.i_group.payload.last
        if not params.dequantizes_groups:
            kept = Signal(name="last_kept")
            with m.If(transfer(dut.i_group)):
                m.d.sync += kept.eq(flag)
            flag = kept
        ends = closes(m, steps.wrap, flag, params.groups, "group")
        return Mux(ends, params.cols, 0)

    return owed


def _latency(params: MixPEParams) -> int:
    """From a pass's last step: the arrays that dequantize per group dequantize the last group
    one column a cycle before the results leave; ``multiplier`` offers them the next cycle;
    each of the dequantization's pipeline registers adds one."""
    return (params.cols + 1 if params.dequantizes_groups else 1) + params.dequant_stages


SPEC = FormalSpec(
    block="mixpe",
    params=SMALL,
    contracts=lambda params: [
        OutputContract("o", _owed(params), capacity=params.cols, latency=_latency(params))
    ],
    depth=lambda params: max(
        CONTROL_DEPTH, params.n_inputs + 2 * params.cols + params.dequant_stages + 4
    ),
)
