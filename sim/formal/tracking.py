"""One item followed through a block: the solver picks which accepted input to follow
(a free ``pick`` input), and the harness keeps its payload and tells when the output that answers
it is on the port. A property checked against it holds for every item, under any traffic."""

from amaranth import Signal

__all__ = ["TrackedItem"]


class TrackedItem:
    """One item followed from input to output in order.

    ``accepted`` and ``emitted`` are the 1-bit input and output transfer conditions, ``data``
    the input payload (any shape). ``pick`` is a free input (``free`` makes it: see
    :class:`~moetile.sim.formal.harness.Harness`): the first accepted item while it is high is
    followed. ``payload`` holds its input once taken; ``due`` is high while the output port
    offers the output that answers it (outputs come in input order).
    """

    def __init__(self, m, free, shape, data, accepted, emitted, capacity: int, name="tracked"):
        self.pick = free(1, f"{name}_pick")
        self.payload = Signal(shape, name=f"{name}_payload")
        taken = Signal(name=f"{name}_taken")
        done = Signal(name=f"{name}_done")
        ahead = Signal(range(capacity + 2), name=f"{name}_ahead")
        # ``ahead``: outputs still owed to items accepted before the followed one.
        with m.If(~taken):
            with m.If(accepted & self.pick):
                m.d.sync += [taken.eq(1), self.payload.eq(data), ahead.eq(ahead - emitted)]
            with m.Else():
                m.d.sync += ahead.eq(ahead + accepted - emitted)
        with m.Elif(emitted & (ahead != 0)):
            m.d.sync += ahead.eq(ahead - 1)
        with m.If(taken & (ahead == 0) & emitted):
            m.d.sync += done.eq(1)
        self.due = taken & ~done & (ahead == 0)
