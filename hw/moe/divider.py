"""A sequential unsigned divider: one quotient bit per cycle."""

from amaranth import Cat, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range

__all__ = ["Divider"]


class Divider(wiring.Component):
    """``quotient = numerator // denominator`` by restoring division, ``numerator_width``
    cycles per division (a quotient bit a cycle, most significant first). A zero denominator
    gives all ones.

    Members
    -------
    i : In(stream.Signature({numerator, denominator}))
    o : Out(stream.Signature({quotient}))
    """

    def __init__(self, numerator_width: int, denominator_width: int):
        self.numerator_width = numerator_width
        self.denominator_width = denominator_width
        operands = data.StructLayout(
            {"numerator": unsigned(numerator_width), "denominator": unsigned(denominator_width)}
        )
        result = data.StructLayout({"quotient": unsigned(numerator_width)})
        super().__init__({"i": In(stream.Signature(operands)), "o": Out(stream.Signature(result))})

    def elaborate(self, platform):
        m = Module()
        n = self.numerator_width
        busy = Signal()
        bit = Signal(counter_range(n))
        numerator = Signal(n)
        denominator = Signal(self.denominator_width)
        remainder = Signal(self.denominator_width + 1)
        quotient = self.o.payload.quotient

        # Accept operands when neither dividing nor holding a result.
        m.d.comb += self.i.ready.eq(~busy & ~self.o.valid)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [
                numerator.eq(self.i.payload.numerator),
                denominator.eq(self.i.payload.denominator),
                remainder.eq(0),
                bit.eq(0),
                busy.eq(1),
            ]

        # Bring down the next numerator bit; subtract the denominator where it fits.
        trial = Signal(self.denominator_width + 2)
        m.d.comb += trial.eq(Cat(numerator[n - 1], remainder))
        fits = trial >= denominator
        with m.If(busy):
            m.d.sync += [
                numerator.eq(numerator << 1),
                remainder.eq(trial - (denominator & fits.replicate(len(denominator)))),
                quotient.eq(Cat(fits, quotient[:-1])),
                bit.eq(bit + 1),
            ]
            with m.If(bit == n - 1):
                m.d.sync += [busy.eq(0), self.o.valid.eq(1)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
