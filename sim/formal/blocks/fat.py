"""FAT array proofs (FAT and the ParaPIM-style baseline, each with fixed and variable-width
adds): the stream contract, and every output row equal to ``sum_k w[k] * x[lane, k]`` of its
pass's inputs."""

import dataclasses

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.hdl import Assert, Assume

from moetile.hw.fat import FatParams
from moetile.sw.golden.fat import fat_cycles

from ..counting import Passes
from ..harness import free_constant
from ..properties import OutputContract, Property, transfer
from ..spec import FormalSpec

SMALL = tuple(
    FatParams(lanes=2, in_width=2, n_inputs=2, n_outputs=2, zero_skip=1, **variant)
    for variant in (
        {"arch": "fat"},
        {"arch": "parapim"},
        {"arch": "fat", "variable_width": True},
        {"arch": "parapim", "variable_width": True},
    )
)


def _row_cycles(params: FatParams) -> int:
    """The longest a row takes: every weight non-zero, from acceptance to its output."""
    one_row = dataclasses.replace(params, n_outputs=1)
    return fat_cycles(one_row, [[-1] * params.n_inputs]).cycles


def _depth(params: FatParams) -> int:
    """A pass's inputs, then two rows at their longest (every weight non-zero)."""
    return params.n_inputs + 2 * _row_cycles(params) + 4


def _counted_depth(params: FatParams) -> int:
    """A pass's inputs, then one row at its longest: the ``counted`` proof grows steeply with
    depth through the bit-serial datapath, and deeper does not fit a minute."""
    return params.n_inputs + _row_cycles(params) + 4


def _sums_depth(params: FatParams) -> int:
    """Steps of the ``sums`` proof: a pass's inputs, then its first row at its longest."""
    return params.n_inputs + _row_cycles(params) + 2


def _width(params: FatParams) -> int:
    """Bits of a pass count within the depth."""
    return (_depth(params) // params.n_inputs + 1).bit_length()


def _available(params: FatParams, x_passes, rows, row_passes):
    """Rows whose pass's inputs are all loaded: ``min(rows, passes loaded * n_outputs)``."""
    return Mux(row_passes < x_passes, rows, x_passes * params.n_outputs)


def _owed(params: FatParams):
    def owed(m: Module, dut):
        x = Passes(m, transfer(dut.i_x), params.n_inputs, _width(params), "x")
        rows = Passes(m, transfer(dut.i_w), params.n_outputs, _width(params), "rows")
        return _available(params, x.next_number, rows.next_total, rows.next_number) - _available(
            params, x.number, rows.total, rows.number
        )

    return owed


def _assume_weight_codes(m: Module, dut, params: FatParams) -> None:
    """Weights are ternary: the code ``0b10`` (negative zero) is not a weight."""
    row = dut.i_w.payload
    with m.If(dut.i_w.valid):
        m.d.comb += Assume((row.negative.as_value() & ~row.nonzero.as_value()) == 0)


def _term(code, x):
    """One ternary product ``w * x`` from the weight's 2-bit code."""
    nonzero, negative = code[0], code[1]
    return Mux(nonzero, Mux(negative, -x, x), 0)


def _sums(params: FatParams, depth: int) -> Property:
    """The solver picks one pass; the harness keeps that pass's inputs and rows as they are
    accepted, and each of its outputs must be the exact ternary dot product of the kept row
    with each lane's kept inputs."""

    def build(m: Module, components, free):
        dut = components["dut"]
        width = _width(params)
        x = Passes(m, transfer(dut.i_x), params.n_inputs, width, "x")
        rows = Passes(m, transfer(dut.i_w), params.n_outputs, width, "rows")
        outputs = Passes(m, transfer(dut.o), params.n_outputs, width, "outputs")
        chosen = free_constant(m, free, width, "chosen_pass")
        inputs = [
            [Signal(signed(params.in_width), name=f"x_{k}_{lane}") for lane in range(params.lanes)]
            for k in range(params.n_inputs)
        ]
        with m.If(transfer(dut.i_x) & (x.number == chosen)), m.Switch(x.position):
            for k, column in enumerate(inputs):
                with m.Case(k):
                    m.d.sync += [v.eq(dut.i_x.payload.x[lane]) for lane, v in enumerate(column)]
        codes = [
            [Signal(2, name=f"w_{r}_{k}") for k in range(params.n_inputs)]
            for r in range(params.n_outputs)
        ]
        row = dut.i_w.payload
        with m.If(transfer(dut.i_w) & (rows.number == chosen)), m.Switch(rows.position):
            for r, kept in enumerate(codes):
                with m.Case(r):
                    m.d.sync += [
                        c.eq(Cat(row.nonzero[k], row.negative[k])) for k, c in enumerate(kept)
                    ]
        with m.If(dut.o.valid & (outputs.number == chosen)), m.Switch(outputs.position):
            for r, kept in enumerate(codes):
                with m.Case(r):
                    for lane in range(params.lanes):
                        expected = sum(
                            _term(kept[k], inputs[k][lane]) for k in range(params.n_inputs)
                        )
                        m.d.comb += Assert(dut.o.payload.y[lane] == expected)

    return Property(
        "sums",
        "every output row is sum_k w[k] * x[lane, k] of its pass's inputs, every lane",
        build,
        depth,
    )


SPEC = FormalSpec(
    block="fat",
    params=SMALL,
    contracts=lambda params: [
        OutputContract(
            "o", _owed(params), 2 * params.n_outputs, _row_cycles(params), _counted_depth(params)
        )
    ],
    depth=_depth,
    functional=lambda params: [_sums(params, _sums_depth(params))],
    assumptions=_assume_weight_codes,
)
