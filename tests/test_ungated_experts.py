"""Ungated experts with biases (Switch, CMoE-converted models: ``down(act(up x + b1)) + b2``)
and CMoE's unweighted router quantized by the runtime and run on the fast harness, bit-exact;
the quantized golden close to the float layer."""

import numpy as np
import pytest
import torch

from moetile.hw.registry import Design, block
from moetile.sim.fast import FastSim
from moetile.sw.golden.moe_layer import moe_layer
from moetile.sw.mapping.moe_layer import load_words, results_of, token_payloads
from moetile.sw.models.cmoe import CMoESettings, convert_ffn
from moetile.sw.models.moe_layer import Expert, FloatMoELayer
from moetile.sw.runtime.quantize import layer_params, quantize_layer

HIDDEN, UNITS, EXPERTS = 16, 24, 4


def _expert(generator, down_bias: bool) -> Expert:
    return Expert(
        up=torch.randn(UNITS, HIDDEN, generator=generator) / HIDDEN**0.5,
        down=torch.randn(HIDDEN, UNITS, generator=generator) / UNITS**0.5,
        up_bias=torch.randn(UNITS, generator=generator) * 0.5,
        down_bias=torch.randn(HIDDEN, generator=generator) * 0.3 if down_bias else None,
        activation="gelu",
    )


def _layer(seed: int) -> FloatMoELayer:
    """CMoE's shape: routed experts with ``b1`` only, a shared expert carrying ``b2``."""
    g = torch.Generator().manual_seed(seed)
    return FloatMoELayer(
        gate=torch.randn(EXPERTS, HIDDEN, generator=g),
        top_k=2,
        normalize_top_k=True,
        experts=tuple(_expert(g, False) for _ in range(EXPERTS)),
        shared=(_expert(g, True),),
    )


def _cmoe_layer(seed: int) -> FloatMoELayer:
    """A random dense GELU FFN converted by CMoE: 8 experts, one shared, 2 of 8 active."""
    g = torch.Generator().manual_seed(seed)
    neurons = 4 * UNITS
    dense = (
        torch.randn(neurons, HIDDEN, generator=g) / HIDDEN**0.5,
        torch.randn(neurons, generator=g) * 0.3,
        torch.randn(HIDDEN, neurons, generator=g) / neurons**0.5,
        torch.randn(HIDDEN, generator=g) * 0.1,
    )
    calibration = torch.randn(256, HIDDEN, generator=g)
    settings = CMoESettings(experts=8, shared=1, kmeans_steps=2, gate_steps=20)
    return convert_ffn(*dense, calibration, settings).float_layer(1)


@pytest.mark.cosim
@pytest.mark.parametrize(
    ("make", "engine"), [(_layer, "xbar"), (_layer, "mixpe"), (_cmoe_layer, "xbar")]
)
def test_ungated_experts_with_biases_run_bit_exact(make, engine, seed):
    layer = make(seed)
    p = layer_params(layer, 16, lanes=4, arrays=2, engine=engine)
    assert (p.gated, p.expert_bias) == (False, True)
    g = torch.Generator().manual_seed(seed + 1)
    q = quantize_layer(layer, p, torch.randn(256, HIDDEN, generator=g), "layer")
    x = torch.randn(16, HIDDEN, generator=g)
    xq, codes = q.encode(x, "layer")
    golden = moe_layer(q.integer, xq, codes)
    sim = FastSim(Design(block("moe_layer"), p))
    with sim.open() as session:
        session.run({"i_load": load_words(q.integer)}, budget=200_000)
        run = session.run(
            {"i_token": token_payloads(p, xq, codes)},
            expect={"o": len(x) * p.io_chunks, "o_stats": 1},
            budget=2_000_000,
        )
    np.testing.assert_array_equal(results_of(p, run.payloads("o")["y"]), golden.result.numpy())
    reference = layer.forward(x).double()
    error = (q.decode(golden.result) - reference).norm() / reference.norm()
    assert error < (0.05 if engine == "xbar" else 0.2)


def test_a_bias_beyond_its_code_is_refused():
    layer = _layer(0)
    big = Expert(**{**layer.shared[0].__dict__, "down_bias": torch.full((HIDDEN,), 1e12)})
    layer = FloatMoELayer(**{**layer.__dict__, "shared": (big,)})
    p = layer_params(layer, 16, lanes=4, arrays=2, engine="xbar")
    with pytest.raises(ValueError, match="down_bias is beyond its"):
        quantize_layer(layer, p, torch.randn(64, HIDDEN), "layer")


def test_cmoe_layers_are_float_layers_of_its_router():
    """The converted FFN as a layer of ungated experts: unweighted, chosen by the calibrated
    gate with its bias (the linear router too), equal to the converted FFN's own forward;
    its logit bias is the accelerator's selection bias."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, HIDDEN, generator=g)
    layer = _cmoe_layer(0)
    assert (layer.scoring, layer.top_k, len(layer.experts), len(layer.shared)) == (
        "unweighted",
        1,
        7,
        1,
    )
    p = layer_params(layer, 16, lanes=4, arrays=2, engine="xbar")
    assert (p.scoring, p.choice_bias, p.renormalize) == ("unweighted", True, False)
    q = quantize_layer(layer, p, torch.randn(256, HIDDEN, generator=g), "layer")
    xq, codes = q.encode(x, "layer")
    chosen = moe_layer(q.integer, xq, codes).choices
    assert (chosen == layer.route(x)[2]).float().mean() > 0.9  # the float choice, mostly
