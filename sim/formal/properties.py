"""The stream contract every output port of every block is proved against, built around the
design under proof (``dut``) from its :class:`OutputContract`."""

from collections.abc import Callable
from dataclasses import dataclass

from amaranth import Module, Signal
from amaranth.hdl import Assert, Assume

from .harness import output_streams, past
from .tools import DEFAULT_ENGINE

__all__ = ["OutputContract", "Property", "contract_properties", "transfer"]


def transfer(port):
    """The stream transfers this cycle."""
    return port.valid & port.ready


@dataclass(frozen=True)
class Property:
    """One proof job: ``build(m, components, free)`` adds its assertions (and the assumptions
    it needs) around ``{"dut": design}``, or around what ``components(make_dut)`` returns for a
    property over several designs (see :class:`~moetile.sim.formal.harness.Harness`)."""

    name: str
    statement: str
    build: Callable
    depth: int
    components: Callable | None = None
    #: Try k-induction for an unbounded proof; otherwise a bounded check from reset only.
    inductive: bool = False
    #: Turn memories into registers first: the solver reasons about arithmetic on words it
    #: reads far better from registers than from SMT arrays.
    map_memories: bool = False
    #: The SymbiYosys engine line: the SMT driver, its options and a solver of
    #: :data:`~moetile.sim.formal.tools.SOLVERS`.
    engine: str = DEFAULT_ENGINE


@dataclass(frozen=True)
class OutputContract:
    """What an output port owes its sink.

    Parameters
    ----------
    port : str
        The output stream.
    owed : callable or None
        None where only ``held`` is proved. ``owed(m, dut)`` builds, in the harness, the
        number of transfers this port newly owes this cycle (from input transfers), as an
        Amaranth value.
    capacity : int
        The most transfers the port can owe at once (items inside the block).
    latency : int or None
        With every sink always ready, the most cycles the port goes without a transfer while it
        owes one: the cycle model's latency bound. None where no bound is within reach of the
        proof's depth (no ``latency`` property then).
    counted_depth, latency_depth : int or None
        Steps of the ``counted`` and ``latency`` proofs, where not the spec's depth.
    latency_assumes : callable or None
        ``latency_assumes(m, dut)`` adds what the latency bound takes for granted of the
        inputs beyond ready sinks (e.g. every weight loaded before the first vector).
    map_memories : bool
        Turn memories into registers for the port's proofs (see
        :attr:`Property.map_memories`): for Params whose memories are all small.
    engine : str
        The SymbiYosys engine of the port's proofs (see :attr:`Property.engine`).
    """

    port: str
    owed: Callable | None = None
    capacity: int = 0
    latency: int | None = None
    counted_depth: int | None = None
    latency_depth: int | None = None
    latency_assumes: Callable | None = None
    map_memories: bool = False
    engine: str = DEFAULT_ENGINE


def contract_properties(contract: OutputContract, depth: int) -> list[Property]:
    """``<port>.held``, ``<port>.counted`` and ``<port>.latency`` for one output port (only
    ``held`` where the contract says nothing of what is owed)."""
    name = contract.port
    found = [
        Property(
            f"{name}.held",
            "once valid, valid stays high and the payload stable until ready",
            lambda m, c, free: _held(m, getattr(c["dut"], name)),
            depth,
            inductive=True,
            map_memories=contract.map_memories,
            engine=contract.engine,
        ),
    ]
    if contract.owed is None:
        return found
    found.append(
        Property(
            f"{name}.counted",
            f"valid only while a transfer is owed for accepted input, at most "
            f"{contract.capacity} owed (nothing invented or duplicated, none before input)",
            lambda m, c, free: _counted(m, c["dut"], contract),
            contract.counted_depth or depth,
            map_memories=contract.map_memories,
            engine=contract.engine,
        )
    )
    if contract.latency is None:
        return found
    return found + [
        Property(
            f"{name}.latency",
            f"with ready sinks, a transfer within {contract.latency} cycles while one is owed "
            "(nothing lost)",
            lambda m, c, free: _latency(m, c["dut"], contract),
            contract.latency_depth or depth,
            map_memories=contract.map_memories,
            engine=contract.engine,
        ),
    ]


def _held(m: Module, port) -> None:
    stalled = past(m, port.valid & ~port.ready, "stalled")
    payload = past(m, port.payload.as_value(), "last_payload")
    with m.If(stalled):
        m.d.comb += [Assert(port.valid), Assert(port.payload.as_value() == payload)]


def _owed(m: Module, dut, contract: OutputContract) -> tuple[Signal, Signal]:
    """``(outstanding, owed)``: transfers owed before this cycle, and including this cycle's."""
    width = (contract.capacity + 2).bit_length() + 1
    outstanding = Signal(width, name="outstanding")
    owed = Signal(width, name="owed")
    port = getattr(dut, contract.port)
    m.d.comb += owed.eq(outstanding + contract.owed(m, dut))
    m.d.sync += outstanding.eq(owed - transfer(port))
    return outstanding, owed


def _counted(m: Module, dut, contract: OutputContract) -> None:
    outstanding, owed = _owed(m, dut, contract)
    port = getattr(dut, contract.port)
    m.d.comb += [
        Assert(~port.valid | (owed != 0)),
        Assert(outstanding <= contract.capacity),
    ]


def _latency(m: Module, dut, contract: OutputContract) -> None:
    for sink in output_streams(dut).values():
        m.d.comb += Assume(sink.ready)
    if contract.latency_assumes is not None:
        contract.latency_assumes(m, dut)
    _outstanding, owed = _owed(m, dut, contract)
    port = getattr(dut, contract.port)
    waited = Signal(range(contract.latency + 2), name="waited")
    with m.If(transfer(port) | (owed == 0)):
        m.d.sync += waited.eq(0)
    with m.Elif(waited <= contract.latency):
        m.d.sync += waited.eq(waited + 1)
    m.d.comb += Assert(waited <= contract.latency)
