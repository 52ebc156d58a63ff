"""``moetile lint`` waives UNUSEDSIGNAL, so every input port is checked for use here instead."""

import pytest
from amaranth import Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from moetile.hw.registry import Design, blocks
from moetile.sim.lint import unused_inputs

DESIGNS = [Design(entry, params) for entry in blocks() for params in entry.defaults]


def input_ports(component) -> list[str]:
    return [
        "__".join(map(str, path))
        for path, member, _ in component.signature.flatten(component)
        if member.flow == In
    ]


@pytest.mark.parametrize("design", DESIGNS, ids=lambda d: f"{d.top}-{d.params_hash}")
def test_every_input_port_is_used(design, tmp_path):
    component = design.component()
    inputs = input_ports(component)
    path = tmp_path / f"{design.top}.v"
    path.write_text(verilog.convert(component, name=design.top))
    assert unused_inputs(path, design.top, inputs) == []


class HalfUsed(wiring.Component):
    a: In(4)
    b: In(4)
    q: Out(4)

    def elaborate(self, platform):
        m = Module()
        r = Signal(4)
        m.d.sync += r.eq(self.a)
        m.d.comb += self.q.eq(r)
        return m


def test_check_catches_an_unused_input(tmp_path):
    path = tmp_path / "half_used.v"
    path.write_text(verilog.convert(HalfUsed(), name="half_used"))
    found = unused_inputs(path, "half_used", ["a", "b"])
    assert len(found) == 1 and "'b'" in found[0]
