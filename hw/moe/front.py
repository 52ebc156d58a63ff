"""The token front end: stores each batch's tokens, routes them, and lists each expert's
tokens with their gating weights."""

from amaranth import Array, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from .buffer import SharedMemory
from .interface import choice_layout, read_signature, token_layout
from .params import MoELayerParams

__all__ = ["TokenFrontEnd", "front_memories", "front_reads"]


def front_memories(params: MoELayerParams) -> dict[str, tuple[int, object]]:
    """The front end's memories, ``{name: (depth, shape)}``: ``tokens`` (each token's chunks),
    ``scales`` (its scale code) and ``lists`` (expert ``e``'s ``i``-th entry at
    ``e * max_tokens + i``: the token in the low ``token_width`` bits, then its gate); with
    ``shared_gate``, ``shared_gates`` (each token's shared experts' gate)."""
    p = params
    memories = {
        "tokens": (p.max_tokens * p.io_chunks, token_layout(p)["x"].shape),
        "scales": (p.max_tokens, p.token_scale_width),
        "lists": (p.experts * p.max_tokens, p.token_width + p.gate_width),
    }
    if p.shared_gate:
        memories["shared_gates"] = (p.max_tokens, p.gate_width)
    return memories


def front_reads(params: MoELayerParams) -> dict:
    """A combinational read of each of :func:`front_memories`, from the reader's side."""
    return {name: read_signature(*memory) for name, memory in front_memories(params).items()}


class TokenFrontEnd(wiring.Component):
    """Takes token chunks while ``open`` until the batch closes (a token with ``last``, or the
    ``max_tokens``-th), storing each token and its scale code and handing its chunks to the
    router; appends each of a token's choices, one a cycle, to its expert's list as
    ``(token, gate)`` (and keeps its shared gate). ``clear`` empties it for the next batch.

    Parameters
    ----------
    params : MoELayerParams

    Members
    -------
    i_token : In(stream.Signature(token_layout(params)))
    to_router : Out(stream.Signature(token_layout(params)))
    choices : In(stream.Signature(choice_layout(params)))
        The router's choices, a token's at once.
    open, clear : In(1)
    received : Out(range(params.max_tokens + 1))
        Tokens of the batch so far.
    counts : Out(data.ArrayLayout(range(params.max_tokens + 1), params.experts))
        Each routed expert's list length.
    routed_all : Out(1)
        The batch is closed and every token routed.
    tokens, scales, lists, shared_gates : In(front_reads(params)[...])
        Combinational reads of the memories (``shared_gates`` with ``shared_gate``).
    """

    def __init__(self, params: MoELayerParams):
        self.params = params
        p = params
        count = range(p.max_tokens + 1)
        super().__init__(
            {
                "i_token": In(stream.Signature(token_layout(p))),
                "to_router": Out(stream.Signature(token_layout(p))),
                "choices": In(stream.Signature(choice_layout(p))),
                "open": In(1),
                "clear": In(1),
                "received": Out(count),
                "counts": Out(data.ArrayLayout(count, p.experts)),
                "routed_all": Out(1),
                **{name: In(signature) for name, signature in front_reads(p).items()},
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        memories = {}
        for name, (depth, shape) in front_memories(p).items():
            memories[name] = m.submodules[name] = SharedMemory(depth, shape, readers=1)
            wiring.connect(m, wiring.flipped(getattr(self, name)), memories[name].read0)
        tokens, token_scales, lists = (memories[n] for n in ("tokens", "scales", "lists"))

        received, routed, closed = Signal.like(self.received), Signal.like(self.received), Signal()
        counts = Array(Signal.like(self.received, name=f"count{e}") for e in range(p.experts))
        m.d.comb += [self.received.eq(received), self.routed_all.eq(closed & (routed == received))]
        m.d.comb += [self.counts[e].eq(counts[e]) for e in range(p.experts)]

        # Tokens in: stored chunk by chunk, the scale code with the final chunk.
        token_write, scale_write = tokens.write, token_scales.write
        accept = Signal()
        chunk = Signal(counter_range(p.io_chunks))
        final_chunk = accept & (chunk == p.io_chunks - 1)
        m.d.comb += [
            self.i_token.ready.eq(self.open & ~closed & self.to_router.ready),
            accept.eq(self.i_token.valid & self.i_token.ready),
            self.to_router.valid.eq(accept),
            self.to_router.payload.eq(self.i_token.payload),
            token_write.addr.eq(received * p.io_chunks + chunk),
            token_write.data.eq(self.i_token.payload.x),
            token_write.en.eq(accept),
            scale_write.addr.eq(received),
            scale_write.data.eq(self.i_token.payload.scale),
            scale_write.en.eq(final_chunk),
        ]
        with m.If(accept):
            m.d.sync += chunk.eq(chunk + 1)
        with m.If(final_chunk):
            m.d.sync += [chunk.eq(0), received.eq(received + 1)]
            with m.If(self.i_token.payload.last | (received == p.max_tokens - 1)):
                m.d.sync += closed.eq(1)

        # Each choice appends (token, gate) to its expert's list, one choice a cycle (with
        # expert choice, only the experts that took the token).
        list_write = lists.write
        choice = Signal(counter_range(p.top_k))
        expert = self.choices.payload.expert[choice]
        appends = self.choices.valid
        if p.expert_choice:
            appends &= self.choices.payload.taken.bit_select(choice, 1)
        m.d.comb += [
            list_write.addr.eq(expert * p.max_tokens + counts[expert]),
            list_write.data.eq(routed | (self.choices.payload.gate[choice] << p.token_width)),
            list_write.en.eq(appends),
            self.choices.ready.eq(choice == p.top_k - 1),
        ]
        if p.shared_gate:  # the token's shared gate, once a token
            gates = memories["shared_gates"].write
            m.d.comb += [
                gates.addr.eq(routed),
                gates.data.eq(self.choices.payload.shared_gate),
                gates.en.eq(self.choices.valid & self.choices.ready),
            ]
        with m.If(appends):
            m.d.sync += counts[expert].eq(counts[expert] + 1)
        with m.If(self.choices.valid):
            m.d.sync += choice.eq(choice + 1)
            with m.If(self.choices.ready):
                m.d.sync += [choice.eq(0), routed.eq(routed + 1)]

        with m.If(self.clear):
            m.d.sync += [count.eq(0) for count in counts]
            m.d.sync += [received.eq(0), routed.eq(0), closed.eq(0)]
        return m
