"""MixPE: Params, golden model, W4A8 quantization, the GEMM driver, the cycle model, and both
arrays in the Amaranth simulator."""

import random
from dataclasses import replace
from unittest import mock

import pytest
import torch
from amaranth import Module, Mux, Signal

from moetile.hw.mixpe import MixPEParams, array, dequant
from moetile.hw.mixpe.arith import shift_add
from moetile.hw.mixpe.array import MixPEArray
from moetile.hw.mixpe.interface import activation_layout, group_layout, weight_layout
from moetile.hw.mixpe.pe import GroupSumPE, MultiplierPE
from moetile.sim.amaranth_sim import simulate, stream_recv, stream_send
from moetile.sim.testbenches.mixpe_cases import KINDS, gemm_operands
from moetile.sw.golden.mixpe import mixpe_cycles, mixpe_gemm
from moetile.sw.mapping.mixpe import golden_backend, group_last_flags, plan_gemm, run_gemm
from moetile.sw.quant.w4a8 import gemm_error_bound, quantize_activations, quantize_groups


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"group": 16}, "group must be one of 32, 64, 128, not 16"),
        ({"cols": 33}, r"cols must be an integer in \[1, 32\], not 33"),
        ({"rows": 0}, "rows must be an integer in \\[1, 1024\\], not 0"),
        ({"n_inputs": 48}, r"n_inputs must be a multiple of group \(32\), not 48"),
        ({"n_inputs": 16}, "n_inputs must be an integer >= 32, not 16"),
        ({"scale_width": 25}, r"scale_width must be an integer in \[1, 24\]"),
        ({"scale_frac": 9}, r"scale_frac must be an integer in \[0, 8\], not 9"),
        ({"out_shift": -1}, "out_shift must be"),
        (
            {"arch": "tensorcore"},
            "arch must be one of 'mixpe', 'multiplier', 'group_multiplier', not 'tensorcore'",
        ),
    ],
)
def test_params_reject_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        MixPEParams(**values)


@pytest.mark.parametrize("group", [32, 64, 128])
@pytest.mark.parametrize("scale_width", [1, 8, 24])
def test_widths_hold_the_extremes_tightly(group, scale_width):
    params = MixPEParams(
        rows=1, cols=1, n_inputs=2 * group, group=group, scale_width=scale_width, scale_frac=0
    )
    rng = random.Random(0)
    for kind in ("largest", "smallest"):
        x, q, s, z = gemm_operands(params, rng, kind, 1, 1)
        acc = int((s[0, 0] * ((q[0] - z[0, 0]) * x[0])).sum())
        assert acc in params.acc_range
        width = params.acc_width
        assert -(1 << (width - 1)) <= acc < (1 << (width - 1))
    lo, hi = params.acc_range
    assert not (-(1 << (params.acc_width - 2)) <= lo)  # one bit fewer would not hold it


def test_golden_equals_per_weight_dequantization(seed):
    """The per-group formula equals dequantizing every weight (the baseline's arithmetic)."""
    rng = random.Random(seed)
    for group in (32, 64, 128):
        params = MixPEParams(n_inputs=2 * group, group=group, scale_width=11, out_shift=3)
        for kind in KINDS:
            x, q, s, z = gemm_operands(params, rng, kind, 5, 7)
            weights = s.repeat_interleave(group, dim=1) * (q - z.repeat_interleave(group, dim=1))
            acc = x @ weights.T
            expected = torch.div(acc + 4, 8, rounding_mode="floor")
            assert torch.equal(mixpe_gemm(params, x, q, s, z), expected)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("x", torch.full((2, 32), 128), r"x must lie in \[-128, 127\]"),
        ("x", torch.zeros(2, 64), r"x must have shape \(M, 32\)"),
        ("codes", torch.full((3, 32), 16), r"codes must lie in \[0, 15\]"),
        ("codes", torch.zeros(3, 33), r"codes must have shape \(3, 32\)"),
        ("scales", torch.full((3, 1), 256), r"scales must lie in \[0, 255\]"),
        ("zeros", torch.full((3, 1), -1), r"zeros must lie in \[0, 15\]"),
        ("zeros", torch.zeros(3, 2), r"zeros must have shape \(3, 1\)"),
        ("x", torch.full((2, 32), float("nan")), "NaN or inf"),
    ],
)
def test_golden_rejects_bad_input(field, value, message):
    params = MixPEParams(n_inputs=32, group=32, scale_width=8)
    operands = {
        "x": torch.zeros(2, 32),
        "codes": torch.zeros(3, 32),
        "scales": torch.zeros(3, 1),
        "zeros": torch.zeros(3, 1),
    }
    operands[field] = value
    with pytest.raises(ValueError, match=message):
        mixpe_gemm(params, **operands)


def test_quantized_gemm_within_the_derived_bound(seed):
    """The hardware result against the float ``x @ w.T``: inside the bound of
    :mod:`moetile.sw.quant.w4a8` everywhere, and the bound is not vacuous."""
    gen = torch.Generator().manual_seed(seed)
    for group, out_shift in ((32, 0), (64, 4), (128, 6)):
        params = MixPEParams(n_inputs=256, group=group, scale_width=8, out_shift=out_shift)
        w = torch.randn(24, 256, generator=gen) * 0.05
        w[3] += 0.2  # an output whose groups are all positive
        x = torch.randn(6, 256, generator=gen)
        weights = quantize_groups(w, group, params.scale_width)
        codes, act_scale = quantize_activations(x)
        y = mixpe_gemm(params, codes, weights.codes, weights.scales, weights.zeros)
        real = y.double() * (1 << out_shift) * weights.step[None, :] * act_scale[:, None]
        error = (x.double() @ w.double().T - real).abs()
        bound = gemm_error_bound(x, weights, act_scale, out_shift)
        assert (error <= bound + 1e-9).all()
        assert error.mean() < bound.mean()
        relative = error.norm() / (x.double() @ w.double().T).norm()
        assert relative < 0.1, relative


def test_quantizer_ranges_and_refusals():
    w = torch.randn(4, 64)
    weights = quantize_groups(w, 32, 8)
    assert weights.codes.min() >= 0 and weights.codes.max() <= 15
    assert weights.zeros.min() >= 0 and weights.zeros.max() <= 15
    assert weights.scales.max() == 255  # every output's largest group uses the full range
    assert quantize_groups(torch.zeros(2, 32), 32, 8).dequantize().abs().max() == 0
    with pytest.raises(ValueError, match="not a multiple of group = 32; pad it"):
        quantize_groups(torch.randn(2, 48), 32, 8)
    bad = torch.randn(2, 32)
    bad[1, 5] = float("inf")
    with pytest.raises(ValueError, match=r"weight must be finite; it holds inf at \(1, 5\)"):
        quantize_groups(bad, 32, 8)
    with pytest.raises(ValueError, match="x must be finite"):
        quantize_activations(torch.full((1, 4), float("nan")))
    codes, scale = quantize_activations(torch.tensor([[0.0, -2.0, 1.0], [0.0, 0.0, 0.0]]))
    assert codes.tolist() == [[0, -127, 64], [0, 0, 0]] and scale[1] == 1


def test_gemm_driver_tiles_any_shape(seed):
    rng = random.Random(seed)
    params = MixPEParams(rows=3, cols=4, n_inputs=64, group=32, out_shift=0)
    x, q, s, z = gemm_operands(MixPEParams(n_inputs=192, group=32), rng, "random", 7, 9)
    plan = plan_gemm(params, x, q, s, z)
    assert len(plan.passes) == 3 * 3 * 3  # token tiles × reduction chunks × output tiles
    whole = MixPEParams(rows=3, cols=4, n_inputs=192, group=32, out_shift=0)
    assert torch.equal(run_gemm(plan), mixpe_gemm(whole, x, q, s, z))
    with pytest.raises(ValueError, match="add up exactly only with out_shift = 0"):
        plan_gemm(MixPEParams(n_inputs=64, group=32, out_shift=2), x, q, s, z)
    # A last chunk shorter than n_inputs: a pass of fewer groups.
    short = MixPEParams(rows=3, cols=4, n_inputs=128, group=32, out_shift=0)
    plan = plan_gemm(short, x, q, s, z)
    assert [p.scales.shape[1] for p in plan.passes][:4] == [4, 4, 4, 2]
    assert torch.equal(run_gemm(plan), mixpe_gemm(whole, x, q, s, z))
    with pytest.raises(ValueError, match="K = 48 must be a positive multiple of group = 32"):
        plan_gemm(short, x[:, :48], q[:, :48], s[:, :1], z[:, :1])


@pytest.mark.parametrize("pipelined", [True, False])
def test_cycle_model_closed_forms(pipelined):
    mixpe = MixPEParams(rows=4, cols=8, n_inputs=64, group=32, pipelined=pipelined)
    base = replace(mixpe, arch="multiplier")
    # The dequantization's registers: three a group's update or a baseline step.
    late = base_late = 3 if pipelined else 0
    assert mixpe_cycles(mixpe, 1) == 64 + 8 + late + 8  # steps, last dequantization, outputs
    assert mixpe_cycles(base, 1) == 64 + base_late + 8
    # Back to back: the baseline waits for its outputs, MixPE overlaps them with the next pass.
    assert mixpe_cycles(base, 5) == 5 * (64 + base_late + 8)
    assert mixpe_cycles(mixpe, 5) == 5 * 64 + 8 + late + 8
    # Dequantization and outputs longer than a group hold the next pass's first capture.
    wide = replace(mixpe, rows=40, cols=20)
    assert mixpe_cycles(wide, 2) == mixpe_cycles(wide, 1) + 64 + (20 + late + 20 + 1 - 32)
    # A pass of one group where two fit.
    assert mixpe_cycles(base, [1, 2]) == 32 + base_late + 8 + 64 + base_late + 8
    assert mixpe_cycles(mixpe, [1]) == 32 + 8 + late + 8


def _run_in_the_amaranth_simulator(
    arch: str, seed: int, pipelined: bool = True
) -> tuple[list, list]:
    """Full passes and a one-group pass under idle and back-pressure: ``(received columns,
    expected columns)``."""
    params = MixPEParams(
        rows=2,
        cols=3,
        n_inputs=64,
        group=32,
        scale_width=6,
        out_shift=2,
        arch=arch,
        pipelined=pipelined,
    )
    rng = random.Random(seed)
    passes = plan_gemm(params, *gemm_operands(params, rng, "corners", 4, 3)).passes
    one_group = replace(params, n_inputs=32)
    passes += plan_gemm(params, *gemm_operands(one_group, rng, "random", 2, 3)).passes
    expected = golden_backend(params, passes)
    dut = MixPEArray(params)
    xl, wl, gl = activation_layout(params), weight_layout(params), group_layout(params)
    steps = [(p, j) for p in passes for j in range(p.x.shape[1])]
    groups = [(p, g, last) for p in passes for g, last in enumerate(group_last_flags(p))]
    received = []

    async def send_x(ctx):
        payloads = [xl.const({"x": p.x[:, j].tolist()}) for p, j in steps]
        await stream_send(ctx, dut.i_x, payloads, rng=rng, idle=0.3)

    async def send_w(ctx):
        payloads = [wl.const({"q": p.codes[:, j].tolist()}) for p, j in steps]
        await stream_send(ctx, dut.i_w, payloads, rng=rng, idle=0.3)

    async def send_group(ctx):
        payloads = [
            gl.const(
                {"scale": p.scales[:, g].tolist(), "zero": p.zeros[:, g].tolist(), "last": last}
            )
            for p, g, last in groups
        ]
        await stream_send(ctx, dut.i_group, payloads, rng=rng, idle=0.3)

    async def receive(ctx):
        count = len(passes) * params.cols
        items = await stream_recv(ctx, dut.o, count, rng=rng, backpressure=0.4)
        received.extend(tuple(item.y) for item in items)

    simulate(dut, send_x, send_w, send_group, receive, deadline_cycles=4000)
    columns = [tuple(tile[:, c].tolist()) for tile in expected for c in range(params.cols)]
    return received, columns


@pytest.mark.parametrize("pipelined", [True, False])
@pytest.mark.parametrize("arch", ["mixpe", "multiplier", "group_multiplier"])
def test_rtl_in_the_amaranth_simulator(arch, seed, pipelined):
    received, expected = _run_in_the_amaranth_simulator(arch, seed, pipelined)
    assert received == expected


def _zero_point_without_its_top_bit(code, value):
    return shift_add(code[:3], value)


class _NeverCleared(MultiplierPE):
    def elaborate(self, platform):
        m = Module()
        with m.If(self.step):
            m.d.sync += self.acc.eq(self.acc + self.weight * self.x)
        return m


class _MultiplierDropsTopBit(GroupSumPE):
    """A group-sum PE whose multiplier sees only the code's low 3 bits."""

    def elaborate(self, platform):
        m = Module()
        partial = Signal.like(self.held)
        product = self.code[:3] * self.x if self.multiply else shift_add(self.code, self.x)
        total = Mux(self.group_first, 0, partial) + product
        with m.If(self.step):
            m.d.sync += partial.eq(total)
        with m.If(self.step & self.capture):
            m.d.sync += self.held.eq(total)
        return m


@pytest.mark.parametrize(
    ("arch", "sabotage"),
    [
        ("mixpe", mock.patch.object(dequant, "shift_add", _zero_point_without_its_top_bit)),
        ("multiplier", mock.patch.object(array, "MultiplierPE", _NeverCleared)),
        ("group_multiplier", mock.patch.object(array, "GroupSumPE", _MultiplierDropsTopBit)),
    ],
    ids=["dequantizer-drops-zero-bit", "accumulator-never-cleared", "multiplier-drops-code-bit"],
)
def test_sabotaged_rtl_fails(arch, sabotage, seed):
    """Broken on purpose, the same run disagrees with the golden model."""
    with sabotage:
        received, expected = _run_in_the_amaranth_simulator(arch, seed)
    assert received != expected
