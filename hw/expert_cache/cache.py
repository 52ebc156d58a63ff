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

    With ``params.prefetch``, a request on ``i_prefetch`` (taken while ``window``, after any
    lookup) asks for an expert ahead of its layer. Present, its slot is marked; missing, a
    victim is chosen as for a lookup but never a marked slot nor one ``keep`` names (a slot
    holding an expert of the running ``layer`` that its batch ``needed``, as the request was
    taken), and is retagged, marked and fetched (``o_fetch`` alone, no result); out of range
    or with no victim, the request is ``refused`` (a one-cycle pulse) and changes nothing. A
    mark lasts until the batch of its expert's layer ends (``batch_done`` with ``layer``
    naming it); a lookup's victim is free before unmarked before marked. Every fetch decided
    is counted in flight until ``landed`` pulses with ``landed_slot`` naming its slot (fetches
    land in any order); ``pending`` names the slots with a fetch in flight; nothing is taken
    while ``params.queue_depth`` are.

    Parameters
    ----------
    params : ExpertCacheParams

    Members
    -------
    i : In(stream.Signature(key_layout(params)))
    i_config : In(stream.Signature(write_layout(params)))
    o : Out(stream.Signature(result_layout(params)))
    o_fetch : Out(stream.Signature(fetch_layout(params)))

    i_prefetch : In(stream.Signature(key_layout(params))); window, batch_done, landed :
    In(1); layer : In(params.layer_width); needed : In(params.experts); landed_slot :
    In(params.slot_width); prefetching, refused : Out(1); pending : Out(params.slots)
        Only with ``params.prefetch``; ``prefetching`` while a request is being decided.
    """

    def __init__(self, params: ExpertCacheParams):
        self.params = params
        super().__init__(
            {
                "i": In(stream.Signature(key_layout(params))),
                "i_config": In(stream.Signature(write_layout(params))),
                "o": Out(stream.Signature(result_layout(params))),
                "o_fetch": Out(stream.Signature(fetch_layout(params))),
                **self._prefetch_members(params),
            }
        )

    @staticmethod
    def _prefetch_members(p: ExpertCacheParams) -> dict:
        if not p.prefetch:
            return {}
        return {
            "i_prefetch": In(stream.Signature(key_layout(p))),
            "window": In(1),
            "layer": In(p.layer_width),
            "needed": In(p.experts),
            "batch_done": In(1),
            "landed": In(1),
            "landed_slot": In(p.slot_width),
            "pending": Out(p.slots),
            "prefetching": Out(1),
            "refused": Out(1),
        }

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
        best_score = Signal(p.usage_width + 1 + p.prefetch)
        found = Signal()

        idle, offering = state == _State.IDLE, state == _State.RESULT
        # What the result state still offers: valid follows from the state, so a payload,
        # written only before it, holds while it waits.
        result_taken, fetch_wanted, fetch_taken = Signal(), Signal(), Signal()
        between = idle & ~self.i_config.valid  # a request may be taken
        if p.prefetch:
            deciding = Signal()  # a fetch is being decided (counted in flight from then)
            in_flight = Signal(range(p.queue_depth + 1))
            between &= in_flight < p.queue_depth
            landed = self.landed & (in_flight != 0)
            m.d.sync += in_flight.eq(in_flight + deciding - landed)
        m.d.comb += [
            self.i_config.ready.eq(idle),
            self.i.ready.eq(between),
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
        if p.prefetch:
            prefetch = Signal()  # the request being decided is a prefetch
            marked = Signal(p.slots)  # slots a prefetch asked for, until their layer's batch ends
            kept = Signal(p.slots)  # slots of the running batch's experts, as a prefetch came
            in_range = (key.layer < p.layers) & (key.expert < p.experts)
            # Free above unmarked above marked; a prefetch never takes a marked or kept slot.
            score = Cat(rank, ~marked.bit_select(scan, 1), ~candidate.valid)
            eligible &= ~prefetch | ~(marked | kept).bit_select(scan, 1)
            self._prefetch(m, entries, key, prefetch, kept, marked, deciding, best, between)
            m.d.comb += [
                self.prefetching.eq(prefetch & ~idle),
                self.refused.eq(
                    prefetch
                    & ((state == _State.MATCH) & ~in_range | (state == _State.FILL) & ~found)
                ),
            ]

        with m.Switch(state):
            with m.Case(_State.IDLE):
                with m.If(self.i.valid & self.i.ready):
                    m.d.sync += [key.eq(self.i.payload), state.eq(_State.MATCH)]
                if p.prefetch:
                    with m.Elif(self.i_prefetch.valid & self.i_prefetch.ready):
                        m.d.sync += [key.eq(self.i_prefetch.payload), state.eq(_State.MATCH)]
            with m.Case(_State.MATCH):
                if p.prefetch:
                    with m.If(prefetch & (~in_range | matches.any())):
                        # Refused, or present: marked, nothing else changes.
                        with m.If(in_range):
                            m.d.sync += marked.eq(marked | matches)
                        m.d.sync += state.eq(_State.IDLE)
                with (m.Elif if p.prefetch else m.If)(matches.any()):
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
                m.d.sync += state.eq(_State.RESULT)
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
                    if p.prefetch:
                        m.d.comb += deciding.eq(1)
                        m.d.sync += self.o_fetch.payload.prefetch.eq(prefetch)
                        with m.If(prefetch):  # its fetch alone is offered
                            m.d.sync += [marked.bit_select(best, 1).eq(1), result_taken.eq(1)]
                if p.prefetch:
                    with m.Elif(prefetch):
                        m.d.sync += state.eq(_State.IDLE)  # refused
                with m.Else():
                    self._offer(m, hit=0, refused=1, slot=0, fetch=False)
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

    def _prefetch(self, m, entries, key, prefetch, kept, marked, deciding, best, between) -> None:
        """The prefetch requests' intake and the marks' ends; each slot's fetches in flight:
        one more as a fetch into it is decided, one fewer as one lands in it."""
        p = self.params
        slots = [entries[s] for s in range(p.slots)]
        m.d.comb += self.i_prefetch.ready.eq(between & ~self.i.valid & self.window)
        for s in range(p.slots):
            count = Signal(range(p.queue_depth + 1), name=f"in_flight{s}")
            more = deciding & (best == s)  # the fill's victim
            fewer = self.landed & (self.landed_slot == s) & (count != 0)
            m.d.sync += count.eq(count + more - fewer)
            m.d.comb += self.pending[s].eq(count != 0)
        # The running batch's experts, as a prefetch is taken.
        keep = Cat(
            e.valid & (e.layer == self.layer) & self.needed.bit_select(e.expert, 1) for e in slots
        )
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += prefetch.eq(0)
        with m.Elif(self.i_prefetch.valid & self.i_prefetch.ready):
            m.d.sync += [prefetch.eq(1), kept.eq(keep)]
        # A mark lasts until its layer's batch ends; a written slot starts unmarked.
        with m.If(self.batch_done):
            ended = Cat(e.valid & (e.layer == self.layer) for e in slots)
            m.d.sync += marked.eq(marked & ~ended)
        with m.If(self.i_config.valid & self.i_config.ready):
            m.d.sync += marked.bit_select(self.i_config.payload.slot, 1).eq(0)

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
