"""The weight-load decoder: the ``i_load`` stream, decoded by target into every resident
memory's write port, the router's weight stream and the ``config`` words."""

from amaranth import Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..gemv.interface import chunk_layout
from .interface import load_layout, scale_pair_layout, write_signature
from .params import ACTIVATION_WIDTH, CONFIG_WORDS, MoELayerParams

__all__ = ["LoadDecoder"]


class LoadDecoder(wiring.Component):
    """Decodes weight-load writes (``params.load_targets``); a write is taken only while
    ``open`` (between batches), and a write to the router only when the router takes it.

    Parameters
    ----------
    params : MoELayerParams

    Members
    -------
    i_load : In(stream.Signature(load_layout(params)))
    open : In(1)
        Writes are taken (the layer is between batches).
    router : Out(stream.Signature(chunk_layout(params.gemv)))
        The gate's weight chunks.
    exp_table, act_table, scales : Out(write_signature(...))
        The exp table, the activation table and the per-expert scale pairs.
    banks : Out(write_signature(params.bank_words, params.bank_word_bits, params.arrays))
        The engine's banks, ``bank`` naming the array.
    router_scale, product_scale : Out(scale_pair_layout(params))
        The ``config`` words, held.
    """

    def __init__(self, params: MoELayerParams):
        self.params = params
        p = params
        super().__init__(
            {
                "i_load": In(stream.Signature(load_layout(p))),
                "open": In(1),
                "router": Out(stream.Signature(chunk_layout(p.gemv))),
                "exp_table": Out(write_signature(p.exp_entries, p.gate_width)),
                "act_table": Out(write_signature(1 << ACTIVATION_WIDTH, signed(ACTIVATION_WIDTH))),
                "scales": Out(
                    write_signature(p.total_experts * p.scale_rows, scale_pair_layout(p))
                ),
                "banks": Out(write_signature(p.bank_words, p.bank_word_bits, p.arrays)),
                "router_scale": Out(scale_pair_layout(p)),
                "product_scale": Out(scale_pair_layout(p)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        target = {name: code for name, (code, *_rest) in p.load_targets.items()}
        load = self.i_load.payload
        is_router = load.target == target["router"]
        m.d.comb += [
            self.router.valid.eq(self.i_load.valid & self.open & is_router),
            self.router.payload.eq(load.data),
            self.i_load.ready.eq(self.open & (~is_router | self.router.ready)),
        ]
        write = self.i_load.valid & self.i_load.ready
        for name in ("exp_table", "act_table", "scales"):
            port = getattr(self, name)
            m.d.comb += [
                port.addr.eq(load.addr),
                port.data.eq(load.data),
                port.en.eq(write & (load.target == target[name])),
            ]
        m.d.comb += [
            self.banks.bank.eq(load.target - target["bank0"]),
            self.banks.addr.eq(load.addr),
            self.banks.data.eq(load.data),
            self.banks.en.eq(write & (load.target >= target["bank0"])),
        ]
        for name, word in (("router", self.router_scale), ("product", self.product_scale)):
            held = Signal.like(word, name=f"config_{name}")
            is_word = (load.target == target["config"]) & (load.addr == CONFIG_WORDS.index(name))
            with m.If(write & is_word):
                m.d.sync += held.eq(load.data)
            m.d.comb += word.eq(held)
        return m
