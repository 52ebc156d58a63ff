"""Expert-choice routing on the MoE layer accelerator, the GO cache as its router: the float
layer's rule against the definition, a float layer quantized by the runtime and generated
token by token on the fast harness, bit-exact, the selections kept across batches."""

import numpy as np
import pytest
import torch

from moetile.hw.moe import MoELayerParams
from moetile.hw.registry import Design, block
from moetile.sim.fast import FastSim
from moetile.sw.golden.gocache import expert_choice
from moetile.sw.golden.moe_layer import moe_layer
from moetile.sw.mapping.moe_layer import load_words, results_of, token_payloads
from moetile.sw.models.moe_layer import Expert, FloatMoELayer
from moetile.sw.runtime.quantize import layer_params, quantize_layer

HIDDEN, UNITS, EXPERTS, CAPACITY = 16, 12, 4, 3


def _layer(seed: int, shared: bool = False) -> FloatMoELayer:
    g = torch.Generator().manual_seed(seed)

    def expert() -> Expert:
        return Expert(
            gate=torch.randn(UNITS, HIDDEN, generator=g) / HIDDEN**0.5,
            up=torch.randn(UNITS, HIDDEN, generator=g) / HIDDEN**0.5,
            down=torch.randn(HIDDEN, UNITS, generator=g) / UNITS**0.5,
        )

    return FloatMoELayer(
        gate=torch.randn(EXPERTS, HIDDEN, generator=g),
        top_k=1,
        normalize_top_k=False,
        experts=tuple(expert() for _ in range(EXPERTS)),
        shared=(expert(),) if shared else (),
        routing="expert_choice",
        capacity=CAPACITY,
    )


def test_float_expert_choice_is_each_experts_selection_as_the_token_arrives():
    layer = _layer(0)
    x = torch.randn(20, HIDDEN, generator=torch.Generator().manual_seed(1))
    scores, taken = layer.expert_choice(x)
    for t in range(len(x)):
        chosen = expert_choice(scores[: t + 1], CAPACITY)  # by sorting the sequence so far
        assert taken[t].tolist() == [t in tokens for tokens in chosen]
    assert taken[:CAPACITY].all() and not taken.all()  # every expert takes the first tokens
    tied = layer.expert_choice(torch.zeros(5, HIDDEN))[1]  # equal scores: the earlier wins
    assert tied.tolist() == [[True] * EXPERTS] * CAPACITY + [[False] * EXPERTS] * 2


def test_expert_choice_needs_a_capacity_and_softmax_and_the_layer_every_expert():
    with pytest.raises(ValueError, match="expert_choice routing needs a capacity >= 1"):
        FloatMoELayer(**{**_layer(0).__dict__, "capacity": 0})
    with pytest.raises(ValueError, match=r"top_k must be experts \(4\), not 2"):
        MoELayerParams(routing="expert_choice")
    with pytest.raises(ValueError, match="ranks softmax gating weights: scoring softmax"):
        MoELayerParams(routing="expert_choice", top_k=4, scoring="sigmoid", renormalize=False)
    with pytest.raises(ValueError, match=r"capacity must be an integer in \[1, 8\], not 9"):
        MoELayerParams(routing="expert_choice", top_k=4, capacity=9, max_sequence=8)
    with pytest.raises(ValueError, match="routing must be one of 'token_choice', 'expert_"):
        MoELayerParams(routing="experts")
    p = layer_params(_layer(0), 8, lanes=2, arrays=2, engine="xbar")
    assert (p.routing, p.capacity, p.top_k, p.renormalize) == ("expert_choice", 3, 4, True)
    with pytest.raises(ValueError, match="needs starts: where each sequence begins"):
        layer = quantize_layer(_layer(0), p, torch.randn(64, HIDDEN), "layer")
        moe_layer(layer.integer, *layer.encode(torch.randn(2, HIDDEN), "layer"))


@pytest.mark.cosim
@pytest.mark.parametrize(("engine", "shared"), [("xbar", True), ("mixpe", False)])
def test_generation_runs_bit_exact_with_the_go_cache_across_batches(engine, shared, seed):
    """A prompt as one batch, then one token a batch (decode); then a second sequence.
    Every result equals the golden over the whole stream, the quantized layer close to the
    float one, the experts' choices mostly the float router's."""
    layer = _layer(seed, shared)
    p = layer_params(layer, 8, lanes=2, arrays=2, engine=engine, max_sequence=32)
    g = torch.Generator().manual_seed(seed + 1)
    q = quantize_layer(layer, p, torch.randn(256, HIDDEN, generator=g), "layer")
    sequences = [torch.randn(n, HIDDEN, generator=g) for n in (14, 9)]
    sim = FastSim(Design(block("moe_layer"), p))
    with sim.open() as session:
        session.run({"i_load": load_words(q.integer)}, budget=200_000)
        for x in sequences:
            xq, codes = q.encode(x, "layer")
            starts = torch.zeros(len(x), dtype=torch.bool)
            starts[0] = True
            got = []
            for first, end in [(0, 6), *((t, t + 1) for t in range(6, len(x)))]:
                batch = slice(first, end)
                run = session.run(
                    {"i_token": token_payloads(p, xq[batch], codes[batch], starts[batch])},
                    expect={"o": (end - first) * p.io_chunks, "o_stats": 1},
                    budget=2_000_000,
                )
                got.append(results_of(p, run.payloads("o")["y"]))
            golden = moe_layer(q.integer, xq, codes, starts)
            np.testing.assert_array_equal(np.concatenate(got), golden.result.numpy())
            reference = layer.forward(x).double()
            error = (q.decode(golden.result) - reference).norm() / reference.norm()
            assert error < (0.05 if engine == "xbar" else 0.25)
            float_taken = layer.expert_choice(x)[1]
            assert (golden.selection.take == float_taken).float().mean() > 0.9
