"""Proofs of the `gemv` block: the stream contract, and every result equal to ``W x`` for the
matrix and vector the block accepted."""

from amaranth import Module, Signal, signed
from amaranth.hdl import Assert, Assume

from moetile.hw.gemv import GemvParams

from ..counting import Passes, every
from ..properties import OutputContract, Property, transfer
from ..spec import CONTROL_DEPTH, FormalSpec

SMALL = (GemvParams(inputs=4, outputs=2, macs=2, width=3),)


def _latency(params: GemvParams) -> int:
    """From a vector's last chunk: a chunk a cycle for every row, then the result."""
    return params.outputs * params.chunks + 1


def _depth(params: GemvParams) -> int:
    """The matrix, then two vectors back to back, or the control depth if longer."""
    return max(CONTROL_DEPTH, params.weight_transfers + 2 * params.vector_cycles + 4)


def _product_depth(params: GemvParams) -> int:
    """The matrix, then one vector to its result: each step past it costs the solver about
    half a minute more through the multipliers."""
    return params.weight_transfers + params.vector_cycles + 2


def _assume_zero_padding(m: Module, dut, params: GemvParams) -> None:
    """Values past ``inputs`` in a vector's or row's last chunk are zero."""
    padded = params.chunks * params.macs - params.inputs
    if not padded:
        return
    for name in ("i_w", "i_x"):
        port = getattr(dut, name)
        position = Passes(m, transfer(port), params.chunks, 1, f"{name}_chunk").position
        with m.If(port.valid & (position == params.chunks - 1)):
            for lane in range(params.macs - padded, params.macs):
                m.d.comb += Assume(port.payload.v[lane] == 0)


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
        _keep(m, dut.i_w, params, [w for row in weights for w in _chunked(row, params)], "w")
        _keep(m, dut.i_x, params, _chunked(vector, params), "x")
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


def _chunked(values: list, params: GemvParams) -> list[list]:
    """``values`` in chunks of ``macs`` as the streams carry them (the last one shorter)."""
    return [values[i : i + params.macs] for i in range(0, len(values), params.macs)]


def _keep(m: Module, port, params: GemvParams, chunks: list[list], name: str) -> None:
    """On each transfer, the payload into the chunk its position in the stream names."""
    position = Passes(m, transfer(port), len(chunks), 1, f"{name}_kept").position
    with m.If(transfer(port)), m.Switch(position):
        for index, chunk in enumerate(chunks):
            with m.Case(index):
                m.d.sync += [kept.eq(port.payload.v[i]) for i, kept in enumerate(chunk)]


SPEC = FormalSpec(
    block="gemv",
    params=SMALL,
    contracts=lambda params: [
        OutputContract("o", every("i_x", params.chunks), capacity=1, latency=_latency(params))
    ],
    depth=_depth,
    functional=lambda params: [_product(params)],
    assumptions=_assume_zero_padding,
)
