"""The router: gate GEMV, top-k selection and fixed-point softmax gating weights."""

from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from ..gemv.gemv import Gemv
from ..gemv.interface import chunk_layout
from ..topk.rtl import topk_component
from .divider import Divider
from .fixed import requantize_stages, token_multiplier
from .interface import choice_layout, scale_pair_layout, token_layout, write_signature
from .params import MoELayerParams
from .pipeline import Pipeline

__all__ = ["Router"]


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
    """

    def __init__(self, params: MoELayerParams):
        self.params = params
        super().__init__(
            {
                "i": In(stream.Signature(token_layout(params))),
                "i_w": In(stream.Signature(chunk_layout(params.gemv))),
                "o": Out(stream.Signature(choice_layout(params))),
                "exp_write": In(write_signature(params.exp_entries, params.gate_width)),
                "scale": In(scale_pair_layout(params)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.gemv = gemv = Gemv(p.gemv)
        m.submodules.topk = topk = topk_component(p.topk)
        wiring.connect(m, wiring.flipped(self.i_w), gemv.i_w)
        scale = self._feed_gemv(m, gemv)

        # Logits into the top-k selector; all of them kept for softmax over every expert.
        logits = Signal(data.ArrayLayout(signed(p.gemv.acc_width), p.experts))
        m.d.comb += [
            topk.i.valid.eq(gemv.o.valid),
            gemv.o.ready.eq(topk.i.ready),
            topk.i.payload.scores.eq(gemv.o.payload.y),
        ]
        with m.If(gemv.o.valid & gemv.o.ready):
            m.d.sync += logits.eq(gemv.o.payload.y)
        self._gate(m, topk, logits, scale)
        return m

    def _feed_gemv(self, m, gemv):
        """One token at a time: its chunks go straight to the GEMV, its scale is kept from its
        final chunk, and the next token waits until this one's choice is taken."""
        p = self.params
        chunk = Signal(counter_range(p.io_chunks))
        loaded = Signal()
        scale = Signal.like(self.i.payload.scale)
        m.d.comb += [
            gemv.i_x.valid.eq(self.i.valid & ~loaded),
            gemv.i_x.payload.v.eq(self.i.payload.x),
            self.i.ready.eq(gemv.i_x.ready & ~loaded),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += chunk.eq(chunk + 1)
            with m.If(chunk == p.io_chunks - 1):
                m.d.sync += [chunk.eq(0), loaded.eq(1), scale.eq(self.i.payload.scale)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += loaded.eq(0)
        return scale

    def _gate(self, m, topk, logits, scale):
        """Exp table lookups over the candidates, then one division per selected expert."""
        p = self.params
        m.submodules.exp_table = table = Memory(shape=p.gate_width, depth=p.exp_entries, init=[])
        write = table.write_port()
        read = table.read_port()
        m.d.comb += [
            write.addr.eq(self.exp_write.addr),
            write.data.eq(self.exp_write.data),
            write.en.eq(self.exp_write.en),
        ]
        m.submodules.divider = divider = Divider(p.gate_frac + p.exp_sum_width, p.exp_sum_width)

        top = Signal.like(topk.o.payload)
        exps = Array(Signal(p.gate_width, name=f"exp{i}") for i in range(p.top_k))
        total = Signal(p.exp_sum_width)
        candidates = p.top_k if p.renormalize else p.experts
        step = Signal(counter_range(candidates + 1))
        looking = Signal()
        dividing = Signal()
        sent = Signal(counter_range(p.top_k + 1))
        received = Signal(counter_range(p.top_k + 1))
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
            with m.If(step == candidates - 1):
                m.d.sync += looking.eq(0)
        apart = pipe.stage(
            "apart", valid=looking, last=step == candidates - 1, step=step, delta=delta
        )
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
        with m.If(indexed.valid):
            m.d.sync += total.eq(total + read.data)
            if p.renormalize:
                m.d.sync += exps[indexed.step].eq(read.data)
            else:
                for i in range(p.top_k):
                    with m.If(top.top[i].index == indexed.step):
                        m.d.sync += exps[i].eq(read.data)
            with m.If(indexed.last):
                m.d.sync += [dividing.eq(1), sent.eq(0), received.eq(0)]

        # Divide each selected expert's exp by the sum.
        m.d.comb += [
            divider.i.valid.eq(dividing & (sent == received)),
            divider.i.payload.numerator.eq(exps[sent] << p.gate_frac),
            divider.i.payload.denominator.eq(total),
            divider.o.ready.eq(dividing),
        ]
        with m.If(divider.i.valid & divider.i.ready):
            m.d.sync += sent.eq(sent + 1)
        with m.If(divider.o.valid):
            m.d.sync += self.o.payload.gate[received].eq(divider.o.payload.quotient)
            m.d.sync += received.eq(received + 1)
            with m.If(received == p.top_k - 1):
                m.d.sync += [dividing.eq(0), self.o.valid.eq(1)]
        for i in range(p.top_k):
            m.d.comb += self.o.payload.expert[i].eq(top.top[i].index)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
