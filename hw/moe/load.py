"""The weight-load decoder: the ``i_load`` stream, decoded by target into every resident
memory's write port, the router's weight stream and the ``config`` words."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..expert_cache.interface import write_layout
from ..gemv.interface import chunk_layout
from .interface import load_layout, scale_pair_layout, write_signature
from .params import ACTIVATION_WIDTH, MoELayerParams

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
    shared_gate_scale : Out(scale_pair_layout(params))
        With ``params.shared_gate``, its ``config`` word, held.
    choice_bias : Out(write_signature(params.experts, signed(params.bias_width)))
        With ``params.choice_bias``, the router's selection biases.

    Behind an expert cache (``params.cache_slots``), the ``cache`` target's words below
    ``cache_slots`` configure its slots (``cache_config``) and the word at ``cache_slots``
    names the layer running (``layer``, held); while ``fetching`` (writes taken then too), the
    bank and scale writes of one expert land in region ``slot``, and ``fetched`` pulses with
    the last of its ``arrays * region_words + scale_rows`` words. Every write waits for
    ``quiet`` (no job taken or run by the engine, none of its rows in the units): a fetch never
    overwrites a slot a job reads.

    cache_config : Out(stream.Signature(write_layout(params.cache))); layer :
    Out(params.cache.layer_width); fetching, quiet : In(1); slot : In(params.region_width);
    fetched : Out(1)
        Only behind an expert cache.

    With prefetch (``params.cache_prefetch``), a fetch's words follow a word naming its slot
    (the ``cache`` target's word at ``cache_slots + 1``), in any order of fetches, and land
    while jobs run: a bank or scale word of a fetch waits only while a job reads its slot
    (``quiet`` low and ``landing_slot`` equal to the job's ``region``); every other word but
    the naming word is taken only between batches (``open`` and ``quiet``). ``fetched``
    pulses with the last word, ``landing_slot`` naming the slot. ``named`` from the word
    naming the layer until ``clear`` (the batch's stats taken): the batch's tokens wait for
    it, so they never meet the previous layer's router.

    region : In(params.region_width); landing_slot : Out(params.region_width); named :
    Out(1); clear : In(1)
        Only with prefetch, in place of ``fetching`` and ``slot``.
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
                "scales": Out(write_signature(p.regions * p.scale_rows, scale_pair_layout(p))),
                "banks": Out(write_signature(p.bank_words, p.bank_word_bits, p.arrays)),
                "router_scale": Out(scale_pair_layout(p)),
                "product_scale": Out(scale_pair_layout(p)),
                **({"shared_gate_scale": Out(scale_pair_layout(p))} if p.shared_gate else {}),
                **self._bias_members(p),
                **self._cache_members(p),
            }
        )

    @staticmethod
    def _bias_members(p: MoELayerParams) -> dict:
        if not p.choice_bias:
            return {}
        return {"choice_bias": Out(write_signature(p.experts, signed(p.bias_width)))}

    @staticmethod
    def _cache_members(p: MoELayerParams) -> dict:
        if p.cache is None:
            return {}
        members = {
            "cache_config": Out(stream.Signature(write_layout(p.cache))),
            "layer": Out(p.cache.layer_width),
            "quiet": In(1),
            "fetched": Out(1),
        }
        if p.cache_prefetch:
            return members | {
                "region": In(p.region_width),
                "landing_slot": Out(p.region_width),
                "named": Out(1),
                "clear": In(1),
            }
        return members | {"fetching": In(1), "slot": In(p.region_width)}

    def elaborate(self, platform):
        m = Module()
        p = self.params
        target = {name: code for name, (code, *_rest) in p.load_targets.items()}
        load = self.i_load.payload
        is_router = load.target == target["router"]
        if p.cache is None:
            taking = self.open
        elif p.cache_prefetch:
            fetching, slot = Signal(name="landing"), self.landing_slot
            self._landing = fetching
            fetch_word = (load.target >= target["scales"]) & (load.target != target["cache"])
            header = (load.target == target["cache"]) & (load.addr == p.cache_slots + 1)
            safe = self.quiet | (slot != self.region)  # no job reads the landing slot
            taking = Mux(fetch_word & fetching, safe, header | self.open & self.quiet)
        else:
            taking = (self.open | self.fetching) & self.quiet
        waits = ~is_router | self.router.ready  # a write the target cannot take yet
        if p.cache is not None:
            is_entry = (load.target == target["cache"]) & (load.addr < p.cache_slots)
            waits &= ~is_entry | self.cache_config.ready
            m.d.comb += [
                self.cache_config.valid.eq(self.i_load.valid & taking & is_entry),
                self.cache_config.payload.entry.eq(load.data),
                self.cache_config.payload.slot.eq(load.addr),
            ]
        m.d.comb += [
            self.router.valid.eq(self.i_load.valid & taking & is_router),
            self.router.payload.eq(load.data),
            self.i_load.ready.eq(taking & waits),
        ]
        write = self.i_load.valid & self.i_load.ready
        bank_addr, scale_addr = load.addr, load.addr
        if p.cache is not None:
            bank_addr, scale_addr = self._fetch(m, write, target)
        for name in ("exp_table", "act_table", "scales", *(["choice_bias"] * p.choice_bias)):
            port = getattr(self, name)
            m.d.comb += [
                port.addr.eq(scale_addr if name == "scales" else load.addr),
                port.data.eq(load.data),
                port.en.eq(write & (load.target == target[name])),
            ]
        m.d.comb += [
            self.banks.bank.eq(load.target - target["bank0"]),
            self.banks.addr.eq(bank_addr),
            self.banks.data.eq(load.data),
            self.banks.en.eq(write & (load.target >= target["bank0"])),
        ]
        for name in p.config_words:
            word = getattr(self, f"{name}_scale")
            held = Signal.like(word, name=f"config_{name}")
            is_word = (load.target == target["config"]) & (load.addr == p.config_words.index(name))
            with m.If(write & is_word):
                m.d.sync += held.eq(load.data)
            m.d.comb += word.eq(held)
        return m

    def _fetch(self, m, write, target):
        """The bank and scale addresses of a write (a fetched expert's land in its slot), the
        layer word, and the fetch's last word."""
        p = self.params
        load = self.i_load.payload
        cache = (load.target == target["cache"]) & (load.addr == p.cache_slots)
        with m.If(write & cache):
            m.d.sync += self.layer.eq(load.data)
        if p.cache_prefetch:
            fetching, slot = self._landing, self.landing_slot
        else:
            fetching, slot = self.fetching, self.slot
        words = p.arrays * p.region_words + p.scale_rows
        count = Signal(range(words), name="fetch_words")
        fetched = write & fetching & (load.target >= target["scales"])
        fetched &= load.target != target["cache"]
        with m.If(fetched):
            m.d.sync += count.eq(Mux(count == words - 1, 0, count + 1))
        last = fetched & (count == words - 1)
        m.d.comb += self.fetched.eq(last)
        if p.cache_prefetch:
            self._landings(m, write, target, last)
        bank = Mux(fetching, slot * p.region_words, 0) + load.addr
        scale = Mux(fetching, slot * p.scale_rows, 0) + load.addr
        return bank, scale

    def _landings(self, m, write, target, last) -> None:
        """With prefetch: a fetch lands from the word naming its slot to its last word; the
        layer is named from its word until the batch's stats."""
        p = self.params
        load = self.i_load.payload
        is_cache = load.target == target["cache"]
        with m.If(write & is_cache & (load.addr == p.cache_slots + 1)):
            m.d.sync += [self.landing_slot.eq(load.data), self._landing.eq(1)]
        with m.If(last):
            m.d.sync += self._landing.eq(0)
        with m.If(self.clear):
            m.d.sync += self.named.eq(0)
        with m.If(write & is_cache & (load.addr == p.cache_slots)):
            m.d.sync += self.named.eq(1)
