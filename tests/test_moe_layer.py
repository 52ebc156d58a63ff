"""The MoE layer accelerator: Params, the golden's arithmetic, the divider in the Amaranth
simulator, the whole layer against the golden on the fast harness (random and extreme layers and
tokens, several shapes, random idle and back-pressure, batches back to back), a 100,000-transfer
regression, and the cocotb testbench under Verilator."""

import dataclasses
import random

import numpy as np
import pytest
import torch

from moetile.hw.moe import FatEngineParams, MixPEEngineParams, MoELayerParams, XbarEngineParams
from moetile.hw.moe.divider import Divider
from moetile.hw.registry import Design, block
from moetile.sim.amaranth_sim import simulate, stream_recv, stream_send
from moetile.sim.fast import FastSim, Traffic
from moetile.sim.replay import random_patterns, replay_on_cocotb
from moetile.sim.testbenches.moe_cases import edge_tokens, random_layer, random_tokens
from moetile.sw.golden.moe_layer import (
    W4A8Rows,
    _shared_gates,
    moe_layer,
    requantize,
    token_multiplier,
)
from moetile.sw.mapping.moe_layer import load_words, results_of, token_payloads

SMALL = dict(hidden=12, expert_hidden=10, experts=4, lanes=3, arrays=2, max_tokens=8, router_macs=5)
SHAPES = {
    "routed": SMALL,
    "shared": {**SMALL, "shared_experts": 1},
    "softmax-over-all": {**SMALL, "renormalize": False, "top_k": 1},
    "shared-gate": {**SMALL, "shared_experts": 1, "shared_gate": True},
    "shared-gate-over-all": {
        **SMALL,
        "shared_experts": 2,
        "shared_gate": True,
        "renormalize": False,
        "top_k": 1,
    },
    # DeepSeek-V3: sigmoid scores, a selection bias, the best 2 of 4 groups by their best two.
    "sigmoid-groups": {
        **SMALL,
        "experts": 8,
        "shared_experts": 1,
        "scoring": "sigmoid",
        "choice_bias": True,
        "groups": 4,
        "topk_groups": 2,
        "group_score": "top2_sum",
    },
    # Ungated experts with biases (CMoE, Switch): one row a unit, b1 and b2.
    "ungated-bias": {**SMALL, "shared_experts": 1, "gated": False, "expert_bias": True},
    "ungated-mixpe": {**SMALL, "gated": False, "expert_bias": True, "engine": "mixpe"},
    "ungated-xbar": {
        **SMALL,
        "gated": False,
        "engine": XbarEngineParams(crossbar_rows=8, crossbar_cols=4, cell_bits=3, dac_bits=2),
    },
    # CMoE's router: logits plus a selection bias, each chosen expert weighing 1, beside
    # ungated experts with biases.
    "unweighted": {
        **SMALL,
        "shared_experts": 1,
        "scoring": "unweighted",
        "renormalize": False,
        "choice_bias": True,
        "gated": False,
        "expert_bias": True,
    },
    # Sigmoid scores as they are (GLM-4.5 without its normalization), groups by their best.
    "sigmoid-unnormalized": {
        **SMALL,
        "experts": 6,
        "scoring": "sigmoid",
        "renormalize": False,
        "groups": 3,
        "topk_groups": 1,
        "top_k": 2,
    },
    # Expert choice: the GO cache ranks every expert's softmax weight over the sequence,
    # kept across batches; sequences longer than the cache's wrap around.
    "expert-choice": {
        **SMALL,
        "top_k": 4,
        "routing": "expert_choice",
        "capacity": 2,
        "max_sequence": 11,
    },
    "expert-choice-shared-gate-xbar": {
        **SMALL,
        "shared_experts": 1,
        "shared_gate": True,
        "top_k": 4,
        "renormalize": False,
        "routing": "expert_choice",
        "capacity": 3,
        "max_sequence": 64,
        "engine": XbarEngineParams(crossbar_rows=8, crossbar_cols=4, cell_bits=3, dac_bits=2),
    },
    "one-lane-three-arrays": {**SMALL, "top_k": 3, "lanes": 1, "arrays": 3, "expert_hidden": 7},
    "mixpe": dict(
        hidden=40,
        expert_hidden=70,
        experts=4,
        shared_experts=1,
        lanes=3,
        arrays=2,
        max_tokens=8,
        router_macs=5,
        engine="mixpe",
    ),
    "xbar": dict(
        hidden=20,
        expert_hidden=13,
        experts=4,
        shared_experts=1,
        lanes=2,
        arrays=2,
        max_tokens=8,
        router_macs=5,
        engine=XbarEngineParams(crossbar_rows=8, crossbar_cols=4, cell_bits=3, dac_bits=2),
    ),
    "one-expert": dict(
        hidden=4,
        expert_hidden=3,
        experts=1,
        top_k=1,
        lanes=2,
        arrays=1,
        max_tokens=3,
        router_macs=4,
    ),
}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"hidden": 0}, "hidden must be an integer >= 1, not 0"),
        ({"experts": 2, "top_k": 3}, r"top_k must be an integer in \[1, 2\], not 3"),
        ({"router_macs": 40}, r"router_macs must be an integer in \[1, 32\], not 40"),
        ({"engine": "pim"}, "engine must be one of 'fat', 'mixpe', 'xbar', not 'pim'"),
        (
            {"engine": "xbar", "engine.dac_bits": 8},
            r"dac_bits must be an integer in \[1, 7\], not 8",
        ),
        (
            {"engine": "mixpe", "arrays": 33},
            r"arrays must be at most group \(32\) for engine 'mixpe'",
        ),
        ({"engine": "mixpe", "engine.group": 16}, "group must be one of 32, 64, 128, not 16"),
        ({"engine.group": 64}, "engine 'fat' has no parameter 'group'; allowed: zero_skip"),
        ({"engine.zero": 1}, "engine 'fat' has no parameter 'zero'; allowed: zero_skip"),
        ({"engin.zero": 1}, "unknown parameter 'engin.zero' for block 'moe_layer'"),
        ({"engine": {"name": "pim"}}, "engine must be one of 'fat', 'mixpe', 'xbar', not"),
        (
            {"engine": "mixpe", "engine.weight_scale_width": 24, "hidden": 512},
            "expert sums need 45 bits, more than 32: lower weight_scale_width",
        ),
        ({"renormalize": 1}, "renormalize must be True or False, not 1"),
        ({"exp_entries": 1}, r"exp_entries must be an integer in \[2, 4096\], not 1"),
    ],
)
def test_params_reject_bad_values(values, message):
    """As ``--param`` and ``--config`` give them (``engine.FIELD`` sets a field of the
    engine's own Params)."""
    with pytest.raises(ValueError, match=message):
        block("moe_layer").make_params(values)


def test_an_engine_is_chosen_once_by_name_dict_or_params():
    make = block("moe_layer").make_params
    chosen = MoELayerParams(engine=MixPEEngineParams(group=64))
    assert make({"engine": "mixpe", "engine.group": 64}) == chosen
    assert make({"engine": {"name": "mixpe", "group": 64, "weight_scale_width": 8}}) == chosen
    assert make(dataclasses.asdict(chosen)) == chosen  # a manifest's params read back
    assert MoELayerParams(engine="mixpe").engine == MixPEEngineParams()
    assert make({"engine.zero_skip": 4}).engine == FatEngineParams(zero_skip=4)


def test_geometry_pads_rows_to_whole_passes():
    p = MoELayerParams(hidden=12, expert_hidden=10, arrays=2, experts=4)
    assert p.pass_rows == 6 and p.units_per_array == 5
    assert p.gate_up_rows == 12 and p.down_rows == 6  # 10 rows padded to 2 passes of 6
    assert p.bank_rows == 4 * 18 and p.inputs == 12
    bound = (p.top_k << p.gate_frac) * ((1 << p.combine_multiplier_width) - 1)
    assert bound * (p.inputs << 7) < 1 << (p.combine_width - 1)


def test_mixpe_geometry_pads_rows_to_whole_groups():
    p = MoELayerParams(hidden=40, expert_hidden=70, arrays=2, experts=4, engine="mixpe")
    assert p.inputs == 96 and p.gate_up_rows == 70 and p.down_rows == 20
    assert p.engine.gate_up_groups(p) == 2 and p.engine.down_groups(p) == 3  # gate/up skip one
    assert p.bank_words == 4 * 90 * 3 and p.bank_word_bits == 4 * 33 + 8
    assert p.unit.rows == p.lanes and p.unit.cols == p.arrays
    assert p.sum_width == p.unit.acc_width <= 32


def test_xbar_geometry_cuts_rows_into_crossbars():
    p = MoELayerParams(**SHAPES["xbar"])
    assert p.inputs == 24 and p.gate_up_rows == 14 and p.down_rows == 10
    assert p.engine.gate_up_blocks(p) == (4, 3)  # 14 rows of 20 inputs
    assert p.engine.down_blocks(p) == (3, 2)
    assert p.bank_words == 5 * (4 * 3 + 3 * 2) and p.bank_word_bits == 8 * 4 * 8
    assert p.unit.adc_bits == p.unit.lossless_adc_bits == 8  # 8 rows x 3 x 7 = 168
    assert p.sum_width == (24 << 14).bit_length() + 1


def test_requantize_rounds_half_up_and_token_multiplier_carries_the_scale():
    x = torch.tensor([5, -5, 6, -6, 7, -7])
    assert requantize(x, 1, 2).tolist() == [1, -1, 2, -1, 2, -2]  # 1.25, 1.5 -> 2, -1.5 -> -1
    assert requantize(x, 3, 0).tolist() == (x * 3).tolist()
    p = MoELayerParams()
    assert token_multiplier(p, 1 << 15, 1000).item() == 500
    assert token_multiplier(p, 3, 1 << 16).item() == 3


def test_golden_shared_gate_is_the_sigmoid_of_its_logit():
    """With the exp table ``exp(-i / 16)`` and a requantization to one index per logit unit,
    the shared experts' gate is ``sigmoid(l / 16)`` to within the table's rounding: one half
    at 0, towards 1 above and 0 below, symmetric about one half."""
    p = MoELayerParams(**SHAPES["shared-gate"])
    layer = random_layer(p, 0)
    one = 1 << p.gate_frac
    table = torch.tensor([round(one * np.exp(-i / 16)) for i in range(p.exp_entries)])
    row = torch.zeros(p.hidden, dtype=torch.int64)
    row[0] = 1
    # A token multiplier of M / 2 and a shift of 29 requantize |l| to index |l|.
    gated = dataclasses.replace(
        layer, exp_table=table, shared_gate=row, shared_gate_scale=(1 << 30, 29)
    )
    logits = torch.tensor([0, 1, -1, 16, -16, 60, -60, 127, -127, -128])
    x = torch.zeros(len(logits), p.hidden, dtype=torch.int64)
    x[:, 0] = logits
    codes = torch.full((len(logits),), 1 << (p.token_scale_width - 1))
    gates = _shared_gates(gated, x, codes)
    expected = torch.sigmoid(logits.double() / 16) * one
    assert (gates.double() - expected).abs().max() <= 2
    pairs = gates[1:9:2] + gates[2:9:2]  # l and -l: floors of a sum of exactly one
    assert gates[0] == one // 2 and ((pairs == one) | (pairs == one - 1)).all()


def test_shared_gate_needs_shared_experts():
    with pytest.raises(ValueError, match="shared_gate weighs the shared experts"):
        MoELayerParams(shared_gate=True)
    p = MoELayerParams(**SHAPES["shared-gate"])
    assert p.gemv.outputs == p.experts + 1 and p.config_words[-1] == "shared_gate"
    layer = random_layer(p, 0)
    with pytest.raises(ValueError, match="Params with shared_gate=True need them"):
        moe_layer(dataclasses.replace(layer, shared_gate=None), *random_tokens(p, 1, 0))


def test_golden_gating_follows_the_rule(seed):
    """Two experts with equal logits share the weight; the lower index is chosen first."""
    p = MoELayerParams(**SMALL)
    layer = random_layer(p, seed)
    router = torch.zeros_like(layer.router)
    router[1] = router[2] = 1
    x = torch.ones(1, p.hidden, dtype=torch.int64)
    tie = moe_layer(type(layer)(**{**layer.__dict__, "router": router}), x, torch.tensor([1000]))
    assert tie.choices.tolist() == [[1, 2]]
    assert tie.gates.tolist() == [[1 << (p.gate_frac - 1)] * 2]


def test_golden_refuses_bad_layers(seed):
    p = MoELayerParams(**SMALL)
    layer = random_layer(p, seed)
    fields = layer.__dict__
    with pytest.raises(ValueError, match="exp_table must hold 256 entries, the first positive"):
        moe_layer(type(layer)(**{**fields, "exp_table": torch.zeros(256)}), *random_tokens(p, 1, 0))
    expert = layer.experts[0]
    bad = type(expert)(**{**expert.__dict__, "gate": expert.gate * 2})
    with pytest.raises(ValueError, match=r"expert 0.gate must lie in \[-1, 1\]"):
        moe_layer(
            type(layer)(**{**fields, "experts": (bad, *layer.experts[1:])}), *random_tokens(p, 1, 0)
        )
    with pytest.raises(ValueError, match=r"x must have shape \(tokens, 12\)"):
        moe_layer(layer, torch.zeros(2, 11, dtype=torch.int64), torch.ones(2, dtype=torch.int64))


def test_divider_in_the_amaranth_simulator(seed):
    rng = random.Random(seed)
    dut = Divider(10, 5)
    cases = [(0, 1), (1023, 1), (1023, 31), (5, 0), (31, 31)]
    cases += [(rng.randrange(1024), rng.randrange(1, 32)) for _ in range(20)]
    got = []

    async def feed(ctx):
        payloads = [{"numerator": n, "denominator": d} for n, d in cases]
        await stream_send(ctx, dut.i, payloads, rng=rng, idle=0.3)

    async def drain(ctx):
        got.extend(
            item.quotient
            for item in await stream_recv(ctx, dut.o, len(cases), rng=rng, backpressure=0.5)
        )

    simulate(dut, feed, drain, deadline_cycles=40 * len(cases) + 100)
    assert got == [n // d if d else 1023 for n, d in cases]


def _run_batches(session, p, layer, batches, rng):
    """Each batch under random idle on the tokens and back-pressure on the results. With
    expert choice the batches are one stream of sequences, the first beginning at its first
    token and others now and then, and the golden runs over the whole stream."""
    starts = _sequence_starts(p, sum(len(x) for x, _ in batches), rng)
    results, at = [], 0
    for n, (x, codes) in enumerate(batches):
        traffic = {
            "i_token": Traffic.random(rng.choice([0.0, 0.3, 0.7]), seed=n),
            "o": Traffic.random(rng.choice([0.0, 0.5, 0.8]), seed=n + 1),
            "o_stats": Traffic.random(0.5, seed=n + 2),
        }
        batch_starts = None if starts is None else starts[at : at + len(x)]
        run = session.run(
            {"i_token": token_payloads(p, x, codes, batch_starts)},
            expect={"o": len(x) * p.io_chunks, "o_stats": 1},
            traffic=traffic,
            budget=2_000_000,
        )
        results.append(results_of(p, run.payloads("o")["y"]))
        at += len(x)
    x, codes = (torch.cat([torch.as_tensor(batch[i]) for batch in batches]) for i in (0, 1))
    expected = moe_layer(layer, x, codes, starts).result.numpy()
    np.testing.assert_array_equal(np.concatenate(results), expected)


def _sequence_starts(p, n: int, rng) -> torch.Tensor | None:
    """With expert choice, where sequences begin: at the first token, then one token in ten."""
    if not p.expert_choice:
        return None
    starts = torch.tensor([rng.random() < 0.1 for _ in range(n)])
    starts[0] = True
    return starts


@pytest.mark.cosim
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_layer_equals_the_golden_on_the_fast_harness(shape, seed):
    """Random layers; batches of every size up to ``max_tokens`` (one closed by the limit,
    without ``last``), extreme tokens and scale codes; a second layer loaded over the first."""
    p = MoELayerParams(**SHAPES[shape])
    rng = random.Random(seed)
    sim = FastSim(Design(block("moe_layer"), p))
    with sim.open() as session:
        for version in range(2):
            sparsity = rng.choice([0.0, 0.4, 0.9])
            layer = random_layer(p, seed + version, sparsity, fine_router=version == 1)
            session.run({"i_load": load_words(layer)}, budget=100_000)
            sizes = [1, p.max_tokens, *(rng.randint(1, p.max_tokens) for _ in range(3))]
            batches = [random_tokens(p, size, seed + size) for size in sizes]
            edge_x, edge_codes = edge_tokens(p)
            batches.append((edge_x[: p.max_tokens], edge_codes[: p.max_tokens]))
            _run_batches(session, p, layer, batches, rng)


@pytest.mark.cosim
@pytest.mark.parametrize("shape", ["routed", "mixpe"])
def test_intermediate_values_span_int8_and_saturate(shape, seed):
    """The random layers exercise the requantizers: activations spread over int8 and some
    saturate, so a wrong shift or clamp shows."""
    p = MoELayerParams(**SHAPES[shape])
    layer = random_layer(p, seed)
    x, codes = random_tokens(p, 64, seed)
    gate = layer.experts[0].gate
    weights = gate.integer_weights()[:, : p.hidden] if isinstance(gate, W4A8Rows) else gate
    g = x @ torch.as_tensor(weights).T
    scale = torch.as_tensor(layer.experts[0].gate_scale)
    values = requantize(g, token_multiplier(p, codes[:, None], scale[:, 0]), scale[:, 1])
    assert values.abs().max() > 127 and (values.abs() < 64).float().mean() > 0.2


@pytest.mark.cosim
def test_fast_random_regression():
    """At least 100,000 stream transfers (weight writes, token chunks, result chunks) of random
    layers and batches, every result equal to the golden."""
    p = MoELayerParams(
        hidden=6,
        expert_hidden=5,
        experts=3,
        shared_experts=1,
        top_k=2,
        lanes=2,
        arrays=2,
        max_tokens=16,
        router_macs=3,
    )
    rng = random.Random(7)
    sim = FastSim(Design(block("moe_layer"), p))
    transfers = 0
    with sim.open() as session:
        while transfers < 100_000:
            layer = random_layer(
                p, rng.randrange(1 << 30), rng.random(), fine_router=rng.random() < 0.5
            )
            words = load_words(layer)
            session.run({"i_load": words}, budget=10 * len(words))
            transfers += len(words)
            batches = [
                random_tokens(p, rng.randint(1, p.max_tokens), rng.randrange(1 << 30))
                for _ in range(40)
            ]
            _run_batches(session, p, layer, batches, rng)
            transfers += sum(2 * len(x) * p.io_chunks + 1 for x, _ in batches)
    assert transfers >= 100_000


@pytest.mark.cosim
@pytest.mark.parametrize(
    "shape",
    ["shared", "shared-gate", "sigmoid-groups", "ungated-bias", "unweighted", "expert-choice"],
)
def test_cocotb_bench_equals_the_golden(shape, seed):
    """The same layer on the cocotb path under random idle and back-pressure: weights first,
    then the tokens; results equal to the golden."""
    p = MoELayerParams(**SHAPES[shape])
    design = Design(block("moe_layer"), p)
    layer = random_layer(p, seed)
    x, codes = random_tokens(p, p.max_tokens, seed)
    starts = _sequence_starts(p, len(x), random.Random(seed))
    ports = FastSim.ports_of(design)
    payloads = token_payloads(p, x, codes, starts)
    inputs = {
        "i_load": ports["i_load"].integers(load_words(layer)),
        "i_token": ports["i_token"].integers(ports["i_token"].pack(payloads)),
    }
    patterns = random_patterns(FastSim(design), random.Random(seed), 64, 0.4)
    patterns["i_load"] = [1]
    replay, raw = replay_on_cocotb(
        design,
        inputs,
        {"o": len(x) * p.io_chunks, "o_stats": 1},
        patterns,
        budget=2_000_000,
        seed=seed,
        after={"i_token": "i_load"},
    )
    assert raw["complete"]
    y = ports["o"].unpack(ports["o"].pack(replay.outputs["o"]))["y"]
    expected = moe_layer(layer, x, codes, starts).result.numpy()
    np.testing.assert_array_equal(results_of(p, y), expected)
