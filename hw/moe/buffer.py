"""A memory the layer's parts share: one write port, combinational read ports."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from .interface import read_signature, write_signature

__all__ = ["SharedMemory"]


class SharedMemory(wiring.Component):
    """``depth`` words of ``shape``, written through ``write`` and read, each in the same
    cycle, through ``read0``, ``read1``, ...

    Members
    -------
    write : In(write_signature(depth, shape))
    read<i> : In(read_signature(depth, shape)), ``readers`` of them
    """

    def __init__(self, depth: int, shape, readers: int):
        self.depth, self.shape, self.readers = depth, shape, readers
        reads = {f"read{i}": In(read_signature(depth, shape)) for i in range(readers)}
        super().__init__({"write": In(write_signature(depth, shape)), **reads})

    def elaborate(self, platform):
        m = Module()
        m.submodules.memory = memory = Memory(shape=self.shape, depth=self.depth, init=[])
        write = memory.write_port()
        m.d.comb += [
            write.addr.eq(self.write.addr),
            write.data.eq(self.write.data),
            write.en.eq(self.write.en),
        ]
        for i in range(self.readers):
            port, read = getattr(self, f"read{i}"), memory.read_port(domain="comb")
            m.d.comb += [read.addr.eq(port.addr), port.data.eq(read.data)]
        return m
