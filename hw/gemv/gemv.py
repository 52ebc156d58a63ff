"""The int8 GEMV block: resident weights, one vector at a time, exact sums."""

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from .dot import DotUnit, product_layout
from .interface import chunk_layout, result_layout
from .params import GemvParams

__all__ = ["Gemv"]


class Gemv(wiring.Component):
    """``y = W x`` with ``W`` resident in an on-chip memory, ``macs`` MACs a cycle.

    Weights arrive on ``i_w`` as ``outputs * chunks`` row-major chunks (row ``o``, chunk ``c``
    at transfer ``o * chunks + c``; a new matrix overwrites the old one). A vector arrives on
    ``i_x`` as ``chunks`` chunks; then one dot-product unit accumulates row after row, a chunk
    a cycle, and all ``outputs`` sums leave together on ``o``: ``params.vector_cycles`` cycles
    from the first chunk to the result with no stalls. Both inputs are accepted only while no
    vector is being computed or offered, and vector chunks only once a whole matrix is loaded
    (from reset, and again from the first chunk of a new matrix to its last), so a vector never
    meets a half-written matrix. The next vector waits for the result to be read; a second
    vector buffer would hide its loading, at the cost of the buffer.

    Parameters
    ----------
    params : GemvParams

    Members
    -------
    i_w : In(stream.Signature(chunk_layout(params)))
    i_x : In(stream.Signature(chunk_layout(params)))
    o : Out(stream.Signature(result_layout(params)))
    """

    def __init__(self, params: GemvParams):
        self.params = params
        super().__init__(
            {
                "i_w": In(stream.Signature(chunk_layout(params))),
                "i_x": In(stream.Signature(chunk_layout(params))),
                "o": Out(stream.Signature(result_layout(params))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        shape = chunk_layout(p)["v"].shape
        # At least two words: a one-word memory has a zero-width address, which Verilog cannot
        # declare.
        m.submodules.weights = weights = Memory(
            shape=shape, depth=max(2, p.weight_transfers), init=[]
        )
        m.submodules.vector = vector = Memory(shape=shape, depth=max(2, p.chunks), init=[])
        m.submodules.dot = dot = DotUnit(p)
        w_write, x_write = weights.write_port(), vector.write_port()
        w_read, x_read = weights.read_port(), vector.read_port()
        loading = Signal(init=1)

        # Loading: weight chunks and vector chunks are written where their counters point; a
        # vector is taken only against a complete matrix.
        w_addr = Signal(counter_range(p.weight_transfers))
        x_addr = Signal(counter_range(p.chunks))
        matrix_loaded = Signal()
        m.d.comb += [
            self.i_w.ready.eq(loading),
            self.i_x.ready.eq(loading & matrix_loaded),
            w_write.addr.eq(w_addr),
            w_write.data.eq(self.i_w.payload.v),
            w_write.en.eq(self.i_w.valid & self.i_w.ready),
            x_write.addr.eq(x_addr),
            x_write.data.eq(self.i_x.payload.v),
            x_write.en.eq(self.i_x.valid & self.i_x.ready),
        ]
        with m.If(w_write.en):
            m.d.sync += w_addr.eq(_wrap(w_addr, p.weight_transfers))
            m.d.sync += matrix_loaded.eq(w_addr == p.weight_transfers - 1)
        vector_loaded = x_write.en & (x_addr == p.chunks - 1)
        with m.If(x_write.en):
            m.d.sync += x_addr.eq(_wrap(x_addr, p.chunks))

        # Computing: weight chunk ``step`` against vector chunk ``step % chunks``, in three
        # stages: the memories' registered reads, the registered products, then the sum into
        # the row's accumulator. Each chunk's place in its row travels alongside.
        computing = Signal()
        step = Signal(counter_range(p.weight_transfers))
        chunk = Signal(counter_range(p.chunks))
        row = Signal(counter_range(p.outputs))
        m.d.comb += [w_read.addr.eq(step), x_read.addr.eq(chunk)]
        issued = _chunk_tag(p, "issued")
        m.d.comb += [
            issued.valid.eq(computing),
            issued.last.eq(chunk == p.chunks - 1),
            issued.row.eq(row),
        ]
        read, multiplied = _chunk_tag(p, "read"), _chunk_tag(p, "multiplied")
        m.d.sync += [read.eq(issued), multiplied.eq(read)]
        m.d.comb += [dot.a.eq(w_read.data), dot.b.eq(x_read.data)]
        products = Signal(product_layout(p))
        m.d.sync += products.eq(dot.products)
        m.d.comb += dot.summed.eq(products)

        acc = Signal.like(dot.dot)
        total = Signal.like(dot.dot)
        m.d.comb += total.eq(acc + dot.dot)
        with m.If(vector_loaded):
            m.d.sync += [loading.eq(0), computing.eq(1), step.eq(0), chunk.eq(0), row.eq(0)]
            m.d.sync += acc.eq(0)
        with m.If(computing):
            m.d.sync += [step.eq(step + 1), chunk.eq(_wrap(chunk, p.chunks))]
            with m.If(issued.last):
                m.d.sync += row.eq(row + 1)
                with m.If(row == p.outputs - 1):
                    m.d.sync += computing.eq(0)
        with m.If(multiplied.valid):
            m.d.sync += acc.eq(Mux(multiplied.last, 0, total))
            # No chunk is in flight while a result is offered; saying so in the write enable
            # makes the result's stability evident to a proof by induction.
            with m.If(multiplied.last & ~self.o.valid):
                m.d.sync += self.o.payload.y[multiplied.row].eq(total)
                with m.If(multiplied.row == p.outputs - 1):
                    m.d.sync += self.o.valid.eq(1)

        # Offering: the result is held until read, then the next vector may load.
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += [self.o.valid.eq(0), loading.eq(1)]
        return m


def _chunk_tag(params: GemvParams, name: str) -> Signal:
    """Where a chunk in flight belongs: whether the stage holds one, whether it closes its
    row, and the row."""
    layout = data.StructLayout({"valid": 1, "last": 1, "row": counter_range(params.outputs)})
    return Signal(layout, name=name)


def _wrap(counter, count: int):
    """``counter + 1``, back to 0 after ``count - 1``."""
    return Mux(counter == count - 1, 0, counter + 1)
