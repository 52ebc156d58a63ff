"""One expert's selection: its ``capacity`` best tokens in a memory, and its worst entry."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from .interface import entry_layout
from .params import GOCacheParams

__all__ = ["ExpertSelection", "worse"]


def worse(a, b):
    """Entry ``a`` ranks below entry ``b``: a lower score, or the same score and a later token
    (ties go to the earlier token)."""
    return (a.score < b.score) | ((a.score == b.score) & (a.token > b.token))


class ExpertSelection(wiring.Component):
    """The tokens one expert has selected, and the worst of them.

    While the sequence holds fewer than ``capacity`` tokens (``full`` low), every token is
    taken into slot ``token``. Once full, a new token is taken only if its score beats the
    worst entry's (strictly: the new token is the latest, so it loses every tie), and it
    overwrites the worst entry's slot. Nothing else is read or written on a token; the worst
    entry is found again by a scan of the slots (``scan_addr``, one slot a cycle, starting at
    ``scan_first``) only after this expert took a token into a full selection.

    Parameters
    ----------
    params : GOCacheParams

    Members
    -------
    score : In(signed(params.score_width))
        The new token's score for this expert.
    token : In(unsigned(params.token_width))
        The new token's position in the sequence.
    full : In(1)
        The selection already holds ``capacity`` tokens.
    accept : In(1)
        The new token is taken in this cycle (``take`` decides whether this expert keeps it).
    scan, scan_first : In(1)
        A scan cycle, and its first.
    scan_addr : In(counter_range(params.slots))
    take : Out(1)
        This expert selects the new token.
    evicted : Out(unsigned(params.token_width))
        The token it drops for it (while ``full``).
    """

    def __init__(self, params: GOCacheParams):
        self.params = params
        super().__init__(
            {
                "score": In(signed(params.score_width)),
                "token": In(unsigned(params.token_width)),
                "full": In(1),
                "accept": In(1),
                "scan": In(1),
                "scan_first": In(1),
                "scan_addr": In(counter_range(params.slots)),
                "take": Out(1),
                "evicted": Out(unsigned(params.token_width)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        entry = entry_layout(p)
        m.submodules.slots = slots = Memory(shape=entry, depth=p.slots, init=[])
        write, read = slots.write_port(), slots.read_port(domain="comb")
        worst = Signal(entry)
        worst_slot = Signal(counter_range(p.slots))

        # Deciding: take every token until full, then only a better one, into the worst slot.
        m.d.comb += [
            self.take.eq(~self.full | (self.score > worst.score)),
            self.evicted.eq(worst.token),
            write.addr.eq(Mux(self.full, worst_slot, self.token)),
            write.data.score.eq(self.score),
            write.data.token.eq(self.token),
            write.en.eq(self.accept & self.take),
        ]

        # Scanning, only after a change: the running worst of the slots read so far.
        changed = Signal()
        with m.If(self.accept):
            m.d.sync += changed.eq(self.take)
        m.d.comb += read.addr.eq(self.scan_addr)
        with m.If(self.scan & changed & (self.scan_first | worse(read.data, worst))):
            m.d.sync += [worst.eq(read.data), worst_slot.eq(self.scan_addr)]
        return m
