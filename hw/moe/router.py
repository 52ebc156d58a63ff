"""The router: gate GEMV, top-k selection and fixed-point softmax gating weights."""

from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..gemv.gemv import Gemv
from ..gemv.interface import chunk_layout
from ..pipeline import Pipeline
from ..topk.rtl import topk_component
from .divider import Divider
from .fixed import requantize_stages, token_multiplier
from .interface import choice_layout, scale_pair_layout, token_layout, write_signature
from .params import MoELayerParams

__all__ = ["Router", "feed_gemv", "gemv_and_selector", "router_members", "router_table"]


class Router(wiring.Component):
    """Chooses each token's experts and their gating weights.

    The token's int8 vector goes chunk by chunk through the gate GEMV (int32 logits), the top-k
    selector picks the best ``top_k`` (ties to the lower index), and the gating weights are a
    fixed-point softmax: each candidate's ``l_max - l_i`` is requantized (with the token's
    scale) to an exp table index, the table entries are summed, and one divider forms
    ``(e_i << gate_frac) // sum`` for each selected expert. Candidates are the selected experts
    with ``renormalize``, else all experts (one per cycle). Exact rule:
    :mod:`moetile.sw.golden.moe_layer`.

    Members
    -------
    i : In(stream.Signature(token_layout(params)))
        Token chunks.
    i_w : In(stream.Signature(chunk_layout(params.gemv)))
        Gate weights, as the GEMV block takes them.
    o : Out(stream.Signature(choice_layout(params)))
    exp_write : In(write_signature(params.exp_entries, params.gate_width))
        Exp table writes.
    scale : In(scale_pair_layout(params))
        The logit-difference requantization.
    shared_scale : In(scale_pair_layout(params))
        With ``params.shared_gate``: the shared gate logit's requantization. Its ``|l_s|``
        takes one more step through the exp table after the candidates (its entry kept out of
        the sum) and one more division, ``((2**gate_frac or e) << gate_frac) // (2**gate_frac
        + e)``: the sigmoid, on ``o``'s ``shared_gate``.
    """

    def __init__(self, params: MoELayerParams):
        self.params = params
        super().__init__(router_members(params))

    def elaborate(self, platform):
        m = Module()
        p = self.params
        gemv, topk, scale = gemv_and_selector(m, self)

        # Logits into the top-k selector; all of them kept for softmax over every expert (and
        # the shared gate's logit after them, kept apart).
        logits = Signal(data.ArrayLayout(signed(p.gemv.acc_width), p.experts))
        m.d.comb += [topk.i.valid.eq(gemv.o.valid), gemv.o.ready.eq(topk.i.ready)]
        taken = gemv.o.valid & gemv.o.ready
        shared_logit = None
        if p.shared_gate:
            shared_logit = Signal(signed(p.gemv.acc_width))
            routed = [gemv.o.payload.y[e] for e in range(p.experts)]
            m.d.comb += [topk.i.payload.scores[e].eq(y) for e, y in enumerate(routed)]
            with m.If(taken):
                m.d.sync += [logits[e].eq(y) for e, y in enumerate(routed)]
                m.d.sync += shared_logit.eq(gemv.o.payload.y[p.experts])
        else:
            m.d.comb += topk.i.payload.scores.eq(gemv.o.payload.y)
            with m.If(taken):
                m.d.sync += logits.eq(gemv.o.payload.y)
        self._gate(m, topk, logits, scale, shared_logit)
        return m

    def _gate(self, m, topk, logits, scale, shared_logit):
        """Exp table lookups over the candidates (and the shared gate's logit), then one
        division per selected expert (and the shared gate's)."""
        p = self.params
        read = router_table(m, self)
        m.submodules.divider = divider = Divider(p.gate_frac + p.exp_sum_width, p.exp_sum_width)

        top = Signal.like(topk.o.payload)
        exps = Array(Signal(p.gate_width, name=f"exp{i}") for i in range(p.top_k))
        total = Signal(p.exp_sum_width)
        candidates = p.top_k if p.renormalize else p.experts
        steps = candidates + p.shared_gate
        divisions = p.top_k + p.shared_gate
        step = Signal(counter_range(steps + 1))
        looking = Signal()
        dividing = Signal()
        sent = Signal(counter_range(divisions + 1))
        received = Signal(counter_range(divisions + 1))
        pipe = Pipeline(m)

        m.d.comb += topk.o.ready.eq(~looking & ~pipe.occupied & ~dividing & ~self.o.valid)
        with m.If(topk.o.valid & topk.o.ready):
            m.d.sync += [top.eq(topk.o.payload), looking.eq(1), step.eq(0), total.eq(0)]

        # One candidate a cycle through five stages: its logit's distance from the best,
        # requantized with the token's multiplier (kept from its scale, which arrives with its
        # last chunk, long before its logits) to an exp table index, then the entry.
        multiplier = Signal(len(self.scale.multiplier))
        m.d.sync += multiplier.eq(
            token_multiplier(
                m, "router_multiplier", scale, self.scale.multiplier, p.token_scale_width
            )
        )
        candidates_logits = [c.score for c in top.top] if p.renormalize else list(logits)
        delta = Signal(p.gemv.acc_width + 1)
        m.d.comb += delta.eq(top.top[0].score - Array(candidates_logits)[step])
        with m.If(looking):
            m.d.sync += step.eq(step + 1)
            with m.If(step == steps - 1):
                m.d.sync += looking.eq(0)
        lookup = {"valid": looking, "last": step == steps - 1, "step": step}
        if p.shared_gate:
            shared = (candidates, shared_logit)
            shifted = self._shared_lookup(m, pipe, lookup, scale, delta, multiplier, shared)
        else:
            apart = pipe.stage("apart", **lookup, delta=delta)
            shifted = requantize_stages(
                m,
                pipe,
                "exp_index",
                ("scaled", "rounded", "shifted"),
                apart.carry("valid", "last", "step"),
                apart.delta,
                multiplier,
                self.scale.shift,
            )
        last_entry = p.exp_entries - 1
        indexed = pipe.stage("indexed", **shifted.carry("valid", "last", "step"))
        m.d.comb += read.addr.eq(Mux(shifted.wide > last_entry, last_entry, shifted.wide))
        shared_exp = Signal(p.gate_width)
        with m.If(indexed.valid):
            if p.shared_gate:  # the shared gate's entry apart, the candidates' as without it
                with m.If(indexed.step == candidates):
                    m.d.sync += shared_exp.eq(read.data)
                with m.Else():
                    self._candidate_entry(m, top, exps, total, indexed.step, read.data)
            else:
                self._candidate_entry(m, top, exps, total, indexed.step, read.data)
            with m.If(indexed.last):
                m.d.sync += [dividing.eq(1), sent.eq(0), received.eq(0)]

        # Divide each selected expert's exp by the sum (then the shared gate's sigmoid).
        numerator, denominator = exps[sent], total
        if p.shared_gate:
            one = 1 << p.gate_frac
            sigmoid = sent == p.top_k
            positive = Mux(shared_logit < 0, shared_exp, one)
            numerator = Mux(sigmoid, positive, numerator)
            denominator = Mux(sigmoid, one + shared_exp, denominator)
        m.d.comb += [
            divider.i.valid.eq(dividing & (sent == received)),
            divider.i.payload.numerator.eq(numerator << p.gate_frac),
            divider.i.payload.denominator.eq(denominator),
            divider.o.ready.eq(dividing),
        ]
        with m.If(divider.i.valid & divider.i.ready):
            m.d.sync += sent.eq(sent + 1)
        with m.If(divider.o.valid):
            quotient = divider.o.payload.quotient
            if p.shared_gate:
                with m.If(received == p.top_k):
                    m.d.sync += self.o.payload.shared_gate.eq(quotient)
                with m.Else():
                    m.d.sync += self.o.payload.gate[received].eq(quotient)
            else:
                m.d.sync += self.o.payload.gate[received].eq(quotient)
            m.d.sync += received.eq(received + 1)
            with m.If(received == divisions - 1):
                m.d.sync += [dividing.eq(0), self.o.valid.eq(1)]
        for i in range(p.top_k):
            m.d.comb += self.o.payload.expert[i].eq(top.top[i].index)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)

    def _candidate_entry(self, m, top, exps, total, step, entry) -> None:
        """A candidate's exp entry into the sum, and kept where it is a selected expert's."""
        p = self.params
        m.d.sync += total.eq(total + entry)
        if p.renormalize:
            m.d.sync += exps[step].eq(entry)
        else:
            for i in range(p.top_k):
                with m.If(top.top[i].index == step):
                    m.d.sync += exps[i].eq(entry)

    def _shared_lookup(self, m, pipe, lookup, scale, delta, multiplier, shared):
        """The exp index stages with the shared gate's step after the candidates: its
        ``|l_s|`` requantized with its own token multiplier and shift. ``shared``: (its
        step, its logit)."""
        p = self.params
        shared_multiplier = Signal(len(self.shared_scale.multiplier))
        m.d.sync += shared_multiplier.eq(
            token_multiplier(
                m, "shared_multiplier", scale, self.shared_scale.multiplier, p.token_scale_width
            )
        )
        step, logit = shared
        shared = lookup["step"] == step
        apart = pipe.stage(
            "apart",
            **lookup,
            delta=Mux(shared, Mux(logit < 0, -logit, logit), delta),
            multiplier=Mux(shared, shared_multiplier, multiplier),
            shift=Mux(shared, self.shared_scale.shift, self.scale.shift),
        )
        return requantize_stages(
            m,
            pipe,
            "exp_index",
            ("scaled", "rounded", "shifted"),
            apart.carry("valid", "last", "step", "shift"),
            apart.delta,
            apart.multiplier,
            "shift",
        )


def router_members(params: MoELayerParams) -> dict:
    """The ports every router offers the layer (see :class:`Router`), with ``shared_gate``
    its ``shared_scale``."""
    members = {
        "i": In(stream.Signature(token_layout(params))),
        "i_w": In(stream.Signature(chunk_layout(params.gemv))),
        "o": Out(stream.Signature(choice_layout(params))),
        "exp_write": In(write_signature(params.exp_entries, params.gate_width)),
        "scale": In(scale_pair_layout(params)),
    }
    if params.shared_gate:
        members["shared_scale"] = In(scale_pair_layout(params))
    return members


def gemv_and_selector(m, router):
    """``router``'s gate GEMV (its weights from ``i_w``, its tokens one at a time,
    :func:`feed_gemv`) and top-k selector: ``(gemv, topk, the token's scale code)``."""
    p = router.params
    m.submodules.gemv = gemv = Gemv(p.gemv)
    m.submodules.topk = topk = topk_component(p.topk)
    wiring.connect(m, wiring.flipped(router.i_w), gemv.i_w)
    return gemv, topk, feed_gemv(m, router, gemv)


def router_table(m, router):
    """``router``'s table (``exp_entries`` entries of ``gate_width`` bits: ``exp(-t)``, or
    ``sigmoid(t)`` for sigmoid scores), written from its ``exp_write``; its synchronous read
    port."""
    p = router.params
    m.submodules.exp_table = table = Memory(shape=p.gate_width, depth=p.exp_entries, init=[])
    write, read = table.write_port(), table.read_port()
    m.d.comb += [
        write.addr.eq(router.exp_write.addr),
        write.data.eq(router.exp_write.data),
        write.en.eq(router.exp_write.en),
    ]
    return read


def feed_gemv(m, router, gemv):
    """One token at a time into ``router``'s gate GEMV: its chunks go straight to the GEMV,
    its scale is kept from its final chunk (returned), and the next token waits until this
    one's choice is taken on ``router.o``."""
    p = router.params
    chunk = Signal(counter_range(p.io_chunks))
    loaded = Signal()
    scale = Signal.like(router.i.payload.scale)
    m.d.comb += [
        gemv.i_x.valid.eq(router.i.valid & ~loaded),
        gemv.i_x.payload.v.eq(router.i.payload.x),
        router.i.ready.eq(gemv.i_x.ready & ~loaded),
    ]
    with m.If(router.i.valid & router.i.ready):
        m.d.sync += chunk.eq(chunk + 1)
        with m.If(chunk == p.io_chunks - 1):
            m.d.sync += [chunk.eq(0), loaded.eq(1), scale.eq(router.i.payload.scale)]
    with m.If(router.o.valid & router.o.ready):
        m.d.sync += loaded.eq(0)
    return scale
