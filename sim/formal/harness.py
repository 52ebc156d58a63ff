"""The formal harness: a design under proof whose input ports are left free (any value on any
cycle), started from its reset state, with properties added around it in Amaranth (``Assert``
and ``Assume`` become ``$check`` cells in RTLIL, which SymbiYosys proves)."""

from collections.abc import Callable

from amaranth import Elaboratable, Fragment, Module, Mux, ResetSignal, Signal, Value
from amaranth.back import rtlil
from amaranth.hdl import Assume
from amaranth.lib import stream, wiring

__all__ = [
    "Harness",
    "Opened",
    "free_inputs",
    "free_constant",
    "harness_rtlil",
    "output_streams",
    "past",
]


def output_streams(component) -> dict[str, object]:
    """``{name: stream interface}`` of the component's output streams."""
    return {
        name: getattr(component, name)
        for name, member in component.signature.members.items()
        if member.is_signature
        and isinstance(member.signature, stream.Signature)
        and member.flow == wiring.Out
    }


def free_inputs(component) -> list[Signal]:
    """Every signal the component reads from outside: its inputs, stream ``ready`` included."""
    return [
        Value.cast(value)
        for _path, member, value in component.signature.flatten(component)
        if member.flow == wiring.In
    ]


def free_constant(m: Module, free, shape, name: str) -> Signal:
    """A value the solver chooses on the first cycle, then kept in a register."""
    chosen = free(shape, f"{name}_choice")
    started = Signal(name=f"{name}_started")
    kept = Signal(shape, name=f"{name}_kept")
    value = Signal(shape, name=name)
    m.d.comb += value.eq(Mux(started, kept, chosen))
    m.d.sync += [started.eq(1), kept.eq(value)]
    return value


def past(m: Module, value, name: str) -> Signal:
    """``value`` as it was on the previous cycle (its init value on the first)."""
    register = Signal.like(value, name=name)
    m.d.sync += register.eq(value)
    return register


class Opened(Elaboratable):
    """A component elaborated up front, so that a property can name the signals of its
    submodules (:meth:`part`); it elaborates to that one module, and its ports are the
    component's."""

    def __init__(self, component):
        component._MustUse__silence = True
        self.component = component
        self.module = component.elaborate(None)

    def part(self, name: str):
        """The submodule ``name`` of the component's module."""
        return self.module.submodules[name]

    def __getattr__(self, name):
        return getattr(self.component, name)

    def elaborate(self, platform):
        return self.module


class Harness(Elaboratable):
    """``components`` (name → component) with ``build(m, components, free)`` adding properties;
    ``free(shape, name)`` makes a signal the solver chooses freely on every cycle.

    Reset is held low: the proof starts from the init values every register has, which are the
    reset state, so "after reset" is the first cycle.
    """

    def __init__(self, components: dict, build: Callable):
        self.components = components
        self.build = build
        self.free_signals = []

    def free(self, shape, name: str) -> Signal:
        signal = Signal(shape, name=name)
        self.free_signals.append(signal)
        return signal

    def elaborate(self, platform):
        m = Module()
        for name, component in self.components.items():
            m.submodules[name] = component
        m.d.comb += Assume(~ResetSignal())
        self.build(m, self.components, self.free)
        return m


def harness_rtlil(harness: Harness) -> str:
    """RTLIL of the harness, top module ``top``. Its ports are the free signals and the
    components' inputs: free where the harness leaves them undriven, outputs where it drives
    them."""
    fragment = Fragment.get(harness, None)
    ports = [Value.cast(s) for s in harness.free_signals]
    for component in harness.components.values():
        ports += free_inputs(component)
    text, _names = rtlil.convert_fragment(fragment, ports, name="top", emit_src=False)
    return text
