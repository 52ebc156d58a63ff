"""Proofs of the `xbar` block (crossbar tiles, one and two crossbars per group, and one
double-buffered): the stream
contract, with one result owed for every slot (an input vector flagged ``last``), and each
slot's results equal to the exact ``x · W`` of the crossbar each group read (the formal Params'
ADCs are lossless)."""

from amaranth import Array, Module, Mux, Signal, signed
from amaranth.hdl import Assert, Assume

from moetile.hw.xbar import TileParams

from ..counting import Passes, every
from ..harness import free_constant
from ..properties import OutputContract, Property, transfer
from ..spec import CONTROL_DEPTH, FormalSpec

SMALL = tuple(
    TileParams(
        rows=2,
        cols=2,
        cell_bits=1,
        w_bits=2,
        in_bits=2,
        dac_bits=1,
        adc_bits=2,
        crossbars_per_group=g,
        groups=2,
        double_buffered=double,
    )
    for g, double in ((1, False), (2, False), (1, True))
)


def _assume_addresses(m: Module, dut, params: TileParams) -> None:
    """Weight rows name an existing crossbar and row; an input names an existing crossbar of
    each group."""
    w, x = dut.i_w.payload, dut.i_x.payload
    with m.If(dut.i_w.valid):
        m.d.comb += [Assume(w.crossbar < params.crossbars), Assume(w.row < params.rows)]
    with m.If(dut.i_x.valid):
        m.d.comb += [Assume(k < params.crossbars_per_group) for k in x.crossbar]


def _mvm(params: TileParams) -> Property:
    """The harness keeps every weight row where its address puts it. For a slot the solver
    picks, it keeps each group's vector and crossbar as they are accepted (a later vector for
    the same group replaces the earlier one) and, as the slot's last vector is accepted, the
    exact products ``y[g, c] = sum_r x_g[r] * W[g, k_g][r, c]`` with the weights of that moment
    (none are taken until the slot's results are out). The slot's output must be those, zero
    for a group the slot did not feed, with ``active`` naming the groups fed."""
    cpg = params.crossbars_per_group

    def build(m: Module, components, free):
        dut = components["dut"]
        w, x = dut.i_w.payload, dut.i_x.payload
        # A cell never written holds offset code 0: the most negative weight.
        unwritten = params.crossbar.weight_range[0]
        weights = [
            [
                [
                    Signal(signed(params.w_bits), name=f"w_{k}_{r}_{c}", init=unwritten)
                    for c in range(params.cols)
                ]
                for r in range(params.rows)
            ]
            for k in range(params.crossbars)
        ]
        with m.If(transfer(dut.i_w)):
            for k, crossbar in enumerate(weights):
                for r, row in enumerate(crossbar):
                    with m.If((w.crossbar == k) & (w.row == r)):
                        m.d.sync += [cell.eq(w.w[c]) for c, cell in enumerate(row)]

        width = (CONTROL_DEPTH // (params.read_cycles + 1) + 1).bit_length()
        slots = Passes(m, transfer(dut.i_x) & x.last, 1, width, "slots")
        outputs = Passes(m, transfer(dut.o), 1, width, "outputs")
        chosen = free_constant(m, free, width, "chosen_slot")
        feeding = transfer(dut.i_x) & (slots.number == chosen)

        expected, fed = [], []
        for g in range(params.groups):
            vector = [Signal(signed(params.in_bits), name=f"x_{g}_{r}") for r in range(params.rows)]
            crossbar = Signal(range(max(2, cpg)), name=f"crossbar_{g}")
            active = Signal(name=f"active_{g}")
            takes = feeding & x.groups[g]
            with m.If(takes):
                m.d.sync += [v.eq(x.x[r]) for r, v in enumerate(vector)]
                m.d.sync += [crossbar.eq(x.crossbar[g]), active.eq(1)]
            # The group's operands as they stand once this cycle's vector is taken.
            now_x = [Mux(takes, x.x[r], v) for r, v in enumerate(vector)]
            now_k = Mux(takes, x.crossbar[g], crossbar)
            now_active = takes | active
            group_weights = Array(
                Array(Array(row) for row in weights[g * cpg + k]) for k in range(cpg)
            )
            y = [
                Signal(signed(params.crossbar.out_width), name=f"y_{g}_{c}")
                for c in range(params.cols)
            ]
            kept_active = Signal(name=f"fed_{g}")
            with m.If(feeding & x.last):
                m.d.sync += kept_active.eq(now_active)
                for c, value in enumerate(y):
                    products = [now_x[r] * group_weights[now_k][r][c] for r in range(params.rows)]
                    m.d.sync += value.eq(sum(products))
            expected.append(y)
            fed.append(kept_active)

        with m.If(dut.o.valid & (outputs.number == chosen) & (slots.number > chosen)):
            for g in range(params.groups):
                m.d.comb += Assert(dut.o.payload.active[g] == fed[g])
                for c in range(params.cols):
                    m.d.comb += Assert(dut.o.payload.y[g][c] == Mux(fed[g], expected[g][c], 0))

    return Property(
        "mvm",
        "every slot's result is x · W of the vector and crossbar each group read, zero where "
        "a group was not fed",
        build,
        _mvm_depth(params),
        map_memories=True,
    )


def _mvm_depth(params: TileParams) -> int:
    """Two slots of one vector each, read and offered."""
    return 2 * (params.read_cycles + 2) + 2


def _contract(params: TileParams) -> OutputContract:
    """Slots owed at most: one in the output register, one read behind it and,
    double-buffered, one waiting for the reads; between results, a slot's reads and its
    transfer (a waiting slot reads as soon as the one before it is done)."""
    return OutputContract(
        "o",
        every("i_x", flag="last"),
        capacity=3 if params.double_buffered else 2,
        latency=params.read_cycles + 1,
    )


SPEC = FormalSpec(
    block="xbar",
    params=SMALL,
    contracts=lambda params: [_contract(params)],
    depth=lambda params: CONTROL_DEPTH,
    functional=lambda params: [_mvm(params)],
    assumptions=_assume_addresses,
)
