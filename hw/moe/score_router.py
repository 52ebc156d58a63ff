"""The score router: sigmoid scores from a table (DeepSeek-V3, GLM-4.5) or unweighted logits
(CMoE), a selection-only bias, group-limited top-k, and the gating weights: the selected
sigmoid scores, divided by their sum or not, or 1.0 each."""

from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from ..checks import counter_range
from ..pipeline import Pipeline
from .divider import Divider
from .fixed import clamp, requantize_stages, token_multiplier
from .interface import write_signature
from .params import MoELayerParams
from .router import gemv_and_selector, router_members, router_table

__all__ = ["ScoreRouter"]


class ScoreRouter(wiring.Component):
    """Chooses each token's experts by score (``scoring`` ``sigmoid`` or ``unweighted``).

    The token's int8 vector goes chunk by chunk through the gate GEMV (int32 logits). Each
    expert in turn (one a cycle, over five stages): with ``sigmoid``, ``|l|`` requantized with
    the token's multiplier to a table index, the table's ``sigmoid(t)`` read, the score ``s``
    that entry for ``l >= 0`` and ``2**gate_frac`` minus it below; with ``unweighted``, ``l``
    itself requantized with the token's multiplier and clamped to the bias's range. Its choice
    score is ``c = s + b`` with the expert's selection bias ``b``, and its group's best two
    choice scores are kept. Then the ``topk_groups`` best groups (by their best score, or
    their best two's sum; ties to the lower group) are kept, every other expert's choice
    score masked below any real one, and the top-k selector picks the ``top_k`` best choice
    scores (ties to the lower index). The gating weights: the selected sigmoid scores, with
    ``renormalize`` divided by their sum by one divider (``(s << gate_frac) // max(sum,
    1)``); 1.0 each when unweighted. Exact rule: :mod:`moetile.sw.golden.moe_layer`.

    Members
    -------
    i : In(stream.Signature(token_layout(params)))
    i_w : In(stream.Signature(chunk_layout(params.gemv)))
    o : Out(stream.Signature(choice_layout(params)))
    exp_write : In(write_signature(params.exp_entries, params.gate_width))
        Score table writes: ``sigmoid(i * step)`` (unused when unweighted).
    scale : In(scale_pair_layout(params))
        The logit's (magnitude's) requantization.
    bias_write : In(write_signature(params.experts, signed(params.bias_width)))
        With ``params.choice_bias``: the selection biases.
    """

    def __init__(self, params: MoELayerParams):
        self.params = params
        p = params
        bias = {}
        if p.choice_bias:
            bias["bias_write"] = In(write_signature(p.experts, signed(p.bias_width)))
        super().__init__(router_members(p) | bias)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        gemv, topk, scale = gemv_and_selector(m, self)

        logits = Signal(data.ArrayLayout(signed(p.gemv.acc_width), p.experts))
        scoring, step = Signal(), Signal(counter_range(p.experts + 1))
        pipe = Pipeline(m)
        busy = Signal()
        m.d.comb += gemv.o.ready.eq(~busy)
        with m.If(gemv.o.valid & gemv.o.ready):
            m.d.sync += [logits.eq(gemv.o.payload.y), scoring.eq(1), step.eq(0)]
        with m.If(scoring):
            m.d.sync += step.eq(step + 1)
            with m.If(step == p.experts - 1):
                m.d.sync += scoring.eq(0)

        scored, score = self._score(m, pipe, scale, logits, scoring, step)
        scores, choices, ranked, best = self._choose(m, scored, score)
        offered, gating = self._select(m, topk, scores, choices, ranked, best)
        m.d.comb += busy.eq(scoring | pipe.occupied | ranked | offered | gating | self.o.valid)
        return m

    def _score(self, m, pipe, scale, logits, scoring, step):
        """Each expert's score over five stages: ``(stage, score)``, the stage with ``valid``,
        ``last`` and ``step``."""
        p = self.params
        multiplier = Signal(len(self.scale.multiplier))
        m.d.sync += multiplier.eq(
            token_multiplier(
                m, "router_multiplier", scale, self.scale.multiplier, p.token_scale_width
            )
        )
        logit = Array(logits)[step]
        lane = {"valid": scoring, "last": step == p.experts - 1, "step": step}
        if p.scoring == "unweighted":
            return self._logit_score(m, pipe, lane, logit, multiplier)
        return self._sigmoid_score(m, pipe, lane, logit, multiplier)

    def _sigmoid_score(self, m, pipe, lane, logit, multiplier):
        """``|l|`` to a table index over four stages, then the table's entry, the score that
        entry or ``2**gate_frac`` minus it by the sign."""
        p = self.params
        read = router_table(m, self)
        apart = pipe.stage(
            "apart", **lane, negative=logit < 0, magnitude=Mux(logit < 0, -logit, logit)
        )
        shifted = requantize_stages(
            m,
            pipe,
            "score_index",
            ("scaled", "rounded", "shifted"),
            apart.carry("valid", "last", "step", "negative"),
            apart.magnitude,
            multiplier,
            self.scale.shift,
        )
        last_entry = p.exp_entries - 1
        m.d.comb += read.addr.eq(Mux(shifted.wide > last_entry, last_entry, shifted.wide))
        indexed = pipe.stage("indexed", **shifted.carry("valid", "last", "step", "negative"))
        one = 1 << p.gate_frac
        score = Signal(p.gate_width)
        m.d.comb += score.eq(Mux(indexed.negative, one - read.data, read.data))
        return indexed, score

    def _logit_score(self, m, pipe, lane, logit, multiplier):
        """The logit requantized with the token's multiplier over four stages, clamped to the
        selection bias's range: ``(stage, score)``."""
        p = self.params
        apart = pipe.stage("apart", **lane, logit=logit)
        shifted = requantize_stages(
            m,
            pipe,
            "score",
            ("scaled", "rounded", "shifted"),
            apart.carry("valid", "last", "step"),
            apart.logit,
            multiplier,
            self.scale.shift,
        )
        scored = pipe.stage("indexed", **shifted.carry("valid", "last", "step"))
        low, high = -(1 << (p.bias_width - 1)), (1 << (p.bias_width - 1)) - 1
        bounded = clamp(m, "logit_score", shifted.wide, low, high, signed(p.bias_width))
        score = Signal(signed(p.bias_width))
        m.d.sync += score.eq(bounded)
        return scored, score

    def _choose(self, m, scored, score):
        """Each sigmoid score kept, its choice score ``s + b`` kept, and its group's best two
        updated: ``(scores, choices, ranked, best)``, ``ranked`` from the last expert's until
        the selector takes the masked choices, ``best`` each group's pair (None without
        groups)."""
        p = self.params
        scores = Array(Signal(p.gate_width, name=f"score{e}") for e in range(p.experts))
        choices = Array(Signal(signed(p.choice_width), name=f"choice{e}") for e in range(p.experts))
        biases = Array(Signal(signed(p.bias_width), name=f"bias{e}") for e in range(p.experts))
        if p.choice_bias:
            with m.If(self.bias_write.en):
                m.d.sync += biases[self.bias_write.addr].eq(self.bias_write.data)
        choice = Signal(signed(p.choice_width))
        m.d.comb += choice.eq(score + biases[scored.step])
        ranked = Signal()
        with m.If(scored.valid):
            m.d.sync += choices[scored.step].eq(choice)
            if p.scoring == "sigmoid":  # unweighted, the gates are 1.0: no score kept
                m.d.sync += scores[scored.step].eq(score)
            with m.If(scored.last):
                m.d.sync += ranked.eq(1)
        best = self._group_bests(m, scored, choice) if p.groups > 1 else None
        return scores, choices, ranked, best

    def _group_bests(self, m, scored, choice):
        """Per group, its best and second-best choice scores so far (reset with the first
        expert of a token)."""
        p = self.params
        size = p.experts // p.groups
        lowest = -(1 << (p.choice_width - 1))
        best = [
            [Signal(signed(p.choice_width), name=f"group{g}_best{r}") for r in range(2)]
            for g in range(p.groups)
        ]
        with m.If(scored.valid):
            for g, (first, second) in enumerate(best):
                mine = scored.step < (g + 1) * size
                if g:
                    mine &= scored.step >= g * size
                # The group's first expert starts its pair afresh.
                now_first = Mux(scored.step == g * size, lowest, first)
                now_second = Mux(scored.step == g * size, lowest, second)
                with m.If(mine):
                    with m.If(choice > now_first):
                        m.d.sync += [first.eq(choice), second.eq(now_first)]
                    with m.Elif(choice > now_second):
                        m.d.sync += [first.eq(now_first), second.eq(choice)]
                    with m.Else():
                        m.d.sync += [first.eq(now_first), second.eq(now_second)]
        return best

    def _kept_groups(self, m, best):
        """Whether each group is among the ``topk_groups`` best (ties to the lower group)."""
        p = self.params
        if p.groups == 1:
            return [Signal(1, init=1)]
        width = p.choice_width + 1
        group_scores = []
        for g, (first, second) in enumerate(best):
            total = Signal(signed(width), name=f"group{g}_score")
            value = first + second if p.group_score == "top2_sum" else first
            m.d.comb += total.eq(value)
            group_scores.append(total)
        kept = []
        for g, mine in enumerate(group_scores):
            beaten_by = [
                (other > mine) | ((other == mine) & (h < g))
                for h, other in enumerate(group_scores)
                if h != g
            ]
            above = Signal(range(p.groups + 1), name=f"group{g}_above")
            m.d.comb += above.eq(sum(beaten_by))
            kept.append(above < p.topk_groups)
        return kept

    def _select(self, m, topk, scores, choices, ranked, best):
        """The masked choice scores into the selector; its picks' scores as gating weights,
        divided by their sum with ``renormalize``."""
        p = self.params
        size = p.experts // p.groups
        lowest = -(1 << (p.choice_width - 1))
        kept = self._kept_groups(m, best)
        for e in range(p.experts):
            masked = Mux(kept[e // size], choices[e], lowest)
            m.d.comb += topk.i.payload.scores[e].eq(masked)
        m.d.comb += topk.i.valid.eq(ranked)
        with m.If(topk.i.valid & topk.i.ready):
            m.d.sync += ranked.eq(0)

        top = Signal.like(topk.o.payload)
        offered = Signal()  # the selector holds a token's choice (taken or not yet)
        with m.If(topk.i.valid & topk.i.ready):
            m.d.sync += offered.eq(1)
        gating = Signal()
        m.d.comb += topk.o.ready.eq(~gating & ~self.o.valid)
        with m.If(topk.o.valid & topk.o.ready):
            m.d.sync += [top.eq(topk.o.payload), offered.eq(0), gating.eq(1)]
        for i in range(p.top_k):
            m.d.comb += self.o.payload.expert[i].eq(top.top[i].index)
        if p.scoring == "unweighted":
            selected = [1 << p.gate_frac] * p.top_k
        else:
            selected = [scores[top.top[i].index] for i in range(p.top_k)]
        if p.renormalize:
            self._divide(m, selected, gating)
        else:
            with m.If(gating):
                m.d.sync += [self.o.payload.gate[i].eq(s) for i, s in enumerate(selected)]
                m.d.sync += [gating.eq(0), self.o.valid.eq(1)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return offered, gating

    def _divide(self, m, selected, gating):
        """``(s_i << gate_frac) // max(sum, 1)`` for each selected score, one divider."""
        p = self.params
        sum_width = (p.top_k << p.gate_frac).bit_length()
        m.submodules.divider = divider = Divider(p.gate_frac + sum_width, sum_width)
        total = Signal(sum_width)
        m.d.comb += total.eq(sum(selected))
        sent = Signal(counter_range(p.top_k + 1))
        received = Signal(counter_range(p.top_k + 1))
        started = Signal()
        with m.If(gating & ~started):
            m.d.sync += [started.eq(1), sent.eq(0), received.eq(0)]
        m.d.comb += [
            divider.i.valid.eq(started & (sent == received) & (sent < p.top_k)),
            divider.i.payload.numerator.eq(Array(selected)[sent] << p.gate_frac),
            divider.i.payload.denominator.eq(Mux(total == 0, 1, total)),
            divider.o.ready.eq(started),
        ]
        with m.If(divider.i.valid & divider.i.ready):
            m.d.sync += sent.eq(sent + 1)
        with m.If(divider.o.valid):
            m.d.sync += [
                self.o.payload.gate[received].eq(divider.o.payload.quotient),
                received.eq(received + 1),
            ]
            with m.If(received == p.top_k - 1):
                m.d.sync += [started.eq(0), gating.eq(0), self.o.valid.eq(1)]
