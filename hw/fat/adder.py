"""The lane adder: one full adder per lane and where its carry lives between bit positions."""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import FatParams

__all__ = ["LaneAdder"]


class LaneAdder(wiring.Component):
    """Bit-serial addition for every lane at once: ``total = plane ^ operand ^ carry``.

    ``fat``: the carry out is held in a latch at the sense amplifier and used at the next bit;
    every cycle is a bit (``write`` and ``bit_done`` always high).
    ``parapim``: the carry must go back to the array. A bit takes two cycles: the first writes
    the sum and holds the carry out in the sense amplifier (``write`` high); the second writes
    that carry to the array's carry row (``bit_done`` high), from which the next bit reads it.

    Parameters
    ----------
    params : FatParams

    Members
    -------
    plane : In(lanes)
        The accumulator bit of each lane at this position.
    operand : In(lanes)
        The input bit of each lane (already inverted for a subtraction).
    first : In(1)
        This is bit 0: the carry in is ``carry_first`` instead of the stored carry.
    carry_first : In(1)
        Carry into bit 0: 1 for a subtraction (two's complement), else 0.
    step : In(1)
        The datapath advances this cycle; nothing is stored otherwise.
    total : Out(lanes)
        The sum bit of each lane.
    write : Out(1)
        ``total`` is to be written to the accumulator plane this cycle.
    bit_done : Out(1)
        This cycle completes the bit position.
    """

    def __init__(self, params: FatParams):
        self.params = params
        lanes = params.lanes
        super().__init__(
            {
                "plane": In(lanes),
                "operand": In(lanes),
                "first": In(1),
                "carry_first": In(1),
                "step": In(1),
                "total": Out(lanes),
                "write": Out(1),
                "bit_done": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        lanes = self.params.lanes
        carry = Signal(lanes)  # the latch (fat) or the array's carry row (parapim)
        carry_in, carry_out = Signal(lanes), Signal(lanes)
        a, b = self.plane, self.operand
        m.d.comb += [
            carry_in.eq(Mux(self.first, self.carry_first.replicate(lanes), carry)),
            self.total.eq(a ^ b ^ carry_in),
            carry_out.eq((a & b) | (a & carry_in) | (b & carry_in)),
        ]

        if self.params.cycles_per_bit == 1:
            m.d.comb += [self.write.eq(1), self.bit_done.eq(1)]
            with m.If(self.step):
                m.d.sync += carry.eq(carry_out)
            return m

        writeback = Signal()
        sense = Signal(lanes)
        m.d.comb += [self.write.eq(~writeback), self.bit_done.eq(writeback)]
        with m.If(self.step):
            m.d.sync += writeback.eq(~writeback)
            with m.If(writeback):
                m.d.sync += carry.eq(sense)
            with m.Else():
                m.d.sync += sense.eq(carry_out)
        return m
