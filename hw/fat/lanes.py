"""The bit-serial lanes: input storage, accumulator bit planes and one full adder per lane."""

from amaranth import Array, Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from .adder import LaneAdder
from .interface import input_layout, op_layout, output_layout
from .params import FatParams

__all__ = ["LaneArray"]


class LaneArray(wiring.Component):
    """``lanes`` one-bit datapaths that accumulate ternary dot products bit-serially.

    Storage is transposed, as in a computational memory: the input memory has one row per input
    index holding that input for every lane, and the accumulator is ``acc_width`` bit planes of
    ``lanes`` bits. An op ``acc += x[k]`` (``-=`` when negative: inverted operand bits, carry-in
    1) steps through bit positions ``0 .. width-1``: each step reads one plane and one input bit
    per lane, and one full adder per lane writes the sum bit back to that plane.

    Where the carry lives is the :class:`~moetile.hw.fat.adder.LaneAdder`'s business: a
    sense-amplifier latch for ``fat`` (one cycle per bit), the array's carry row for ``parapim``
    (a compute cycle and a write-back cycle per bit).

    With ``variable_width`` the ``i``-th add of a row covers ``params.add_width(i)`` bits; the
    planes above hold stale bits and are read as the sign of the valid ones.

    After ``n_inputs`` input columns are loaded, ops are consumed; the op marked ``last`` moves
    the sums to the output register and clears the planes. After ``n_outputs`` rows the input
    memory is free for the next pass.

    Parameters
    ----------
    params : FatParams

    Members
    -------
    i_x : In(stream.Signature(input_layout(params)))
    i_op : In(stream.Signature(op_layout(params)))
    o : Out(stream.Signature(output_layout(params)))
    """

    def __init__(self, params: FatParams):
        self.params = params
        super().__init__(
            {
                "i_x": In(stream.Signature(input_layout(params))),
                "i_op": In(stream.Signature(op_layout(params))),
                "o": Out(stream.Signature(output_layout(params))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        loaded = self._input_memory(m)

        op = Signal(op_layout(p))
        busy = Signal()
        bit = Signal(counter_range(p.acc_width))
        width = Signal(range(p.acc_width + 1), init=p.add_width(0))
        read_width = Signal(range(p.acc_width + 1), init=p.add_width(0))
        ordinal = Signal(range(p.n_inputs + 1))
        planes = Array(Signal(p.lanes, name=f"acc_plane{b}") for b in range(p.acc_width))

        # One full adder per lane on this bit position.
        operand = self._operand_bits(m, op, bit)
        plane_in = Signal(p.lanes)
        m.submodules.adder = adder = LaneAdder(p)
        if p.variable_width:
            # Bits past the previous add's width are its sign, latched in the cycle that
            # reads that plane, before this add overwrites it (the baseline reads it in the
            # first of a bit's two cycles, and writes the sum there).
            old_sign = Signal(p.lanes)
            reads = busy & (bit == read_width - 1)
            with m.If(reads & adder.write if p.cycles_per_bit == 2 else reads):
                m.d.sync += old_sign.eq(planes[bit])
            m.d.comb += plane_in.eq(Mux(bit < read_width, planes[bit], old_sign))
        else:
            m.d.comb += plane_in.eq(planes[bit])
        total = adder.total
        m.d.comb += [
            adder.plane.eq(plane_in),
            adder.operand.eq(operand),
            adder.first.eq(bit == 0),
            adder.carry_first.eq(op.negative),
        ]

        # When the op ends, and whether the output register can take a finished row.
        write_sum = busy & ~op.empty & adder.write
        op_end = Signal()
        m.d.comb += op_end.eq(busy & (op.empty | ((bit == width - 1) & adder.bit_done)))
        stall = op_end & op.last & self.o.valid & ~self.o.ready
        step = busy & ~stall
        m.d.comb += adder.step.eq(step & ~op.empty)
        row_end = step & op_end & op.last

        planes_next = [Signal(p.lanes, name=f"acc_plane{b}_next") for b in range(p.acc_width)]
        m.d.comb += [
            nxt.eq(Mux(write_sum & (bit == b), total, planes[b]))
            for b, nxt in enumerate(planes_next)
        ]
        with m.If(step & write_sum):
            m.d.sync += planes[bit].eq(total)
        with m.If(step & ~op_end & adder.bit_done):
            m.d.sync += bit.eq(bit + 1)
        pass_end = self._emit_row(m, row_end, planes_next, width, planes, loaded)

        # Take the next op when idle or in the last cycle of the current one, but not across the
        # end of a pass: the next pass's ops wait until its inputs are loaded.
        take = Signal()
        m.d.comb += [
            take.eq(loaded & (~busy | (step & op_end & ~pass_end))),
            self.i_op.ready.eq(take),
        ]
        start_width = Mux(row_end, p.add_width(0), width)
        start_ordinal = Mux(row_end, 0, ordinal)
        with m.If(take & self.i_op.valid):
            m.d.sync += [
                op.eq(self.i_op.payload),
                busy.eq(1),
                bit.eq(0),
                read_width.eq(start_width),
                ordinal.eq(start_ordinal + 1),
                width.eq(_next_width(p, start_width, start_ordinal + 1)),
            ]
        with m.Elif(step & op_end):
            m.d.sync += busy.eq(0)
            with m.If(row_end):
                m.d.sync += [width.eq(p.add_width(0)), read_width.eq(p.add_width(0)), ordinal.eq(0)]
        return m

    def _input_memory(self, m):
        """Load ``n_inputs`` columns, then hold them until the pass's last row is out."""
        p = self.params
        m.submodules.inputs = inputs = Memory(
            shape=input_layout(p)["x"].shape, depth=p.n_inputs, init=[]
        )
        self._write, self._read = inputs.write_port(), inputs.read_port(domain="comb")
        loaded = Signal()
        index = Signal(counter_range(p.n_inputs))
        m.d.comb += [
            self.i_x.ready.eq(~loaded),
            self._write.addr.eq(index),
            self._write.data.eq(self.i_x.payload.x),
            self._write.en.eq(self.i_x.valid & self.i_x.ready),
        ]
        with m.If(self.i_x.valid & self.i_x.ready):
            m.d.sync += index.eq(Mux(index == p.n_inputs - 1, 0, index + 1))
            with m.If(index == p.n_inputs - 1):
                m.d.sync += loaded.eq(1)
        return loaded

    def _operand_bits(self, m, op, bit):
        """Bit ``bit`` (sign-extended past ``in_width``) of ``x[op.k]`` in every lane, inverted
        for a subtraction and zero for a zero weight."""
        p = self.params
        m.d.comb += self._read.addr.eq(op.k)
        position = Mux(bit < p.in_width, bit, p.in_width - 1)
        raw = Cat(self._read.data[lane].bit_select(position, 1) for lane in range(p.lanes))
        operand = Signal(p.lanes)
        m.d.comb += operand.eq(Mux(op.zero, 0, raw) ^ op.negative.replicate(p.lanes))
        return operand

    def _emit_row(self, m, row_end, planes_next, width, planes, loaded):
        """Move the finished sums (sign-extended from ``width`` bits) to the output register;
        after the pass's last row, free the input memory. Returns that last row's end."""
        p = self.params
        rows = Signal(counter_range(p.n_outputs))
        pass_end = Signal()
        m.d.comb += pass_end.eq(row_end & (rows == p.n_outputs - 1))
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(row_end):
            if p.variable_width:
                sign = Array(planes_next)[width - 1]
                planes_next = [Mux(b < width, plane, sign) for b, plane in enumerate(planes_next)]
            for lane in range(p.lanes):
                bits = Cat(plane[lane] for plane in planes_next)
                m.d.sync += self.o.payload.y[lane].eq(bits)
            m.d.sync += [self.o.valid.eq(1), *(plane.eq(0) for plane in planes)]
            m.d.sync += rows.eq(Mux(rows == p.n_outputs - 1, 0, rows + 1))
        with m.If(pass_end):
            m.d.sync += loaded.eq(0)
        return pass_end


def _next_width(params: FatParams, width, ordinal):
    """``params.add_width(ordinal)`` from the previous width: one bit more at each power of two."""
    if not params.variable_width:
        return params.acc_width
    grows = ((ordinal & (ordinal - 1)) == 0) & (width < params.acc_width)
    return Mux(grows, width + 1, width)
