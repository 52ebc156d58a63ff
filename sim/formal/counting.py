"""Counters the harness keeps of a block's transfers, to say what its outputs owe."""

from amaranth import Module, Mux, Signal

__all__ = ["Passes", "closes", "every"]


class Passes:
    """Transfers of one stream counted in passes of ``size``: ``position`` within the current
    pass and ``number`` of passes completed (no divider for the solver to reason through).

    ``total`` and ``next_total`` are the transfers before this cycle and including it; the
    ``next_*`` values include this cycle's transfer. ``width`` bits must hold the most passes
    within the proof's depth.
    """

    def __init__(self, m: Module, condition, size: int, width: int, name: str):
        self.position = Signal(range(max(size, 2)), name=f"{name}_position")
        self.number = Signal(width, name=f"{name}_passes")
        #: The transfer this cycle completes a pass.
        self.wrap = wrap = condition & (self.position == size - 1)
        self.next_position = Mux(wrap, 0, self.position + condition)
        self.next_number = self.number + wrap
        m.d.sync += [self.position.eq(self.next_position), self.number.eq(self.next_number)]
        self.total = self.number * size + self.position
        self.next_total = self.next_number * size + self.next_position


def every(port: str, size: int = 1, flag: str | None = None):
    """An ``owed`` function (see :class:`~moetile.sim.formal.properties.OutputContract`): one
    output per ``size`` transfers on the input stream ``port``, or per transfer whose payload
    field ``flag`` is set."""

    def owed(m: Module, dut):
        stream = getattr(dut, port)
        taken = stream.valid & stream.ready
        if flag is not None:
            return taken & getattr(stream.payload, flag)
        return Passes(m, taken, size, 1, f"{port}_owing").wrap

    return owed


def closes(m: Module, item, flag, most: int, name: str):
    """Whether the ``item`` this cycle closes a batch: it carries ``flag`` or is the batch's
    ``most``-th."""
    count = Signal(range(max(2, most)), name=f"{name}_count")
    ends = item & (flag | (count == most - 1))
    with m.If(item):
        m.d.sync += count.eq(Mux(ends, 0, count + 1))
    return ends
