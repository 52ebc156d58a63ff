"""The expert cache's tag table and replacement, one lookup at a time."""

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .interface import entry_layout, fetch_layout, key_layout, result_layout, write_layout
from .params import ExpertCacheParams

__all__ = ["ExpertCache"]


class _State(enum.Enum, shape=3):
    IDLE = 0
    MATCH = 1
    SCAN = 2
    FILL = 3
    RESULT = 4


class ExpertCache(wiring.Component):
    """Looks up (layer, expert) among ``slots`` tags; a hit names the slot, a miss picks the
    slot to fill, retags it and requests the expert's weights.

    A lookup on ``i``: the tags are compared at once (a hit's result follows
    ``HIT_LATENCY`` cycles after the transfer); on a miss the slots are scanned one a cycle for
    the victim: among the slots the layer may fill (``shared``, or ``owner`` the lookup's layer)
    and not ``pinned``, a free slot first, else the one whose expert was used longest ago
    (``lru``: the largest age) or the fewest times (``lfu``: the smallest count), ties to the
    lower slot. The victim is retagged and its usage restarted, then the result on ``o`` and the
    fetch request on ``o_fetch`` are offered together; with no slot to take, the result is
    ``refused`` and nothing is fetched. Every lookup ages every other slot by one (``lru``) or
    counts one use of its slot (``lfu``), both saturating. ``i_config`` writes a slot's entry
    (and clears its usage) between lookups: quotas, pins, preloaded or invalidated tags.
    Exact model: :class:`moetile.sw.golden.expert_cache.ExpertCacheModel`.

    Parameters
    ----------
    params : ExpertCacheParams

    Members
    -------
    i : In(stream.Signature(key_layout(params)))
    i_config : In(stream.Signature(write_layout(params)))
    o : Out(stream.Signature(result_layout(params)))
    o_fetch : Out(stream.Signature(fetch_layout(params)))
    """

    def __init__(self, params: ExpertCacheParams):
        self.params = params
        super().__init__(
            {
                "i": In(stream.Signature(key_layout(params))),
                "i_config": In(stream.Signature(write_layout(params))),
                "o": Out(stream.Signature(result_layout(params))),
                "o_fetch": Out(stream.Signature(fetch_layout(params))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        state = Signal(_State)
        # From reset every slot is free, and any layer's miss may fill it.
        entries = Signal(data.ArrayLayout(entry_layout(p), p.slots), init=[{"shared": 1}] * p.slots)
        usage = Signal(data.ArrayLayout(p.usage_width, p.slots))
        key = Signal(key_layout(p))
        scan = Signal(p.slot_width)
        best = Signal(p.slot_width)
        best_score = Signal(p.usage_width + 1)
        found = Signal()

        idle, offering = state == _State.IDLE, state == _State.RESULT
        # What the result state still offers: valid follows from the state, so a payload,
        # written only before it, holds while it waits.
        result_taken, fetch_wanted, fetch_taken = Signal(), Signal(), Signal()
        m.d.comb += [
            self.i_config.ready.eq(idle),
            self.i.ready.eq(idle & ~self.i_config.valid),
            self.o.valid.eq(offering & ~result_taken),
            self.o_fetch.valid.eq(offering & fetch_wanted & ~fetch_taken),
        ]
        self._fetch_wanted = fetch_wanted
        with m.If(self.i_config.valid & self.i_config.ready):
            write = self.i_config.payload
            m.d.sync += [entries[write.slot].eq(write.entry), usage[write.slot].eq(0)]

        matches = Signal(p.slots)
        m.d.comb += matches.eq(
            Cat(
                e.valid & (e.layer == key.layer) & (e.expert == key.expert)
                for e in (entries[s] for s in range(p.slots))
            )
        )
        hit_slot = Signal(p.slot_width)
        for s in reversed(range(p.slots)):  # the lowest matching slot
            with m.If(matches[s]):
                m.d.comb += hit_slot.eq(s)

        candidate = entries[scan]
        eligible = ~candidate.pinned & (candidate.shared | (candidate.owner == key.layer))
        used = usage[scan]
        rank = used if p.policy == "lru" else ~used
        score = Cat(rank, ~candidate.valid)  # a free slot above any used one

        with m.Switch(state):
            with m.Case(_State.IDLE), m.If(self.i.valid & self.i.ready):
                m.d.sync += [key.eq(self.i.payload), state.eq(_State.MATCH)]
            with m.Case(_State.MATCH):
                with m.If(matches.any()):
                    self._use(m, usage, hit_slot, filled=False)
                    self._offer(m, hit=1, refused=0, slot=hit_slot, fetch=False)
                    m.d.sync += state.eq(_State.RESULT)
                with m.Else():
                    m.d.sync += [scan.eq(0), found.eq(0), state.eq(_State.SCAN)]
            with m.Case(_State.SCAN):
                with m.If(eligible & (~found | (score > best_score))):
                    m.d.sync += [best.eq(scan), best_score.eq(score), found.eq(1)]
                m.d.sync += scan.eq(scan + 1)
                with m.If(scan == p.slots - 1):
                    m.d.sync += state.eq(_State.FILL)
            with m.Case(_State.FILL):
                with m.If(found):
                    m.d.sync += [
                        entries[best].valid.eq(1),
                        entries[best].layer.eq(key.layer),
                        entries[best].expert.eq(key.expert),
                    ]
                    self._use(m, usage, best, filled=True)
                    self._offer(m, hit=0, refused=0, slot=best, fetch=True)
                    m.d.sync += [
                        self.o_fetch.payload.layer.eq(key.layer),
                        self.o_fetch.payload.expert.eq(key.expert),
                        self.o_fetch.payload.slot.eq(best),
                    ]
                with m.Else():
                    self._offer(m, hit=0, refused=1, slot=0, fetch=False)
                m.d.sync += state.eq(_State.RESULT)
            with m.Case(_State.RESULT):
                result_done = ~self.o.valid | self.o.ready
                fetch_done = ~self.o_fetch.valid | self.o_fetch.ready
                with m.If(self.o.valid & self.o.ready):
                    m.d.sync += result_taken.eq(1)
                with m.If(self.o_fetch.valid & self.o_fetch.ready):
                    m.d.sync += fetch_taken.eq(1)
                with m.If(result_done & fetch_done):
                    m.d.sync += [state.eq(_State.IDLE), result_taken.eq(0), fetch_taken.eq(0)]
        return m

    def _offer(self, m, *, hit, refused, slot, fetch: bool) -> None:
        m.d.sync += [
            self.o.payload.hit.eq(hit),
            self.o.payload.refused.eq(refused),
            self.o.payload.slot.eq(slot),
            self._fetch_wanted.eq(int(fetch)),
        ]

    def _use(self, m, usage, slot, *, filled: bool) -> None:
        """One use of ``slot``: its age restarts and every other slot ages (``lru``), or its
        count restarts at one when filled, else counts one more (``lfu``); saturating."""
        p = self.params

        def older(value):
            return Mux(value == p.usage_max, value, value + 1)

        for s in range(p.slots):
            if p.policy == "lru":
                m.d.sync += usage[s].eq(Mux(slot == s, 0, older(usage[s])))
            elif filled:
                with m.If(slot == s):
                    m.d.sync += usage[s].eq(1)
            else:
                with m.If(slot == s):
                    m.d.sync += usage[s].eq(older(usage[s]))
