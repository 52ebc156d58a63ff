"""Energy: activity counted in simulation times one table of per-action energies, every entry
with its source.

Activity is a :class:`Activity`: counts of actions, each at a bit width. The simulation counts
the events (stream transfers, add cycles); each block's ``*_activity`` function turns them into
actions from the datapath's structure, stated in its docstring. Energy is the sum of each
count times :func:`action_energy`: the dynamic energy. Static energy is leakage, paid every
cycle a design runs: :func:`static_energy` prices its logic's area (Nangate 45 nm cells, from
synthesis) at the Aladdin 40 nm register's leakage per µm², and each bit of its memories at the
register's leakage per bit (an SRAM cell leaks less than a flip-flop: an upper bound), at the
1 GHz clock (1 ns cycle) the table is characterized at. Clock tree and wires are not modelled.

Scaling rules (the table gives a few widths; actions of other widths follow these):

- add, ``n`` bits: 0.03 pJ × n / 8 up to 8 bits, linear between Horowitz's 8-bit (0.03 pJ) and
  32-bit (0.1 pJ) figures, 0.1 pJ × n / 32 above (a ripple adder's energy grows with its bits).
- multiply, ``a × b`` bits: 0.2 pJ × a·b / 64, the 8-bit figure per partial-product bit (an
  array multiplier's energy grows with its partial products; at 32 × 32 this gives 3.2 pJ
  against the table's 3.1 pJ).
- register write, SRAM access: per bit.
- ADC conversion, ``b`` bits: 1.67 pJ × 2**(b - 8) (energy per conversion doubles per bit of
  resolution: Walden's figure of merit, P = FOM · 2**ENOB · f_s).
- DAC drive, ``b`` bits: the 1-bit figure × (2**b - 1) (a ``b``-bit current-steering DAC has
  ``2**b - 1`` unit cells).
- crossbar read, ``n`` cells: the 128 × 128 figure × n / 16384 (the array's read current
  flows through every cell).

The 45 nm (Horowitz) and 40 nm (Aladdin) figures are used together unscaled; the two nodes are
closer than either source's stated accuracy.
"""

from collections import Counter
from dataclasses import dataclass, field

__all__ = [
    "ENERGY_TABLE",
    "ISAAC",
    "Activity",
    "EnergyEntry",
    "action_energy",
    "energy_table_rows",
    "static_energy",
]

ISAAC = (
    "A. Shafiee et al., 'ISAAC', ISCA 2016, Table 6, 32 nm, one read per 100 ns "
    "(ADC: 8 bits at 1.2 GS/s, 2 mW; DAC: 1 bit, 4 mW per 1024; crossbar: 128 x 128 of "
    "2-bit cells, 0.3 mW)"
)
HOROWITZ = "M. Horowitz, 'Computing's energy problem', ISSCC 2014, 45 nm"
ALADDIN = (
    "Y. S. Shao et al., 'Aladdin', ISCA 2014, 40 nm component table at a 1 ns cycle "
    "(register, per bit: 0.009 pJ dynamic energy, 7.4e-5 mW leakage, 5.98 µm²)"
)
#: The clock the static energy assumes: the Aladdin table's 1 ns cycle.
CYCLE_NS = 1.0


@dataclass(frozen=True)
class EnergyEntry:
    pj: float
    what: str
    source: str


#: Every per-action energy of the project.
ENERGY_TABLE = {
    "add8": EnergyEntry(0.03, "8-bit integer add", HOROWITZ),
    "add32": EnergyEntry(0.1, "32-bit integer add", HOROWITZ),
    "mul8": EnergyEntry(0.2, "8-bit integer multiply", HOROWITZ),
    "mul32": EnergyEntry(3.1, "32-bit integer multiply", HOROWITZ),
    "sram64": EnergyEntry(10.0, "64-bit read of an 8 KB SRAM (per bit: 10 / 64)", HOROWITZ),
    "dram64": EnergyEntry(
        1300.0, "64-bit DRAM access (the low end of the table's 1.3-2.6 nJ)", HOROWITZ
    ),
    "register_bit": EnergyEntry(0.009, "1-bit register write", ALADDIN),
    "leakage_bit": EnergyEntry(7.4e-5 * CYCLE_NS, "a register or memory bit leaking 1 ns", ALADDIN),
    "leakage_um2": EnergyEntry(
        7.4e-5 / 5.98 * CYCLE_NS, "1 µm² of logic leaking 1 ns (a register's, per µm²)", ALADDIN
    ),
    "adc8": EnergyEntry(1.67, "8-bit ADC conversion", ISAAC),
    "dac1": EnergyEntry(0.39, "1-bit DAC driving a wordline for one 100 ns read", ISAAC),
    "crossbar128": EnergyEntry(30.0, "read of a 128 x 128 crossbar (100 ns)", ISAAC),
}

#: Action kinds and how their width is given.
KINDS = {
    "add": "an n-bit add or subtract",
    "multiply": "an a × b-bit multiply",
    "register": "register bits written",
    "sram": "SRAM (or computational memory) bits read or written",
    "adc": "a b-bit analog-to-digital conversion",
    "dac": "a b-bit wordline drive for one read",
    "crossbar": "a crossbar read, n cells",
}


def action_energy(kind: str, width) -> float:
    """pJ of one action of ``kind`` at ``width`` (an int, or ``(a, b)`` for a multiply)."""
    t = ENERGY_TABLE
    if kind == "add":
        if width <= 8:
            return t["add8"].pj * width / 8
        if width <= 32:
            return t["add8"].pj + (t["add32"].pj - t["add8"].pj) * (width - 8) / 24
        return t["add32"].pj * width / 32
    if kind == "multiply":
        a, b = width
        return t["mul8"].pj * a * b / 64
    if kind == "register":
        return t["register_bit"].pj * width
    if kind == "sram":
        return t["sram64"].pj / 64 * width
    if kind == "adc":
        return t["adc8"].pj * 2.0 ** (width - 8)
    if kind == "dac":
        return t["dac1"].pj * ((1 << width) - 1)
    if kind == "crossbar":
        return t["crossbar128"].pj * width / (128 * 128)
    raise ValueError(f"action kind must be one of {', '.join(KINDS)}, not {kind!r}")


@dataclass
class Activity:
    """Counts of ``(kind, width)`` actions."""

    counts: Counter = field(default_factory=Counter)

    def add(self, kind: str, width, count: int = 1) -> None:
        if kind not in KINDS:
            raise ValueError(f"action kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.counts[(kind, width)] += count

    def merge(self, other: "Activity", times: int = 1) -> None:
        """Adds ``times`` copies of ``other``'s actions."""
        for action, n in other.counts.items():
            self.counts[action] += n * times

    def energy_pj(self) -> float:
        return sum(n * action_energy(kind, width) for (kind, width), n in self.counts.items())

    def by_kind(self) -> dict[str, float]:
        """pJ per action kind, for the kinds this activity has, in the table's order."""
        present = {kind for kind, _ in self.counts}
        out = {kind: 0.0 for kind in KINDS if kind in present}
        for (kind, width), n in self.counts.items():
            out[kind] += n * action_energy(kind, width)
        return out


def static_energy(logic_um2: float, memory_bits: int, cycles: int) -> float:
    """pJ leaked by ``logic_um2`` µm² of logic and ``memory_bits`` bits of memory over
    ``cycles`` cycles."""
    t = ENERGY_TABLE
    return (t["leakage_um2"].pj * logic_um2 + t["leakage_bit"].pj * memory_bits) * cycles


def energy_table_rows() -> list[dict]:
    """The table, for reports: every entry with its source."""
    return [
        {"action": name, "pj": entry.pj, "what": entry.what, "source": entry.source}
        for name, entry in ENERGY_TABLE.items()
    ]
