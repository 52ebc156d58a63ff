"""Proofs of the `gemv` block: the stream contract, and every result equal to ``W x`` for the
matrix and vector the block accepted."""

from amaranth import Module, Signal, signed
from amaranth.hdl import Assert

from moetile.hw.gemv import GemvParams

from ..chunks import assume_zero_padding, chunked, keep_chunks
from ..counting import every
from ..properties import OutputContract, Property
from ..spec import CONTROL_DEPTH, FormalSpec

SMALL = (GemvParams(inputs=4, outputs=2, macs=2, width=3),)


def _depth(params: GemvParams) -> int:
    """The matrix, then two vectors back to back, or the control depth if longer."""
    return max(CONTROL_DEPTH, params.weight_transfers + 2 * params.vector_cycles + 4)


def _product_depth(params: GemvParams) -> int:
    """The matrix, then one vector to its result: each step past it costs the solver about
    half a minute more through the multipliers."""
    return params.weight_transfers + params.vector_cycles + 2


def _product(params: GemvParams) -> Property:
    """The harness keeps every weight chunk and vector chunk where the stream order puts them
    (row-major chunks), and the result offered must be ``sum_k w[o, k] * x[k]`` of what it
    kept, for every row: the block takes both only between vectors, so what the harness kept
    is what the block used."""

    def build(m: Module, components, free):
        dut = components["dut"]
        shape = signed(params.width)
        weights = [
            [Signal(shape, name=f"w_{o}_{k}") for k in range(params.inputs)]
            for o in range(params.outputs)
        ]
        vector = [Signal(shape, name=f"x_{k}") for k in range(params.inputs)]
        rows = [w for row in weights for w in chunked(row, params.macs)]
        keep_chunks(m, dut.i_w, rows, "w")
        keep_chunks(m, dut.i_x, chunked(vector, params.macs), "x")
        with m.If(dut.o.valid):
            for o, row in enumerate(weights):
                expected = sum(w * x for w, x in zip(row, vector, strict=True))
                m.d.comb += Assert(dut.o.payload.y[o] == expected)

    return Property(
        "product",
        "every result is sum_k w[o, k] * x[k] of the loaded matrix and the vector, every row",
        build,
        _product_depth(params),
        map_memories=True,
    )


SPEC = FormalSpec(
    block="gemv",
    params=SMALL,
    contracts=lambda params: [
        OutputContract("o", every("i_x", params.chunks), capacity=1, latency=params.result_latency)
    ],
    depth=_depth,
    functional=lambda params: [_product(params)],
    assumptions=assume_zero_padding,
)
