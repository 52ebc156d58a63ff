"""Vectors and matrices as the GEMV streams carry them: ``macs`` values a chunk, rows in
row-major chunks, the last chunk of each padded with zeros."""

from amaranth import Module
from amaranth.hdl import Assume

from moetile.hw.gemv import GemvParams

from .counting import Passes
from .properties import transfer

__all__ = ["assume_zero_padding", "chunked", "keep_chunks"]


def chunked(values: list, macs: int) -> list[list]:
    """``values`` in chunks of ``macs`` as the streams carry them (the last one shorter)."""
    return [values[i : i + macs] for i in range(0, len(values), macs)]


def keep_chunks(m: Module, port, chunks: list[list], name: str) -> None:
    """On each transfer of ``port``, its payload ``v`` into the chunk its position in the
    stream names (the positions wrap after ``len(chunks)``)."""
    position = Passes(m, transfer(port), len(chunks), 1, f"{name}_kept").position
    with m.If(transfer(port)), m.Switch(position):
        for index, chunk in enumerate(chunks):
            with m.Case(index):
                m.d.sync += [kept.eq(port.payload.v[i]) for i, kept in enumerate(chunk)]


def assume_zero_padding(m: Module, dut, params: GemvParams) -> None:
    """Values past ``inputs`` in the last chunk of a vector (``i_x``) or row (``i_w``) are
    zero."""
    padded = params.chunks * params.macs - params.inputs
    if not padded:
        return
    for name in ("i_w", "i_x"):
        port = getattr(dut, name)
        position = Passes(m, transfer(port), params.chunks, 1, f"{name}_chunk").position
        with m.If(port.valid & (position == params.chunks - 1)):
            for lane in range(params.macs - padded, params.macs):
                m.d.comb += Assume(port.payload.v[lane] == 0)
