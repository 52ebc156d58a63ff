"""The MixPE array and its multiplier baseline: an output-stationary W4A8 GEMM tile."""

from amaranth import Array, C, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..pipeline import Pipeline
from .arith import round_shift
from .dequant import GroupDequantizer, WeightDequantizer
from .interface import activation_layout, group_layout, output_layout, weight_layout
from .params import WEIGHT_WIDTH, MixPEParams
from .pe import GroupSumPE, MultiplierPE

__all__ = ["MixPEArray"]


class MixPEArray(wiring.Component):
    """A ``rows × cols`` tile of a W4A8 GEMM, ``params.n_inputs`` reduction steps per pass.

    **Output-stationary, with broadcast operands.** PE ``(r, c)`` owns output ``(r, c)`` for a
    whole pass; each step broadcasts one activation per row and one weight code per column.
    The choice follows from MixPE's arithmetic: the integer group sum ``P`` of an output must
    stay in one place for ``g`` steps and then meet that output's scale and zero point once,
    which an output-stationary PE gives for free; a weight-stationary systolic array would
    move partial sums through ``rows`` PEs and dequantize them at its edge every step. Inputs
    are broadcast rather than skewed through neighbours because a tile is small (a few
    tokens by a few outputs) and the broadcast adds no pipeline fill.

    ``arch == "mixpe"``: each PE forms ``q * x`` by shift-and-add and sums a group; a column
    of the same PEs with the code tied to 1 sums the activations (``S``, shared by the row's
    outputs). On a group's last step the sums move to hold registers, and each row's
    :class:`GroupDequantizer` applies ``acc += s * (P - z * S)`` one column per cycle while
    the next group accumulates (so ``cols <= group``). The accumulators are written once per
    group and never shifted. ``arch == "group_multiplier"``: the same, with a multiplier
    forming ``q * x`` in each PE. ``arch == "multiplier"``: each column dequantizes its weight
    (``s * (q - z)``) every step, and every PE multiplies and accumulates it.

    Streams. A step takes one ``i_x`` and one ``i_w`` transfer together. The group's scales
    and zero points on ``i_group`` go with a group's last step (``mixpe``: the dequantizer
    needs them only then) or its first step (``multiplier``: every step needs them); a
    group with ``last`` set ends the pass early (a shorter reduction), and a pass ends after
    ``groups`` groups in any case. After a pass the ``cols`` columns of results leave on
    ``o`` in order, ``y[r]`` for every row; the next pass's steps go on meanwhile, except
    that ``mixpe`` holds the capture of its first group, and ``multiplier`` its first step,
    until the last column has left. Cycles with
    steady traffic: :func:`moetile.sw.golden.mixpe.mixpe_cycles`.

    Members
    -------
    i_x : In(stream.Signature(activation_layout(params)))
    i_w : In(stream.Signature(weight_layout(params)))
    i_group : In(stream.Signature(group_layout(params)))
    o : Out(stream.Signature(output_layout(params)))
    """

    def __init__(self, params: MixPEParams):
        self.params = params
        super().__init__(
            {
                "i_x": In(stream.Signature(activation_layout(params))),
                "i_w": In(stream.Signature(weight_layout(params))),
                "i_group": In(stream.Signature(group_layout(params))),
                "o": Out(stream.Signature(output_layout(params))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params

        # Position in the pass.
        in_group = Signal(counter_range(p.group))
        group_index = Signal(counter_range(p.groups))
        group_first, group_last = in_group == 0, in_group == p.group - 1
        # A pass ends with the group whose ``last`` flag is set, or after ``groups`` groups.
        closes = Signal()
        pass_first = group_first & (group_index == 0)
        pass_last = group_last & (closes | (group_index == p.groups - 1))

        # A step fires when both operands (and, on the group's hand-over step, its scales)
        # are there and the datapath can take it.
        fire = Signal()
        blocked = Signal()
        takes_group = group_last if p.dequantizes_groups else group_first
        m.d.comb += [
            fire.eq(
                self.i_x.valid & self.i_w.valid & (~takes_group | self.i_group.valid) & ~blocked
            ),
            self.i_x.ready.eq(fire),
            self.i_w.ready.eq(fire),
            self.i_group.ready.eq(fire & takes_group),
        ]
        with m.If(fire):
            m.d.sync += in_group.eq(in_group + 1)
            with m.If(group_last):
                m.d.sync += [in_group.eq(0), group_index.eq(group_index + 1)]
                with m.If(pass_last):
                    m.d.sync += group_index.eq(0)

        # The datapath, and each row's result in the output column.
        pending = Signal()
        column = Signal(counter_range(p.cols))
        control = dict(fire=fire, blocked=blocked, pending=pending, column=column, closes=closes)
        if p.dequantizes_groups:
            results = self._mixpe(m, group_first, group_last, group_index, pass_last, **control)
        else:
            results = self._multiplier(m, group_first, pass_first, pass_last, **control)

        # Output: one column per transfer, rounded to the output format.
        m.d.comb += self.o.valid.eq(pending)
        for r in range(p.rows):
            m.d.comb += self.o.payload.y[r].eq(round_shift(results[r], p.out_shift))
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += column.eq(column + 1)
            with m.If(column == p.cols - 1):
                m.d.sync += [column.eq(0), pending.eq(0)]
        return m

    def _mixpe(self, m, group_first, group_last, group_index, pass_last, **control):
        """Group-sum PEs, the activation-sum column and the per-row dequantizers."""
        p = self.params
        fire, blocked, pending, column = (
            control[k] for k in ("fire", "blocked", "pending", "column")
        )
        m.d.comb += control["closes"].eq(self.i_group.payload.last)
        capture = fire & group_last
        busy = Signal()
        updating = Signal(counter_range(p.cols))
        first, last = Signal(), Signal()
        scale = Array(Signal(p.scale_width, name=f"scale{c}") for c in range(p.cols))
        zero = Array(Signal(WEIGHT_WIDTH, name=f"zero{c}") for c in range(p.cols))
        # A pass's first group waits for the last pass's results: their updates still on
        # their way through the dequantizers, then their transfers.
        draining = Signal()
        m.d.comb += blocked.eq(group_last & (busy | ((group_index == 0) & (pending | draining))))

        # The dequantizers take a group's sums, scales and zero points as it ends.
        with m.If(capture):
            m.d.sync += [busy.eq(1), updating.eq(0)]
            m.d.sync += [first.eq(group_index == 0), last.eq(pass_last)]
            for c in range(p.cols):
                m.d.sync += [
                    scale[c].eq(self.i_group.payload.scale[c]),
                    zero[c].eq(self.i_group.payload.zero[c]),
                ]
        with m.If(busy):
            m.d.sync += updating.eq(updating + 1)
            with m.If(updating == p.cols - 1):
                m.d.sync += busy.eq(0)

        # Per row: a group-sum PE per output, one more (code 1) for the activation sum, and
        # the dequantizer, which the output also reads through.
        results = []
        for r in range(p.rows):
            unit = GroupDequantizer(p)
            m.submodules[f"dequant_{r}"] = unit
            sums = [
                (f"pe_{r}_{c}", code, unit.held[c]) for c, code in enumerate(self.i_w.payload.q)
            ]
            multiply = p.arch == "group_multiplier"
            for name, code, target in [*sums, (f"act_sum_{r}", C(1, 1), unit.act_sum)]:
                pe = GroupSumPE(len(code), len(target), multiply and name.startswith("pe_"))
                m.submodules[name] = pe
                m.d.comb += [
                    pe.x.eq(self.i_x.payload.x[r]),
                    pe.code.eq(code),
                    pe.step.eq(fire),
                    pe.group_first.eq(group_first),
                    pe.capture.eq(capture),
                    target.eq(pe.held),
                ]
            m.d.comb += [
                unit.scale.eq(scale[updating]),
                unit.zero.eq(zero[updating]),
                unit.column.eq(updating),
                unit.read.eq(column),
                unit.update.eq(busy),
                unit.first.eq(first),
                unit.finishing.eq(last & (updating == p.cols - 1)),
            ]
            results.append(unit.selected)
        # Every row's dequantizer runs in step: the first row's tells when the results are in.
        m.d.comb += draining.eq(m.submodules.dequant_0.in_flight)
        with m.If(m.submodules.dequant_0.done):
            m.d.sync += pending.eq(1)
        return results

    def _multiplier(self, m, group_first, pass_first, pass_last, **control):
        """Per-column weight dequantizers and multiplier PEs."""
        p = self.params
        fire, blocked, pending, column = (
            control[k] for k in ("fire", "blocked", "pending", "column")
        )

        # The group's scales arrive with its first step and are held for the rest.
        group = self.i_group.payload
        held = Signal(group_layout(p))
        with m.If(fire & group_first):
            m.d.sync += held.eq(group)
        current = Signal(group_layout(p))
        m.d.comb += current.eq(group)
        with m.If(~group_first):
            m.d.comb += current.eq(held)
        m.d.comb += control["closes"].eq(held.last)

        # A step's offsets ``q - z`` with their scales (in the dequantizers), then its
        # weights, then (in the PEs) its products, each registered when pipelined.
        pipe = Pipeline(m, registered=p.pipelined)

        step = dict(valid=fire, clear=pass_first, end=pass_last)
        step |= {f"x{r}": self.i_x.payload.x[r] for r in range(p.rows)}
        weights = {}
        for c in range(p.cols):
            unit = WeightDequantizer(p)
            m.submodules[f"dequant_{c}"] = unit
            m.d.comb += [
                unit.code.eq(self.i_w.payload.q[c]),
                unit.scale.eq(current.scale[c]),
                unit.zero.eq(current.zero[c]),
            ]
            weights[f"weight{c}"] = unit.weight
        # The step waits beside its offsets, in the dequantizers, then joins its weights.
        chosen = pipe.through("chosen", step)
        step = pipe.through("operands", chosen | weights)
        # The PEs register their products when pipelined: the step's end goes alongside.
        summed = pipe.through("multiplied", dict(valid=step["valid"], end=step["end"]))
        # A pass's first step waits for the last pass's results: its last step still on its
        # way, then their transfers.
        m.d.comb += blocked.eq(pass_first & (pending | pipe.occupied))
        with m.If(summed["valid"] & summed["end"]):
            m.d.sync += pending.eq(1)

        accumulators = []
        for c in range(p.cols):
            in_column = []
            for r in range(p.rows):
                pe = MultiplierPE(p.weight_width, p.acc_width, registered=p.pipelined)
                m.submodules[f"pe_{c}_{r}"] = pe
                m.d.comb += [
                    pe.x.eq(step[f"x{r}"]),
                    pe.weight.eq(step[f"weight{c}"]),
                    pe.step.eq(step["valid"]),
                    pe.clear.eq(step["clear"]),
                ]
                in_column.append(pe.acc)
            accumulators.append(in_column)
        return [Array(acc[r] for acc in accumulators)[column] for r in range(p.rows)]
